export { parsePolicy, compilePolicy } from './load.ts';
export { evaluate, isPublicRoute, admitsUsers, routesOf, type RouteParams } from './evaluate.ts';
export { policySchema, HTTP_METHODS, DELEGATION_MODES, USER_MODES } from './schema.ts';
export type { PolicyDocument, HttpMethod, DelegationMode, UserMode } from './schema.ts';
export { MAX_POLICY_BYTES, MAX_POLICY_NESTING, MAX_YAML_ALIASES } from './decode.ts';
export type { PolicyFormat } from './decode.ts';
export { POLICY_DENY_CODES } from './compiled.ts';
export type {
  Policy,
  PolicyService,
  PolicyRoute,
  PolicyAllowEntry,
  PolicyUsersEntry,
  PolicyTenantRule,
  PolicyDecision,
  PolicyAllow,
  PolicyDeny,
  PolicyDenyCode,
} from './compiled.ts';
