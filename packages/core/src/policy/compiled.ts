import { TesseraError } from '../errors.ts';
import type { TesseraErrorCode } from '../errors.ts';
import type { DelegationMode, HttpMethod, UserMode } from './schema.ts';

/** One caller admitted on a route, resolved to the SPIFFE ID its token must carry. */
export interface PolicyAllowEntry {
  /** The calling service's name, as declared under `services`. */
  readonly service: string;
  /** `spiffe://<trust-domain>/<service>`, compared as an exact string with `Caller.spiffeId`. */
  readonly spiffeId: string;
  /**
   * Every one of these must be among the caller's granted scopes. Empty when the entry names no
   * scopes: the caller is admitted on its verified identity alone (token or certificate).
   */
  readonly scopes: readonly string[];
  readonly delegated: DelegationMode;
}

/** The entry admitting end users (`kind: 'user'` callers of the external issuer) on a route. */
export interface PolicyUsersEntry {
  readonly users: true;
  /** Every one of these must be among the user token's scopes. */
  readonly scopes: readonly string[];
}

/**
 * Which tenants may call a route: the caller's `tenant` must equal the named path parameter's
 * value, or be one of `in`. A caller without a tenant never matches.
 */
export type PolicyTenantRule = { readonly param: string } | { readonly in: readonly string[] };

interface PolicyRouteBase {
  /** The service that exposes the route. */
  readonly service: string;
  readonly method: HttpMethod;
  /** The Fastify route pattern, matched as an exact string against `routeOptions.url`. */
  readonly path: string;
  /** Whether a user must (or must not) be behind the call; `allowed` when the document is silent. */
  readonly user: UserMode;
  readonly tenant?: PolicyTenantRule;
}

/**
 * A compiled route rule: `public` needs no caller, `any-authenticated` needs any verified caller,
 * `callers` needs one of `allow`.
 */
export type PolicyRoute =
  | (PolicyRouteBase & { readonly access: 'public' })
  | (PolicyRouteBase & { readonly access: 'any-authenticated' })
  | (PolicyRouteBase & {
      readonly access: 'callers';
      readonly allow: readonly PolicyAllowEntry[];
      /** Present when end users of the external issuer are admitted (`{ users: true }`). */
      readonly users?: PolicyUsersEntry;
    });

/** A declared service and the routes it exposes (none for a pure client). */
export interface PolicyService {
  readonly name: string;
  readonly spiffeId: string;
  readonly routes: readonly PolicyRoute[];
}

/**
 * A validated, deeply frozen policy. Only `compilePolicy` (or `parsePolicy`) makes
 * one; `evaluate` refuses look-alike objects, so a policy cannot be forged or edited after
 * it was checked.
 */
export interface Policy {
  readonly version: 1;
  readonly trustDomain: string;
  /** Declared services in document order. */
  readonly services: readonly PolicyService[];
}

/** The decision for an allowed request; precomputed per route so evaluation allocates nothing. */
export interface PolicyAllow {
  readonly allow: true;
  /** True when the route is `public` (no caller needed). */
  readonly public: boolean;
  readonly rule: PolicyRoute;
}

/** Reasons a request is denied, in the order `evaluate` checks them. */
export const POLICY_DENY_CODES = [
  'ERR_POLICY_UNKNOWN_SERVICE',
  'ERR_POLICY_NO_RULE',
  'ERR_POLICY_CALLER',
  'ERR_POLICY_DELEGATION',
  'ERR_POLICY_SCOPE',
  'ERR_POLICY_TENANT',
] as const satisfies readonly TesseraErrorCode[];

/** A reason a request is denied; a `TesseraErrorCode`, ready for `new TesseraError(code)`. */
export type PolicyDenyCode = (typeof POLICY_DENY_CODES)[number];

/** The decision for a denied request. */
export interface PolicyDeny {
  readonly allow: false;
  readonly code: PolicyDenyCode;
}

/** The outcome of `evaluate`. */
export type PolicyDecision = PolicyAllow | PolicyDeny;

/** @internal A route with its precomputed decision and O(1) caller lookup. */
export interface CompiledRoute {
  readonly route: PolicyRoute;
  readonly decision: PolicyAllow;
  /** Keyed on the caller's SPIFFE ID; empty unless `route.access` is `callers`. */
  readonly callers: ReadonlyMap<string, PolicyAllowEntry>;
}

/** @internal */
export interface CompiledService {
  readonly service: PolicyService;
  /** Keyed on {@link routeKey}. */
  readonly routes: ReadonlyMap<string, CompiledRoute>;
}

/**
 * The lookup tables live outside the frozen `Policy` because `Object.freeze` does not freeze a
 * `Map`'s entries: kept here, no holder of a `Policy` can add a route to it.
 */
const indexes = new WeakMap<Policy, ReadonlyMap<string, CompiledService>>();

/** @internal The lookup key of a route: a method never contains a space and a path never does. */
export function routeKey(method: string, path: string): string {
  return `${method} ${path}`;
}

/** @internal Registers the lookup table of a freshly compiled policy. */
export function registerPolicy(
  policy: Policy,
  services: ReadonlyMap<string, CompiledService>,
): void {
  indexes.set(policy, services);
}

/**
 * @internal The lookup table (keyed on service name and on SPIFFE ID) of a compiled policy.
 * Throws `ERR_POLICY_INVALID` for anything `compilePolicy` did not return.
 */
export function servicesOf(policy: Policy): ReadonlyMap<string, CompiledService> {
  const services = indexes.get(policy);
  if (services === undefined) {
    throw new TesseraError('ERR_POLICY_INVALID', 'not a policy returned by compilePolicy');
  }
  return services;
}
