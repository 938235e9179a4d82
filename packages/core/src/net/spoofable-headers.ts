/**
 * Request headers that, in the audited platform, were trusted to say who the caller is or that
 * a request came from inside: `x-gateway-internal: true` let anyone in (seed audit 001), and
 * `x-user-id` / `x-service-name` let anyone be anyone (review 004). A client can send any of
 * them, so a service that authenticates callers by token or certificate removes them before a
 * handler can read them. Lower-case, as Node.js exposes header names.
 *
 * This is the one list: `@tessera/fastify` strips these by default (`DEFAULT_SPOOFABLE_HEADERS`
 * is this array), and `@tessera/auditor` counts them as removed wherever that plugin is
 * registered without its own `spoofableHeaders`.
 *
 * @example
 * ```ts
 * import { SPOOFABLE_HEADERS } from '@tessera/core';
 *
 * for (const name of SPOOFABLE_HEADERS) delete request.headers[name];
 * ```
 */
export const SPOOFABLE_HEADERS: readonly string[] = Object.freeze([
  'x-gateway-internal',
  'x-internal-token',
  'x-internal-service',
  'x-user-id',
  'x-tenant-id',
  'x-service-id',
  'x-service-name',
  'x-forwarded-user',
  'x-authenticated-user',
]);
