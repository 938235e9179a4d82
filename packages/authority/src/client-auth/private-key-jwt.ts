import {
  DEFAULT_MAX_TOKEN_BYTES,
  signingAlgorithmOf,
  isTesseraError,
  parseJwks,
  parseWorkloadId,
  TesseraError,
  verifyCompactJws,
  type Clock,
  type KeySet,
  type TesseraErrorCode,
} from '@tessera/core';
import type { ServiceRecord, Store } from '../store/types.ts';

/**
 * `private_key_jwt` client authentication: a JWT the client signs with its registered key,
 * sent as `client_assertion` (RFC 7523 §2.2, §3; RFC 7521 §4.2).
 */

/** RFC 7523 §2.2: the `client_assertion_type` this verifier handles. */
export const CLIENT_ASSERTION_TYPE_JWT_BEARER =
  'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * Why a client assertion was refused. For logs and audit events only: the client is told
 * `invalid_client` whatever the reason (RFC 6749 §5.2).
 */
export type ClientAuthFailure =
  /** Not a compact JWS with JSON header and claims, or a claim of the wrong type. */
  | 'malformed'
  /** Longer than 8 KB. */
  | 'too_large'
  /** A header parameter other than `alg`, `kid`, `typ` (`jwk`, `jku`, `x5c`, `crit`, `cty`...), or a `typ` other than JWT. */
  | 'header_not_allowed'
  /** `alg` is not ES256 or EdDSA, or differs from the registered key's. */
  | 'alg_not_allowed'
  /** No `kid`, or one not in the client's registered JWKS. */
  | 'kid_unknown'
  | 'bad_signature'
  /** `iss` is not the SPIFFE ID of a registered service. */
  | 'unknown_client'
  | 'client_disabled'
  /** `iss` ≠ `sub`, or the request's `client_id` parameter names another client. */
  | 'client_id_mismatch'
  /** `aud` is not the issuer identifier as a single string (an array, even `[issuer]`, is refused). */
  | 'wrong_audience'
  | 'expired'
  /** `nbf` or `iat` in the future. */
  | 'not_yet_valid'
  /** `exp` further ahead than the maximum assertion lifetime, or `exp - iat` longer than it. */
  | 'lifetime_too_long'
  | 'jti_missing'
  /** This client already used this `jti` and the assertion has not expired. */
  | 'replayed';

export const CLIENT_AUTH_FAILURES: readonly ClientAuthFailure[] = Object.freeze([
  'malformed',
  'too_large',
  'header_not_allowed',
  'alg_not_allowed',
  'kid_unknown',
  'bad_signature',
  'unknown_client',
  'client_disabled',
  'client_id_mismatch',
  'wrong_audience',
  'expired',
  'not_yet_valid',
  'lifetime_too_long',
  'jti_missing',
  'replayed',
]);

/**
 * A refused client assertion. `reason` and `detail` are built from safe values only: never the
 * assertion, its signature or its claims beyond the claimed client ID.
 */
export class ClientAuthError extends Error {
  override readonly name = 'ClientAuthError';
  readonly reason: ClientAuthFailure;
  readonly detail: string | undefined;
  /** The `iss` the assertion claimed, once it parsed as a SPIFFE ID. Unverified unless `reason` is about claims checked after the signature. */
  readonly claimedClientId: string | undefined;

  constructor(reason: ClientAuthFailure, detail?: string, claimedClientId?: string) {
    super(
      detail === undefined
        ? `client authentication failed: ${reason}`
        : `client authentication failed: ${reason}: ${detail}`,
    );
    this.reason = reason;
    this.detail = detail;
    this.claimedClientId = claimedClientId;
  }
}

export function isClientAuthError(value: unknown): value is ClientAuthError {
  return value instanceof ClientAuthError;
}

/** The part of the {@link Store} client authentication uses. */
export type ClientAssertionStore = Pick<Store, 'getService' | 'rememberAssertion'>;

export interface ClientAssertionOptions {
  /** The authority's issuer identifier (RFC 8414): the one `aud` accepted. */
  readonly issuer: string;
  readonly store: ClientAssertionStore;
  readonly clock: Clock;
  /** How far ahead `exp` may be. Default 300. */
  readonly maxAssertionLifetimeSeconds?: number;
  /** Leeway for `exp`, `nbf`, `iat`. Default 5, at most 60. */
  readonly clockToleranceSeconds?: number;
  /** The request's `client_id` parameter, when it carried one: it must equal `iss`. */
  readonly clientIdFromRequest?: string | undefined;
}

export interface VerifiedClientAssertion {
  /** The authenticated client. */
  readonly service: ServiceRecord;
  readonly jti: string;
  /** The client key that signed the assertion. */
  readonly kid: string;
}

const DEFAULT_MAX_ASSERTION_LIFETIME_SECONDS = 300;
const MAX_ASSERTION_LIFETIME_SECONDS = 3600;
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
const MAX_CLOCK_TOLERANCE_SECONDS = 60;
const MAX_JTI_LENGTH = 256;

const ALLOWED_HEADER = new Set(['alg', 'kid', 'typ']);
/**
 * `typ` values accepted, compared case-insensitively without `application/` (RFC 7515 §4.1.9):
 * none, `JWT` (RFC 7519 §5.1), and `client-authentication+jwt`, the explicit type registered by
 * the update to RFC 7523 (draft-ietf-oauth-rfc7523bis) so an assertion cannot pass for another
 * kind of JWT. Everything else — `at+jwt` above all — is some other token.
 */
const ALLOWED_TYP = new Set(['jwt', 'client-authentication+jwt']);
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function fail(reason: ClientAuthFailure, detail?: string, clientId?: string): ClientAuthError {
  return new ClientAuthError(reason, detail, clientId);
}

function config(detail: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', detail);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Strict, canonical base64url JSON object (the same rules core applies to access tokens). */
function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) {
    throw fail('malformed', `${what} is not base64url`);
  }
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment) {
    throw fail('malformed', `${what} is not canonical base64url`);
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw fail('malformed', `${what} is not JSON`);
  }
  if (!isRecord(value)) throw fail('malformed', `${what} is not a JSON object`);
  return value;
}

/**
 * Header rules, checked before anything is looked up so header attacks are reported as such:
 * RFC 8725 §3.1 (algorithm allowlist), §3.10 (no key material or key URLs from the token),
 * §3.11 (explicit typing).
 */
function checkHeader(header: Record<string, unknown>): void {
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADER.has(name)) {
      // Names from a fixed list only: an arbitrary header name is attacker-chosen text.
      const shown = ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'crit', 'cty', 'b64', 'zip', 'enc'];
      throw fail(
        'header_not_allowed',
        shown.includes(name) ? `"${name}" is not allowed` : 'unknown header parameter',
      );
    }
  }
  if (signingAlgorithmOf(header.alg) === undefined) {
    throw fail('alg_not_allowed', 'only ES256 and EdDSA are allowed');
  }
  const { kid, typ } = header;
  if (typ !== undefined) {
    const normalised =
      typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : undefined;
    if (normalised === undefined || !ALLOWED_TYP.has(normalised)) {
      throw fail('header_not_allowed', '"typ" is not JWT');
    }
  }
  if (kid === undefined) throw fail('kid_unknown', 'no "kid" header');
  if (typeof kid !== 'string' || kid === '' || kid.length > 256) {
    throw fail('malformed', '"kid" is not a non-empty string');
  }
}

/** Maps core's JWS refusals to client-auth reasons. */
const JWS_FAILURES: Partial<Record<TesseraErrorCode, ClientAuthFailure>> = {
  ERR_TOKEN_TOO_LARGE: 'too_large',
  ERR_TOKEN_HEADER: 'header_not_allowed',
  ERR_TOKEN_TYP: 'header_not_allowed',
  ERR_TOKEN_ALG: 'alg_not_allowed',
  ERR_TOKEN_KID_MISSING: 'kid_unknown',
  ERR_TOKEN_KID_UNKNOWN: 'kid_unknown',
  ERR_TOKEN_SIGNATURE: 'bad_signature',
};

function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw fail('malformed', `"${name}" is not a NumericDate`);
  }
  return value;
}

/**
 * The audience rule of the update to RFC 7523 (draft-ietf-oauth-rfc7523bis §3, adopted by the
 * review's finding 7): `aud` is the authorization server's issuer identifier as its sole value,
 * a JSON string and not an array, compared as a simple string (RFC 3986 §6.2.1). RFC 7523 itself
 * let any array that contains "us" through, and the token endpoint URL too: an assertion a client
 * made for one server (or for several at once) could then be replayed to another that shares
 * one of its audience values. The token endpoint URL is refused as well (the draft says it MUST
 * NOT be used); FAPI 2.0 asks clients for the issuer as a string. Clients that send an array
 * (openid-client 5) or the token endpoint must be configured to send the issuer.
 */
function audienceIsIssuer(aud: unknown, issuer: string): boolean {
  return typeof aud === 'string' && aud === issuer;
}

/** The registered service a client ID names, or undefined. Client IDs are `spiffe://<td>/<name>`. */
async function lookUpClient(
  clientId: string,
  store: ClientAssertionStore,
): Promise<ServiceRecord | undefined> {
  let path: string;
  try {
    path = parseWorkloadId(clientId).path;
  } catch {
    return undefined;
  }
  const name = path.slice(1);
  if (name.includes('/')) return undefined;
  const service = await store.getService(name);
  // The record's SPIFFE ID, not just its name, must match: this also pins the trust domain.
  return service?.spiffeId === clientId ? service : undefined;
}

/**
 * Parsed client key sets, keyed on the JWKS text: importing keys (createPublicKey) on every
 * token request was a measurable share of the token endpoint's cost. Keyed on content, so a
 * re-registered key set is parsed afresh; bounded, and cleared when full.
 */
const parsedClientKeys = new Map<string, KeySet>();
const MAX_PARSED_CLIENT_KEY_SETS = 1024;

/** The same record object (the registry cache hands one out for a second) skips even the key. */
const keysOfRecord = new WeakMap<ServiceRecord, KeySet>();

function clientKeys(service: ServiceRecord): KeySet {
  const known = keysOfRecord.get(service);
  if (known !== undefined) return known;
  const keys = clientKeysByContent(service);
  keysOfRecord.set(service, keys);
  return keys;
}

function clientKeysByContent(service: ServiceRecord): KeySet {
  const text = JSON.stringify(service.jwks);
  const cached = parsedClientKeys.get(text);
  if (cached !== undefined) return cached;
  try {
    const keys = parseJwks(service.jwks);
    if (parsedClientKeys.size >= MAX_PARSED_CLIENT_KEY_SETS) parsedClientKeys.clear();
    parsedClientKeys.set(text, keys);
    return keys;
  } catch {
    // Registration validates the JWKS; a record that fails now was altered in the store.
    throw new TesseraError('ERR_JWKS_INVALID', `registered JWKS of service ${service.name}`);
  }
}

function validatedOptions(options: ClientAssertionOptions): {
  issuer: string;
  maxLifetime: number;
  tolerance: number;
} {
  const { issuer, store, clock } = options;
  if (typeof issuer !== 'string' || issuer === '') throw config('issuer is required');
  if (typeof store !== 'object' || typeof store.rememberAssertion !== 'function') {
    throw config('store is required');
  }
  if (typeof clock !== 'object' || typeof clock.now !== 'function')
    throw config('clock is required');
  const maxLifetime = options.maxAssertionLifetimeSeconds ?? DEFAULT_MAX_ASSERTION_LIFETIME_SECONDS;
  if (
    !Number.isSafeInteger(maxLifetime) ||
    maxLifetime < 1 ||
    maxLifetime > MAX_ASSERTION_LIFETIME_SECONDS
  ) {
    throw config(`maxAssertionLifetimeSeconds must be 1..${MAX_ASSERTION_LIFETIME_SECONDS}`);
  }
  const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (
    !Number.isSafeInteger(tolerance) ||
    tolerance < 0 ||
    tolerance > MAX_CLOCK_TOLERANCE_SECONDS
  ) {
    throw config(`clockToleranceSeconds must be 0..${MAX_CLOCK_TOLERANCE_SECONDS}`);
  }
  return { issuer, maxLifetime, tolerance };
}

/**
 * Verifies a `private_key_jwt` client assertion and returns the authenticated service.
 *
 * Checks, in order: size (8 KB); compact JWS with a strict header (only `alg`, `kid`, `typ`;
 * `alg` ES256 or EdDSA; `kid` required; `typ` absent or JWT); `iss` = `sub` = the request's
 * `client_id` (when sent) = the SPIFFE ID of a registered, enabled service; signature by a key
 * of that service's registered JWKS; `aud` the issuer, as a string; `exp` present, not
 * past, at most `maxAssertionLifetimeSeconds` ahead; `nbf`/`iat` not in the future; `jti`
 * present. Last, and only once everything else passed, the `jti` is recorded until the assertion
 * expires, so a replay fails while nobody without the client's key can burn its `jti`s.
 *
 * Throws {@link ClientAuthError} with a `reason` for the log; answer the client `invalid_client`
 * whatever it is. Store failures and bad options propagate as they are (fail closed).
 *
 * @example
 * ```ts
 * const { service } = await verifyClientAssertion(body.client_assertion, {
 *   issuer: 'http://127.0.0.1:7700',
 *   store,
 *   clock: systemClock,
 *   clientIdFromRequest: body.client_id,
 * });
 * ```
 */
export async function verifyClientAssertion(
  assertion: string,
  options: ClientAssertionOptions,
): Promise<VerifiedClientAssertion> {
  const { issuer, maxLifetime, tolerance } = validatedOptions(options);
  if (typeof assertion !== 'string' || assertion === '') throw fail('malformed', 'empty');
  if (assertion.length > DEFAULT_MAX_TOKEN_BYTES) throw fail('too_large');
  const segments = assertion.split('.');
  // Compact serialization only: no JWS JSON serialization, no JWE (five segments).
  if (segments.length !== 3) throw fail('malformed', 'not a compact JWS');
  const [headerSegment = '', payloadSegment = '', signatureSegment = ''] = segments;
  if (signatureSegment === '') throw fail('malformed', 'no signature');
  checkHeader(decodeJsonObject(headerSegment, 'header'));
  const claims = decodeJsonObject(payloadSegment, 'payload');

  // Who claims to be calling. Unverified until the signature checks out; used only to pick keys.
  const { iss, sub } = claims;
  if (typeof iss !== 'string' || iss === '') throw fail('malformed', '"iss" is required');
  if (typeof sub !== 'string' || sub === '') throw fail('malformed', '"sub" is required');
  const service = await lookUpClient(iss, options.store);
  if (service === undefined) throw fail('unknown_client', 'no registered service has this ID');
  const clientId = service.spiffeId;
  // RFC 7523 §3 items 1-2: iss and sub are both the client_id.
  if (sub !== clientId) throw fail('client_id_mismatch', '"sub" differs from "iss"', clientId);
  if (options.clientIdFromRequest !== undefined && options.clientIdFromRequest !== clientId) {
    throw fail('client_id_mismatch', 'the client_id parameter differs from "iss"', clientId);
  }
  if (!service.enabled) throw fail('client_disabled', undefined, clientId);

  let kid: string;
  try {
    kid = verifyCompactJws(assertion, clientKeys(service), {
      maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    }).header.kid;
  } catch (error) {
    if (!isTesseraError(error) || error.code === 'ERR_JWKS_INVALID') throw error;
    throw fail(JWS_FAILURES[error.code] ?? 'malformed', error.detail, clientId);
  }

  if (!audienceIsIssuer(claims.aud, issuer)) {
    throw fail(
      'wrong_audience',
      Array.isArray(claims.aud)
        ? '"aud" is an array; send the issuer as a single string'
        : '"aud" is not the issuer',
      clientId,
    );
  }
  const now = options.clock.now() / 1000;
  const exp = numericDate(claims, 'exp');
  // RFC 7523 §3 item 4: exp is required.
  if (exp === undefined) throw fail('malformed', '"exp" is required', clientId);
  if (now >= exp + tolerance) throw fail('expired', undefined, clientId);
  if (exp - now > maxLifetime + tolerance) {
    throw fail('lifetime_too_long', `"exp" is more than ${maxLifetime} s ahead`, clientId);
  }
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && nbf > now + tolerance) {
    throw fail('not_yet_valid', '"nbf" is in the future', clientId);
  }
  const iat = numericDate(claims, 'iat');
  if (iat !== undefined) {
    if (iat > now + tolerance) throw fail('not_yet_valid', '"iat" is in the future', clientId);
    if (exp - iat > maxLifetime) {
      throw fail('lifetime_too_long', `"exp" - "iat" exceeds ${maxLifetime} s`, clientId);
    }
  }
  const jti = claims.jti;
  if (jti === undefined || jti === '') throw fail('jti_missing', undefined, clientId);
  if (typeof jti !== 'string' || jti.length > MAX_JTI_LENGTH) {
    throw fail(
      'malformed',
      `"jti" must be a string of at most ${MAX_JTI_LENGTH} characters`,
      clientId,
    );
  }

  // RFC 7523 §3 item 7. Remembered for as long as the assertion could be accepted (exp plus the
  // tolerance); the newline cannot occur in a SPIFFE ID, so (client, jti) pairs never collide.
  const fresh = await options.store.rememberAssertion(
    `${clientId}\n${jti}`,
    Math.ceil(exp + tolerance),
  );
  if (!fresh) throw fail('replayed', undefined, clientId);
  return { service, jti, kid };
}
