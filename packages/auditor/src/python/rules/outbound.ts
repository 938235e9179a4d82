/** The service-client (SC) checks for a Python service: its httpx, requests and aiohttp calls. */
import type { AuditContext } from '../../analysis/context.ts';
import { isHeader, STATIC_SECRET_HEADERS, TRACE_HEADERS } from '../../analysis/names.ts';
import type { Evidence, Outcome } from '../../model.ts';
import { outcome, type RuleSet } from '../../rules/rule.ts';
import type { Site } from '../facts.ts';
import type { PyNode } from '../parser.ts';
import { pythonModel, type PythonModel } from '../model.ts';
import type { OutboundCall, OutboundHeader } from '../outbound.ts';
import { descendants, stringText, stringValue } from '../syntax.ts';
import { evidenceOf, plural } from './common.ts';

const withCalls =
  (decide: (m: PythonModel, calls: readonly OutboundCall[]) => Outcome) =>
  (ctx: AuditContext): Outcome => {
    const m = pythonModel(ctx);
    if (m.outbound.calls.length === 0 && m.outbound.clients.length === 0) {
      return outcome(
        'N/A',
        'The service makes no outbound HTTP call (no httpx, requests or aiohttp client).',
      );
    }
    return decide(m, m.outbound.calls);
  };

const credentialHeaders = (headers: readonly OutboundHeader[]) =>
  headers.filter(
    (h) =>
      h.name === 'authorization' ||
      isHeader(STATIC_SECRET_HEADERS, h.name) ||
      /token|api-?key|secret/.test(h.name),
  );

/** A credential minted per call (a signed JWT, an OAuth access token), not a static value. */
function isMinted(m: PythonModel, header: OutboundHeader): boolean {
  const minting = m.py.files.some((f) =>
    /jwt\.encode\(|client_credentials|fetch_token\(|\.sign\(/.test(f.text),
  );
  return (
    header.name === 'authorization' &&
    minting &&
    !/settings\.|config\.|os\.|environ|getenv|[A-Z_]{4,}/.test(header.value)
  );
}

const callSites = (calls: readonly OutboundCall[]): Site[] => calls.map((c) => c.site);

const sc1 = withCalls((m, calls) => {
  const withCred = calls.filter((c) => credentialHeaders(c.headers).length > 0);
  const minted = withCred.filter((c) => credentialHeaders(c.headers).some((h) => isMinted(m, h)));
  if (calls.length > 0 && minted.length === calls.length)
    return outcome(
      'PASS',
      'Every outbound call carries a signed token minted for it.',
      evidenceOf(m, callSites(minted)),
    );
  const staticCalls = withCred.filter((c) => !minted.includes(c));
  const bare = calls.filter((c) => credentialHeaders(c.headers).length === 0);
  const headerSites = staticCalls.flatMap((c) => credentialHeaders(c.headers).map((h) => h.site));
  return outcome(
    minted.length > 0 ? 'PARTIAL' : 'FAIL',
    staticCalls.length > 0
      ? `Outbound calls carry a static shared credential header (${[...new Set(staticCalls.flatMap((c) => credentialHeaders(c.headers).map((h) => h.name)))].join(', ')}), no signed token or client certificate.`
      : `${plural(bare.length, 'outbound call')} carry no credential at all.`,
    evidenceOf(m, [...headerSites, ...callSites(bare)]),
  );
});

/** Outbound credential settings: names referenced by credential header values. */
function credentialSources(m: PythonModel) {
  const values = m.outbound.calls
    .flatMap((c) => credentialHeaders(c.headers).map((h) => h.value))
    .join(' ');
  return m.secrets.sources.filter(
    (s) =>
      new RegExp(`\\b${s.name}\\b`, 'i').test(values) ||
      (s.envName !== undefined && values.includes(s.envName)),
  );
}

const sc2 = withCalls((m) => {
  const sources = credentialSources(m);
  const literal = m.outbound.calls.flatMap((c) =>
    credentialHeaders(c.headers)
      .filter((h) => /^["'].{8,}["']$/.test(h.value))
      .map((h) => h.site),
  );
  if (literal.length > 0)
    return outcome(
      'FAIL',
      'An outbound credential is written in the source.',
      evidenceOf(m, literal),
    );
  const defaulted = sources.filter(
    (s) => s.kind === 'literal' || s.kind === 'env-default' || s.kind === 'settings-default',
  );
  if (defaulted.length > 0) {
    return outcome(
      'PARTIAL',
      'The outbound credential is read from the environment, but a literal fallback in the source is used whenever it is unset.',
      evidenceOf(
        m,
        defaulted.map((s) => s.site),
      ),
    );
  }
  const withCred = m.outbound.calls.some((c) => credentialHeaders(c.headers).length > 0);
  if (!withCred)
    return outcome('N/A', 'Outbound calls carry no credential, so none can be hard-coded.');
  return outcome(
    'PASS',
    'Outbound credentials are read at runtime, not written in the source.',
    evidenceOf(
      m,
      sources.map((s) => s.site),
    ),
  );
});

const sc3 = withCalls((m) => {
  const withCred = m.outbound.calls.some((c) => credentialHeaders(c.headers).length > 0);
  if (!withCred) return outcome('N/A', 'Outbound calls carry no credential.');
  const sources = credentialSources(m);
  if (sources.length > 0 && sources.every((s) => s.kind === 'manager' || s.kind === 'file'))
    return outcome(
      'PASS',
      'The outbound credential is read from a secrets manager or mounted secret at runtime.',
      evidenceOf(
        m,
        sources.map((s) => s.site),
      ),
    );
  return outcome(
    'FAIL',
    'The outbound credential comes from an environment variable or settings file, not a secrets manager.',
    evidenceOf(m, sources.length > 0 ? sources.map((s) => s.site) : m.secrets.settingsClasses),
  );
});

/** Static credentials: one shared value, no expiry, no rotation (SC4, SC5, SC6). */
const staticCredential = (why: string, pass: string) =>
  withCalls((m, calls) => {
    const withCred = calls.filter((c) => credentialHeaders(c.headers).length > 0);
    if (withCred.length === 0)
      return outcome(
        'FAIL',
        'Outbound calls carry no credential, so there is no service credential to judge.',
        evidenceOf(m, callSites(calls)),
      );
    const staticOnes = withCred.filter(
      (c) => !credentialHeaders(c.headers).some((h) => isMinted(m, h)),
    );
    if (staticOnes.length === 0) return outcome('PASS', pass, evidenceOf(m, callSites(withCred)));
    const sources = credentialSources(m);
    return outcome(
      'FAIL',
      why,
      evidenceOf(
        m,
        sources.length > 0
          ? sources.map((s) => s.site)
          : staticOnes.flatMap((c) => credentialHeaders(c.headers).map((h) => h.site)),
      ),
    );
  });

const sc7 = withCalls((m, calls) => {
  const fns = [...new Set(calls.map((c) => c.fn).filter((f) => f !== undefined))];
  if (fns.length === 0) return outcome('N/A', 'No function making outbound calls was found.');
  const logging = fns.filter((fn) =>
    m.inbound.factsOf(fn).logs.some((l) => /status|response|resp\b|error|exc/i.test(l.text)),
  );
  if (logging.length === fns.length)
    return outcome(
      'PASS',
      'Failed outbound calls (error statuses, 401/403 included) are logged.',
      evidenceOf(
        m,
        logging.flatMap((fn) => m.inbound.factsOf(fn).logs.map((l) => l.site)),
      ),
    );
  return outcome(
    logging.length > 0 ? 'PARTIAL' : 'FAIL',
    logging.length > 0
      ? 'Some outbound failures are logged, others are not.'
      : 'Failed outbound calls (401/403 from the callee) are not logged.',
    evidenceOf(m, [
      ...logging.flatMap((fn) => m.inbound.factsOf(fn).logs.map((l) => l.site)),
      ...fns.filter((f) => !logging.includes(f)).map((f) => ({ file: f.file, line: f.line })),
    ]),
  );
});

/**
 * URL literals of outbound targets: call URLs, client base URLs, `*_url` settings defaults, and
 * the values deployment files (compose, manifests, .env) give the variables the code reads.
 */
function targetUrls(m: PythonModel, ctx: AuditContext): { url: string; evidence: Evidence }[] {
  const out: { url: string; evidence: Evidence }[] = [];
  const add = (text: string | undefined, site: Site) => {
    if (text !== undefined && /^(https?):\/\//.test(text)) {
      out.push({ url: text, evidence: m.py.evidence(site.file, site.line) });
    }
  };
  for (const c of m.outbound.calls) add(stringText(c.url), c.site);
  for (const c of m.outbound.clients) add(stringText(c.baseUrl), c.site);
  for (const file of m.py.files) {
    for (const assignment of descendants(file.root, 'assignment')) {
      const name = assignment.fields.left?.text ?? '';
      if (!/url|endpoint|base|host/i.test(name)) continue;
      const right = assignment.fields.right;
      const literal =
        stringValue(right) ??
        (right === undefined
          ? undefined
          : descendants(right, 'string')
              .map((s) => stringValue(s))
              .find((v) => v !== undefined && /^https?:\/\//.test(v)));
      add(literal, { file, line: assignment.line });
    }
  }
  const code = m.py.files.map((f) => f.text.toLowerCase()).join('\n');
  for (const file of ctx.project.textFiles) {
    if (!DEPLOYMENT_FILE.test(file.path)) continue;
    file.text.split('\n').forEach((line, i) => {
      const match = DEPLOYED_URL.exec(line);
      if (match?.[1] === undefined || match[3] === undefined) return;
      if (!code.includes(match[1].toLowerCase())) return;
      out.push({
        url: match[3],
        evidence: { file: file.path, line: i + 1, snippet: line.trim().slice(0, 200) },
      });
    });
  }
  return out;
}

const DEPLOYMENT_FILE =
  /(^|\/)(docker-compose[^/]*|compose[^/]*)\.ya?ml$|(^|\/)\.env(\.[^/]*)?$|(^|\/)(k8s|kubernetes|deploy|manifests|helm)\//;
/** `BACKEND_URL: http://backend:8000` (compose), `- BACKEND_URL=http://...`, `.env` lines. */
const DEPLOYED_URL =
  /^\s*-?\s*([A-Za-z_][A-Za-z0-9_]*(URL|URI|ENDPOINT|HOST)[A-Za-z0-9_]*)\s*[:=]\s*["']?(https?:\/\/[^\s"']+)/;

const LOOPBACK = /^https?:\/\/(localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0)(:|\/|$)/;

const sc8 = (ctx: AuditContext): Outcome =>
  withCalls((m) => {
    const urls = targetUrls(m, ctx).filter((u) => !LOOPBACK.test(u.url));
    if (urls.length === 0) {
      return outcome(
        'N/A',
        'No outbound target URL is written in the source or the deployment files; the scheme is not known.',
      );
    }
    const plain = urls.filter((u) => u.url.startsWith('http://'));
    if (plain.length === 0) {
      return outcome(
        'PASS',
        'Every outbound target URL uses https.',
        urls.map((u) => u.evidence),
      );
    }
    return outcome(
      plain.length === urls.length ? 'FAIL' : 'PARTIAL',
      `${plural(plain.length, 'outbound target')} use plain http://.`,
      plain.map((u) => u.evidence),
    );
  })(ctx);

const IDENTITY_HEADER =
  /^(x-(service|caller|client|source)(-name|-id)?|x-calling-service|user-agent|x-requested-by)$/;

const identityInRequest = (what: string) =>
  withCalls((m, calls) => {
    const named = calls.filter(
      (c) =>
        c.headers.some((h) => IDENTITY_HEADER.test(h.name)) ||
        credentialHeaders(c.headers).some((h) => isMinted(m, h)),
    );
    if (named.length === calls.length && calls.length > 0)
      return outcome('PASS', `Every outbound call ${what}.`, evidenceOf(m, callSites(named)));
    const missing = calls.filter((c) => !named.includes(c));
    return outcome(
      'FAIL',
      `${plural(missing.length, 'outbound call')} carry no header or token naming the calling service.`,
      evidenceOf(m, [
        ...missing.flatMap((c) => credentialHeaders(c.headers).map((h) => h.site)),
        ...callSites(missing),
      ]),
    );
  });

const sc10 = withCalls((m, calls) => {
  const instrumented = m.py.files.some((f) =>
    /HTTPXClientInstrumentor|RequestsInstrumentor|AioHttpClientInstrumentor|propagate\.inject|inject\(headers/.test(
      f.text,
    ),
  );
  if (instrumented)
    return outcome(
      'PASS',
      'Trace context is injected into outbound requests (OpenTelemetry instrumentation).',
    );
  const traced = calls.filter((c) => c.headers.some((h) => isHeader(TRACE_HEADERS, h.name)));
  if (calls.length > 0 && traced.length === calls.length)
    return outcome(
      'PASS',
      'Every outbound call forwards a correlation or trace header.',
      evidenceOf(
        m,
        traced.flatMap((c) =>
          c.headers.filter((h) => isHeader(TRACE_HEADERS, h.name)).map((h) => h.site),
        ),
      ),
    );
  const untraced = calls.filter((c) => !traced.includes(c));
  return outcome(
    traced.length > 0 ? 'PARTIAL' : 'FAIL',
    traced.length > 0
      ? `${plural(untraced.length, 'outbound call')} forward no correlation id; others do.`
      : 'No outbound call forwards a correlation id or trace context.',
    evidenceOf(m, [
      ...traced.flatMap((c) =>
        c.headers.filter((h) => isHeader(TRACE_HEADERS, h.name)).map((h) => h.site),
      ),
      ...callSites(untraced),
    ]),
  );
});

const sc11 = withCalls((m, calls) => {
  // httpx applies a 5 s default unless timeout=None; requests waits forever without timeout=.
  const bad: Site[] = [];
  const disabled: Site[] = [];
  const judge = (timeout: PyNode | undefined, library: string, site: Site) => {
    if (timeout?.type === 'none') {
      disabled.push(site);
      bad.push({ file: site.file, line: timeout.line });
    } else if (timeout === undefined && library === 'requests') bad.push(site);
  };
  for (const call of calls) judge(call.timeout ?? call.client?.timeout, call.library, call.site);
  const unused = m.outbound.clients.filter((c) => !calls.some((call) => call.client === c));
  for (const client of unused) judge(client.timeout, client.library, client.site);
  const total = calls.length + unused.length;
  if (bad.length === 0)
    return outcome(
      'PASS',
      "Every outbound call has a timeout (set, or httpx's 5-second default).",
      evidenceOf(m, [...m.outbound.clients.map((c) => c.site), ...callSites(calls)], 4),
    );
  return outcome(
    bad.length >= total ? 'FAIL' : 'PARTIAL',
    disabled.length > 0
      ? 'Some outbound calls switch the timeout off (timeout=None) and can hang forever.'
      : 'Some outbound calls set no timeout (requests waits forever by default).',
    evidenceOf(m, bad),
  );
});

const sc12 = withCalls((m, calls) => {
  if (m.outbound.breakers.length > 0)
    return outcome(
      'PASS',
      'A circuit breaker guards downstream calls.',
      evidenceOf(m, m.outbound.breakers),
    );
  return outcome(
    'FAIL',
    m.outbound.retries.length > 0
      ? 'Downstream calls are retried, but no circuit breaker stops calling a failing dependency.'
      : 'No circuit breaker (nor retry policy) guards downstream calls.',
    evidenceOf(
      m,
      m.outbound.retries.length > 0 ? m.outbound.retries : callSites(calls).slice(0, 3),
    ),
  );
});

const sc13 = withCalls((m, calls) => {
  const off = [
    ...m.outbound.clients.map((c) => c.verifyOff),
    ...calls.map((c) => c.verifyOff),
  ].filter((s) => s !== undefined);
  if (off.length > 0)
    return outcome(
      'FAIL',
      'TLS certificate verification is switched off (verify=False).',
      evidenceOf(m, off),
    );
  return outcome('PASS', 'TLS certificates are verified (no verify=False on any client or call).');
});

const sc14 = withCalls((m) => {
  const libraries = [
    ...new Set([
      ...m.outbound.clients.map((c) => c.library),
      ...m.outbound.calls.map((c) => c.library),
    ]),
  ];
  return outcome(
    'PASS',
    `Outbound calls use ${libraries.join(' and ')}, maintained Python HTTP clients (the deprecated npm request package does not apply).`,
  );
});

export const pythonClientRules: RuleSet = {
  SC1: sc1,
  SC2: sc2,
  SC3: sc3,
  SC4: staticCredential(
    "One static credential is shared by every caller of the target; no credential of this service's own.",
    'Each outbound call carries a token minted for this service.',
  ),
  SC5: staticCredential(
    'The outbound credential is a static value that never expires.',
    'Outbound tokens are minted per call with a short lifetime.',
  ),
  SC6: staticCredential(
    'The static outbound credential is never rotated or refreshed by the service.',
    'Outbound tokens are minted afresh, so rotation needs no deployment.',
  ),
  SC7: sc7,
  SC8: sc8,
  SC9: identityInRequest('identifies the calling service'),
  SC10: sc10,
  SC11: sc11,
  SC12: sc12,
  SC13: sc13,
  SC14: sc14,
  SC15: () =>
    outcome(
      'N/A',
      'Python service: NODE_TLS_REJECT_UNAUTHORIZED has no effect here; its equivalent, verify=False, is SC13.',
    ),
  SC16: identityInRequest('carries a header naming the calling service'),
};
