/**
 * Service Endpoint Checklist (receiving requests), rows 1–22: SE1–SE22, plus SE23 (seed 000's
 * per-service rate limiting). Decided from the inbound
 * model (`analysis/inbound`): routes and what runs before them, JWT verifiers, logs.
 */
import type ts from 'typescript';
import { authenticates, summaryVerdict, type AuthLevel } from '../analysis/inbound/coverage.ts';
import type { ClaimRead, LogCall, Site } from '../analysis/inbound/facts.ts';
import {
  evidenceOf,
  guardedRoutes,
  identityReads,
  strippedHeaders,
  handlerSummaries,
  importedModules,
  listed,
  logsCorrelation,
  onRefusalOnly,
  endUserCallersOnly,
  logsIdentity,
  noAuthenticatedApi,
  openRoutes,
  publicNote,
  publicRoutes,
  requestHookSummaries,
  requestLoggingDisabled,
  routeName,
  sitesOf,
  unverifiedDecodes,
  usesTessera,
  where,
  withServer,
} from './inbound.ts';
import type { JwtVerifier } from '../analysis/inbound/jwt.ts';
import type { InboundModel, RouteView } from '../analysis/inbound/model.ts';
import { rateLimiters } from '../analysis/inbound/rate-limit.ts';
import { publicPath } from '../analysis/inbound/public-routes.ts';
import {
  MUTATING_METHODS,
  REQUEST_LOGGER_MODULES,
  STRUCTURED_LOGGER_MODULES,
  TEXT_REQUEST_LOGGER_MODULES,
  SCOPE_NAME,
  TENANT_HEADER,
  USER_LOG_FIELD,
} from '../analysis/inbound/vocabulary.ts';
import type { Evidence, Outcome } from '../model.ts';
import { IDENTITY_HEADERS, isHeader } from '../analysis/names.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

const LEVEL_WORDS: Readonly<Record<AuthLevel, string>> = {
  crypto: 'cryptographic verification',
  library: 'an authentication library',
  'shared-secret': 'a shared-secret comparison',
  unresolved: 'an authentication function defined outside this code',
  'decode-only': 'a token that is decoded but never verified',
  marker: 'a spoofable marker header',
  none: 'nothing',
};

/** SE1: every route (probes aside) requires authentication. */
function se1(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const policyPublic = publicPolicyRoutes(model);
  const open = openRoutes(model);
  const marker = open.filter((r) => r.protection.level === 'marker');
  if (marker.length > 0) {
    const checks = marker.flatMap((r) => r.protection.deciding.flatMap((d) => d.verdict.evidence));
    return outcome(
      'FAIL',
      `Access to ${listed(marker.map(routeName))} is granted on a static marker header that anyone can send.`,
      evidenceOf([...checks, ...marker.map((r) => r.route.site)]),
    );
  }
  if (open.length > 0) {
    const decodeOnly = open.filter((r) => r.protection.level === 'decode-only');
    const why =
      decodeOnly.length === open.length
        ? `Access to ${listed(open.map(routeName))} is granted on a token that is decoded but never verified, so a forged token works.`
        : `${listed(open.map(routeName))} can be called without authentication${scopeHint(model, open)}.`;
    return outcome('FAIL', why, evidenceOf(open.map((r) => r.route.site)));
  }
  if (policyPublic.length > 0) {
    return outcome(
      'FAIL',
      `The Tessera policy makes ${listed(policyPublic.map((r) => `${r.service}: ${r.method} ${r.path}`))} public; only routes public by nature (sign-in, probes, metrics, well-known documents) should be.`,
      policyPublic.map((r) => r.evidence).slice(0, 10),
    );
  }
  if (model.routes.length === 0) {
    if (usesTessera(model)) {
      return outcome(
        'PASS',
        'Tessera is registered on the app, so every route, whichever file registers it, is authenticated in its onRequest hook.',
        evidenceOf(model.tessera.map((t) => t.site)),
      );
    }
    return outcome(
      'N/A',
      'An HTTP server is created but no routes were found in the code (they may be registered dynamically).',
      evidenceOf(model.serverSites),
    );
  }
  const guarded = guardedRoutes(model);
  const deciding = guarded.flatMap((r) => r.protection.deciding.map((d) => d.site));
  const publicSites = publicRoutes(model).map((r) => r.route.site);
  const note = publicNote(model);
  if (guarded.length === 0) {
    return outcome(
      'PASS',
      `The only routes are ${note}; none of them needs a credential.`,
      evidenceOf(publicSites),
    );
  }
  const assumed = model.routes.some((r) => r.protection.assumed);
  return outcome(
    'PASS',
    `All ${String(guarded.length)} routes run ${describeLevels(model)} before their handlers${
      note === '' ? '' : `; left open as ${note}`
    }${assumed ? ', assuming the plugins not registered in the code are registered on the app' : ''}.`,
    [...evidenceOf(deciding, 5), ...evidenceOf(publicSites, 5)],
  );
}

/** Tessera policy routes marked public that are not public by nature. */
function publicPolicyRoutes(model: InboundModel) {
  return model.tessera.flatMap((t) =>
    (t.policy?.routes ?? []).filter(
      (r) => r.access === 'public' && !publicPath(r.method.toUpperCase(), r.path),
    ),
  );
}

/** A hint when open routes sit outside a plugin whose hook protects its siblings. */
function scopeHint(model: InboundModel, open: readonly RouteView[]): string {
  const protectedElsewhere = guardedRoutes(model).some(
    (r) => authenticates(r.protection.level) && r.protection.via === 'global',
  );
  if (!protectedElsewhere) return '';
  if (open.some((r) => r.route.publicMark !== undefined)) {
    return ': they are marked public, and the global guard lets marked routes through';
  }
  if (open.some((r) => r.route.scope.framework === 'nest')) {
    return ': no global guard, and no @UseGuards on their controller or method, covers them';
  }
  const fastify = open.some((r) => r.route.scope.framework === 'fastify');
  return fastify
    ? ': the authentication hook is added inside an encapsulated plugin (or after an awaited register) and does not reach them'
    : ': they are registered before the authentication middleware, or on a router it does not cover';
}

function describeLevels(model: InboundModel): string {
  const levels = new Set(guardedRoutes(model).map((r) => r.protection.level));
  return [...levels].map((l) => LEVEL_WORDS[l]).join(' or ');
}

/** SE2: authentication applied globally, not per route. */
function se2(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model) && openRoutes(model).length === 0) {
    return outcome(
      'PASS',
      'Tessera authenticates in a global onRequest hook registered once on the app.',
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  const routes = guardedRoutes(model);
  if (routes.length === 0) return noRoutes(model);
  const global = routes.filter(
    (r) => r.protection.via === 'global' && authenticates(r.protection.level),
  );
  const hooks = global.flatMap((r) => r.protection.deciding.map((d) => d.site));
  if (global.length === routes.length) {
    return outcome(
      'PASS',
      'Authentication runs in app-wide hooks or middleware that cover every route.',
      evidenceOf(hooks, 5),
    );
  }
  const rest = routes.filter((r) => !global.includes(r));
  if (global.length > 0) {
    return outcome(
      'PARTIAL',
      `A shared authentication hook covers ${String(global.length)} of ${String(routes.length)} routes; it does not cover ${listed(rest.map(routeName))}.`,
      evidenceOf([...hooks.slice(0, 2), ...rest.map((r) => r.route.site)]),
    );
  }
  const perRoute = routes.filter((r) => authenticates(r.protection.level));
  if (perRoute.length > 0) {
    const all = perRoute.length === routes.length;
    return outcome(
      all ? 'PARTIAL' : 'FAIL',
      all
        ? 'Every route authenticates, but each attaches the check itself (route option or handler) instead of one app-wide hook.'
        : 'Authentication is attached route by route, and routes that forget it are open.',
      evidenceOf(
        (all ? perRoute : routes.filter((r) => !perRoute.includes(r))).map((r) => r.route.site),
      ),
    );
  }
  return outcome(
    'FAIL',
    'No authentication hook or middleware is applied to the app.',
    evidenceOf(model.serverSites),
  );
}

function noRoutes(model: InboundModel): Outcome {
  return (
    noAuthenticatedApi(model) ??
    outcome(
      'N/A',
      'No routes other than those public by nature were found in the code.',
      evidenceOf(model.serverSites),
    )
  );
}

/** SE3: verification is cryptographic (signature, certificate, HMAC), not a static value. */
function se3(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const routes = guardedRoutes(model);
  const markers = sitesOf(model, (f) => f.markerChecks).filter((m) =>
    model.authSummaries.some((a) => a.summary.markerChecks.includes(m)),
  );
  if (markers.length > 0) {
    return outcome(
      'FAIL',
      `Callers are trusted because they send a static "${markers[0]?.header ?? ''}" header, which proves nothing and can be spoofed by anyone.`,
      evidenceOf(markers),
    );
  }
  const mtls = model.mutualTls.filter((m) => m.requestCert && m.optional === undefined);
  if (
    usesTessera(model) ||
    (mtls.length > 0 && routes.every((r) => r.protection.level !== 'marker'))
  ) {
    const sites = usesTessera(model) ? model.tessera.map((t) => t.site) : mtls.map((m) => m.site);
    return outcome(
      'PASS',
      usesTessera(model)
        ? "Tessera verifies each bearer token's signature against the authority's JWKS."
        : 'Client certificates are required and verified by TLS (mutual TLS).',
      evidenceOf(sites),
    );
  }
  const decodeOnly = unverifiedDecodes(model);
  if (routes.some((r) => r.protection.level === 'decode-only') && decodeOnly.length > 0) {
    return outcome(
      'FAIL',
      'Tokens are decoded and trusted without checking their signature.',
      evidenceOf(decodeOnly),
    );
  }
  const authed = routes.filter((r) => authenticates(r.protection.level));
  const decisive = authed.flatMap((r) => r.protection.deciding.flatMap((d) => d.verdict.evidence));
  if (routes.length === 0) return noRoutes(model);
  if (authed.length === 0) {
    return outcome(
      'FAIL',
      'No credential verification of any kind was found before the route handlers.',
      evidenceOf(routes.map((r) => r.route.site)),
    );
  }
  // Routes with no check at all are SE1's finding; here only the strength of the checks counts.
  const weak = authed.filter(
    (r) => r.protection.level !== 'crypto' && r.protection.level !== 'library',
  );
  if (weak.length === 0) {
    return outcome(
      'PASS',
      'Credentials are verified cryptographically (signature or certificate checks) before the handlers run.',
      evidenceOf(decisive, 5),
    );
  }
  if (authed.every((r) => r.protection.level === 'shared-secret')) {
    return outcome(
      'FAIL',
      'Callers present a static shared secret that is compared as a value; nothing is cryptographically verified, and the secret never expires or names the caller.',
      evidenceOf(decisive),
    );
  }
  return outcome(
    'PARTIAL',
    `Some routes are verified cryptographically, but the check in front of ${listed(weak.map(routeName))} is only ${LEVEL_WORDS[weak[0]?.protection.level ?? 'none']}.`,
    evidenceOf(
      weak.flatMap((r) => [
        r.route.site,
        ...r.protection.deciding.flatMap((d) => d.verdict.evidence),
      ]),
    ),
  );
}

/** SE4: tokens are verified with a signature check, never just decoded. */
function se4(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const decodes = unverifiedDecodes(model);
  if (decodes.length > 0) {
    return outcome(
      'FAIL',
      `A JWT is decoded without verifying its signature (${decodes[0]?.kind === 'manual' ? 'base64 of the payload by hand' : 'decode instead of verify'}) and its claims are used; anyone can forge them.`,
      evidenceOf(decodes),
    );
  }
  const baseline = tokenBaseline(
    model,
    (by) => `Tokens are signature-checked by ${by}, never just decoded.`,
  );
  const shared = model.authSummaries.flatMap((a) =>
    summaryVerdict(a.summary).level === 'shared-secret'
      ? [...a.summary.secretComparisons, ...a.summary.constantTime]
      : [],
  );
  if (baseline.status === 'PASS' && shared.length > 0) {
    return outcome(
      'PARTIAL',
      'Some tokens are signature-checked, but another accepted credential is a static secret with no signature at all.',
      evidenceOf(shared),
    );
  }
  return baseline;
}

/**
 * What SE4/SE5 say when nothing is decoded by hand: the verifiers found, or no signed token.
 * `sentence(by)` words the PASS, with `by` naming what verifies.
 */
function tokenBaseline(model: InboundModel, sentence: (by: string) => string): Outcome {
  if (usesTessera(model)) {
    return outcome('PASS', sentence('Tessera'), evidenceOf(model.tessera.map((t) => t.site)));
  }
  const verifiers = model.verifiers.filter((v) => v.claimsChecked);
  if (verifiers.length > 0) {
    return outcome(
      'PASS',
      sentence(listed([...new Set(verifiers.map((v) => v.library))])),
      evidenceOf(verifiers.map((v) => v.site)),
    );
  }
  const crypto = sitesOf(model, (f) => f.verifications).filter(
    (v) => v.kind === 'peer-cert' || v.kind === 'jwt' || v.kind === 'fastify-jwt',
  );
  const mtls = model.mutualTls.some((m) => m.requestCert && m.optional === undefined);
  if (crypto.length > 0 || mtls) {
    return outcome(
      'PASS',
      sentence(crypto.length > 0 ? 'the verifier' : 'TLS (client certificates)'),
      evidenceOf(crypto.length > 0 ? crypto : model.mutualTls.map((m) => m.site)),
    );
  }
  return noSignedTokens(model);
}

function noSignedTokens(model: InboundModel): Outcome {
  const noApi = noAuthenticatedApi(model);
  if (noApi !== undefined) return noApi;
  const secrets = model.authSummaries.flatMap((a) => [
    ...a.summary.secretComparisons,
    ...a.summary.constantTime,
    ...a.summary.markerChecks,
  ]);
  if (secrets.length > 0) {
    return outcome(
      'FAIL',
      'Callers are authenticated with a static shared value, not a signed token, so there is no signature, expiry, issuer or audience to check.',
      evidenceOf(secrets),
    );
  }
  return outcome(
    'FAIL',
    'No token verification exists: requests are not authenticated with signed tokens.',
    evidenceOf(model.serverSites),
  );
}

/** SE5: `exp` is checked. */
function se5(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const decodes = unverifiedDecodes(model);
  const ignoring = model.verifiers.filter((v) => v.ignoreExpiration !== undefined);
  const bare = model.verifiers.filter((v) => !v.claimsChecked);
  if (ignoring.length > 0 || bare.length > 0 || decodes.length > 0) {
    const sites: Site[] = [
      ...ignoring.flatMap((v) => (v.ignoreExpiration === undefined ? [] : [v.ignoreExpiration])),
      ...bare.map((v) => v.site),
      ...decodes,
    ];
    return outcome(
      'FAIL',
      ignoring.length > 0
        ? 'Token verification is configured with `ignoreExpiration: true`, so expired tokens are accepted.'
        : 'Tokens are accepted without validating their claims (decoded, or JWS-only verification), so `exp` is never checked.',
      evidenceOf(sites),
    );
  }
  const unknown = model.verifiers.filter((v) => !v.configKnown);
  if (unknown.length > 0 && unknown.length === model.verifiers.length) {
    return outcome(
      'PARTIAL',
      'Tokens are verified with @fastify/jwt, but its registration (and so its expiry settings) is not in this code.',
      evidenceOf(unknown.map((v) => v.site)),
    );
  }
  const baseline = tokenBaseline(
    model,
    (by) => `Expired tokens are refused: ${by} checks \`exp\` on every verification.`,
  );
  if (baseline.status !== 'PASS') return baseline;
  const bounded = model.verifiers.filter((v) => v.maxAge !== undefined && !v.tessera);
  return bounded.length > 0
    ? { ...baseline, why: `${baseline.why.slice(0, -1)}, and \`maxAge\` bounds token lifetime.` }
    : baseline;
}

/** The verifiers missing a claim check (neither an option nor a hand-written comparison). */
function missingClaim(
  model: InboundModel,
  claim: 'issuer' | 'audience',
): {
  missing: JwtVerifier[];
  unknown: JwtVerifier[];
  ok: JwtVerifier[];
  conditional: ClaimRead[];
} {
  const manual = claim === 'issuer' ? 'iss' : 'aud';
  const missing: JwtVerifier[] = [];
  const unknown: JwtVerifier[] = [];
  const ok: JwtVerifier[] = [];
  const conditional: ClaimRead[] = [];
  // @fastify/jwt is configured at registration but checked where `request.jwtVerify()` runs.
  const jwtVerifyCallers = model.functions.filter((f) =>
    f.verifications.some((v) => v.kind === 'fastify-jwt'),
  );
  for (const verifier of model.verifiers) {
    if (verifier[claim] !== undefined) {
      ok.push(verifier);
      continue;
    }
    const owners = [
      ...(verifier.owner === undefined ? [] : [verifier.owner]),
      ...(verifier.library === '@fastify/jwt' ? jwtVerifyCallers : []),
    ];
    const checks = owners
      .flatMap((owner) => model.index.summary(owner).claimReads)
      .filter((c) => c.name === manual && c.compared);
    if (checks.some((c) => c.conditional !== true)) ok.push(verifier);
    else if (checks.length > 0) conditional.push(...checks);
    else if (!verifier.configKnown) unknown.push(verifier);
    else missing.push(verifier);
  }
  return { missing, unknown, ok, conditional };
}

/** SE6 and SV10 share this: issuer pinned to known issuers. */
export function claimOutcome(
  model: InboundModel,
  claim: 'issuer' | 'audience',
  noJwt: () => Outcome,
): Outcome {
  const name = claim === 'issuer' ? '`iss`' : '`aud`';
  const option =
    claim === 'issuer'
      ? '`issuer` (`allowedIss` for fast-jwt and @fastify/jwt)'
      : '`audience` (`allowedAud`)';
  const decodes = unverifiedDecodes(model);
  if (model.verifiers.length === 0) {
    if (decodes.length > 0) {
      return outcome(
        'FAIL',
        `Tokens are only decoded, so their ${name} claim is whatever the sender wrote.`,
        evidenceOf(decodes),
      );
    }
    return noJwt();
  }
  const { missing, unknown, ok, conditional } = missingClaim(model, claim);
  if (conditional.length > 0 && missing.length === 0) {
    return outcome(
      'PARTIAL',
      `${name} is compared only when the token carries it, so tokens without ${name} are accepted.`,
      evidenceOf(conditional),
    );
  }
  if (missing.length > 0) {
    return outcome(
      'FAIL',
      `Tokens are verified without ${option} (${listed(missing.map((v) => `${v.library} at ${where(v.site)}`))}), so a token ${claim === 'issuer' ? 'from another issuer' : 'minted for another service'} is accepted.`,
      evidenceOf(missing.map((v) => v.site)),
    );
  }
  if (unknown.length > 0) {
    return outcome(
      'PARTIAL',
      `Tokens are verified with @fastify/jwt, but its registration options (${option}) are not in this code.`,
      evidenceOf(unknown.map((v) => v.site)),
    );
  }
  return outcome(
    'PASS',
    ok.some((v) => v.tessera)
      ? claim === 'issuer'
        ? 'Tessera accepts only tokens whose `iss` is the authority.'
        : "Tessera accepts only tokens whose `aud` is this service's SPIFFE ID."
      : `Every verifier validates ${name} against a configured value.`,
    evidenceOf(ok.map((v) => v[claim] ?? v.site)),
  );
}

/** SE8: the calling service's identity is taken from verified credentials. */
function se8(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model)) {
    return outcome(
      'PASS',
      'Tessera sets `request.caller` from the verified token (SPIFFE ID) and strips identity headers.',
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  const noApi = noAuthenticatedApi(model) ?? endUserCallersOnly(ctx, model);
  if (noApi !== undefined) return noApi;
  const stripped = strippedHeaders(model).headers;
  const headerIdentity = sitesOf(model, (f) => f.headerReads).filter(
    (h) =>
      isHeader(IDENTITY_HEADERS, h.header) &&
      !TENANT_HEADER.test(h.header) &&
      !stripped.has(h.header),
  );
  if (headerIdentity.length > 0) {
    return outcome(
      'FAIL',
      `Who is calling is taken from the "${headerIdentity[0]?.header ?? ''}" request header, which any client can set.`,
      evidenceOf(headerIdentity),
    );
  }
  const routes = guardedRoutes(model);
  const crypto = routes.filter(
    (r) => r.protection.level === 'crypto' || r.protection.level === 'library',
  );
  const identity = identityReads(model);
  const certificate = model.files.flatMap((f) => f.certFields).filter((c) => c.name !== 'valid_to');
  if (crypto.length > 0 && (identity.service.length > 0 || certificate.length > 0)) {
    return outcome(
      'PASS',
      'The calling service is identified from verified credentials (token `sub`/`azp` or client certificate).',
      evidenceOf([...identity.service, ...certificate.map((c) => c.site)], 5),
    );
  }
  if (crypto.length > 0 && identity.user.length > 0) {
    return outcome(
      'FAIL',
      'Only end-user tokens are verified: the token subject is used as a user id, and no service identity is established.',
      evidenceOf(identity.user),
    );
  }
  if (crypto.length > 0) {
    return outcome(
      'PARTIAL',
      "Credentials are verified, but the caller's identity (`sub`, `azp`, certificate subject) is never read, so handlers cannot tell which service called.",
      evidenceOf(
        crypto.flatMap((r) => r.protection.deciding.map((d) => d.site)),
        5,
      ),
    );
  }
  const shared = routes.filter((r) => r.protection.level === 'shared-secret');
  if (shared.length > 0) {
    return outcome(
      'FAIL',
      'A shared secret proves only that the caller knows it, not which service it is.',
      evidenceOf(shared.flatMap((r) => r.protection.deciding.map((d) => d.site))),
    );
  }
  return outcome(
    'FAIL',
    'No caller identity is extracted from verified credentials.',
    evidenceOf(model.serverSites),
  );
}

/** Does a route carry its own authorisation rule (scope check, permission call, route config)? */
function hasRouteRule(view: RouteView, model: InboundModel): Site | undefined {
  for (const summary of handlerSummaries(view, model)) {
    const call = summary.authzCalls[0];
    if (call !== undefined) return call;
    const scope = summary.claimReads.find((c) => SCOPE_NAME.test(c.name));
    if (scope !== undefined) return scope;
  }
  const config = view.route.config;
  if (config !== undefined) {
    const keys = config.properties.map(
      (p) => p.name?.getText(view.route.site.unit.sourceFile) ?? '',
    );
    if (keys.some((k) => /scope|permission|role|allow|caller|service/i.test(k))) {
      return { unit: view.route.site.unit, node: config };
    }
  }
  return undefined;
}

/** SE9: authorisation rules per endpoint. */
function se9(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model)) return tesseraPolicyOutcome(model, 'rules');
  const routes = guardedRoutes(model);
  if (routes.length === 0) return noRoutes(model);
  const ruled = routes.map((r) => ({ view: r, rule: hasRouteRule(r, model) }));
  const with_ = ruled.filter((r) => r.rule !== undefined);
  const without = ruled.filter((r) => r.rule === undefined).map((r) => r.view);
  if (without.length === 0) {
    return outcome(
      'PASS',
      'Every route checks its own scope or permission.',
      evidenceOf(
        with_.flatMap((r) => (r.rule === undefined ? [] : [r.rule])),
        5,
      ),
    );
  }
  if (with_.length > 0) {
    return outcome(
      'PARTIAL',
      `Some routes check scopes or permissions, but any authenticated caller may call ${listed(without.map(routeName))}.`,
      evidenceOf(without.map((r) => r.route.site)),
    );
  }
  return outcome(
    'FAIL',
    'No per-endpoint authorisation rule exists: any caller that authenticates can call every endpoint.',
    evidenceOf(routes.map((r) => r.route.site)),
  );
}

/** SE9/SE10 with Tessera: the policy is the per-route rule set. */
function tesseraPolicyOutcome(model: InboundModel, what: 'rules' | 'allowlist'): Outcome {
  const sites = evidenceOf(model.tessera.map((t) => t.site));
  const policies = model.tessera.flatMap((t) => (t.policy === undefined ? [] : [t.policy]));
  if (policies.length === 0) {
    return what === 'rules'
      ? outcome(
          'PASS',
          'Tessera authorises each request against a per-route policy and denies routes without a rule; the policy file itself is not in this repository.',
          sites,
        )
      : outcome(
          'PARTIAL',
          'Tessera enforces a per-route policy, but the policy is not in this repository, so its caller allowlists cannot be checked.',
          sites,
        );
  }
  const routes = policies.flatMap((p) => p.routes);
  const policyEvidence: Evidence[] = [...sites, ...policies.map((p) => p.evidence)];
  if (what === 'rules') {
    return outcome(
      'PASS',
      `Tessera authorises each request on its route pattern against a policy with ${String(routes.length)} route rules; routes without a rule are denied.`,
      policyEvidence,
    );
  }
  const loose = routes.filter((r) => r.access === 'any-authenticated');
  if (loose.length > 0) {
    return outcome(
      'PARTIAL',
      `The policy lists allowed callers for most routes, but any authenticated service may call ${listed([...new Set(loose.map((r) => `${r.service}: ${r.method} ${r.path}`))])}.`,
      loose.map((r) => r.evidence).slice(0, 10),
    );
  }
  return outcome(
    'PASS',
    'The Tessera policy names the services (and scopes) allowed on each route.',
    policyEvidence,
  );
}

/** SE10: an allowlist of calling services per endpoint. */
function se10(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model)) return tesseraPolicyOutcome(model, 'allowlist');
  const routes = guardedRoutes(model);
  if (routes.length === 0) return noRoutes(model);
  const endUsers = endUserCallersOnly(ctx, model);
  if (endUsers !== undefined) return endUsers;
  const callerCheck = (summary: { claimReads: readonly { name: string; compared: boolean }[] }) =>
    summary.claimReads.some(
      (c) =>
        c.compared &&
        /^(sub|azp|client_?id|clientId|caller|service|serviceId|spiffeId|spiffe)$/i.test(c.name),
    );
  const perRoute = routes.filter((r) => handlerSummaries(r, model).some(callerCheck));
  const global = requestHookSummaries(model).filter(callerCheck);
  if (perRoute.length === routes.length) {
    return outcome(
      'PASS',
      'Each route checks the calling service against its own list.',
      evidenceOf(
        perRoute.map((r) => r.route.site),
        5,
      ),
    );
  }
  if (perRoute.length > 0 || global.length > 0) {
    const sites = [
      ...global.flatMap((s) => s.claimReads.filter((c) => c.compared)),
      ...routes.filter((r) => !perRoute.includes(r)).map((r) => r.route.site),
    ];
    return outcome(
      'PARTIAL',
      perRoute.length > 0
        ? 'Some routes check which service is calling, others accept any authenticated caller.'
        : 'Callers are checked against one service-wide list, not per endpoint.',
      evidenceOf(sites),
    );
  }
  return outcome(
    'FAIL',
    'No endpoint restricts which services may call it.',
    evidenceOf(routes.map((r) => r.route.site)),
  );
}

/** SE11: refused requests are logged. */
function se11(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model)) {
    return outcome(
      'PASS',
      'Tessera writes one audit event per request, refused ones included, with the reason.',
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  const rejecting = model.authSummaries.filter((a) => a.summary.rejections.length > 0);
  if (rejecting.length === 0) {
    const noApi = noAuthenticatedApi(model);
    if (noApi !== undefined) return noApi;
    return outcome(
      'FAIL',
      'Nothing refuses requests with 401/403, so no unauthorised attempt is recorded.',
      evidenceOf(model.serverSites),
    );
  }
  const handlersLog = model.graph.errorHandlers.some((h) =>
    h.targets.some((t) => t.kind === 'function' && model.index.summary(t.facts).logs.length > 0),
  );
  const silent = rejecting.filter((a) => a.summary.logs.length === 0 && !handlersLog);
  const requestLogs =
    model.fastifyLoggers.length > 0 && requestLoggingDisabled(model) === undefined;
  if (silent.length > 0 && requestLogs) {
    return outcome(
      'PARTIAL',
      "Refused requests appear only in Fastify's generic request log line (status 401/403), with no reason or caller; the authentication code itself logs nothing.",
      evidenceOf(silent.flatMap((a) => a.summary.rejections)),
    );
  }
  if (silent.length === 0) {
    return outcome(
      'PASS',
      'Authentication failures are logged where requests are refused.',
      evidenceOf(
        rejecting.flatMap((a) => a.summary.logs),
        5,
      ),
    );
  }
  return outcome(
    silent.length === rejecting.length ? 'FAIL' : 'PARTIAL',
    'Requests are refused with 401/403 without a log entry, so attacks and misconfigured callers go unnoticed.',
    evidenceOf(silent.flatMap((a) => a.summary.rejections)),
  );
}

/** SE12: no default-allow. */
function se12(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const unset = sitesOf(model, (f) => f.allowWhenUnset);
  if (unset.length > 0) {
    return outcome(
      'FAIL',
      'Authentication is skipped when its secret is not configured, so a missing environment variable opens every route.',
      evidenceOf(unset),
    );
  }
  if (usesTessera(model) && openRoutes(model).length === 0) {
    return outcome(
      'PASS',
      'Tessera denies by default: routes without a policy rule are refused (ERR_POLICY_NO_RULE).',
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  const open = openRoutes(model);
  const routes = guardedRoutes(model);
  if (routes.length === 0) return noRoutes(model);
  if (open.length > 0) {
    return outcome(
      'FAIL',
      `Access is allowed unless a route opts in to authentication: ${listed(open.map(routeName))} can be called without it.`,
      evidenceOf(open.map((r) => r.route.site)),
    );
  }
  const global = routes.every((r) => r.protection.via === 'global');
  const note = publicNote(model);
  return outcome(
    global ? 'PASS' : 'PARTIAL',
    `${
      global
        ? 'Every request passes an app-wide authentication hook that refuses by default'
        : 'Every route is protected today, but by per-route checks: a new route is open unless it adds one'
    }${note === '' ? '' : ` (${note})`}.`,
    evidenceOf(
      routes.flatMap((r) => r.protection.deciding.map((d) => d.site)),
      5,
    ),
  );
}

/**
 * Request-scoped logs (hooks, response hooks) that name the caller: those written for every
 * request, and those written only when a request is refused.
 */
function perRequestIdentityLogs(model: InboundModel): { every: LogCall[]; refusals: LogCall[] } {
  const every: LogCall[] = [];
  const refusals: LogCall[] = [];
  for (const summary of requestHookSummaries(model)) {
    for (const log of summary.logs) {
      if (!logsIdentity(log)) continue;
      if (onRefusalOnly(log, summary)) refusals.push(log);
      else every.push(log);
    }
  }
  return { every, refusals };
}

/** SE13: the caller's identity is logged for every request. */
function se13(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model)) {
    return outcome(
      'PASS',
      "Tessera's per-request audit event records the verified caller (and actor) of every request.",
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  const endUsers = endUserCallersOnly(ctx, model);
  if (endUsers !== undefined) return endUsers;
  const perRequest = perRequestIdentityLogs(model);
  if (perRequest.every.length > 0) {
    return outcome(
      'PASS',
      'A hook that runs for every request logs the calling identity.',
      evidenceOf(perRequest.every),
    );
  }
  const inHandlers = model.routes.flatMap((r) =>
    handlerSummaries(r, model).flatMap((s) => s.logs.filter(logsIdentity)),
  );
  const users = requestHookSummaries(model)
    .flatMap((s) => s.logs)
    .filter((l) => [...l.fields].some((f) => USER_LOG_FIELD.test(f)));
  if (perRequest.refusals.length > 0 || inHandlers.length > 0 || users.length > 0) {
    return outcome(
      'PARTIAL',
      perRequest.refusals.length > 0
        ? 'The caller is logged only when a request is refused, not for every request.'
        : inHandlers.length > 0
          ? 'Some handlers log the caller, but no per-request hook does, so most requests carry no caller identity.'
          : 'Only the end user is logged, on security events; the calling service is not logged per request.',
      evidenceOf([...perRequest.refusals, ...inHandlers, ...users]),
    );
  }
  return outcome(
    'FAIL',
    'No log entry records which service made a request.',
    evidenceOf(model.serverSites),
  );
}

/** SE14: a correlation id is logged. */
function se14(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model)) {
    return outcome(
      'PASS',
      'Tessera continues the inbound trace (traceparent, x-correlation-id) and logs the correlation id in every audit event.',
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  const logs = sitesOf(model, (f) => f.logs).filter(logsCorrelation);
  const requestId = model.fastifyLoggers.filter((l) =>
    l.options.properties.some((p) =>
      /^(requestIdHeader|genReqId)$/.test(p.name?.getText(l.site.unit.sourceFile) ?? ''),
    ),
  );
  const modules = importedModules(ctx);
  const idMiddleware = ['express-request-id', 'cls-rtracer'].find((m) => modules.has(m));
  // pino-http's own id is a per-process counter: it follows a request only with `genReqId`.
  const pinoIds = moduleCalls(ctx, model, PINO_HTTP_MODULES).filter(({ call }) =>
    call.arguments.some((arg) => CORRELATION_OPTION.test(arg.getText())),
  );
  if (logs.length > 0 || requestId.length > 0 || pinoIds.length > 0 || idMiddleware !== undefined) {
    const quiet = logs.length === 0 && requestId.length === 0 && pinoIds.length === 0;
    return outcome(
      'PASS',
      quiet
        ? `Requests are logged with an id by ${idMiddleware ?? ''}.`
        : 'Log entries carry a correlation or request id.',
      evidenceOf([...requestId.map((l) => l.site), ...pinoIds.map((p) => p.site), ...logs], 5),
    );
  }
  return outcome(
    'FAIL',
    model.fastifyLoggers.length > 0
      ? "No correlation id is logged: Fastify's own reqId is generated locally, not taken from the caller's x-correlation-id, so it does not follow a request across services."
      : 'No correlation or request id is logged.',
    evidenceOf(
      model.fastifyLoggers.length > 0 ? model.fastifyLoggers.map((l) => l.site) : model.serverSites,
    ),
  );
}

/** SE15: the outcome (status) of each request is logged. */
function se15(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model)) {
    return outcome(
      'PASS',
      "Tessera's audit event records the decision and HTTP status of every request.",
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  const disabled = requestLoggingDisabled(model);
  if (model.fastifyLoggers.length > 0 && disabled === undefined) {
    return outcome(
      'PASS',
      "Fastify's logger is enabled, and it logs every completed request with its status code.",
      evidenceOf(model.fastifyLoggers.map((l) => l.site)),
    );
  }
  const responseLogs = model.graph.responseHooks.flatMap((h) =>
    h.targets.flatMap((t) => (t.kind === 'function' ? model.index.summary(t.facts).logs : [])),
  );
  if (responseLogs.length > 0) {
    return outcome(
      'PASS',
      "A response hook logs each request's outcome.",
      evidenceOf(responseLogs),
    );
  }
  const modules = importedModules(ctx);
  const httpLogger = REQUEST_LOGGER_MODULES.find((m) => modules.has(m));
  if (httpLogger !== undefined) {
    return outcome('PASS', `Requests and their status codes are logged by ${httpLogger}.`);
  }
  return outcome(
    'FAIL',
    disabled !== undefined
      ? "Fastify's request logging is switched off and nothing else logs request outcomes."
      : 'Nothing logs whether requests succeeded or failed.',
    evidenceOf(disabled === undefined ? model.serverSites : [disabled]),
  );
}

/** SE16: state-changing operations are logged with context. */
function se16(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  // Sign-up and sign-in change accounts: public by nature, still operations to record.
  const mutating = model.routes.filter((r) =>
    r.route.method.split(',').some((m) => MUTATING_METHODS.has(m)),
  );
  if (mutating.length === 0) {
    return outcome('N/A', 'The service has no state-changing (POST/PUT/PATCH/DELETE) routes.');
  }
  const logged = mutating.filter((r) =>
    handlerSummaries(r, model).some((s) => s.logs.some((l) => l.structured && !l.console)),
  );
  if (logged.length === mutating.length) {
    return outcome(
      'PASS',
      'Every state-changing route logs what it did, with context.',
      evidenceOf(
        logged.flatMap((r) => handlerSummaries(r, model).flatMap((s) => s.logs)),
        5,
      ),
    );
  }
  const missing = mutating.filter((r) => !logged.includes(r));
  if (logged.length > 0 || usesTessera(model)) {
    return outcome(
      'PARTIAL',
      logged.length > 0
        ? `Nothing is logged about what ${listed(missing.map(routeName))} changed.`
        : "Tessera's audit event records who called which route, but no handler logs what the operation changed.",
      evidenceOf(missing.map((r) => r.route.site)),
    );
  }
  return outcome(
    'FAIL',
    `State-changing routes (${listed(mutating.map(routeName))}) log nothing about what they did.`,
    evidenceOf(mutating.map((r) => r.route.site)),
  );
}

/**
 * SE17: logs reach a central system. The catalog accepts structured logs on stdout (the
 * platform's collector ships them) as well as a transport in code; plain-text lines are only
 * half of it, since a collector cannot index their fields.
 */
function se17(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const central = model.files.flatMap((f) => f.centralLogging);
  if (central.length > 0) {
    return outcome('PASS', 'A log transport ships logs to a central system.', evidenceOf(central));
  }
  const { structured, text } = loggerCreations(ctx, model);
  const textNames = listed([...new Set(text.map((t) => t.module))]);
  if (structured.length > 0 && text.length > 0) {
    return outcome(
      'PARTIAL',
      `Application logs are structured JSON on stdout, but the request log (${textNames}) is written as plain text lines a collector cannot index.`,
      evidenceOf(text.map((t) => t.site)),
    );
  }
  if (structured.length > 0) {
    return outcome(
      'PASS',
      `Logs are structured JSON on stdout (${listed([...new Set(structured.map((s) => s.module))])}), ready for the platform's log collector.`,
      evidenceOf(structured.map((s) => s.site)),
    );
  }
  const logs = sitesOf(model, (f) => f.logs);
  if (logs.length > 0 || text.length > 0) {
    return outcome(
      'PARTIAL',
      `Logs are plain text (${text.length > 0 ? textNames : 'console'}) on stdout: a collector can gather them, but not search them by caller, route or request id.`,
      evidenceOf([...text.map((t) => t.site), ...logs]),
    );
  }
  return outcome(
    'FAIL',
    'The service writes no logs, so there is nothing for a central system to collect.',
    evidenceOf(model.serverSites),
  );
}

/** pino's request loggers, whose default request id is a per-process counter. */
const PINO_HTTP_MODULES: ReadonlySet<string> = new Set([
  'pino-http',
  'express-pino-logger',
  'koa-pino-logger',
]);

/** Options that take the request id from the caller or mint a real one. */
const CORRELATION_OPTION = /genReqId|request-?id|correlation|traceparent/i;

/** Calls of functions imported from `modules`. */
function moduleCalls(
  ctx: AuditContext,
  model: InboundModel,
  modules: ReadonlySet<string>,
): { site: Site; module: string; call: ts.CallExpression }[] {
  const found: { site: Site; module: string; call: ts.CallExpression }[] = [];
  for (const fn of model.functions) {
    for (const call of fn.calls) {
      const module = ctx.symbols.moduleReference(fn.unit, call.expression)?.module;
      if (module !== undefined && modules.has(module)) {
        found.push({ site: { unit: fn.unit, node: call }, module, call });
      }
    }
  }
  return found;
}

/** Where loggers are created: JSON-line loggers, and request loggers that write text lines. */
function loggerCreations(
  ctx: AuditContext,
  model: InboundModel,
): {
  structured: { site: Site; module: string }[];
  text: { site: Site; module: string }[];
} {
  const structured = model.fastifyLoggers.map((l) => ({ site: l.site, module: 'Fastify (pino)' }));
  structured.push(...moduleCalls(ctx, model, STRUCTURED_LOGGER_MODULES));
  const text = moduleCalls(ctx, model, TEXT_REQUEST_LOGGER_MODULES);
  return { structured, text };
}

/** SE18: a JWT library does the validation. */
function se18(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model) || model.verifiers.length > 0) {
    const libraries = usesTessera(model)
      ? ['@tessera/fastify']
      : [...new Set(model.verifiers.map((v) => v.library))];
    return outcome(
      'PASS',
      `Tokens are validated by ${listed(libraries)}.`,
      evidenceOf([...model.tessera.map((t) => t.site), ...model.verifiers.map((v) => v.site)], 5),
    );
  }
  const decodes = unverifiedDecodes(model);
  if (decodes.length > 0) {
    return outcome(
      'FAIL',
      'Tokens are parsed by hand or only decoded; no JWT library verifies them.',
      evidenceOf(decodes),
    );
  }
  return noSignedTokens(model);
}

/** SE19: the JWT key comes from a secrets manager (or is a public key), not an env var. */
function se19(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (model.verifiers.length === 0) {
    return outcome('N/A', 'No JWT is verified in this code, so there is no JWT secret to load.');
  }
  const literal = model.verifiers.filter(
    (v) => v.key.kind === 'literal' && v.key.symmetric !== false,
  );
  const env = model.verifiers.filter((v) => v.key.kind === 'env' && v.key.symmetric !== false);
  if (literal.length > 0) {
    return outcome(
      'FAIL',
      'The JWT secret is written in the source code.',
      evidenceOf(literal.map((v) => v.key.site)),
    );
  }
  if (env.length > 0) {
    return outcome(
      'FAIL',
      'The JWT secret is read from an environment variable rather than a secrets manager.',
      evidenceOf(env.map((v) => v.key.site)),
    );
  }
  const unknown = model.verifiers.filter(
    (v) => v.key.kind === 'unknown' || v.key.kind === 'inherited',
  );
  if (unknown.length > 0) {
    return outcome(
      'PARTIAL',
      'Where the JWT verification key comes from could not be traced in the code.',
      evidenceOf(unknown.map((v) => v.key.site)),
    );
  }
  const publicOnly = model.verifiers.every(
    (v) => v.key.kind === 'jwks' || v.key.kind === 'public-key' || v.key.symmetric === false,
  );
  return outcome(
    'PASS',
    publicOnly
      ? 'Tokens are verified with public keys (JWKS or a public key file): the service holds no signing secret.'
      : 'The JWT key is fetched from a secrets manager or a key provider at run time.',
    evidenceOf(model.verifiers.map((v) => v.key.site)),
  );
}

/** SE20: authentication runs in a hook (preHandler/onRequest), consistently. */
function se20(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model) && openRoutes(model).length === 0) {
    return outcome(
      'PASS',
      'Tessera authenticates in an onRequest hook, before any preHandler or handler runs.',
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  if (guardedRoutes(model).length === 0) return noRoutes(model);
  const routes = guardedRoutes(model).filter((r) => authenticates(r.protection.level));
  if (routes.length === 0) {
    return outcome('FAIL', 'No hook authenticates requests.', evidenceOf(model.serverSites));
  }
  const inHandler = routes.filter((r) => r.protection.via === 'handler');
  if (inHandler.length === 0) {
    return outcome(
      'PASS',
      'Authentication runs in hooks (onRequest/preHandler or middleware) before the handlers.',
      evidenceOf(
        routes.flatMap((r) => r.protection.deciding.map((d) => d.site)),
        5,
      ),
    );
  }
  return outcome(
    inHandler.length === routes.length ? 'FAIL' : 'PARTIAL',
    `Authentication for ${listed(inHandler.map(routeName))} is done inside the handler instead of a hook, so each route repeats (or forgets) the check.`,
    evidenceOf(inHandler.map((r) => r.route.site)),
  );
}

/** SE21: request log lines identify the caller. */
function se21(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  if (usesTessera(model)) {
    return outcome(
      'PASS',
      "Tessera's request audit event names the verified caller.",
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  const perRequest = perRequestIdentityLogs(model).every;
  const serializer = model.fastifyLoggers.filter((l) => {
    const text = l.options.getText(l.site.unit.sourceFile);
    return (
      text.includes('serializers') && /\b(caller|sub|service|clientId|client_id|spiffe)/.test(text)
    );
  });
  if (perRequest.length > 0 || serializer.length > 0) {
    return outcome(
      'PASS',
      'Per-request log lines include the caller.',
      evidenceOf([...serializer.map((s) => s.site), ...perRequest]),
    );
  }
  const fastifyLogs =
    model.fastifyLoggers.length > 0 && requestLoggingDisabled(model) === undefined;
  const modules = importedModules(ctx);
  const httpLogger = REQUEST_LOGGER_MODULES.find((m) => modules.has(m));
  if (fastifyLogs || httpLogger !== undefined) {
    // With a correlation id the caller can be found in the caller's own logs; without, not at all.
    const correlated = se14(ctx).status === 'PASS';
    return outcome(
      correlated ? 'PARTIAL' : 'FAIL',
      `Each request is logged (${httpLogger ?? 'Fastify request logging'}), but the log lines do not say which caller made it${
        correlated
          ? '; only the correlation id links them to the caller'
          : ', nor carry a correlation id that would'
      }.`,
      evidenceOf(fastifyLogs ? model.fastifyLoggers.map((l) => l.site) : model.serverSites),
    );
  }
  return outcome(
    'FAIL',
    "Requests are not logged, let alone with the caller's identity.",
    evidenceOf(model.serverSites),
  );
}

/** SE22: an error handler (`setErrorHandler`/`onError`) logs authentication failures. */
function se22(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const noApi = noAuthenticatedApi(model);
  if (noApi !== undefined) return noApi;
  const handlers = model.graph.errorHandlers;
  const logging = handlers.filter((h) =>
    h.targets.some((t) => t.kind === 'function' && model.index.summary(t.facts).logs.length > 0),
  );
  if (logging.length > 0) {
    return outcome(
      'PASS',
      'An error handler logs the errors it answers, authentication failures included.',
      evidenceOf(logging.map((h) => h.site)),
    );
  }
  if (usesTessera(model)) {
    return outcome(
      'PASS',
      'Tessera answers authentication failures itself and logs each one in its audit event (decision, reason, status).',
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  if (handlers.length > 0) {
    return outcome(
      'FAIL',
      'The error handler answers errors without logging them, so authentication failures leave no trace.',
      evidenceOf(handlers.map((h) => h.site)),
    );
  }
  if (model.fastifyLoggers.length > 0) {
    return outcome(
      'PARTIAL',
      "No onError hook or error handler logs authentication failures; only Fastify's default error handler logs thrown errors.",
      evidenceOf(model.fastifyLoggers.map((l) => l.site)),
    );
  }
  return outcome(
    'FAIL',
    'No error hook or handler logs authentication failures.',
    evidenceOf(model.serverSites),
  );
}

/**
 * SE23 (seed 000, IA7): requests are rate-limited per calling service, so one compromised or
 * runaway caller cannot exhaust the service for every other.
 */
function se23(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const tesseraOn = model.tessera.filter((t) => t.rateLimitOff === undefined);
  if (tesseraOn.length > 0) {
    return outcome(
      'PASS',
      'Tessera rate-limits each verified caller (its `rateLimit` option; 1,000 requests/s by default).',
      evidenceOf(tesseraOn.map((t) => t.site)),
    );
  }
  const noApi = noAuthenticatedApi(model) ?? endUserCallersOnly(ctx, model);
  if (noApi !== undefined) return noApi;
  const limiters = rateLimiters(ctx, model);
  const perCaller = limiters.filter((l) => l.perCaller);
  if (perCaller.length > 0) {
    return outcome(
      'PASS',
      'Requests are rate-limited with a key built from the verified caller.',
      evidenceOf(perCaller.map((l) => l.site)),
    );
  }
  const off = model.tessera.flatMap((t) => (t.rateLimitOff === undefined ? [] : [t.rateLimitOff]));
  if (limiters.length > 0) {
    return outcome(
      'FAIL',
      'Rate limiting is global or per network address, not per calling service: behind a gateway or NAT every caller shares one budget.',
      evidenceOf([...limiters.map((l) => l.site), ...off]),
    );
  }
  return outcome(
    'FAIL',
    off.length > 0
      ? "Tessera's per-caller rate limit is switched off (`rateLimit: false`) and nothing else limits requests."
      : 'No rate limiting: any caller can send as many requests as it likes.',
    evidenceOf(off.length > 0 ? off : model.serverSites),
  );
}

export const serviceEndpointRules: RuleSet = {
  SE1: se1,
  SE2: se2,
  SE3: se3,
  SE4: se4,
  SE5: se5,
  SE6: (ctx) => {
    const { model, na } = withServer(ctx);
    return na ?? claimOutcome(model, 'issuer', () => noSignedTokens(model));
  },
  SE7: (ctx) => {
    const { model, na } = withServer(ctx);
    return na ?? claimOutcome(model, 'audience', () => noSignedTokens(model));
  },
  SE8: se8,
  SE9: se9,
  SE10: se10,
  SE11: se11,
  SE12: se12,
  SE13: se13,
  SE14: se14,
  SE15: se15,
  SE16: se16,
  SE17: se17,
  SE18: se18,
  SE19: se19,
  SE20: se20,
  SE21: se21,
  SE22: se22,
  SE23: se23,
};
