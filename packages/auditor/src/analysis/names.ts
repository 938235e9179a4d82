/**
 * Vocabulary shared by the analyses: which names look like secrets or tokens, and which headers
 * carry identity or "internal" markers that a network attacker can simply send.
 */

const SECRET_WORDS =
  /(secret|passw(or)?d|passwd|pwd|api[-_]?key|apikey|private[-_]?key|access[-_]?key|client[-_]?secret|credential|auth[-_]?token|internal[-_]?token|service[-_]?token|bearer|signing[-_]?key|hmac[-_]?key|jwt[-_]?key)/i;
const TOKEN_WORDS = /(token|jwt|bearer|authorization|assertion|session[-_]?id|cookie)/i;
/** Names that contain a secret word but name something that is not a secret value. */
const NOT_A_SECRET =
  /(secret|password|token|key)s?[-_]?(name|path|file|id|arn|ttl|length|len|header|field|type|url|uri|prefix|env|version|manager|provider|client|service|store|cache|source|count|ms|seconds|expiry|expires|expiration|rotation|policy|regex|pattern|schema)$/i;

/** Does an identifier or property name look like it holds a secret value? */
export function isSecretName(name: string): boolean {
  return SECRET_WORDS.test(name) && !NOT_A_SECRET.test(name);
}

/** Does an identifier or property name look like it holds a bearer credential? */
export function isTokenName(name: string): boolean {
  return (TOKEN_WORDS.test(name) || isSecretName(name)) && !NOT_A_SECRET.test(name);
}

/**
 * Headers that set caller identity or tenant: trusting them from the network lets anyone be
 * anyone (seed audit 001's `x-gateway-internal`, review 004's `X-User-ID`).
 */
export const IDENTITY_HEADERS: readonly string[] = [
  'x-user-id',
  'x-userid',
  'x-tenant-id',
  'x-tenant',
  'x-service-id',
  'x-service-name',
  'x-caller',
  'x-caller-id',
  'x-forwarded-user',
  'x-authenticated-user',
  'x-remote-user',
  'x-auth-user',
  'x-user',
  'x-client-id',
  'x-organization-id',
  'x-org-id',
  'x-account-id',
];

/** Static "this came from inside" markers: proof of nothing. */
export const INTERNAL_MARKER_HEADERS: readonly string[] = [
  'x-gateway-internal',
  'x-internal',
  'x-internal-request',
  'x-internal-call',
  'x-internal-service',
  'x-from-gateway',
  'x-is-internal',
  'x-trusted',
];

/** Shared static secrets sent as headers (review 004's `X-INTERNAL-TOKEN`). */
export const STATIC_SECRET_HEADERS: readonly string[] = [
  'x-internal-token',
  'x-service-token',
  'x-api-key',
  'x-internal-secret',
  'x-service-secret',
  'x-auth-token',
  'x-shared-secret',
];

/** Trace and correlation headers whose propagation SC10/OR8 look for. */
export const TRACE_HEADERS: readonly string[] = [
  'traceparent',
  'tracestate',
  'x-correlation-id',
  'x-request-id',
  'b3',
  'x-b3-traceid',
];

export const isHeader = (list: readonly string[], name: string): boolean =>
  list.includes(name.toLowerCase());
