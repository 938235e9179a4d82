import type { Clock } from '../clock.ts';
import { TesseraError } from '../errors.ts';
import type { KeyResolver } from '../keys/jwks.ts';
import {
  DEFAULT_USER_TOKEN_ALGORITHMS,
  isUserTokenAlgorithm,
  type UserTokenAlgorithm,
} from '../keys/user-algorithms.ts';
import type { UserVerificationKey } from '../keys/user-jwks.ts';
import { VerifiedTokenCache } from './cache.ts';
import type { UserCaller } from './caller.ts';
import { DEFAULT_MAX_TOKEN_BYTES, parsePayloadObject } from './jws.ts';
import { parseScope } from './scope.ts';
import { checkUserSignature, prepareUserJws } from './user-jws.ts';
import { DEFAULT_CLOCK_TOLERANCE_SECONDS, MAX_CLOCK_TOLERANCE_SECONDS } from './verify.ts';

/** The largest `maxTokenBytes` a user-token verifier accepts (64 KiB). */
const MAX_USER_TOKEN_BYTES = 64 * 1024;

export interface UserTokenVerifierOptions {
  /** The external OpenID issuer (`iss`), compared exactly. */
  readonly issuer: string;
  /** The audience this edge expects in `aud` (a string, or one member of an array). */
  readonly audience: string;
  /** The issuer's keys (`parseUserJwks`, a {@link KeySet}, or a remote JWKS cache). */
  readonly keys: KeyResolver<UserVerificationKey>;
  readonly clock: Clock;
  /**
   * Accepted `alg`s, a non-empty subset of {@link USER_TOKEN_ALGORITHMS} (RS, PS and ES 256–512,
   * EdDSA). Default RS256, ES256 and EdDSA.
   */
  readonly algorithms?: readonly UserTokenAlgorithm[];
  /** The claim that names the user's tenant. Default `tenant_id`. */
  readonly tenantClaim?: string;
  /** Seconds of leeway for `exp`/`nbf`/`iat`. Default 5, at most 30. */
  readonly clockTolerance?: number;
  /** A cache, or `false`. Default: a private cache with default bounds. */
  readonly cache?: VerifiedTokenCache | false;
  /** Longer tokens are refused before parsing (`ERR_TOKEN_TOO_LARGE`). Default 8192, at most 65536. */
  readonly maxTokenBytes?: number;
}

/** Verifies end-user tokens of one external OpenID issuer (ID tokens or JWT access tokens). */
export interface UserTokenVerifier {
  readonly issuer: string;
  verify(token: string): UserCaller;
  /**
   * The checks of {@link verify} up to and including `iat` (signature, `iss`, `aud`, `exp`,
   * `nbf`, `iat`), returning the verified claims without reading `sub`, `scope` or the tenant
   * claim: for callers with their own rules on those, like the authority's token exchange. Never
   * cached.
   */
  verifyClaims(token: string): Readonly<Record<string, unknown>>;
}

function config(detail: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', `users: ${detail}`);
}

function claimsError(detail: string): TesseraError {
  return new TesseraError('ERR_TOKEN_CLAIMS', detail);
}

function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw claimsError(`"${name}" must be a NumericDate`);
  }
  return value;
}

function optionalString(claims: Record<string, unknown>, name: string, max: number): string {
  const value = claims[name];
  if (value === undefined) return '';
  if (typeof value !== 'string' || value === '' || value.length > max) {
    throw claimsError(`"${name}" must be a non-empty string`);
  }
  return value;
}

/**
 * Creates the verifier for tokens of an external OpenID provider, used by the plugin at the edge
 * and by the authority's token exchange. Synchronous, on node:crypto. The RFC 8725 rules apply:
 * allowlisted public-key algorithms only (never `none` or HMAC), the `alg` must fit the key (RSA
 * keys of at least 2048 bits for RS/PS, the matching curve for ES, Ed25519 for EdDSA, and the
 * JWK's own `alg` when it has one), `kid` required and resolved in the issuer's keys, no
 * `jku`/`jwk`/`x5u`/`x5c`/`crit`/`b64`/`zip`, a size limit; then `iss` (exact), `aud` (contains
 * `audience`), `exp` (required), `nbf`, `iat`, `sub`. Any `typ` is accepted: ID tokens say `JWT`,
 * RFC 9068 access tokens `at+jwt`. Other header parameters are ignored (RFC 7515 §4).
 *
 * The result is a `kind: 'user'` caller. An `act` claim is ignored: only the authority's token
 * exchange makes delegated callers, and a user token claiming otherwise stays a user.
 *
 * @example
 * ```ts
 * const users = createUserTokenVerifier({
 *   issuer: 'http://127.0.0.1:7704',
 *   audience: 'api-gateway',
 *   keys: parseUserJwks(idpJwks),
 *   clock: systemClock,
 * });
 * users.verify(token); // { kind: 'user', user: 'alice', tenant: 'acme', ... }
 * ```
 */
export function createUserTokenVerifier(options: UserTokenVerifierOptions): UserTokenVerifier {
  const { issuer, audience, keys, clock } = options;
  if (typeof issuer !== 'string' || issuer === '') throw config('issuer is required');
  if (typeof audience !== 'string' || audience === '') throw config('audience is required');
  if (typeof keys !== 'object' || typeof keys.get !== 'function')
    throw config('keys must resolve kids');
  if (typeof clock !== 'object' || typeof clock.now !== 'function')
    throw config('clock is required');
  const algorithms: unknown = options.algorithms ?? DEFAULT_USER_TOKEN_ALGORITHMS;
  if (
    !Array.isArray(algorithms) ||
    algorithms.length === 0 ||
    !algorithms.every((alg) => isUserTokenAlgorithm(alg))
  ) {
    throw config('algorithms is a non-empty list of RS, PS or ES 256/384/512 and EdDSA');
  }
  const allowed: ReadonlySet<UserTokenAlgorithm> = new Set(algorithms);
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  if (!Number.isInteger(maxTokenBytes) || maxTokenBytes < 1 || maxTokenBytes > MAX_USER_TOKEN_BYTES)
    throw config(`maxTokenBytes must be 1..${MAX_USER_TOKEN_BYTES}`);
  const tenantClaim = options.tenantClaim ?? 'tenant_id';
  if (typeof tenantClaim !== 'string' || tenantClaim === '')
    throw config('tenantClaim is a claim name');
  const tolerance = options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw config(`clockTolerance must be 0..${MAX_CLOCK_TOLERANCE_SECONDS} seconds`);
  }
  const cache = options.cache === false ? undefined : (options.cache ?? new VerifiedTokenCache());
  const owner = Object.freeze({});

  /** Signature, then `iss`, `aud`, `exp`, `nbf`, `iat`: the claims every user token must pass. */
  function verifyClaims(token: string): Record<string, unknown> {
    const prepared = prepareUserJws(token, keys, { maxTokenBytes, algorithms: allowed });
    checkUserSignature(prepared);
    const claims = parsePayloadObject(prepared.payload);
    if (claims.iss !== issuer) throw new TesseraError('ERR_TOKEN_ISSUER');
    const aud = claims.aud;
    const audienceMatches = Array.isArray(aud) ? aud.includes(audience) : aud === audience;
    if (!audienceMatches) throw new TesseraError('ERR_TOKEN_AUDIENCE');
    const exp = numericDate(claims, 'exp');
    if (exp === undefined) throw claimsError('"exp" is required');
    const iat = numericDate(claims, 'iat');
    const nbf = numericDate(claims, 'nbf');
    const now = clock.now() / 1000;
    if (now >= exp + tolerance) throw new TesseraError('ERR_TOKEN_EXPIRED');
    if (nbf !== undefined && now + tolerance < nbf)
      throw new TesseraError('ERR_TOKEN_NOT_YET_VALID');
    if (iat !== undefined && iat > now + tolerance)
      throw new TesseraError('ERR_TOKEN_ISSUED_IN_FUTURE');
    return claims;
  }

  function toCaller(claims: Record<string, unknown>): UserCaller {
    const exp = claims.exp as number;
    const iat = claims.iat as number | undefined;
    const nbf = claims.nbf as number | undefined;
    const sub = optionalString(claims, 'sub', 2048);
    if (sub === '') throw claimsError('"sub" is required');
    const jti = optionalString(claims, 'jti', 256);
    const scopeClaim = claims.scope;
    if (scopeClaim !== undefined && typeof scopeClaim !== 'string')
      throw claimsError('"scope" must be a string');
    const tenant = optionalString(claims, tenantClaim, 256);
    const caller: UserCaller = {
      kind: 'user',
      user: sub,
      scopes: Object.freeze(scopeClaim === undefined ? [] : parseScope(scopeClaim)),
      jti,
      issuer,
      issuedAt: iat ?? nbf ?? 0,
      expiresAt: exp,
      ...(tenant === '' ? {} : { tenant }),
    };
    return Object.freeze(caller);
  }

  return Object.freeze({
    issuer,
    verify(token: string): UserCaller {
      if (cache !== undefined) {
        const hit = cache.get(token);
        if (hit?.owner === owner) {
          if (clock.now() / 1000 >= hit.expiresAt + tolerance) {
            cache.delete(token);
            throw new TesseraError('ERR_TOKEN_EXPIRED');
          }
          return hit.caller as UserCaller;
        }
      }
      const caller = toCaller(verifyClaims(token));
      cache?.set(token, { owner, caller, expiresAt: caller.expiresAt });
      return caller;
    },
    verifyClaims(token: string): Readonly<Record<string, unknown>> {
      return Object.freeze(verifyClaims(token));
    },
  });
}
