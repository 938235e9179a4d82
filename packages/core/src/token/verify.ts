import type { Clock } from '../clock.ts';
import { TesseraError } from '../errors.ts';
import type { KeyResolver } from '../keys/jwks.ts';
import type { RevocationSet } from '../revocation/set.ts';
import { parseWorkloadId } from '../spiffe/id.ts';
import { VerifiedTokenCache } from './cache.ts';
import type { DelegatedCaller, WorkloadCaller } from './caller.ts';
import { ACCESS_TOKEN_TYP, MAX_TOKEN_LIFETIME_SECONDS } from './claims.ts';
import {
  checkSignature,
  checkSignatureAsync,
  DEFAULT_MAX_TOKEN_BYTES,
  parsePayloadObject,
  prepareCompactJws,
  type PreparedJws,
} from './jws.ts';
import { parseScope } from './scope.ts';

export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
/**
 * The most actors an `act` chain may name. The authority's own default is 3; this bound only
 * stops a token from making the verifier walk (and the audit log carry) an arbitrarily deep chain.
 */
export const MAX_ACTOR_CHAIN = 8;
export const MAX_CLOCK_TOLERANCE_SECONDS = 30;

export interface VerifierOptions {
  /** The only accepted `iss`, compared exactly. */
  readonly issuer: string;
  /** This service's SPIFFE ID: `aud` must equal it. */
  readonly audience: string;
  /** Where `kid`s are looked up (a {@link KeySet} or a JWKS cache). */
  readonly keys: KeyResolver;
  readonly clock: Clock;
  /** Seconds of leeway for `exp`/`nbf`/`iat`. Default 5, at most 30. */
  readonly clockTolerance?: number;
  /** Checked on every verification, cached or not. */
  readonly revocations?: RevocationSet;
  /** A shared cache, or `false` to verify every time. Default: a private cache with default bounds. */
  readonly cache?: VerifiedTokenCache | false;
  /** Default 8192. */
  readonly maxTokenBytes?: number;
  /** Refuse tokens whose `exp - iat` exceeds this. Default and maximum 3600. */
  readonly maxLifetimeSeconds?: number;
  /** When set, every SPIFFE ID in the token must belong to this trust domain. */
  readonly trustDomain?: string;
}

/** Verifies access tokens for one service. Create once per service; reuse for every request. */
export interface AccessTokenVerifier {
  /** Verifies synchronously (the signature check runs on the calling thread). */
  verify(token: string): WorkloadCaller;
  /**
   * Same checks, but an uncached signature check runs on libuv's thread pool, so concurrent
   * requests use every core. Cache hits resolve without leaving the event loop.
   */
  verifyAsync(token: string): Promise<WorkloadCaller>;
}

const TYP = [ACCESS_TOKEN_TYP];

function config(detail: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', detail);
}

function claimsError(detail: string): TesseraError {
  return new TesseraError('ERR_TOKEN_CLAIMS', detail);
}

function numericDate(
  claims: Record<string, unknown>,
  name: string,
  required: boolean,
): number | undefined {
  const value = claims[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw claimsError(`"${name}" must be a NumericDate`);
  }
  return value;
}

function actError(detail: string): TesseraError {
  return new TesseraError('ERR_TOKEN_ACT', detail);
}

/**
 * The actors of an RFC 8693 §4.1 `act` claim, nearest first, each a workload SPIFFE ID (of the
 * trust domain, when one is set). Members other than `sub` and `act` are ignored, as the RFC
 * allows; anything else malformed, or a chain longer than {@link MAX_ACTOR_CHAIN}, is refused.
 */
function actorChain(act: unknown, trustDomain: string | undefined): string[] {
  const actors: string[] = [];
  let link = act;
  while (link !== undefined) {
    if (actors.length === MAX_ACTOR_CHAIN) throw actError('chain is too deep');
    if (typeof link !== 'object' || link === null || Array.isArray(link)) {
      throw actError('"act" is not an object');
    }
    const { sub, act: previous } = link as Record<string, unknown>;
    if (typeof sub !== 'string') throw actError('"act" must carry "sub"');
    try {
      actors.push(parseWorkloadId(sub, trustDomain).uri);
    } catch {
      throw actError('an actor is not a workload SPIFFE ID of the trust domain');
    }
    link = previous;
  }
  return actors;
}

function requiredString(claims: Record<string, unknown>, name: string, maxLength: number): string {
  const value = claims[name];
  if (typeof value !== 'string' || value === '' || value.length > maxLength) {
    throw claimsError(`"${name}" must be a non-empty string`);
  }
  return value;
}

/**
 * Creates the verifier a service uses for every inbound access token. Options are validated
 * here, once; a bad option throws `ERR_CONFIG_INVALID`.
 *
 * Checks, in order: size; three strict base64url segments; header (only `alg`, `kid`, `typ`;
 * `alg` ES256 or EdDSA and equal to the key's; `typ` at+jwt; `kid` known); signature (64-byte raw
 * form); then claims: `iss`, `aud` (exactly this service), `exp`/`nbf`/`iat` within tolerance,
 * lifetime, `jti`, `sub`, `client_id`, `scope`, `act`; then revocation. Verified tokens are
 * cached on the whole token; a hit re-checks expiry and revocation.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({
 *   issuer: 'http://127.0.0.1:7700',
 *   audience: 'spiffe://tessera.local/billing',
 *   keys: parseJwks(jwksJson),
 *   clock: systemClock,
 * });
 * const caller = verifier.verify(token); // throws TesseraError (ERR_TOKEN_*) when refused
 * ```
 */
export function createVerifier(options: VerifierOptions): AccessTokenVerifier {
  const { issuer, audience, keys, clock, revocations, trustDomain } = options;
  if (typeof issuer !== 'string' || issuer === '') throw config('issuer is required');
  try {
    parseWorkloadId(audience, trustDomain);
  } catch {
    throw config('audience must be a workload SPIFFE ID (in the trust domain, when one is set)');
  }
  if (typeof keys !== 'object' || typeof keys.get !== 'function')
    throw config('keys must resolve kids');
  if (typeof clock !== 'object' || typeof clock.now !== 'function')
    throw config('clock is required');
  const tolerance = options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw config(`clockTolerance must be 0..${MAX_CLOCK_TOLERANCE_SECONDS} seconds`);
  }
  const maxLifetime = options.maxLifetimeSeconds ?? MAX_TOKEN_LIFETIME_SECONDS;
  if (
    !Number.isFinite(maxLifetime) ||
    maxLifetime <= 0 ||
    maxLifetime > MAX_TOKEN_LIFETIME_SECONDS
  ) {
    throw config(`maxLifetimeSeconds must be 1..${MAX_TOKEN_LIFETIME_SECONDS}`);
  }
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  if (
    !Number.isSafeInteger(maxTokenBytes) ||
    maxTokenBytes < 256 ||
    maxTokenBytes > DEFAULT_MAX_TOKEN_BYTES
  ) {
    throw config(`maxTokenBytes must be 256..${DEFAULT_MAX_TOKEN_BYTES}`);
  }
  const cache = options.cache === false ? undefined : (options.cache ?? new VerifiedTokenCache());
  // Identity of this verifier in a shared cache: entries made by another verifier (another
  // audience, issuer or key source) are never served to this one.
  const owner = Object.freeze({});

  function spiffeId(value: string): string {
    try {
      return parseWorkloadId(value, trustDomain).uri;
    } catch {
      throw new TesseraError('ERR_TOKEN_SUBJECT', 'not a workload SPIFFE ID of the trust domain');
    }
  }

  function checkRevoked(caller: WorkloadCaller): void {
    if (revocations === undefined) return;
    if (
      revocations.isRevoked(caller.jti, caller.spiffeId, caller.issuedAt) ||
      (caller.kind === 'delegated' &&
        revocations.isRevoked(caller.jti, caller.user, caller.issuedAt))
    ) {
      throw new TesseraError('ERR_TOKEN_REVOKED');
    }
  }

  function fromCache(token: string): WorkloadCaller | undefined {
    if (cache === undefined) return undefined;
    const hit = cache.get(token);
    if (hit?.owner !== owner) return undefined;
    if (clock.now() / 1000 >= hit.expiresAt + tolerance) {
      cache.delete(token);
      throw new TesseraError('ERR_TOKEN_EXPIRED');
    }
    // Only this verifier stores entries under its owner, and it stores workload callers only.
    const caller = hit.caller as WorkloadCaller;
    checkRevoked(caller);
    return caller;
  }

  function validateClaims(prepared: PreparedJws): WorkloadCaller {
    const claims = parsePayloadObject(prepared.payload);
    if (claims.iss !== issuer) throw new TesseraError('ERR_TOKEN_ISSUER');
    const aud = claims.aud;
    // DESIGN: exactly one audience. A one-element array is the same statement (RFC 7519 §4.1.3).
    const single = Array.isArray(aud) && aud.length === 1 ? (aud[0] as unknown) : aud;
    if (single !== audience) throw new TesseraError('ERR_TOKEN_AUDIENCE');

    const exp = numericDate(claims, 'exp', true) ?? 0;
    const iat = numericDate(claims, 'iat', true) ?? 0;
    const nbf = numericDate(claims, 'nbf', false);
    const now = clock.now() / 1000;
    // RFC 7519 §4.1.4: the token must not be accepted on or after `exp`.
    if (now >= exp + tolerance) throw new TesseraError('ERR_TOKEN_EXPIRED');
    if (nbf !== undefined && now + tolerance < nbf)
      throw new TesseraError('ERR_TOKEN_NOT_YET_VALID');
    if (iat > now + tolerance) throw new TesseraError('ERR_TOKEN_ISSUED_IN_FUTURE');
    if (exp <= iat) throw claimsError('"exp" is not after "iat"');
    if (exp - iat > maxLifetime) throw new TesseraError('ERR_TOKEN_LIFETIME');

    const jti = requiredString(claims, 'jti', 256);
    const sub = requiredString(claims, 'sub', 2048);
    const clientId = requiredString(claims, 'client_id', 2048);
    const scopeClaim = claims.scope;
    if (scopeClaim !== undefined && typeof scopeClaim !== 'string')
      throw claimsError('"scope" must be a string');
    const scopes = Object.freeze(scopeClaim === undefined ? [] : parseScope(scopeClaim));
    const tenant = claims.tenant_id;
    if (
      tenant !== undefined &&
      (typeof tenant !== 'string' || tenant === '' || tenant.length > 256)
    ) {
      throw claimsError('"tenant_id" must be a non-empty string');
    }
    const cnf = claims.cnf;
    let thumbprint: string | undefined;
    if (cnf !== undefined) {
      const value =
        typeof cnf === 'object' && cnf !== null
          ? (cnf as Record<string, unknown>)['x5t#S256']
          : undefined;
      if (typeof value !== 'string' || value === '')
        throw claimsError('"cnf" must carry "x5t#S256"');
      thumbprint = value;
    }
    const act = claims.act;
    const common = {
      scopes,
      jti,
      issuer,
      issuedAt: iat,
      expiresAt: exp,
      ...(tenant !== undefined ? { tenant } : {}),
      ...(thumbprint !== undefined ? { certificateThumbprint: thumbprint } : {}),
    };
    let caller: WorkloadCaller;
    if (act === undefined) {
      const id = spiffeId(sub);
      if (clientId !== id)
        throw new TesseraError('ERR_TOKEN_SUBJECT', '"client_id" differs from "sub"');
      caller = { kind: 'service', spiffeId: id, ...common };
    } else {
      const actors = actorChain(act, trustDomain);
      const [id] = actors;
      if (id === undefined || clientId !== id)
        throw new TesseraError('ERR_TOKEN_SUBJECT', '"client_id" differs from "act.sub"');
      const delegated: DelegatedCaller = {
        kind: 'delegated',
        spiffeId: id,
        user: sub,
        actors: Object.freeze(actors),
        ...common,
      };
      caller = delegated;
    }
    Object.freeze(caller);
    checkRevoked(caller);
    return caller;
  }

  function remember(token: string, caller: WorkloadCaller): WorkloadCaller {
    cache?.set(token, { owner, caller, expiresAt: caller.expiresAt });
    return caller;
  }

  return Object.freeze({
    verify(token: string): WorkloadCaller {
      const cached = fromCache(token);
      if (cached !== undefined) return cached;
      const prepared = prepareCompactJws(token, keys, { maxTokenBytes, typ: TYP });
      checkSignature(prepared);
      return remember(token, validateClaims(prepared));
    },
    async verifyAsync(token: string): Promise<WorkloadCaller> {
      const cached = fromCache(token);
      if (cached !== undefined) return cached;
      const prepared = prepareCompactJws(token, keys, { maxTokenBytes, typ: TYP });
      await checkSignatureAsync(prepared);
      return remember(token, validateClaims(prepared));
    },
  });
}
