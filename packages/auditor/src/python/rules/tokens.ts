/**
 * The service-verification (SV) and token-management (TM) checks for a Python service: mutual
 * TLS from the server's launch options, and the JWTs and shared tokens it verifies.
 */
import type { AuditContext } from '../../analysis/context.ts';
import type { Evidence, Outcome } from '../../model.ts';
import { outcome, type RuleSet } from '../../rules/rule.ts';
import type { JwtDecode, Site } from '../facts.ts';
import { pythonModel, type PythonModel } from '../model.ts';
import { calleeName, descendants, keywordArg } from '../syntax.ts';
import { authFacts, evidenceOf, jwtDecodes, staticTokenChecks } from './common.ts';

const withModel =
  (decide: (m: PythonModel, ctx: AuditContext) => Outcome) =>
  (ctx: AuditContext): Outcome =>
    decide(pythonModel(ctx), ctx);

/** Where the server is launched with client-certificate options (uvicorn, gunicorn, hypercorn). */
function mtls(m: PythonModel, ctx: AuditContext): { required: Evidence[]; launches: Evidence[] } {
  const required: Evidence[] = [];
  const launches: Evidence[] = [];
  const texts = [
    ...ctx.project.textFiles,
    ...m.py.files.map((f) => ({ path: f.path, text: f.text })),
  ];
  for (const file of texts) {
    file.text.split('\n').forEach((line, i) => {
      const evidence = { file: file.path, line: i + 1, snippet: line.trim().slice(0, 200) };
      if (/ssl[-_]cert[-_]reqs|CERT_REQUIRED|cert_reqs\s*=\s*2|--ca-certs|ssl_ca_certs/.test(line))
        required.push(evidence);
      else if (
        /\b(uvicorn|gunicorn|hypercorn)\b/.test(line) &&
        /CMD|ENTRYPOINT|command|uvicorn\.run|\.run\(/.test(line)
      )
        launches.push(evidence);
    });
  }
  return { required, launches };
}

const sv1 = withModel((m, ctx) => {
  const { required, launches } = mtls(m, ctx);
  if (required.length > 0)
    return outcome('PASS', 'The server requires client certificates (mutual TLS).', required);
  return outcome(
    'FAIL',
    'No mutual TLS: the server is launched without requiring a client certificate.',
    launches.slice(0, 3),
  );
});

const mtlsDependent = (ctx: AuditContext, m: PythonModel): Outcome | undefined =>
  mtls(m, ctx).required.length === 0
    ? outcome('N/A', 'Mutual TLS is not used, so there is no client certificate to check.')
    : undefined;

const notAnalysedCert = withModel(
  (m, ctx) =>
    mtlsDependent(ctx, m) ??
    outcome(
      'N/A',
      'not analysed for Python: certificate handling is configured outside the application code.',
    ),
);

/** The verified JWTs, or N/A with the reason. */
const withJwts = (decide: (m: PythonModel, verified: readonly JwtDecode[]) => Outcome) =>
  withModel((m) => {
    const verified = jwtDecodes(m).filter((j) => j.verified);
    if (verified.length === 0) {
      return staticTokenChecks(m).length > 0
        ? outcome(
            'N/A',
            'The service verifies no signed token: callers present a static shared token (see SE3).',
          )
        : outcome('N/A', 'The service verifies no token.');
    }
    return decide(m, verified);
  });

const ASYMMETRIC = /^(RS|ES|PS)(256|384|512)$|^EdDSA$|^ES256K$/;

const sv7 = withJwts((m, verified) => {
  const algorithms = [...new Set(verified.flatMap((j) => j.algorithms))];
  if (algorithms.length === 0)
    return outcome(
      'PARTIAL',
      'The accepted algorithms are not pinned to a literal list the audit can read.',
      evidenceOf(
        m,
        verified.map((j) => j.site),
      ),
    );
  const symmetric = algorithms.filter((a) => !ASYMMETRIC.test(a));
  if (symmetric.length === 0)
    return outcome(
      'PASS',
      `Tokens are verified with asymmetric algorithms (${algorithms.join(', ')}).`,
      evidenceOf(
        m,
        verified.map((j) => j.site),
      ),
    );
  return outcome(
    'FAIL',
    `Tokens are verified with a shared-secret algorithm (${symmetric.join(', ')}), so every holder of the secret can mint them.`,
    evidenceOf(
      m,
      verified.map((j) => j.site),
    ),
  );
});

const sv8 = withJwts((m, verified) => {
  const asymmetric = verified.filter((j) => j.algorithms.some((a) => ASYMMETRIC.test(a)) || j.jwks);
  if (asymmetric.length === 0)
    return outcome(
      'N/A',
      'Tokens are verified with a shared secret; no public key is retrieved (the algorithm is SV7).',
    );
  const jwks = m.py.files.flatMap((file) =>
    descendants(file.root, 'call')
      .filter(
        (c) =>
          (/PyJWKClient|JsonWebKey|jwks/i.test(c.text) && c.text.includes('https://')) ||
          c.text.includes('PyJWKClient('),
      )
      .map((c) => ({ file, line: c.line })),
  );
  const plain = m.py.files.flatMap((file) =>
    descendants(file.root, 'string')
      .filter((s) => /^["']http:\/\/[^"']*jwks/.test(s.text))
      .map((s) => ({ file, line: s.line })),
  );
  if (plain.length > 0)
    return outcome('FAIL', 'The public keys are fetched over plain http.', evidenceOf(m, plain));
  return outcome(
    'PASS',
    'The public keys come from a JWKS or a configured key file.',
    evidenceOf(m, jwks.length > 0 ? jwks : asymmetric.map((j) => j.site)),
  );
});

const claim = (key: 'issuer' | 'audience', label: string) =>
  withJwts((m, verified) => {
    const missing = verified.filter((j) => !j[key]);
    if (missing.length === 0)
      return outcome(
        'PASS',
        `The ${label} claim is validated on every verified token.`,
        evidenceOf(
          m,
          verified.map((j) => j.site),
        ),
      );
    return outcome(
      missing.length === verified.length ? 'FAIL' : 'PARTIAL',
      `The ${label} claim is not validated (no ${key}= argument).`,
      evidenceOf(
        m,
        missing.map((j) => j.site),
      ),
    );
  });

const expiry = withJwts((m, verified) => {
  const off = verified.filter((j) => !j.expiry);
  if (off.length === 0)
    return outcome(
      'PASS',
      'Expired tokens are refused (the JWT library checks exp by default and it is not switched off).',
      evidenceOf(
        m,
        verified.map((j) => j.site),
      ),
    );
  return outcome(
    'FAIL',
    'Expiry checking is switched off (verify_exp False).',
    evidenceOf(
      m,
      off.map((j) => j.site),
    ),
  );
});

/** HMAC request signing: `hmac.new(key, message, hashlib.sha256)` over request data. */
function requestSigning(m: PythonModel): { site: Site; text: string }[] {
  return m.py.files.flatMap((file) =>
    descendants(file.root, 'call')
      .filter((c) => /^(hmac\.new|hmac\.digest|HMAC)$/.test(c.fields.function?.text ?? ''))
      .map((c) => ({ site: { file, line: c.line }, text: c.text })),
  );
}

const NO_SIGNING =
  'The service signs no requests (no HMAC request signing); token algorithms are SV7.';

const sv14 = withModel((m) => {
  const signing = requestSigning(m);
  if (signing.length === 0) return outcome('N/A', NO_SIGNING);
  const weak = signing.filter((s) => /md5|sha1\b|sha1\)/i.test(s.text));
  if (weak.length > 0)
    return outcome(
      'FAIL',
      'Requests are signed with MD5 or SHA-1.',
      evidenceOf(
        m,
        weak.map((s) => s.site),
      ),
    );
  return outcome(
    'PASS',
    'Requests are signed with SHA-256 or stronger.',
    evidenceOf(
      m,
      signing.map((s) => s.site),
    ),
  );
});

const sv15 = withModel((m) => {
  const signing = requestSigning(m);
  if (signing.length === 0) return outcome('N/A', NO_SIGNING);
  const stamped = signing.filter((s) =>
    /timestamp|time\(|nonce|x-signature-time/i.test(s.text + s.site.file.text),
  );
  return stamped.length > 0
    ? outcome(
        'PASS',
        'Signed requests carry a timestamp that is checked.',
        evidenceOf(
          m,
          stamped.map((s) => s.site),
        ),
      )
    : outcome(
        'FAIL',
        'Signed requests carry no timestamp: a captured request can be replayed.',
        evidenceOf(
          m,
          signing.map((s) => s.site),
        ),
      );
});

const sv16 = withModel((m) => {
  const loose = jwtDecodes(m).filter((j) => j.verified && (j.leeway ?? 0) > 30);
  if (loose.length > 0)
    return outcome(
      'FAIL',
      'Clock-skew leeway is over 30 seconds.',
      evidenceOf(
        m,
        loose.map((j) => j.site),
      ),
    );
  if (requestSigning(m).length === 0) return outcome('N/A', NO_SIGNING);
  return outcome('PASS', 'No clock-skew tolerance over 30 seconds is configured.');
});

const sv17 = withModel((m) => {
  const signing = requestSigning(m);
  if (signing.length === 0) return outcome('N/A', NO_SIGNING);
  const body = signing.filter((s) => /body|content|payload|data/i.test(s.text));
  return body.length > 0
    ? outcome(
        'PASS',
        'The signature covers the request body.',
        evidenceOf(
          m,
          body.map((s) => s.site),
        ),
      )
    : outcome(
        'FAIL',
        'The signature does not cover the request body.',
        evidenceOf(
          m,
          signing.map((s) => s.site),
        ),
      );
});

/** The longest lifetime of tokens the service mints (`jwt.encode` with `timedelta`/`*_EXPIRE_*`). */
function mintedLifetime(m: PythonModel): { seconds: number; site: Site } | undefined {
  const minting = m.py.files.filter((f) =>
    /jwt\.encode\(|\bencode\(\s*\{|\.encode\(to_encode/.test(f.text),
  );
  if (minting.length === 0) return undefined;
  let best: { seconds: number; site: Site } | undefined;
  const consider = (seconds: number, site: Site) => {
    if (best === undefined || seconds > best.seconds) best = { seconds, site };
  };
  for (const file of m.py.files) {
    for (const assignment of descendants(file.root, 'assignment')) {
      const name = assignment.fields.left?.text ?? '';
      const right = assignment.fields.right;
      if (right === undefined || !/expire|lifetime|ttl/i.test(name)) continue;
      const value = arithmetic(right.text);
      if (value === undefined) continue;
      const unit = /day/i.test(name)
        ? 86400
        : /hour/i.test(name)
          ? 3600
          : /min/i.test(name)
            ? 60
            : 1;
      consider(value * unit, { file, line: assignment.line });
    }
  }
  for (const file of minting) {
    for (const call of descendants(file.root, 'call')) {
      if (calleeName(call) !== 'timedelta') continue;
      for (const [key, unit] of [
        ['days', 86400],
        ['hours', 3600],
        ['minutes', 60],
        ['seconds', 1],
      ] as const) {
        const value = arithmetic(keywordArg(call, key)?.text ?? '');
        if (value !== undefined) consider(value * unit, { file, line: call.line });
      }
    }
  }
  return best;
}

/** `60 * 24 * 8` → 11520; undefined for anything but integer products and sums. */
function arithmetic(text: string): number | undefined {
  if (!/^[\d\s*+()]+$/.test(text.trim()) || text.trim() === '') return undefined;
  let total = 0;
  for (const term of text.replace(/[()]/g, '').split('+')) {
    const factors = term.split('*').map((f) => Number(f.trim()));
    if (factors.some((f) => !Number.isFinite(f))) return undefined;
    total += factors.reduce((a, b) => a * b, 1);
  }
  return total;
}

const sv12 = withModel((m) => {
  const statics = staticTokenChecks(m);
  const outgoingStatic = m.outbound.calls.filter((c) =>
    c.headers.some((h) => /token|api-?key|secret/.test(h.name)),
  );
  if (statics.length > 0 || outgoingStatic.length > 0) {
    return outcome(
      'FAIL',
      'The service credential is a static shared token with no exp.',
      evidenceOf(m, [...statics, ...outgoingStatic.map((c) => c.site)]),
    );
  }
  const lifetime = mintedLifetime(m);
  if (lifetime !== undefined && lifetime.seconds > 3600) {
    return outcome(
      'FAIL',
      `Tokens are minted with a ${describe(lifetime.seconds)} lifetime; exp is checked, but such a token stays usable long after a leak.`,
      evidenceOf(m, [lifetime.site]),
    );
  }
  const verified = jwtDecodes(m).filter((j) => j.verified);
  if (verified.length === 0) return outcome('N/A', 'The service verifies no token.');
  const off = verified.filter((j) => !j.expiry);
  if (off.length > 0)
    return outcome(
      'FAIL',
      'Expiry checking is switched off (verify_exp False).',
      evidenceOf(
        m,
        off.map((j) => j.site),
      ),
    );
  return outcome(
    'PASS',
    'exp is checked on every token (the JWT library refuses expired tokens).',
    evidenceOf(
      m,
      verified.map((j) => j.site),
    ),
  );
});

const describe = (seconds: number): string =>
  seconds >= 86400
    ? `${String(Math.round(seconds / 86400))}-day`
    : seconds >= 3600
      ? `${String(Math.round(seconds / 3600))}-hour`
      : `${String(Math.round(seconds / 60))}-minute`;

/** SV9: the token's sub names a service (a SPIFFE ID, a client id), not only users. */
const sv9 = withModel((m) => {
  const verified = jwtDecodes(m).filter((j) => j.verified);
  const outgoing = m.outbound.calls.flatMap((c) =>
    c.headers
      .filter((h) => /token|api-?key|secret/.test(h.name) && h.name !== 'authorization')
      .map((h) => h.site),
  );
  const statics = [...staticTokenChecks(m), ...outgoing];
  if (verified.length === 0 && statics.length === 0)
    return outcome('N/A', 'The service verifies no token.');
  const serviceSub = m.py.files.flatMap((file) =>
    descendants(file.root, 'call', 'subscript')
      .filter(
        (n) =>
          /spiffe|workload_id|client_id|azp/i.test(n.text) && /sub|claims|payload/.test(n.text),
      )
      .map((n) => ({ file, line: n.line })),
  );
  if (verified.length > 0 && serviceSub.length > 0)
    return outcome(
      'PASS',
      'The token subject is read as a service identity.',
      evidenceOf(m, serviceSub),
    );
  return outcome(
    'FAIL',
    verified.length > 0
      ? 'No service token: the sub of the tokens the service verifies only ever names a user.'
      : 'No service token carries the caller in sub: callers present a static shared token.',
    evidenceOf(m, verified.length > 0 ? verified.map((j) => j.site) : statics),
  );
});

const sv18 = withModel((m) => {
  const auth = authFacts(m);
  const plain = auth.flatMap((f) => f.plainCompares);
  const digest = auth.flatMap((f) => f.digestCompares);
  if (plain.length > 0)
    return outcome(
      'FAIL',
      'A secret is compared with == / != (timing leak); use hmac.compare_digest.',
      evidenceOf(m, plain),
    );
  if (digest.length > 0)
    return outcome(
      'PASS',
      'Secrets are compared in constant time (hmac/secrets.compare_digest).',
      evidenceOf(m, digest),
    );
  return outcome('N/A', 'The service compares no shared secret or signature itself.');
});

const sv19 = withModel((m) => {
  const statics = staticTokenChecks(m);
  const outgoing = m.outbound.calls.flatMap((c) =>
    c.headers
      .filter((h) => /token|secret/.test(h.name) && h.name !== 'authorization')
      .map((h) => h.site),
  );
  if (statics.length === 0 && outgoing.length === 0) {
    return outcome(
      'N/A',
      'The service verifies and sends no shared service secret (user-session JWTs are SV7).',
    );
  }
  return outcome(
    'FAIL',
    'One static secret is shared by every internal caller, not one per service.',
    evidenceOf(m, [...statics, ...outgoing]),
  );
});

/** Service tokens: a static shared token never expires, is never refreshed, is not bound. */
const serviceToken = (
  staticWhy: string,
  jwtDecide: (m: PythonModel, verified: readonly JwtDecode[]) => Outcome,
) =>
  withModel((m) => {
    const statics = staticTokenChecks(m);
    const outgoing = m.outbound.calls.some((c) =>
      c.headers.some((h) => /token|api-?key|secret/.test(h.name)),
    );
    if (statics.length > 0 || outgoing) {
      const sites: Site[] = [...statics];
      return outcome(
        'FAIL',
        staticWhy,
        evidenceOf(m, sites.length > 0 ? sites : m.outbound.calls.map((c) => c.site)),
      );
    }
    const verified = jwtDecodes(m).filter((j) => j.verified);
    if (verified.length === 0)
      return outcome('N/A', 'The service neither verifies nor sends a service token.');
    return jwtDecide(m, verified);
  });

const tm4 = withModel((m) => {
  const query = queryTokenSites(m);
  if (query.length > 0)
    return outcome(
      'FAIL',
      'Tokens accepted in the query string are written to the access log with the URL.',
      evidenceOf(m, query),
    );
  const leaks = m.secrets.logs.filter((l) =>
    l.names.some((n) => /token|authorization|headers|bearer|jwt|key|settings|config/i.test(n)),
  );
  if (leaks.length > 0)
    return outcome(
      'FAIL',
      `Tokens reach the logs (${[...new Set(leaks.flatMap((l) => l.names))].slice(0, 4).join(', ')}).`,
      evidenceOf(
        m,
        leaks.map((l) => l.site),
      ),
    );
  return outcome('PASS', 'No log call carries a token or the request headers.');
});

/** Credentials read from the query string (they reach every access log with the URL). */
export const queryTokenSites = (m: PythonModel): Site[] =>
  m.py.functions.flatMap((fn) => m.inbound.factsOf(fn).queryCredentials);

const tm5 = withModel((m) => {
  const query = queryTokenSites(m);
  const urls = m.py.files.flatMap((file) =>
    descendants(file.root, 'string')
      .filter((s) => /[?&](token|access_token|api_key|apikey|key|secret)=/i.test(s.text))
      .map((s) => ({ file, line: s.line })),
  );
  const all = [...query, ...urls];
  if (all.length > 0)
    return outcome(
      'FAIL',
      'Tokens travel in URLs (query parameters end up in access logs and proxies).',
      evidenceOf(m, all),
    );
  return outcome('PASS', 'No token is read from or put into a URL.');
});

const tm6 = withModel((m) => {
  if (authFacts(m).length === 0) return outcome('N/A', 'The service verifies no token.');
  const scopes = authFacts(m).flatMap((f) => f.scopeChecks);
  if (scopes.length > 0)
    return outcome('PASS', 'Token scopes are checked before access.', evidenceOf(m, scopes));
  return outcome(
    'FAIL',
    'Token scopes are never checked: any valid token reaches every route it is authenticated for.',
    evidenceOf(m, [...jwtDecodes(m).map((j) => j.site), ...staticTokenChecks(m)]),
  );
});

const tm8 = withJwts((m, verified) => {
  const revocation = m.py.files.flatMap((file) =>
    descendants(file.root, 'call', 'comparison_operator')
      .filter((n) => /revok|denylist|blocklist|blacklist|jti/i.test(n.text))
      .map((n) => ({ file, line: n.line })),
  );
  if (revocation.length > 0 && staticTokenChecks(m).length > 0) {
    return outcome(
      'PARTIAL',
      'Some tokens can be revoked, but the static shared token and the JWTs cannot.',
      evidenceOf(m, [...revocation, ...staticTokenChecks(m)]),
    );
  }
  if (revocation.length > 0)
    return outcome(
      'PASS',
      'Revoked tokens are refused (jti or denylist check).',
      evidenceOf(m, revocation),
    );
  return outcome(
    'FAIL',
    'A compromised token stays valid until it expires: no revocation check.',
    evidenceOf(
      m,
      verified.map((j) => j.site),
    ),
  );
});

export const pythonTokenRules: RuleSet = {
  SV1: sv1,
  SV2: notAnalysedCert,
  SV3: notAnalysedCert,
  SV4: notAnalysedCert,
  SV5: notAnalysedCert,
  SV6: notAnalysedCert,
  SV7: sv7,
  SV8: sv8,
  SV9: sv9,
  SV10: claim('issuer', 'iss'),
  SV11: claim('audience', 'aud'),
  SV12: sv12,
  SV13: expiry,
  SV14: sv14,
  SV15: sv15,
  SV16: sv16,
  SV17: sv17,
  SV18: sv18,
  SV19: sv19,
  TM1: serviceToken('The service token is a static shared value with no expiry.', (m, v) =>
    outcome(
      'PASS',
      'Tokens carry an expiry that is checked.',
      evidenceOf(
        m,
        v.map((j) => j.site),
      ),
    ),
  ),
  TM2: serviceToken('The static service token is never refreshed.', (m, v) =>
    outcome(
      'N/A',
      'The service verifies tokens but mints none itself; refresh belongs to the caller.',
      evidenceOf(
        m,
        v.map((j) => j.site),
      ),
    ),
  ),
  TM3: serviceToken('The static service token lives forever.', (m, v) => {
    const lifetime = mintedLifetime(m);
    if (lifetime !== undefined && lifetime.seconds > 3600)
      return outcome(
        'FAIL',
        `Tokens are minted to live ${describe(lifetime.seconds)}s, not minutes.`,
        evidenceOf(m, [lifetime.site]),
      );
    return outcome(
      'PASS',
      'Tokens expire (exp checked).',
      evidenceOf(
        m,
        v.map((j) => j.site),
      ),
    );
  }),
  TM4: tm4,
  TM5: tm5,
  TM6: tm6,
  TM7: serviceToken(
    'The static token is not bound to any service: whoever holds it is trusted.',
    (m, v) => {
      const unbound = v.filter((j) => !j.audience);
      return unbound.length > 0
        ? outcome(
            'FAIL',
            'Tokens are not bound to this service (no audience check).',
            evidenceOf(
              m,
              unbound.map((j) => j.site),
            ),
          )
        : outcome(
            'PASS',
            'Tokens are bound to this service by their audience.',
            evidenceOf(
              m,
              v.map((j) => j.site),
            ),
          );
    },
  ),
  TM8: tm8,
};
