/**
 * The service-endpoint (SE) and fail-secure (FS) checks for a Python service, decided from the
 * routes, the dependencies and middleware in front of them, and what those functions do.
 */
import type { Outcome } from '../../model.ts';
import { outcome, type RuleSet } from '../../rules/rule.ts';
import type { AuditContext } from '../../analysis/context.ts';
import { descendants, calleeName, keywordArg } from '../syntax.ts';
import type { Site } from '../facts.ts';
import { isSpoofableHeader } from '../inbound.ts';
import { pythonModel, type PythonModel } from '../model.ts';
import {
  authFacts,
  evidenceOf,
  introspection,
  jwtDecodes,
  plural,
  serviceFacing,
  staticTokenChecks,
} from './common.ts';

const withModel =
  (decide: (m: PythonModel) => Outcome) =>
  (ctx: AuditContext): Outcome =>
    decide(pythonModel(ctx));

const noRoutes = (m: PythonModel): Outcome | undefined =>
  m.surface.routes.length === 0
    ? outcome('N/A', 'No FastAPI or Starlette route was found, so no endpoint is served.')
    : undefined;

/** SE1: every non-public route needs a verified credential. */
const se1 = withModel((m) => {
  const none = noRoutes(m);
  if (none !== undefined) return none;
  const open = m.inbound.protections.filter((p) => !p.authenticated && !p.publicByNature);
  const publicRoutes = m.inbound.protections.filter((p) => !p.authenticated && p.publicByNature);
  const publicNote =
    publicRoutes.length > 0
      ? ` (public by nature, not counted: ${publicRoutes
          .map((p) => `${p.route.method} ${p.route.path}`)
          .slice(0, 6)
          .join(', ')})`
      : '';
  if (open.length > 0) {
    const names = open
      .map((p) => `${p.route.method} ${p.route.path}`)
      .slice(0, 6)
      .join(', ');
    return outcome(
      'FAIL',
      `${plural(open.length, 'route')} answer without verifying any credential: ${names}${publicNote}.`,
      evidenceOf(
        m,
        open.map((p) => p.route.site),
      ),
    );
  }
  const conditional = m.inbound.protections.filter((p) => p.conditional && !p.publicByNature);
  if (conditional.length > 0) {
    return outcome(
      'PARTIAL',
      `Every route has some authentication, but ${plural(conditional.length, 'route')} (${conditional
        .map((p) => `${p.route.method} ${p.route.path}`)
        .slice(0, 4)
        .join(', ')}) rely on a check that lets requests through when its token is unset.`,
      evidenceOf(m, [
        ...conditional.map((p) => p.route.site),
        ...conditional.flatMap((p) => [...p.middleware, ...p.skippedBy].map((mw) => mw.site)),
      ]),
    );
  }
  const sites: Site[] = [
    ...m.inbound.authMiddleware.map((mw) => mw.site),
    ...m.inbound.protections.flatMap((p) => p.route.guards.map((g) => g.site)).slice(0, 4),
  ];
  return outcome(
    'PASS',
    `Every route verifies a credential${publicNote}.`,
    evidenceOf(m, sites, 4),
  );
});

/** SE2 / SE20: authentication applied app-wide (app dependencies or middleware), not per route. */
const global = (m: PythonModel): Outcome => {
  const none = noRoutes(m);
  if (none !== undefined) return none;
  if (m.inbound.authMiddleware.length > 0) {
    const skipped = m.inbound.protections.filter(
      (p) => p.skippedBy.length > 0 && !p.publicByNature,
    );
    if (skipped.length > 0) {
      return outcome(
        'PARTIAL',
        `An authentication middleware runs app-wide, but skips ${plural(skipped.length, 'non-public route')}, which ${skipped.every((p) => p.authenticated) ? 'authenticate route by route' : 'are left open'}.`,
        evidenceOf(m, [
          ...m.inbound.authMiddleware.map((mw) => mw.site),
          ...skipped.map((p) => p.route.site),
        ]),
      );
    }
    return outcome(
      'PASS',
      'An authentication middleware runs for every request.',
      evidenceOf(
        m,
        m.inbound.authMiddleware.map((mw) => mw.site),
      ),
    );
  }
  const appWide = m.surface.apps.filter((a) =>
    a.guards.some(
      (g) =>
        g.fn !== undefined &&
        m.inbound.reach(g.fn).some((f) => f.rejects.length > 0 || f.jwt.length > 0),
    ),
  );
  if (appWide.length > 0) {
    return outcome(
      'PASS',
      'The app declares its authentication as an app-wide dependency.',
      evidenceOf(
        m,
        appWide.flatMap((a) => a.guards.map((g) => g.site)),
      ),
    );
  }
  const perRoute = m.inbound.protections.filter((p) => p.authenticated);
  const appSites = m.surface.apps.map((a) => a.site);
  return outcome(
    'FAIL',
    perRoute.length > 0
      ? `Authentication is declared route by route or router by router (${plural(perRoute.length, 'route')}); no app-wide dependency or middleware authenticates, so a route without the dependency is open.`
      : 'No app-wide dependency or middleware authenticates requests.',
    evidenceOf(m, appSites.length > 0 ? appSites : m.surface.routes.map((r) => r.site)),
  );
};

/** SE3: cryptographic verification (JWT signature) rather than a shared static value. */
const se3 = withModel((m) => {
  const verified = jwtDecodes(m).filter((j) => j.verified);
  const statics = staticTokenChecks(m);
  const remote = introspection(m);
  if (verified.length === 0 && statics.length === 0 && remote.length > 0) {
    return outcome(
      'PARTIAL',
      'Tokens are opaque and checked by asking another service (introspection or lookup), not verified cryptographically here.',
      evidenceOf(m, remote),
    );
  }
  if (verified.length === 0 && statics.length === 0) {
    return m.surface.routes.length === 0
      ? outcome('N/A', 'The service verifies no token and serves no route.')
      : outcome(
          'FAIL',
          'No token or certificate is verified anywhere in the service.',
          evidenceOf(
            m,
            m.surface.apps.map((a) => a.site),
          ),
        );
  }
  if (verified.length > 0 && statics.length > 0) {
    return outcome(
      'PARTIAL',
      'JWTs are verified with their signature, but some callers are admitted by comparing a shared static token, which proves no identity.',
      evidenceOf(m, [...verified.map((j) => j.site), ...statics]),
    );
  }
  if (verified.length > 0)
    return outcome(
      'PASS',
      'Tokens are verified cryptographically (JWT signature with a pinned key and algorithm list).',
      evidenceOf(
        m,
        verified.map((j) => j.site),
      ),
    );
  return outcome(
    'FAIL',
    'Callers are admitted by comparing a shared static token; nothing is verified cryptographically.',
    evidenceOf(m, statics),
  );
});

/** SE4: decoded tokens are signature-checked. */
const se4 = withModel((m) => {
  const decodes = jwtDecodes(m);
  if (decodes.length === 0) return outcome('N/A', 'The service decodes no token.');
  const unverified = decodes.filter((j) => !j.verified);
  if (unverified.length === 0)
    return outcome(
      'PASS',
      'Every token decode verifies the signature.',
      evidenceOf(
        m,
        decodes.map((j) => j.site),
      ),
    );
  const verified = decodes.filter((j) => j.verified);
  return outcome(
    verified.length > 0 ? 'PARTIAL' : 'FAIL',
    verified.length > 0
      ? 'Access decisions use verified tokens, but some code reads claims from a token decoded without its signature check (verify_signature off or get_unverified_claims).'
      : 'Tokens are decoded without checking their signature.',
    evidenceOf(
      m,
      unverified.map((j) => j.site),
    ),
  );
});

const claimCheck =
  (claim: 'audience' | 'issuer' | 'expiry', label: string) =>
  (m: PythonModel): Outcome => {
    const verified = jwtDecodes(m).filter((j) => j.verified);
    if (verified.length === 0)
      return outcome('N/A', `No JWT is verified, so no ${label} claim is checked.`);
    const missing = verified.filter((j) => !j[claim]);
    if (missing.length === 0)
      return outcome(
        'PASS',
        `Every JWT verification checks the ${label} claim.`,
        evidenceOf(
          m,
          verified.map((j) => j.site),
        ),
      );
    const why =
      claim === 'expiry'
        ? `Token expiry (exp) is switched off (verify_exp False) in ${plural(missing.length, 'decode')}.`
        : `${plural(missing.length, 'JWT verification')} ${missing.length === 1 ? 'does' : 'do'} not check the ${label} claim (no ${claim}= argument).`;
    return outcome(
      missing.length === verified.length ? 'FAIL' : 'PARTIAL',
      why,
      evidenceOf(
        m,
        missing.map((j) => j.site),
      ),
    );
  };

/** SE12: no allow-when-unset or development bypass in authentication code. */
const se12 = withModel((m) => {
  const auth = authFacts(m);
  const bypass = auth.flatMap((f) => f.allowsWhenUnset);
  const middlewareBypass = m.surface.middleware.flatMap((mw) =>
    mw.fn === undefined ? [] : m.inbound.factsOf(mw.fn).allowsWhenUnset,
  );
  const all = [...bypass, ...middlewareBypass];
  if (all.length > 0) {
    return outcome(
      'FAIL',
      'Authentication lets requests through when its secret is not configured or a development flag is set (default allow).',
      evidenceOf(m, all),
    );
  }
  if (auth.length === 0)
    return outcome('N/A', 'The service has no authentication code whose default could be judged.');
  return outcome(
    'PASS',
    'Authentication code refuses by default: no allow-when-unset or development bypass.',
  );
});

/** SE8: the calling service's identity is established from a verified credential. */
const NO_SERVICE_CALLERS =
  'No other service calls this one: it checks no service credential and serves no internal route; its callers are end users.';

const se8 = withModel((m) => {
  const none = noRoutes(m);
  if (none !== undefined) return none;
  if (!serviceFacing(m)) return outcome('N/A', NO_SERVICE_CALLERS);
  const spoofable = authFacts(m).flatMap((f) =>
    f.headerReads.filter((h) => /service|caller|client-id/.test(h.name)),
  );
  const claims = m.py.files.flatMap((file) =>
    descendants(file.root, 'subscript', 'call')
      .filter(
        (n) =>
          /["'](azp|client_id|svc|service|spiffe_id|act)["']/.test(n.text) &&
          /payload|claims|token|decoded/.test(n.text),
      )
      .map((n) => ({ file, line: n.line })),
  );
  if (claims.length > 0 && jwtDecodes(m).some((j) => j.verified)) {
    return outcome(
      'PASS',
      'The calling service is read from a verified token claim.',
      evidenceOf(m, claims),
    );
  }
  const statics = staticTokenChecks(m);
  if (spoofable.length > 0)
    return outcome(
      'FAIL',
      'The caller names itself in a header nobody verifies.',
      evidenceOf(
        m,
        spoofable.map((h) => h.site),
      ),
    );
  return outcome(
    'FAIL',
    statics.length > 0
      ? 'Service callers present a shared static token, which says that a caller knows the secret, not which service it is.'
      : 'No service identity is established for any caller; routes know end users at most.',
    evidenceOf(
      m,
      statics.length > 0
        ? statics
        : m.inbound.protections
            .filter((p) => !p.publicByNature)
            .map((p) => p.route.site)
            .slice(0, 3),
    ),
  );
});

/** SE9: per-endpoint authorization (roles, scopes, permissions). */
const se9 = withModel((m) => {
  const none = noRoutes(m);
  if (none !== undefined) return none;
  const relevant = m.inbound.protections.filter((p) => !p.publicByNature);
  if (relevant.length === 0) return outcome('N/A', 'Only public-by-nature routes are served.');
  const ruled = relevant.filter((p) =>
    [...p.dependencies, ...(p.handler === undefined ? [] : m.inbound.reach(p.handler.fn))].some(
      (f) => f.authorization.length > 0,
    ),
  );
  if (ruled.length === relevant.length)
    return outcome(
      'PASS',
      'Every route carries an authorization rule (role, scope or permission).',
      evidenceOf(
        m,
        ruled.flatMap((p) => p.dependencies.flatMap((f) => f.authorization)),
        4,
      ),
    );
  const without = relevant.filter((p) => !ruled.includes(p));
  return outcome(
    ruled.length > 0 ? 'PARTIAL' : 'FAIL',
    ruled.length > 0
      ? `${plural(ruled.length, 'route')} carry role or scope rules; ${plural(without.length, 'route')} have none beyond authentication.`
      : 'No route has an authorization rule beyond authentication (no role, scope or permission check).',
    evidenceOf(
      m,
      without.map((p) => p.route.site),
    ),
  );
});

/** SE10: an allowlist of calling services. */
const se10 = withModel((m) => {
  const none = noRoutes(m);
  if (none !== undefined) return none;
  if (!serviceFacing(m)) return outcome('N/A', NO_SERVICE_CALLERS);
  const lists = m.py.files.flatMap((file) =>
    descendants(file.root, 'comparison_operator')
      .filter(
        (c) =>
          /\bin\b/.test(c.text) &&
          /allow(ed)?_?(services|callers|clients|subjects|spiffe)|trusted_(services|callers|clients)/i.test(
            c.text,
          ),
      )
      .map((c) => ({ file, line: c.line })),
  );
  if (lists.length > 0)
    return outcome(
      'PASS',
      'Callers are checked against an allowlist of services.',
      evidenceOf(m, lists),
    );
  return outcome(
    'FAIL',
    'No allowlist of calling services: any caller that authenticates reaches every route.',
    evidenceOf(
      m,
      m.inbound.protections
        .filter((p) => !p.publicByNature)
        .map((p) => p.route.site)
        .slice(0, 3),
    ),
  );
});

/** SE11: refusals are logged. */
const se11 = withModel((m) => {
  const rejects = authFacts(m).flatMap((f) => f.rejects);
  if (rejects.length === 0)
    return outcome('N/A', 'The service refuses no request with 401 or 403.');
  const central = centralAuthLog(m);
  if (central.length > 0) {
    return outcome(
      'PASS',
      'An exception handler logs every HTTPException, 401 and 403 included.',
      evidenceOf(m, central),
    );
  }
  const logged = rejects.filter((r) => r.logged);
  if (logged.length === rejects.length) {
    return outcome(
      'PASS',
      'Every refusal (401/403) is logged where it is decided.',
      evidenceOf(
        m,
        logged.map((r) => r.site),
      ),
    );
  }
  const silent = rejects.filter((r) => !r.logged);
  return outcome(
    logged.length > 0 ? 'PARTIAL' : 'FAIL',
    logged.length > 0
      ? `Some refusals are logged, but ${plural(silent.length, 'refusal')} (401/403) ${silent.length === 1 ? 'is' : 'are'} not.`
      : 'Refused requests (401/403) are not logged.',
    evidenceOf(
      m,
      silent.map((r) => r.site),
    ),
  );
});

/** Exception handlers for HTTPException that log. */
function centralAuthLog(m: PythonModel): Site[] {
  return m.surface.exceptionHandlers
    .filter(
      (h) =>
        /HTTPException|StarletteHTTPException|40[13]/.test(h.handles) &&
        h.fn !== undefined &&
        m.inbound.factsOf(h.fn).logs.length > 0,
    )
    .map((h) => h.site);
}

/** SE22: a central handler logs authentication failures. */
const se22 = withModel((m) => {
  const none = noRoutes(m);
  if (none !== undefined) return none;
  const central = centralAuthLog(m);
  if (central.length > 0)
    return outcome(
      'PASS',
      'An exception handler logs HTTPException responses, 401 and 403 included.',
      evidenceOf(m, central),
    );
  const rejects = authFacts(m).flatMap((f) => f.rejects);
  const logged = rejects.filter((r) => r.logged);
  if (rejects.length > 0 && logged.length === rejects.length) {
    return outcome(
      'PASS',
      'Authentication failures are logged where they are decided.',
      evidenceOf(
        m,
        logged.map((r) => r.site),
      ),
    );
  }
  if (logged.length > 0) {
    return outcome(
      'PARTIAL',
      'Some authentication failures are logged where they are decided, others are not, and no central handler logs them.',
      evidenceOf(
        m,
        logged.map((r) => r.site),
      ),
    );
  }
  const handlers = m.surface.exceptionHandlers.map((h) => h.site);
  return outcome(
    'FAIL',
    handlers.length > 0
      ? 'The exception handlers do not log 401/403 HTTPExceptions; authentication failures pass through without a central log.'
      : 'No exception handler or middleware logs authentication failures centrally.',
    evidenceOf(m, handlers.length > 0 ? handlers : m.surface.apps.map((a) => a.site)),
  );
});

/**
 * The request log: log calls a middleware makes once the request has been handled (after
 * `call_next`), not the refusal logs of an authentication middleware.
 */
function accessLogs(m: PythonModel): { site: Site; text: string }[] {
  return m.surface.middleware.flatMap((mw) => {
    if (mw.fn === undefined) return [];
    const handled = descendants(mw.fn.node, 'call').find((c) =>
      /call_next|self\.app$/.test(c.fields.function?.text ?? ''),
    );
    const after = handled?.line ?? 0;
    return m.inbound
      .factsOf(mw.fn)
      .logs.filter((l) => l.site.line > after && l.level !== 'debug')
      .map((l) => ({ site: l.site, text: l.text }));
  });
}

const accessLogCheck =
  (pattern: RegExp, what: string, server?: string) =>
  (m: PythonModel): Outcome => {
    const none = noRoutes(m);
    if (none !== undefined) return none;
    const logs = accessLogs(m);
    const hits = logs.filter((l) => pattern.test(l.text));
    if (hits.length > 0) {
      const unverified = unverifiedIdentity(m);
      if (what === 'who called' && unverified.length > 0) {
        return outcome(
          'PARTIAL',
          'The request log names the caller, but from a header or an unverified token decode that the client controls.',
          evidenceOf(m, [...hits.map((l) => l.site), ...unverified]),
        );
      }
      return outcome(
        'PASS',
        `The request log records ${what}.`,
        evidenceOf(
          m,
          hits.map((l) => l.site),
        ),
      );
    }
    if (server !== undefined && logs.length === 0 && uvicornAccessLog(m)) {
      return outcome(
        'PARTIAL',
        `Only the server's default access log (uvicorn) records ${server}; the service logs no request itself.`,
        evidenceOf(
          m,
          m.surface.apps.map((a) => a.site),
        ),
      );
    }
    return outcome(
      'FAIL',
      logs.length > 0
        ? `The request log does not record ${what}.`
        : `No per-request log records ${what}.`,
      evidenceOf(m, logs.length > 0 ? logs.map((l) => l.site) : m.surface.apps.map((a) => a.site)),
    );
  };

/** Identity the request-log middleware reads from spoofable headers or unverified decodes. */
function unverifiedIdentity(m: PythonModel): Site[] {
  return m.surface.middleware.flatMap((mw) =>
    mw.fn === undefined
      ? []
      : m.inbound
          .reach(mw.fn)
          .flatMap((f) => [
            ...f.jwt.filter((j) => !j.verified).map((j) => j.site),
            ...f.headerReads.filter((h) => isSpoofableHeader(h.name)).map((h) => h.site),
          ]),
  );
}

/** uvicorn writes an access line (client, method, path, status) unless told not to. */
function uvicornAccessLog(m: PythonModel): boolean {
  const texts = m.py.files.map((f) => f.text).join('\n');
  const uvicorn = m.py.dependencies.has('uvicorn') || /\buvicorn\b/.test(texts);
  return uvicorn && !/access_log\s*=\s*False|--no-access-log/.test(texts);
}

const CALLER =
  /\b(caller|service(_name|_id)?|client_id|azp|subject|sub|principal|user(_id)?|identity)\b/i;

/** SE16: state-changing routes log what they do. */
const se16 = withModel((m) => {
  const none = noRoutes(m);
  if (none !== undefined) return none;
  const sensitive = m.inbound.protections.filter(
    (p) =>
      /POST|PUT|PATCH|DELETE/.test(p.route.method) &&
      !p.publicByNature &&
      p.route.handler !== undefined,
  );
  if (sensitive.length === 0) return outcome('N/A', 'No state-changing route is served.');
  const logged = sensitive.filter(
    (p) =>
      p.route.handler !== undefined &&
      m.inbound.reach(p.route.handler).some((f) => f.logs.some((l) => l.level !== 'debug')),
  );
  if (logged.length === sensitive.length)
    return outcome(
      'PASS',
      'Every state-changing route logs the operation.',
      evidenceOf(
        m,
        logged.map((p) => p.route.site),
      ),
    );
  const silent = sensitive.filter((p) => !logged.includes(p));
  return outcome(
    logged.length > 0 ? 'PARTIAL' : 'FAIL',
    `${plural(silent.length, 'state-changing route')} ${silent.length === 1 ? 'does' : 'do'} not log the operation${logged.length > 0 ? `; ${String(logged.length)} do` : ''}.`,
    evidenceOf(m, [...logged.map((p) => p.route.site), ...silent.map((p) => p.route.site)]),
  );
});

/** SE17: logs go to a central system (structured output or a shipping handler). */
const se17 = withModel((m) => {
  const structured: Site[] = [];
  const plain: Site[] = [];
  for (const file of m.py.files) {
    for (const call of descendants(file.root, 'call')) {
      const name = calleeName(call);
      if (
        /^(JsonFormatter|JSONFormatter|jsonlogger|configure)$/.test(name) &&
        /json|structlog|JSONRenderer/i.test(call.text + file.text.slice(0, 0))
      )
        structured.push({ file, line: call.line });
      else if (
        /^(JSONRenderer|LoggingInstrumentor|SysLogHandler|HTTPHandler|FluentHandler|LogstashHandler|OTLPLogExporter|LoggingHandler)$/.test(
          name,
        )
      )
        structured.push({ file, line: call.line });
      else if (name === 'basicConfig' || name === 'dictConfig') {
        if (/json/i.test(call.text) || /"class":\s*"[^"]*json/i.test(file.text))
          structured.push({ file, line: call.line });
        else plain.push({ file, line: call.line });
      }
    }
  }
  if (structured.length > 0)
    return outcome(
      'PASS',
      'Logs are written as structured records for a central log system.',
      evidenceOf(m, structured),
    );
  if (plain.length > 0)
    return outcome(
      'PARTIAL',
      'Logs go to stdout as plain text (logging.basicConfig); nothing in the repository structures or ships them.',
      evidenceOf(m, plain),
    );
  return outcome(
    'FAIL',
    'No logging configuration: nothing sends logs to a central system.',
    evidenceOf(
      m,
      m.surface.apps.map((a) => a.site),
    ),
  );
});

/** SE18: a maintained JWT library verifies tokens. */
const se18 = withModel((m) => {
  const verified = jwtDecodes(m).filter((j) => j.verified);
  if (verified.length > 0) {
    const libraries = [
      ...new Set(
        verified.map((j) =>
          j.library === 'pyjwt' ? 'PyJWT' : j.library === 'jose' ? 'python-jose' : 'Authlib',
        ),
      ),
    ];
    return outcome(
      'PASS',
      `Tokens are verified with ${libraries.join(' and ')}.`,
      evidenceOf(
        m,
        verified.map((j) => j.site),
      ),
    );
  }
  if (staticTokenChecks(m).length > 0) {
    return outcome(
      'FAIL',
      'No JWT library verifies tokens: callers present a static shared token.',
      evidenceOf(m, staticTokenChecks(m)),
    );
  }
  return outcome('N/A', 'The service verifies no token.');
});

/** SE19: the JWT verification key comes from a secrets manager or a JWKS, not an env var. */
const se19 = withModel((m) => {
  const verified = jwtDecodes(m).filter((j) => j.verified);
  if (verified.length === 0)
    return outcome('N/A', 'No JWT is verified, so no verification secret is loaded.');
  if (verified.every((j) => j.jwks))
    return outcome(
      'PASS',
      "Tokens are verified with the issuer's published public keys (JWKS), no shared secret.",
      evidenceOf(
        m,
        verified.map((j) => j.site),
      ),
    );
  const managed = m.secrets.sources.filter((s) => s.kind === 'manager' || s.kind === 'file');
  if (managed.length > 0)
    return outcome(
      'PASS',
      'The verification secret is read from a secrets manager or a mounted secret file.',
      evidenceOf(
        m,
        managed.map((s) => s.site),
      ),
    );
  const envSources = m.secrets.sources.filter(
    (s) => s.kind !== 'manager' && s.kind !== 'file' && /jwt|secret|signing|key/i.test(s.name),
  );
  return outcome(
    'FAIL',
    'The JWT verification secret comes from an environment variable or settings default, not a secrets manager.',
    evidenceOf(
      m,
      envSources.length > 0 ? envSources.map((s) => s.site) : verified.map((j) => j.site),
    ),
  );
});

/** SE23: rate limiting keyed by the calling service. */
const se23 = withModel((m) => {
  const none = noRoutes(m);
  if (none !== undefined) return none;
  const limiters = m.py.files.flatMap((file) =>
    descendants(file.root, 'call')
      .filter((c) => /^(Limiter|RateLimiter|RateLimitMiddleware)$/.test(calleeName(c)))
      .map((c) => ({ file, call: c })),
  );
  if (limiters.length === 0)
    return outcome(
      'FAIL',
      'No rate limiting: one caller can exhaust the service for all.',
      evidenceOf(
        m,
        m.surface.apps.map((a) => a.site),
      ),
    );
  const byCaller = limiters.filter(({ call }) => {
    const key = keywordArg(call, 'key_func')?.text ?? '';
    return key !== '' && !/remote_address|get_ipaddr|client\.host/.test(key);
  });
  if (byCaller.length > 0)
    return outcome(
      'PASS',
      'Requests are rate-limited per caller identity.',
      evidenceOf(
        m,
        byCaller.map(({ file, call }) => ({ file, line: call.line })),
      ),
    );
  return outcome(
    'FAIL',
    'Rate limits are keyed by client IP address, not by calling service.',
    evidenceOf(
      m,
      limiters.map(({ file, call }) => ({ file, line: call.line })),
    ),
  );
});

/** FS1: access checks fail secure: no swallowed error lets a request through. */
const fs1 = withModel((m) => {
  const auth = authFacts(m);
  if (auth.length === 0) return outcome('N/A', 'The service has no access check to judge.');
  const swallowed = auth
    .filter((f) => f.rejects.length > 0 || f.jwt.some((j) => j.verified))
    .flatMap((f) => f.swallowedErrors);
  // An unset token letting requests through is token validation (FS2, SE12), not the access check.
  const bypass: Site[] = [];
  if (swallowed.length > 0) {
    return outcome(
      'FAIL',
      bypass.length > 0
        ? 'The access check lets the request through when its secret is unset or a development flag is on.'
        : 'An error inside the access check is caught and the request carries on.',
      evidenceOf(m, [...bypass, ...swallowed]),
    );
  }
  return outcome(
    'PASS',
    'Every access check refuses (raises 401/403) on failure; no error is swallowed.',
    evidenceOf(
      m,
      auth.flatMap((f) => f.rejects.map((r) => r.site)),
      4,
    ),
  );
});

/** FS2: token validation errors refuse the request. */
const fs2 = withModel((m) => {
  const viaMiddleware = m.inbound.authMiddleware.flatMap((mw) =>
    mw.fn === undefined ? [] : m.inbound.reach(mw.fn),
  );
  const validators = authFacts(m).filter(
    (f) =>
      f.jwt.some((j) => j.verified) || f.digestCompares.length > 0 || f.plainCompares.length > 0,
  );
  if (validators.length === 0 && viaMiddleware.length === 0) {
    return outcome('N/A', 'The service validates no token.');
  }
  // Where a failure could be swallowed: the validators, and middleware steps that refuse.
  const decoders = [
    ...new Set([...validators, ...viaMiddleware.filter((f) => f.rejects.length > 0)]),
  ];
  const bypass = decoders.flatMap((f) => f.allowsWhenUnset);
  if (bypass.length > 0)
    return outcome(
      'FAIL',
      'Token validation is skipped when the expected token is not configured, so requests pass unverified.',
      evidenceOf(m, bypass),
    );
  const swallowed = decoders.flatMap((f) => f.swallowedErrors);
  if (swallowed.length > 0)
    return outcome(
      'FAIL',
      'A token validation error is caught and the request is not refused.',
      evidenceOf(m, swallowed),
    );
  return outcome(
    'PASS',
    'Token validation errors end in a 401/403.',
    evidenceOf(
      m,
      decoders.flatMap((f) => f.rejects.map((r) => r.site)),
      4,
    ),
  );
});

/** FS3: health checks handle their dependencies' errors. */
const fs3 = withModel((m) => {
  const health = m.inbound.protections.filter(
    (p) =>
      p.publicByNature &&
      /health|ready|live|status|ping/i.test(p.route.path) &&
      p.route.handler !== undefined,
  );
  if (health.length === 0) return outcome('N/A', 'No health-check route was found.');
  const probing = health.filter(
    (p) =>
      p.route.handler !== undefined &&
      /await|execute|ping|\.get\(|select/i.test(p.route.handler.node.fields.body?.text ?? ''),
  );
  const unhandled = probing.filter(
    (p) =>
      p.route.handler !== undefined &&
      descendants(p.route.handler.node, 'try_statement').length === 0,
  );
  if (unhandled.length > 0)
    return outcome(
      'FAIL',
      'A health check probes a dependency without handling its errors (an exception becomes a 500 with a stack trace).',
      evidenceOf(
        m,
        unhandled.map((p) => p.route.site),
      ),
    );
  return outcome(
    'PASS',
    'Health checks handle errors and answer with a status.',
    evidenceOf(
      m,
      health.map((p) => p.route.site),
    ),
  );
});

const accessLog = (pattern: RegExp, what: string) => withModel(accessLogCheck(pattern, what));

export const pythonEndpointRules: RuleSet = {
  SE1: se1,
  SE2: withModel(global),
  SE3: se3,
  SE4: se4,
  SE5: withModel(claimCheck('expiry', 'exp')),
  SE6: withModel(claimCheck('issuer', 'iss')),
  SE7: withModel(claimCheck('audience', 'aud')),
  SE8: se8,
  SE9: se9,
  SE10: se10,
  SE11: se11,
  SE12: se12,
  SE13: (ctx) =>
    serviceFacing(pythonModel(ctx))
      ? accessLog(/\b(caller|service(_name|_id)?|client_id|azp)\b/i, 'the calling service')(ctx)
      : outcome('N/A', NO_SERVICE_CALLERS),
  SE14: accessLog(/request[_-]?id|correlation|trace[_-]?id|traceparent/i, 'a correlation id'),
  SE15: withModel(accessLogCheck(/status(_code)?\b/i, 'the response status', 'status codes')),
  SE16: se16,
  SE17: se17,
  SE18: se18,
  SE19: se19,
  SE20: withModel(global),
  SE21: accessLog(CALLER, 'who called'),
  SE22: se22,
  SE23: se23,
  FS1: fs1,
  FS2: fs2,
  FS3: fs3,
};
