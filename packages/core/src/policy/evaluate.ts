import type { Caller } from '../token/caller.ts';
import { routeKey, servicesOf } from './compiled.ts';
import type {
  CompiledRoute,
  Policy,
  PolicyAllowEntry,
  PolicyDecision,
  PolicyDeny,
  PolicyDenyCode,
  PolicyRoute,
} from './compiled.ts';

const deny = (code: PolicyDenyCode): PolicyDeny => Object.freeze({ allow: false, code });
const DENY_UNKNOWN_SERVICE = deny('ERR_POLICY_UNKNOWN_SERVICE');
const DENY_NO_RULE = deny('ERR_POLICY_NO_RULE');
const DENY_CALLER = deny('ERR_POLICY_CALLER');
const DENY_DELEGATION = deny('ERR_POLICY_DELEGATION');
const DENY_SCOPE = deny('ERR_POLICY_SCOPE');
const DENY_TENANT = deny('ERR_POLICY_TENANT');

/** Path parameters as Fastify hands them over (`request.params`). */
export type RouteParams = Readonly<Record<string, string | undefined>>;

function findRoute(
  policy: Policy,
  service: string,
  method: string,
  routePattern: string,
): CompiledRoute | PolicyDeny {
  const compiled = servicesOf(policy).get(service);
  if (compiled === undefined) return DENY_UNKNOWN_SERVICE;
  return compiled.routes.get(routeKey(method, routePattern)) ?? DENY_NO_RULE;
}

/** The route's `user` rule: `required` wants a user behind the call, `forbidden` a service. */
function userModeAllows(route: PolicyRoute, caller: Caller): boolean {
  switch (route.user) {
    case 'allowed':
      return true;
    case 'required':
      return caller.kind === 'delegated' || caller.kind === 'user';
    case 'forbidden':
      return caller.kind === 'service';
  }
}

function tenantAllows(
  route: PolicyRoute,
  caller: Caller,
  params: RouteParams | undefined,
): boolean {
  const rule = route.tenant;
  if (rule === undefined) return true;
  const tenant = caller.tenant;
  if (tenant === undefined) return false;
  if ('param' in rule) return params?.[rule.param] === tenant;
  return rule.in.includes(tenant);
}

function hasScopes(required: readonly string[], caller: Caller): boolean {
  for (const scope of required) {
    if (!caller.scopes.includes(scope)) return false;
  }
  return true;
}

/** A kind this code does not know is neither, and fails both `required` and `forbidden`. */
function delegationAllows(entry: PolicyAllowEntry, caller: Caller): boolean {
  switch (entry.delegated) {
    case 'allowed':
      return true;
    case 'required':
      return caller.kind === 'delegated';
    case 'forbidden':
      return caller.kind === 'service';
  }
}

/**
 * Decides whether `caller` may call `method routePattern` on `service`. Deny by default: only a
 * rule in the policy allows. O(1) in the size of the policy; allocates nothing.
 *
 * `service` is the receiving service's name or SPIFFE ID. `routePattern` is the registered route
 * pattern (Fastify's `request.routeOptions.url`, such as `/events/:id`), never the raw URL, and
 * must match the policy's string exactly; `method` likewise (`HEAD` is not implied by `GET`).
 * `caller` is the verified caller, or `null` when the request carried no credentials.
 *
 * Checks, in order: unknown service (`ERR_POLICY_UNKNOWN_SERVICE`); no rule for the method and
 * pattern (`ERR_POLICY_NO_RULE`); a `public` route allows anyone; no caller
 * (`ERR_POLICY_CALLER`); the route's `user` rule (`ERR_POLICY_DELEGATION`); `any-authenticated`
 * allows any service or delegated caller; a user caller needs a `{ users: true }` entry, any
 * other an entry for its SPIFFE ID, which for a delegated call is the acting service
 * (`ERR_POLICY_CALLER`); the entry's delegation mode (`ERR_POLICY_DELEGATION`); a required scope
 * missing (`ERR_POLICY_SCOPE`); the route's tenant rule (`ERR_POLICY_TENANT`), which reads
 * `params` (Fastify's `request.params`) for `tenant: { param }`.
 *
 * Throws `ERR_POLICY_INVALID` if `policy` did not come from `compilePolicy`.
 *
 * @example
 * ```ts
 * const decision = evaluate(policy, request.caller, 'billing', 'POST', '/invoices');
 * if (!decision.allow) throw new TesseraError(decision.code);
 * ```
 */
export function evaluate(
  policy: Policy,
  caller: Caller | null,
  service: string,
  method: string,
  routePattern: string,
  params?: RouteParams,
): PolicyDecision {
  const found = findRoute(policy, service, method, routePattern);
  if ('code' in found) return found;
  const { route, decision } = found;
  if (route.access === 'public') return decision;
  if (caller === null) return DENY_CALLER;
  if (!userModeAllows(route, caller)) return DENY_DELEGATION;
  if (route.access === 'callers') {
    if (caller.kind === 'user') {
      // End users are admitted only by an explicit `{ users: true }` entry.
      const users = route.users;
      if (users === undefined) return DENY_CALLER;
      if (!hasScopes(users.scopes, caller)) return DENY_SCOPE;
    } else {
      const entry = found.callers.get(caller.spiffeId);
      if (entry === undefined) return DENY_CALLER;
      if (!delegationAllows(entry, caller)) return DENY_DELEGATION;
      if (!hasScopes(entry.scopes, caller)) return DENY_SCOPE;
    }
  } else if (caller.kind === 'user') {
    // `any-authenticated` predates end users at the edge: it means any workload caller.
    return DENY_CALLER;
  }
  if (!tenantAllows(route, caller, params)) return DENY_TENANT;
  return decision;
}

/**
 * True when the route admits end users (`{ users: true }` in its allow list), so the Fastify
 * plugin verifies the external issuer's tokens there. False for unknown services and routes.
 */
export function admitsUsers(
  policy: Policy,
  service: string,
  method: string,
  routePattern: string,
): boolean {
  const found = findRoute(policy, service, method, routePattern);
  return !('code' in found) && found.route.access === 'callers' && found.route.users !== undefined;
}

/**
 * True when the route is `public: true`, so the Fastify plugin can skip authentication for it.
 * False for unknown services and routes (deny by default).
 */
export function isPublicRoute(
  policy: Policy,
  service: string,
  method: string,
  routePattern: string,
): boolean {
  const found = findRoute(policy, service, method, routePattern);
  return !('code' in found) && found.route.access === 'public';
}

/**
 * The rules of one service (by name or SPIFFE ID), for tooling; `undefined` when the policy
 * does not declare it.
 */
export function routesOf(policy: Policy, service: string): readonly PolicyRoute[] | undefined {
  return servicesOf(policy).get(service)?.service.routes;
}
