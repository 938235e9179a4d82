import {
  assertSecureUrl,
  createUserTokenVerifier,
  isTesseraError,
  parseUserJwks,
  type Clock,
  type KeyResolver,
  type KeySet,
  type TesseraErrorCode,
  type UserTokenVerifier,
  type UserVerificationKey,
} from '@tessera/core';
import type { ExternalIssuerConfig } from '../config.ts';

/** A refused subject token; `reason` is a closed code for logs, metrics and audit. */
export class SubjectTokenError extends Error {
  constructor(readonly reason: string) {
    super('subject token refused');
  }
}

/** A user token verified against its configured external issuer. */
export interface VerifiedUserToken {
  readonly issuer: string;
  readonly subject: string;
  /** From the issuer's `tenantClaim`; absent when it configures none. */
  readonly tenant?: string;
  readonly scopes: readonly string[];
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

/** Clock skew allowed on `exp`/`nbf`/`iat` of external tokens (seconds). */
const CLOCK_TOLERANCE_SECONDS = 5;
/** After a fetch of an issuer's JWKS, an unknown `kid` refetches only this much later. */
const JWKS_COOLDOWN_MS = 30_000;
/** A fetched JWKS is used this long; after that the next token waits for a refetch. */
const JWKS_MAX_AGE_MS = 10 * 60_000;
const FETCH_TIMEOUT_MS = 5000;
/** A JWKS or discovery document larger than this is refused. */
const MAX_DOCUMENT_BYTES = 256 * 1024;
const MAX_CLAIM_LENGTH = 256;

/** Core's refusal codes as the reasons of docs/token-exchange.md. */
const REASONS: Partial<Record<TesseraErrorCode, string>> = {
  ERR_TOKEN_MALFORMED: 'malformed',
  ERR_TOKEN_HEADER: 'malformed',
  ERR_TOKEN_TYP: 'malformed',
  ERR_TOKEN_TOO_LARGE: 'too_large',
  ERR_TOKEN_ALG: 'algorithm_not_allowed',
  ERR_TOKEN_KID_MISSING: 'key_unknown',
  ERR_TOKEN_KID_UNKNOWN: 'key_unknown',
  ERR_TOKEN_SIGNATURE: 'signature_invalid',
  ERR_TOKEN_ISSUER: 'unknown_issuer',
  ERR_TOKEN_AUDIENCE: 'wrong_audience',
  ERR_TOKEN_EXPIRED: 'expired',
  ERR_TOKEN_NOT_YET_VALID: 'not_yet_valid',
  ERR_TOKEN_ISSUED_IN_FUTURE: 'not_yet_valid',
  ERR_TOKEN_CLAIMS: 'claim_invalid',
};

function refusal(error: unknown): SubjectTokenError {
  if (error instanceof SubjectTokenError) return error;
  const reason = isTesseraError(error) ? REASONS[error.code] : undefined;
  if (reason === undefined) throw error;
  return new SubjectTokenError(reason);
}

/**
 * One external issuer's keys: its `jwksUri`, or the `jwks_uri` of its discovery document, fetched
 * and read with core's `parseUserJwks`. Used for {@link JWKS_MAX_AGE_MS}; an unknown `kid`
 * refetches at most once per cooldown (counted from the last successful fetch), and concurrent
 * refetches share one request. A failed discovery or fetch is retried by the next token.
 */
class IssuerKeys implements KeyResolver<UserVerificationKey> {
  #keys: KeySet<UserVerificationKey> | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #pending: Promise<void> | undefined;
  #jwksUri: Promise<string> | undefined;

  constructor(
    private readonly config: ExternalIssuerConfig,
    private readonly cooldownMs: number,
  ) {}

  /** No key before the first fetch, nor once the keys are older than their maximum age. */
  get(kid: string): UserVerificationKey | undefined {
    return this.fresh() ? this.#keys?.get(kid) : undefined;
  }

  fresh(): boolean {
    return this.#keys !== undefined && Date.now() < this.#fetchedAt + JWKS_MAX_AGE_MS;
  }

  coolingDown(): boolean {
    return Date.now() < this.#fetchedAt + this.cooldownMs;
  }

  reload(): Promise<void> {
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetch(): Promise<void> {
    const uri = await this.#discover();
    const text = await fetchDocument(uri, 'jwks_unavailable');
    let keys: KeySet<UserVerificationKey>;
    try {
      keys = parseUserJwks(text);
    } catch {
      throw new SubjectTokenError('jwks_unavailable');
    }
    this.#keys = keys;
    this.#fetchedAt = Date.now();
  }

  #discover(): Promise<string> {
    if (this.config.jwksUri !== undefined) return Promise.resolve(this.config.jwksUri);
    if (this.#jwksUri === undefined) {
      const discovered = discoverJwksUri(this.config.issuer);
      this.#jwksUri = discovered;
      discovered.catch(() => {
        if (this.#jwksUri === discovered) this.#jwksUri = undefined;
      });
    }
    return this.#jwksUri;
  }
}

async function fetchDocument(url: string, failure: string): Promise<string> {
  try {
    const response = await fetch(url, {
      headers: { accept: 'application/json, application/jwk-set+json' },
      redirect: 'error',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (response.status !== 200) throw new SubjectTokenError(failure);
    const text = await response.text();
    if (text.length > MAX_DOCUMENT_BYTES) throw new SubjectTokenError(failure);
    return text;
  } catch (error) {
    if (error instanceof SubjectTokenError) throw error;
    throw new SubjectTokenError(failure);
  }
}

/** OpenID Connect Discovery 1.0 §4: the issuer's `jwks_uri`. */
async function discoverJwksUri(issuer: string): Promise<string> {
  const text = await fetchDocument(
    `${issuer}/.well-known/openid-configuration`,
    'discovery_failed',
  );
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new SubjectTokenError('discovery_invalid');
  }
  const { issuer: named, jwks_uri: jwksUri } = (document ?? {}) as Record<string, unknown>;
  // §4.3: the document's issuer is exactly the one asked about.
  if (named !== issuer || typeof jwksUri !== 'string')
    throw new SubjectTokenError('discovery_invalid');
  try {
    assertSecureUrl(jwksUri, 'jwks_uri');
  } catch {
    throw new SubjectTokenError('discovery_invalid');
  }
  return jwksUri;
}

/** The unverified `iss`, only to pick the issuer whose verifier then checks everything. */
function unverifiedIssuer(token: string): unknown {
  const parts = token.split('.');
  if (parts.length !== 3) throw new SubjectTokenError('malformed');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8'));
  } catch {
    throw new SubjectTokenError('malformed');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new SubjectTokenError('malformed');
  return (payload as { iss?: unknown }).iss;
}

interface Issuer {
  readonly config: ExternalIssuerConfig;
  readonly keys: IssuerKeys;
  readonly verifier: UserTokenVerifier;
}

/**
 * The external OpenID issuers of `users.issuers`. Their tokens are verified by core's user-token
 * verifier (the plugin's at the edge, synchronous on node:crypto), against keys fetched as
 * {@link IssuerKeys} describes; `sub` and the tenant claim follow the token exchange's own rules.
 */
export class UserIssuers {
  private readonly byIssuer = new Map<string, Issuer>();
  /** The `now` of the verification in progress: core's verifier reads it through `clock`. */
  private nowMs = 0;

  constructor(
    issuers: readonly ExternalIssuerConfig[],
    options: { readonly jwksCooldownMs?: number } = {},
  ) {
    const cooldownMs = options.jwksCooldownMs ?? JWKS_COOLDOWN_MS;
    const clock: Clock = { now: () => this.nowMs };
    for (const config of issuers) {
      const keys = new IssuerKeys(config, cooldownMs);
      const verifier = createUserTokenVerifier({
        issuer: config.issuer,
        audience: config.audience,
        keys,
        clock,
        algorithms: config.algorithms,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        maxTokenBytes: config.maxTokenBytes,
        cache: false,
      });
      this.byIssuer.set(config.issuer, { config, keys, verifier });
    }
  }

  /** Whether `issuer` is one of the configured issuers. */
  has(issuer: string): boolean {
    return this.byIssuer.has(issuer);
  }

  /**
   * Verifies a user token: size, issuer (configured), then core's checks (algorithm in the
   * issuer's allowlist and fitting the key, signature against the issuer's keys, `aud`, `exp`
   * required, `nbf`, `iat`), then `sub` and the tenant claim when configured. Throws
   * {@link SubjectTokenError}.
   */
  async verify(token: string, now: number): Promise<VerifiedUserToken> {
    const unverified = unverifiedIssuer(token);
    const issuer = typeof unverified === 'string' ? this.byIssuer.get(unverified) : undefined;
    if (issuer === undefined) throw new SubjectTokenError('unknown_issuer');
    const { config } = issuer;
    if (Buffer.byteLength(token) > config.maxTokenBytes) throw new SubjectTokenError('too_large');
    const claims = await this.verifyClaims(issuer, token, now);
    // jose's `requiredClaims: ['sub']`, kept: a missing `sub` is a missing claim.
    if (!('sub' in claims)) throw new SubjectTokenError('claim_invalid');
    const subject = claims.sub;
    if (typeof subject !== 'string' || subject === '' || subject.length > MAX_CLAIM_LENGTH)
      throw new SubjectTokenError('subject_invalid');
    // A user named like a workload would read as a service to anyone who skips `act`.
    if (subject.startsWith('spiffe://')) throw new SubjectTokenError('subject_is_workload');
    let tenant: string | undefined;
    if (config.tenantClaim !== undefined) {
      const value = claims[config.tenantClaim];
      if (typeof value !== 'string' || value === '' || value.length > MAX_CLAIM_LENGTH)
        throw new SubjectTokenError('tenant_claim_invalid');
      tenant = value;
    }
    // Core checked `exp`: present and a NumericDate.
    const exp = claims.exp as number;
    const scope = claims.scope;
    const scopes = typeof scope === 'string' && scope !== '' ? scope.split(' ') : [];
    return {
      issuer: config.issuer,
      subject,
      ...(tenant !== undefined ? { tenant } : {}),
      scopes,
      expiresAt: exp,
    };
  }

  /**
   * Core's verification, synchronous, against the keys at hand. An unknown `kid` (or no keys yet,
   * or keys past their age) fetches the keys and verifies once more, unless the keys are fresh and
   * were fetched within the cooldown. Errors before the key lookup (size, shape, algorithm) never
   * cause a fetch.
   */
  private async verifyClaims(
    issuer: Issuer,
    token: string,
    now: number,
  ): Promise<Readonly<Record<string, unknown>>> {
    try {
      this.nowMs = now * 1000;
      return issuer.verifier.verifyClaims(token);
    } catch (error) {
      if (!isTesseraError(error) || error.code !== 'ERR_TOKEN_KID_UNKNOWN') throw refusal(error);
    }
    if (issuer.keys.fresh() && issuer.keys.coolingDown())
      throw new SubjectTokenError('key_unknown');
    await issuer.keys.reload();
    try {
      // Set again: other verifications ran while this one waited for the keys.
      this.nowMs = now * 1000;
      return issuer.verifier.verifyClaims(token);
    } catch (error) {
      throw refusal(error);
    }
  }
}
