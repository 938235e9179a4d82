import { randomUUID } from 'node:crypto';
import { epochSeconds, type Clock } from '../clock.ts';
import { TesseraError } from '../errors.ts';
import type { SigningKey } from '../keys/jwk.ts';
import { parseWorkloadId } from '../spiffe/id.ts';
import {
  ACCESS_TOKEN_TYP,
  DEFAULT_TOKEN_LIFETIME_SECONDS,
  MAX_TOKEN_LIFETIME_SECONDS,
  type AccessTokenClaims,
  type ActorClaim,
} from './claims.ts';
import { encodeBase64Url } from '../encoding/base64url.ts';
import { signWithEncodedHeader } from './jws.ts';
import { isScopeToken } from './scope.ts';

export interface MintAccessTokenInput {
  /** The authority's issuer identifier (`iss`). */
  readonly issuer: string;
  /** The calling service's SPIFFE ID, or the user when `actor` is set. */
  readonly subject: string;
  /** The one target service's SPIFFE ID (`aud`). */
  readonly audience: string;
  readonly scopes?: readonly string[];
  /** Set for delegated tokens (RFC 8693 token exchange): the service acting for `subject`. */
  readonly actor?: string;
  /** With `actor`: the actors before it (RFC 8693 §4.1), nested under the new `act`. */
  readonly previousActors?: ActorClaim;
  /** With `actor`: `user_iss`, the issuer that vouched for the user in `subject`. */
  readonly userIssuer?: string;
  /** `tenant_id`, only from a verified user token. */
  readonly tenantId?: string;
  /** Binds the token to a client certificate (RFC 8705 §3.1, `cnf.x5t#S256`). */
  readonly certificateThumbprint?: string;
  /** Default 300, at most 3600. */
  readonly lifetimeSeconds?: number;
  /** Defaults to a random UUID. */
  readonly jti?: string;
}

export interface MintedAccessToken {
  readonly token: string;
  readonly claims: AccessTokenClaims;
}

// The header is the same for every token a key signs: encode it once per key rather than on
// every mint (a JSON.stringify and a base64url pass that showed up in the core.mint profile).
const encodedHeaders = new WeakMap<SigningKey, string>();

function accessTokenHeader(key: SigningKey): string {
  let encoded = encodedHeaders.get(key);
  if (encoded === undefined) {
    encoded = encodeBase64Url(
      JSON.stringify({ alg: key.alg, typ: ACCESS_TOKEN_TYP, kid: key.kid }),
    );
    encodedHeaders.set(key, encoded);
  }
  return encoded;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// The authority mints for a handful of services and audiences over and over: remember which
// strings already parsed as workload IDs (bounded; cleared when full) instead of re-parsing.
const knownWorkloadIds = new Set<string>();
const MAX_KNOWN_WORKLOAD_IDS = 1024;

function assertWorkloadId(value: string): void {
  if (knownWorkloadIds.has(value)) return;
  parseWorkloadId(value);
  if (knownWorkloadIds.size >= MAX_KNOWN_WORKLOAD_IDS) knownWorkloadIds.clear();
  knownWorkloadIds.add(value);
}

function invalid(detail: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', detail);
}

/**
 * Mints an RFC 9068 access token (`typ: at+jwt`) signed with `key`.
 *
 * @example
 * ```ts
 * const key = generateSigningKey();
 * const { token } = mintAccessToken(
 *   { issuer: 'http://127.0.0.1:7700', subject: 'spiffe://tessera.local/event-service',
 *     audience: 'spiffe://tessera.local/billing', scopes: ['invoices:write'] },
 *   { key, clock: systemClock },
 * );
 * ```
 */
export function mintAccessToken(
  input: MintAccessTokenInput,
  options: { readonly key: SigningKey; readonly clock: Clock },
): MintedAccessToken {
  if (typeof input.issuer !== 'string' || input.issuer === '') throw invalid('issuer is required');
  assertWorkloadId(input.audience);
  if (input.actor === undefined) assertWorkloadId(input.subject);
  else {
    assertWorkloadId(input.actor);
    if (typeof input.subject !== 'string' || input.subject === '')
      throw invalid('subject is required');
  }
  const lifetime = input.lifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
  if (!Number.isSafeInteger(lifetime) || lifetime < 1 || lifetime > MAX_TOKEN_LIFETIME_SECONDS) {
    throw invalid(`lifetimeSeconds must be 1..${MAX_TOKEN_LIFETIME_SECONDS}`);
  }
  const scopes = input.scopes ?? [];
  if (!scopes.every(isScopeToken) || new Set(scopes).size !== scopes.length) {
    throw invalid('scopes must be distinct RFC 6749 scope tokens');
  }
  const now = epochSeconds(options.clock);
  // Built by assignment rather than conditional spreads: this runs on every token the authority
  // issues, and the spreads showed up in the core.mint profile.
  const claims: Mutable<AccessTokenClaims> = {
    iss: input.issuer,
    sub: input.subject,
    client_id: input.actor ?? input.subject,
    aud: input.audience,
    iat: now,
    nbf: now,
    exp: now + lifetime,
    jti: input.jti ?? randomUUID(),
  };
  if (scopes.length > 0) claims.scope = scopes.join(' ');
  if (input.actor !== undefined) {
    claims.act =
      input.previousActors === undefined
        ? { sub: input.actor }
        : { sub: input.actor, act: input.previousActors };
    if (input.userIssuer !== undefined) claims.user_iss = input.userIssuer;
  }
  if (input.tenantId !== undefined) claims.tenant_id = input.tenantId;
  if (input.certificateThumbprint !== undefined) {
    claims.cnf = { 'x5t#S256': input.certificateThumbprint };
  }
  return {
    token: signWithEncodedHeader(accessTokenHeader(options.key), claims, options.key),
    claims,
  };
}
