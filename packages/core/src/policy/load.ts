import { Value, ValueErrorType } from '@sinclair/typebox/value';
import type { ValueError } from '@sinclair/typebox/value';
import { TesseraError, isTesseraError } from '../errors.ts';
import { serviceSpiffeId } from '../spiffe/id.ts';
import { registerPolicy, routeKey } from './compiled.ts';
import type {
  CompiledRoute,
  CompiledService,
  Policy,
  PolicyAllowEntry,
  PolicyRoute,
  PolicyService,
  PolicyTenantRule,
  PolicyUsersEntry,
} from './compiled.ts';
import { decodePolicyText } from './decode.ts';
import type { PolicyFormat } from './decode.ts';
import { invalidPolicy, toJsonPointer } from './invalid.ts';
import { policySchema } from './schema.ts';
import type { PolicyDocument } from './schema.ts';

type RouteDocument = NonNullable<PolicyDocument['services'][string]['routes']>[number];
type Path = readonly (string | number)[];

interface DeclaredService {
  readonly name: string;
  readonly spiffeId: string;
  readonly routes: readonly RouteDocument[];
}

/** Resolves an allow entry's `service` (a name or a SPIFFE ID) to a declared service. */
type ResolveCaller = (reference: string, at: Path) => DeclaredService;

/**
 * Parses and compiles a policy document written in YAML (the default) or JSON.
 *
 * Throws `TesseraError` with code `ERR_POLICY_INVALID`, and no other error, for anything short
 * of a valid document: text over `MAX_POLICY_BYTES`, syntax errors, duplicate keys, YAML
 * tags, anchors that expand too far, more than one YAML document, and everything
 * {@link compilePolicy} rejects. The detail names the JSON Pointer (or YAML line) of the problem.
 *
 * @example
 * ```ts
 * const policy = parsePolicy(`
 * version: 1
 * trustDomain: tessera.local
 * services:
 *   api-gateway: {}
 *   billing:
 *     routes:
 *       - { method: GET, path: /healthz, public: true }
 *       - { method: GET, path: /invoices/:id, allow: [{ service: api-gateway, scopes: [invoices:read] }] }
 * `);
 * isPublicRoute(policy, 'billing', 'GET', '/healthz'); // true
 * ```
 */
export function parsePolicy(text: string, format: PolicyFormat = 'yaml'): Policy {
  let document: unknown;
  try {
    document = decodePolicyText(text, format);
  } catch (error) {
    throw asPolicyInvalid(error);
  }
  return compilePolicy(document);
}

/**
 * Validates a decoded policy document against {@link policySchema} and the rules a schema cannot
 * express, and returns it as a deeply frozen {@link Policy} with O(1) lookup tables. The input is
 * copied, never retained.
 *
 * Throws `TesseraError` with code `ERR_POLICY_INVALID` (and no other error) when an allow entry
 * names a service not declared under `services`, a route sets both or neither of `public: true`
 * and `allow`, a method and route pattern appear twice for one service (parameter names aside),
 * a path has a `.` or `..` segment or repeats a parameter name, or one caller is listed twice on
 * a route; and for any schema violation, unknown keys included.
 */
export function compilePolicy(document: unknown): Policy {
  try {
    return compileValid(document);
  } catch (error) {
    throw asPolicyInvalid(error);
  }
}

/**
 * Whatever went wrong while reading a document (a throwing getter, a stack overflow in a parser),
 * the caller sees one error code and nothing that could be mistaken for success.
 */
function asPolicyInvalid(error: unknown): TesseraError {
  if (isTesseraError(error) && error.code === 'ERR_POLICY_INVALID') return error;
  return new TesseraError('ERR_POLICY_INVALID', 'policy document could not be read', {
    cause: error,
  });
}

/**
 * TypeBox reports a failed union as "Expected union value" at the union itself. When one variant
 * failed deeper inside the value (an allow list whose third entry has an empty scope list), that error names
 * the actual problem; otherwise the union's description says what was expected.
 */
function describeSchemaError(error: ValueError): { path: string; problem: string } {
  if (error.type !== ValueErrorType.Union) return { path: error.path, problem: error.message };
  // A union of objects (the allow entry kinds, the tenant rule forms): the variant whose keys the
  // value uses is the one the author meant, so its first error is the one to report.
  const meant = variantByKeys(error);
  if (meant !== undefined) return describeSchemaError(meant);
  // Depth counts segments, not characters, and a tie keeps the earlier variant: `/allow/0/user`
  // (an unknown key of a service entry) must not lose to `/allow/0/users` (the users entry's
  // missing key) for being one character shorter.
  const depth = (path: string): number => path.split('/').length;
  let deepest: ValueError | undefined;
  for (const variant of error.errors) {
    const first = variant.First();
    if (first !== undefined && depth(first.path) > depth((deepest ?? error).path)) deepest = first;
  }
  if (deepest !== undefined) return describeSchemaError(deepest);
  const { description } = error.schema;
  return {
    path: error.path,
    problem: typeof description === 'string' ? `expected ${description}` : error.message,
  };
}

function variantByKeys(error: ValueError): ValueError | undefined {
  const { value } = error;
  const variants: unknown = (error.schema as { anyOf?: unknown }).anyOf;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  if (!Array.isArray(variants)) return undefined;
  const keys = Object.keys(value);
  let best = 0;
  let chosen: number | undefined;
  variants.forEach((variant: { properties?: Record<string, unknown> }, index) => {
    const properties = variant.properties;
    if (properties === undefined) return;
    const score = keys.filter((key) => Object.hasOwn(properties, key)).length;
    if (score > best) {
      best = score;
      chosen = index;
    }
  });
  return chosen === undefined ? undefined : error.errors[chosen]?.First();
}

function compileValid(input: unknown): Policy {
  const schemaError = Value.Errors(policySchema, input).First();
  if (schemaError !== undefined) {
    const { path, problem } = describeSchemaError(schemaError);
    throw invalidPolicy(path, problem);
  }
  const document = input as PolicyDocument;
  const { trustDomain } = document;

  const declared: DeclaredService[] = Object.entries(document.services).map(([name, service]) => ({
    name,
    spiffeId: serviceSpiffeId(trustDomain, name),
    routes: service.routes ?? [],
  }));
  // Names never contain ':' or '/', so a name and a SPIFFE ID can share one table.
  const byReference = new Map<string, DeclaredService>();
  for (const service of declared) {
    byReference.set(service.name, service);
    byReference.set(service.spiffeId, service);
  }
  const resolveCaller: ResolveCaller = (reference, at) => {
    const caller = byReference.get(reference);
    // A typo in a caller must fail the load: silently denying hides the mistake until an
    // outage, and a near-miss SPIFFE ID must never match some other workload.
    if (caller === undefined) {
      throw invalidPolicy(
        toJsonPointer(at),
        `${JSON.stringify(reference)} is not a service declared under /services`,
      );
    }
    return caller;
  };

  const index = new Map<string, CompiledService>();
  const services: PolicyService[] = [];
  for (const { name, spiffeId, routes: routeDocuments } of declared) {
    const routes = new Map<string, CompiledRoute>();
    const shapes = new Map<string, string>();
    routeDocuments.forEach((routeDocument, position) => {
      const at: Path = ['services', name, 'routes', position];
      assertRoutePath(routeDocument.path, [...at, 'path']);
      // Fastify treats `/a/:id` and `/a/:name` as one route, so two rules for them would be
      // one rule too many, whichever the lookup happened to use.
      const shape = routeKey(
        routeDocument.method,
        routeDocument.path.replace(/:[A-Za-z0-9_]+/g, ':'),
      );
      const earlier = shapes.get(shape);
      if (earlier !== undefined) {
        throw invalidPolicy(toJsonPointer(at), `same method and route as ${earlier}`);
      }
      shapes.set(shape, toJsonPointer(at));
      const compiled = compileRoute(name, routeDocument, at, resolveCaller);
      routes.set(routeKey(routeDocument.method, routeDocument.path), compiled);
    });
    const service: PolicyService = Object.freeze({
      name,
      spiffeId,
      routes: Object.freeze([...routes.values()].map((compiled) => compiled.route)),
    });
    services.push(service);
    const compiledService: CompiledService = { service, routes };
    index.set(name, compiledService);
    index.set(spiffeId, compiledService);
  }

  const policy: Policy = Object.freeze({
    version: 1,
    trustDomain,
    services: Object.freeze(services),
  });
  registerPolicy(policy, index);
  return policy;
}

function assertRoutePath(path: string, at: Path): void {
  const parameters = new Set<string>();
  for (const segment of path.split('/')) {
    // RFC 3986 §5.2.4: clients and proxies remove dot segments, so a rule for one would
    // describe a request that never arrives in that form.
    if (segment === '.' || segment === '..') {
      throw invalidPolicy(toJsonPointer(at), 'path has a "." or ".." segment');
    }
    if (segment.startsWith(':')) {
      if (parameters.has(segment)) {
        throw invalidPolicy(toJsonPointer(at), `path repeats the parameter ${segment}`);
      }
      parameters.add(segment);
    }
  }
}

function compileRoute(
  service: string,
  route: RouteDocument,
  at: Path,
  resolveCaller: ResolveCaller,
): CompiledRoute {
  const { method, path } = route;
  const user = route.user ?? 'allowed';
  const tenant = compileTenant(route, at);
  const base = { service, method, path, user, ...(tenant === undefined ? {} : { tenant }) };
  let rule: PolicyRoute;
  const callers = new Map<string, PolicyAllowEntry>();
  if (route.public !== undefined) {
    if (route.allow !== undefined) {
      throw invalidPolicy(
        toJsonPointer(at),
        'a route is either "public: true" or has "allow", not both',
      );
    }
    // A public route has no caller to hold to a user or tenant rule: it would read as a
    // restriction that never applies.
    if (route.user !== undefined || route.tenant !== undefined) {
      throw invalidPolicy(toJsonPointer(at), 'a public route takes no "user" or "tenant"');
    }
    rule = { ...base, access: 'public' };
  } else if (route.allow === undefined) {
    throw invalidPolicy(toJsonPointer(at), 'a route needs "public: true" or "allow"');
  } else if (route.allow === 'any-authenticated') {
    rule = { ...base, access: 'any-authenticated' };
  } else {
    let users: PolicyUsersEntry | undefined;
    route.allow.forEach((entry, position) => {
      if ('users' in entry) {
        const entryAt = toJsonPointer([...at, 'allow', position]);
        if (users !== undefined) throw invalidPolicy(entryAt, 'users are listed twice');
        if (user === 'forbidden') {
          throw invalidPolicy(entryAt, 'users are admitted on a route with "user: forbidden"');
        }
        users = Object.freeze({ users: true, scopes: Object.freeze([...(entry.scopes ?? [])]) });
        return;
      }
      const entryAt = [...at, 'allow', position, 'service'];
      const caller = resolveCaller(entry.service, entryAt);
      // Two entries for one caller would make the outcome depend on which one is consulted.
      if (callers.has(caller.spiffeId)) {
        throw invalidPolicy(toJsonPointer(entryAt), `caller "${caller.name}" is listed twice`);
      }
      callers.set(
        caller.spiffeId,
        Object.freeze({
          service: caller.name,
          spiffeId: caller.spiffeId,
          scopes: Object.freeze([...(entry.scopes ?? [])]),
          delegated: entry.delegated ?? 'allowed',
        }),
      );
    });
    rule = {
      ...base,
      access: 'callers',
      allow: Object.freeze([...callers.values()]),
      ...(users === undefined ? {} : { users }),
    };
  }
  Object.freeze(rule);
  return {
    route: rule,
    decision: Object.freeze({ allow: true, public: rule.access === 'public', rule }),
    callers,
  };
}

/** The tenant rule of a route; a `param` must be one of the route's own path parameters. */
function compileTenant(route: RouteDocument, at: Path): PolicyTenantRule | undefined {
  const tenant = route.tenant;
  if (tenant === undefined) return undefined;
  if ('param' in tenant) {
    if (!route.path.split('/').includes(`:${tenant.param}`)) {
      throw invalidPolicy(
        toJsonPointer([...at, 'tenant', 'param']),
        `the path has no parameter :${tenant.param}`,
      );
    }
    return Object.freeze({ param: tenant.param });
  }
  return Object.freeze({ in: Object.freeze([...tenant.in]) });
}
