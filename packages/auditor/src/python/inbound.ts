/**
 * What protects each route of a Python service: the dependencies in front of it and the app's
 * middleware, followed through the functions they call, and which paths a middleware waves through.
 */
import { publicPath } from '../analysis/inbound/public-routes.ts';
import {
  IDENTITY_HEADERS,
  INTERNAL_MARKER_HEADERS,
  isHeader,
  isTokenName,
} from '../analysis/names.ts';
import type { PyNode } from './parser.ts';
import type { PyFunction, PyProject } from './project.ts';
import { functionFacts, type FunctionFacts, type HeaderRead } from './facts.ts';
import type { HttpSurface, PyMiddleware, PyRoute } from './routes.ts';
import { calleeName, descendants, stringValue } from './syntax.ts';

/** Facts of a function and every project function it reaches through calls and dependencies. */
export interface Reach {
  readonly facts: readonly FunctionFacts[];
}

export interface RouteProtection {
  readonly route: PyRoute;
  /** Dependency closures in front of the route (route, router, include, app). */
  readonly dependencies: readonly FunctionFacts[];
  /** Middleware that authenticates this route (it is not on the middleware's skip list). */
  readonly middleware: readonly PyMiddleware[];
  /** Middleware that would authenticate but skips this route's path. */
  readonly skippedBy: readonly PyMiddleware[];
  /** The route's own handler facts (a handler may check the header itself). */
  readonly handler: FunctionFacts | undefined;
  /** Verified: something rejects requests without a valid credential. */
  readonly authenticated: boolean;
  /**
   * Every check in front of the route lets requests through when its secret is unset or a
   * development flag is on: authenticated only when configured.
   */
  readonly conditional: boolean;
  /** Only a scheme in front (OAuth2PasswordBearer, APIKeyHeader) whose value nobody checks. */
  readonly presenceOnly: boolean;
  /** A public-by-nature route (health, login, docs, metrics, well-known). */
  readonly publicByNature: boolean;
}

export interface Inbound {
  readonly protections: readonly RouteProtection[];
  /** Middleware whose per-request function authenticates. */
  readonly authMiddleware: readonly PyMiddleware[];
  /** Every function reached from a route guard, a middleware or a handler, with its facts. */
  readonly authFunctions: readonly FunctionFacts[];
  readonly factsOf: (fn: PyFunction) => FunctionFacts;
  readonly reach: (fn: PyFunction) => FunctionFacts[];
}

/** A route public by nature (probes, metrics, docs, well-known documents, sign-in) for every method. */
export function isPublicByNature(route: PyRoute): boolean {
  return route.method.split(',').every((method) => publicPath(method, route.path));
}

/** A credential header: authorization, api keys, tokens, signatures. */
export const isCredentialHeader = (name: string): boolean =>
  name === 'authorization' ||
  name === 'cookie' ||
  isTokenName(name) ||
  /signature|api-?key/.test(name);

/** Identity or internal-marker headers anyone can send. */
export const isSpoofableHeader = (name: string): boolean =>
  isHeader(IDENTITY_HEADERS, name) ||
  isHeader(INTERNAL_MARKER_HEADERS, name) ||
  /^x-forwarded-(user|email|groups)$/.test(name);

export function analyseInbound(py: PyProject, surface: HttpSurface): Inbound {
  const cache = new Map<PyFunction, FunctionFacts>();
  const factsOf = (fn: PyFunction): FunctionFacts => {
    let facts = cache.get(fn);
    if (facts === undefined) cache.set(fn, (facts = functionFacts(py, fn)));
    return facts;
  };
  const reach = (fn: PyFunction): FunctionFacts[] => {
    const out: FunctionFacts[] = [];
    const seen = new Set<PyFunction>();
    const queue = [fn];
    for (const current of queue) {
      if (seen.has(current) || seen.size > 60) continue;
      seen.add(current);
      const facts = factsOf(current);
      out.push(facts);
      queue.push(...facts.depends, ...facts.calls);
    }
    return out;
  };
  // Over a whole closure: something verifies or reads a credential, and something refuses (the
  // refusal may sit in the middleware and the header read in a helper it calls).
  const authenticates = (facts: readonly FunctionFacts[]): boolean =>
    facts.some(
      (f) =>
        f.jwt.some((j) => j.verified) ||
        f.digestCompares.length > 0 ||
        f.plainCompares.length > 0 ||
        f.headerReads.some((h) => isCredentialHeader(h.name)) ||
        f.schemes.length > 0,
    ) &&
    facts.some(
      (f) => f.rejects.length > 0 || f.jwt.some((j) => j.verified) || f.schemes.length > 0,
    );

  const authMiddleware = surface.middleware.filter(
    (m) => m.fn !== undefined && authenticates(reach(m.fn)),
  );
  const skips = new Map<PyMiddleware, (path: string) => boolean>();
  for (const m of authMiddleware) if (m.fn !== undefined) skips.set(m, skipListOf(py, m.fn));

  const protections = surface.routes.map((route): RouteProtection => {
    const dependencies = route.guards.flatMap((g) => (g.fn === undefined ? [] : reach(g.fn)));
    const handler = route.handler === undefined ? undefined : factsOf(route.handler);
    const handlerReach = route.handler === undefined ? [] : reach(route.handler);
    const applicable = authMiddleware.filter(
      (m) => route.app === undefined || m.app === route.app || surface.apps.length <= 1,
    );
    const middleware = applicable.filter((m) => !(skips.get(m)?.(route.path) ?? false));
    const skippedBy = applicable.filter((m) => skips.get(m)?.(route.path) ?? false);
    const schemes =
      route.guards.some((g) => g.scheme !== undefined) ||
      dependencies.some((d) => d.schemes.length > 0);
    const byDependencies = authenticates(dependencies);
    const byHandler = authenticates(handlerReach);
    const authenticated = middleware.length > 0 || route.requires || byDependencies || byHandler;
    const unsetAllows = (facts: readonly FunctionFacts[]) =>
      facts.some((f) => f.allowsWhenUnset.length > 0);
    const conditional =
      authenticated &&
      !route.requires &&
      middleware.every((m) => m.fn !== undefined && unsetAllows(reach(m.fn))) &&
      (!byDependencies || unsetAllows(dependencies)) &&
      (!byHandler || unsetAllows(handlerReach));
    return {
      route,
      dependencies,
      middleware,
      skippedBy,
      handler,
      authenticated,
      conditional,
      presenceOnly: !authenticated && schemes,
      publicByNature: isPublicByNature(route),
    };
  });
  const authFunctions = new Set<FunctionFacts>();
  for (const p of protections) for (const f of p.dependencies) authFunctions.add(f);
  for (const m of authMiddleware)
    if (m.fn !== undefined) for (const f of reach(m.fn)) authFunctions.add(f);
  return { protections, authMiddleware, authFunctions: [...authFunctions], factsOf, reach };
}

/**
 * The paths a middleware lets through before authenticating: string literals starting with `/`
 * in an `if` that returns `call_next(request)` early, directly or via a module-level constant.
 */
function skipListOf(py: PyProject, fn: PyFunction): (path: string) => boolean {
  const exact: string[] = [];
  const prefixes: string[] = [];
  const guardedOnly: string[] = [];
  for (const statement of descendants(fn.node, 'if_statement')) {
    const consequence = statement.fields.consequence;
    const condition = statement.fields.condition;
    if (consequence === undefined || condition === undefined) continue;
    const passes = /call_next|self\.app\(|await\s+self\.app/.test(consequence.text);
    // `if request.url.path.startswith("/internal"): <check>`: the check covers only that prefix.
    const checks =
      !passes && /status_code\s*=\s*40[13]|HTTP_40[13]|HTTPException|raise/.test(consequence.text);
    if (!passes && !checks) continue;
    if (!/\bpath\b|url/.test(condition.text)) continue;
    const startsWith = condition.text.includes('startswith');
    // `if not path.startswith("/internal"): return await call_next(request)`: the middleware
    // guards only that prefix, every other path is skipped.
    const negated =
      (condition.type === 'not_operator' || /\bnot\s+in\b/.test(condition.text)) !== checks;
    const literals: string[] = [];
    const collect = (node: PyNode) => {
      for (const s of descendants(node, 'string')) {
        const value = stringValue(s);
        if (value?.startsWith('/') === true) literals.push(value);
      }
    };
    collect(condition);
    for (const ref of descendants(condition, 'identifier', 'attribute')) {
      const value = py.resolveValue(fn.file, ref.text)?.value;
      if (value !== undefined && /^(list|set|tuple|call)$/.test(value.type)) collect(value);
    }
    if (negated) {
      for (const literal of literals) guardedOnly.push(literal);
      continue;
    }
    for (const literal of literals)
      (startsWith || literal.endsWith('/') ? prefixes : exact).push(literal);
  }
  return (path) =>
    exact.includes(path) ||
    prefixes.some((p) => path.startsWith(p)) ||
    (guardedOnly.length > 0 && !guardedOnly.some((p) => path === p || path.startsWith(p)));
}

/** Spoofable headers read by code (identity, tenant, internal markers). */
export function spoofableReads(facts: readonly FunctionFacts[]): HeaderRead[] {
  return facts.flatMap((f) => f.headerReads.filter((h) => isSpoofableHeader(h.name)));
}

export const callsNamed = (node: PyNode, pattern: RegExp): PyNode[] =>
  descendants(node, 'call').filter((c) => pattern.test(calleeName(c)));
