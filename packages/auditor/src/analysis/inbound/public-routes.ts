/**
 * Routes that are public by nature: a caller cannot hold a credential before it has used them,
 * or the platform calls them without one. Authentication endpoints (sign-in, token, refresh,
 * sign-up, OAuth callbacks), health and readiness probes, metrics scrapes, well-known documents
 * (`/.well-known/*`, JWKS, OpenID configuration) and API documentation.
 *
 * Such a route stays public only while it does what its name says. The classifier refuses the
 * exemption when the code shows otherwise:
 * - a probe, metrics, well-known or documentation route registered for a state-changing method
 *   (POST/PUT/PATCH/DELETE): a `POST /health` changes something, so it needs a caller;
 * - a route whose handler answers with the whole environment or configuration object
 *   (`res.json(process.env)`, `reply.send(config)`, `{ ...process.env }`): it exposes data.
 * What a handler returns beyond that (a database row read under a probe's name) is not
 * recognised; authentication endpoints may change state (sign-up creates an account), since that
 * is what they are for.
 */
import ts from 'typescript';
import type { FunctionIndex } from './functions.ts';
import type { Route } from './scopes.ts';
import { MUTATING_METHODS } from './vocabulary.ts';

export type PublicKind = 'authentication' | 'probe' | 'metrics' | 'well-known' | 'documentation';

/** Why a route needs no credential. */
export interface PublicByNature {
  readonly kind: PublicKind;
  /** For sentences: "authentication endpoint", "health probe". */
  readonly reason: string;
}

const REASONS: Readonly<Record<PublicKind, string>> = {
  authentication: 'authentication endpoint',
  probe: 'health probe',
  metrics: 'metrics',
  'well-known': 'well-known document',
  documentation: 'API documentation',
};

/** Leading segments that only version or namespace an API: `/api/v1/health`. */
const NAMESPACE_SEGMENT = /^(api|v\d+(\.\d+)?|public)$/;

/** Probe names that are only probes when they stand (almost) alone: `/ready`, `/ping`. */
const SHORT_PROBE = /^(ready|live|alive|ping|status|startup|started)$/;

/** Probe names that say what they are wherever they sit: `/orders/healthz`, `/gateway-health`. */
const PROBE_SEGMENT =
  /^(_{0,2}health(z|check|-check|_check)?|readyz|livez|readiness|liveness|startupz|heartbeat|.+[-_]health)$/;

/** The sub-probes under a health segment: `/health/ready`, `/healthz/live`. */
const PROBE_LEAF = /^(ready|readiness|live|liveness|startup|started|db|deep|details?)$/;

const METRICS_SEGMENT = /^(metrics|prometheus)$/;

const DOCUMENTATION_SEGMENT =
  /^(docs|api-docs|swagger|swagger-ui|redoc|openapi(\.json|\.ya?ml)?|swagger\.(json|ya?ml))$/;

/** Verbs that name an authentication step wherever they sit: `/users/login`, `/auth/sign-up`. */
const SIGN_IN_SEGMENT =
  /^(log-?in|log-?out|sign-?in|sign-?out|sign-?up|sign_in|sign_out|sign_up|logon|logoff)$/;

/** Names that are authentication steps only under an authentication prefix: `/auth/token`. */
const AUTH_STEP_SEGMENT =
  /^(token|access-?token|access_token|refresh|refresh-?token|refresh_token|register|authorize|callback|forgot-?password|reset-?password|password-?reset|forgot_password|reset_password|verify-?email|confirm-?email|magic-?link|otp|saml|acs)$/;

/** Prefixes under which those steps live: `/auth`, `/oauth2`, `/connect` (OpenID Connect). */
const AUTH_CONTEXT_SEGMENT =
  /^(auth|oauth2?|oidc|openid-connect|connect|sso|saml|identity|session|sessions|login|account|accounts|users?|password)$/;

/**
 * Is this route public by nature, and why? `path` is the route's full path (prefixes
 * included); `index` reads the handler for data it exposes.
 */
export function publicByNature(
  route: Route,
  path: string | undefined,
  index: FunctionIndex,
): PublicByNature | undefined {
  const kind = routeKind(route, path);
  if (kind === undefined) return undefined;
  if (changesState(route.method, kind)) return undefined;
  if (exposesConfiguration(route, index)) return undefined;
  return { kind, reason: REASONS[kind] };
}

/** A route given only by method and path (a policy file) that is public by nature. */
export function publicPath(method: string, path: string): boolean {
  const kind = pathKind(path);
  return kind !== undefined && !changesState(method, kind);
}

/** The kind a route's path names, or for a bare Node listener, the paths it dispatches on. */
function routeKind(route: Route, path: string | undefined): PublicKind | undefined {
  if (route.scope.framework === 'node' && path === '*') return listenerKind(route);
  return path === undefined ? undefined : pathKind(path);
}

/** What a path names, by its segments. */
export function pathKind(path: string): PublicKind | undefined {
  const segments = path
    .split(/[/?#]/)
    .filter((s) => s !== '')
    .map((s) => s.toLowerCase());
  // A catch-all (`/auth/*`, a proxy mount) is judged by the prefix it serves.
  const catchAll = segments.at(-1) === '*' || segments.at(-1) === '(.*)';
  const named = catchAll ? segments.slice(0, -1) : segments;
  if (named.length === 0) return undefined;
  return (
    wellKnownKind(named) ??
    (catchAll ? catchAllKind(named) : (probeKind(named) ?? authenticationKind(named)))
  );
}

function wellKnownKind(segments: readonly string[]): PublicKind | undefined {
  const last = segments.at(-1) ?? '';
  if (segments.includes('.well-known')) return 'well-known';
  if (/^jwks(\.json)?$/.test(last) || last === 'openid-configuration') return 'well-known';
  if (last === 'certs' && segments.at(-2) === 'openid-connect') return 'well-known';
  return undefined;
}

/** `/auth/*` proxied to an identity provider; `/docs/*` serving the documentation. */
function catchAllKind(segments: readonly string[]): PublicKind | undefined {
  const last = segments.at(-1) ?? '';
  if (/^(auth|oauth2?|oidc|sso)$/.test(last)) return 'authentication';
  if (DOCUMENTATION_SEGMENT.test(last)) return 'documentation';
  return undefined;
}

function probeKind(segments: readonly string[]): PublicKind | undefined {
  if (segments.some((s) => s.startsWith(':') || s.includes('{'))) return undefined;
  const core = withoutNamespace(segments);
  const last = segments.at(-1) ?? '';
  const before = segments.at(-2) ?? '';
  if (METRICS_SEGMENT.test(last)) return 'metrics';
  if (PROBE_SEGMENT.test(last)) return 'probe';
  if (PROBE_SEGMENT.test(before) && PROBE_LEAF.test(last)) return 'probe';
  if (core.length === 1 && SHORT_PROBE.test(last)) return 'probe';
  if (core.length <= 2 && core.every((s) => DOCUMENTATION_SEGMENT.test(s))) return 'documentation';
  return undefined;
}

function authenticationKind(segments: readonly string[]): PublicKind | undefined {
  // Parameters are skipped: `/auth/callback/:provider` is a callback.
  const named = segments.filter((s) => !s.startsWith(':') && !s.includes('{'));
  const step = named.at(-1) ?? '';
  if (SIGN_IN_SEGMENT.test(step)) return 'authentication';
  if (!AUTH_STEP_SEGMENT.test(step)) return undefined;
  const context = named.slice(0, -1).some((s) => AUTH_CONTEXT_SEGMENT.test(s));
  return context || withoutNamespace(named).length === 1 ? 'authentication' : undefined;
}

function withoutNamespace(segments: readonly string[]): readonly string[] {
  let start = 0;
  while (start < segments.length - 1 && NAMESPACE_SEGMENT.test(segments[start] ?? '')) start++;
  return segments.slice(start);
}

/** A probe or document served for a state-changing method is not a read-only probe. */
function changesState(method: string, kind: PublicKind): boolean {
  if (kind === 'authentication') return false;
  return method.split(',').some((m) => MUTATING_METHODS.has(m.trim()));
}

/**
 * A bare `http.createServer` listener that dispatches on `req.url`: public when every path it
 * compares against is, and anything else ends in a 404.
 */
function listenerKind(route: Route): PublicKind | undefined {
  for (const target of route.handler) {
    if (target.kind !== 'function' || ts.isSourceFile(target.facts.node)) continue;
    const fn = target.facts.node;
    if (!endsInNotFound(fn)) continue;
    const paths = dispatchedPaths(fn);
    const kinds = paths.map(pathKind);
    if (kinds.length === 0 || kinds.some((k) => k === undefined)) continue;
    return kinds.includes('probe') ? 'probe' : kinds[0];
  }
  return undefined;
}

/** Path literals compared with the request URL (`url === '/healthz'`, `case '/metrics':`). */
function dispatchedPaths(fn: ts.Node): string[] {
  const paths: string[] = [];
  const isPath = (node: ts.Node): node is ts.StringLiteralLike =>
    ts.isStringLiteralLike(node) && node.text.startsWith('/');
  const visit = (node: ts.Node): void => {
    if (
      ts.isBinaryExpression(node) &&
      /^(===|==|!==|!=)$/.test(node.operatorToken.getText()) &&
      (isPath(node.left) || isPath(node.right))
    ) {
      const literal = isPath(node.left) ? node.left : node.right;
      const other = literal === node.left ? node.right : node.left;
      if (/url|path/i.test(other.getText())) paths.push((literal as ts.StringLiteralLike).text);
    } else if (ts.isCaseClause(node) && isPath(node.expression)) {
      paths.push(node.expression.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(fn);
  return paths;
}

/** The listener's last statements answer 404: nothing but the dispatched paths is served. */
function endsInNotFound(fn: ts.FunctionLikeDeclaration): boolean {
  const body = fn.body;
  if (body === undefined || !ts.isBlock(body)) return false;
  const tail = body.statements.slice(-2);
  let found = false;
  const visit = (node: ts.Node): void => {
    if (ts.isNumericLiteral(node) && node.text === '404') found = true;
    ts.forEachChild(node, visit);
  };
  for (const statement of tail) visit(statement);
  return found;
}

/** Names of objects that hold the service's configuration or environment. */
const CONFIGURATION_NAME = /^(config|configuration|settings|env|environment|secrets?)$/i;

/**
 * Does the handler answer with the whole environment or configuration object? Reads of single
 * settings (`process.env.VERSION`, `config.version`) are fine.
 */
function exposesConfiguration(route: Route, index: FunctionIndex): boolean {
  for (const target of route.handler) {
    if (target.kind !== 'function') continue;
    for (const fn of index.summary(target.facts).functions) {
      if (mentionsWholeConfiguration(fn.node)) return true;
    }
  }
  return false;
}

function mentionsWholeConfiguration(root: ts.Node): boolean {
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (isWholeEnv(node)) found = true;
    else if (ts.isCallExpression(node) && isResponseCall(node)) {
      found = node.arguments.some((arg) => isConfigurationObject(arg));
    }
    ts.forEachChild(node, visit);
  };
  visit(root);
  return found;
}

/** `process.env` used as a whole (spread, sent, serialised), not one variable read from it. */
function isWholeEnv(node: ts.Node): boolean {
  if (!ts.isPropertyAccessExpression(node) || node.name.text !== 'env') return false;
  if (!ts.isIdentifier(node.expression) || node.expression.text !== 'process') return false;
  const parent = node.parent;
  return (
    !ts.isPropertyAccessExpression(parent) &&
    !ts.isElementAccessExpression(parent) &&
    !ts.isVariableDeclaration(parent)
  );
}

function isResponseCall(call: ts.CallExpression): boolean {
  const callee = call.expression;
  return (
    ts.isPropertyAccessExpression(callee) && /^(json|send|end|write|jsonp)$/.test(callee.name.text)
  );
}

function isConfigurationObject(arg: ts.Expression): boolean {
  let node: ts.Expression = arg;
  while (ts.isParenthesizedExpression(node) || ts.isAsExpression(node)) node = node.expression;
  if (ts.isCallExpression(node) && node.arguments[0] !== undefined) {
    // `JSON.stringify(config)`.
    return isConfigurationObject(node.arguments[0]);
  }
  if (ts.isIdentifier(node)) return CONFIGURATION_NAME.test(node.text);
  if (ts.isPropertyAccessExpression(node)) {
    return CONFIGURATION_NAME.test(node.name.text);
  }
  if (ts.isObjectLiteralExpression(node)) {
    return node.properties.some(
      (p) => ts.isSpreadAssignment(p) && isConfigurationObject(p.expression),
    );
  }
  return false;
}
