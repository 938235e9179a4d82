import type { Clock } from '../clock.ts';
import { TesseraError } from '../errors.ts';
import { isSigningAlgorithm, type SigningAlgorithm } from '../keys/algorithms.ts';
import type { KeyResolver } from '../keys/jwks.ts';
import { VerifiedTokenCache } from './cache.ts';
import type { UserCaller } from './caller.ts';
import {
  checkSignature,
  DEFAULT_MAX_TOKEN_BYTES,
  parsePayloadObject,
  prepareCompactJws,
  type PreparedJws,
} from './jws.ts';
import { parseScope } from './scope.ts';
import { DEFAULT_CLOCK_TOLERANCE_SECONDS, MAX_CLOCK_TOLERANCE_SECONDS } from './verify.ts';

export interface UserTokenVerifierOptions {
  /** The external OpenID issuer (`iss`), compared exactly. */
  readonly issuer: string;
  /** The audience this edge expects in `aud` (a string, or one member of an array). */
  readonly audience: string;
  /** The issuer's keys (a {@link KeySet}, or a remote JWKS cache). */
  readonly keys: KeyResolver;
  readonly clock: Clock;
  /** Accepted `alg`s, a non-empty subset of ES256 and EdDSA. Default both. */
  readonly algorithms?: readonly SigningAlgorithm[];
  /** The claim that names the user's tenant. Default `tenant_id`. */
  readonly tenantClaim?: string;
  /** Seconds of leeway for `exp`/`nbf`/`iat`. Default 5, at most 30. */
  readonly clockTolerance?: number;
  /** A cache, or `false`. Default: a private cache with default bounds. */
  readonly cache?: VerifiedTokenCache | false;
}

/** Verifies end-user tokens of one external OpenID issuer (ID tokens or JWT access tokens). */
export interface UserTokenVerifier {
  readonly issuer: string;
  verify(token: string): UserCaller;
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
 * Creates the verifier the edge uses for tokens of an external OpenID provider. The same JWS
 * rules as for Tessera's tokens apply (RFC 8725: allowlisted algorithms only, never `none` or
 * HMAC, `kid` required and resolved in the issuer's keys, no `jku`/`jwk`/`x5u`/`crit`, size
 * limit), then `iss` (exact), `aud` (contains `audience`), `exp` (required), `nbf`, `iat`, `sub`.
 * Any `typ` is accepted: ID tokens say `JWT`, RFC 9068 access tokens `at+jwt`.
 *
 * The result is a `kind: 'user'` caller. An `act` claim is ignored: only the authority's token
 * exchange makes delegated callers, and a user token claiming otherwise stays a user.
 *
 * @example
 * ```ts
 * const users = createUserTokenVerifier({
 *   issuer: 'http://127.0.0.1:7704',
 *   audience: 'api-gateway',
 *   keys: parseJwks(idpJwks),
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
  const algorithms = options.algorithms ?? ['ES256', 'EdDSA'];
  if (
    !Array.isArray(algorithms) ||
    algorithms.length === 0 ||
    !algorithms.every((alg) => isSigningAlgorithm(alg))
  ) {
    throw config('algorithms is a non-empty list of ES256 and EdDSA');
  }
  const allowed = new Set<string>(algorithms);
  const tenantClaim = options.tenantClaim ?? 'tenant_id';
  if (typeof tenantClaim !== 'string' || tenantClaim === '')
    throw config('tenantClaim is a claim name');
  const tolerance = options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw config(`clockTolerance must be 0..${MAX_CLOCK_TOLERANCE_SECONDS} seconds`);
  }
  const cache = options.cache === false ? undefined : (options.cache ?? new VerifiedTokenCache());
  const owner = Object.freeze({});

  function validate(prepared: PreparedJws): UserCaller {
    if (!allowed.has(prepared.header.alg)) throw new TesseraError('ERR_TOKEN_ALG');
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
      const prepared = prepareCompactJws(token, keys, { maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES });
      checkSignature(prepared);
      const caller = validate(prepared);
      cache?.set(token, { owner, caller, expiresAt: caller.expiresAt });
      return caller;
    },
  });
}
