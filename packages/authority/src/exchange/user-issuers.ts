import { assertSecureUrl } from '@tessera/core';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose';
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

/** Clock skew allowed on `exp`/`nbf` of external tokens (seconds). */
const CLOCK_TOLERANCE_SECONDS = 5;
/** After a refetch of an issuer's JWKS, the next one waits at least this long (jose default 30 s). */
const JWKS_COOLDOWN_MS = 30_000;
/** A fetched JWKS is used this long without refetching (unless a `kid` is unknown). */
const JWKS_MAX_AGE_MS = 10 * 60_000;
const FETCH_TIMEOUT_MS = 5000;
const MAX_CLAIM_LENGTH = 256;

type KeySet = ReturnType<typeof createRemoteJWKSet>;

/**
 * The external OpenID issuers of `users.issuers`. Each issuer's keys come from its `jwksUri`, or
 * from the `jwks_uri` of its discovery document (`/.well-known/openid-configuration`, whose
 * `issuer` must be the configured one), and are cached by jose's remote key set: refetched on an
 * unknown `kid`, at most once per cooldown.
 */
export class UserIssuers {
  private readonly byIssuer = new Map<string, ExternalIssuerConfig>();
  private readonly keySets = new Map<string, Promise<KeySet>>();

  private readonly jwksCooldownMs: number;

  constructor(
    issuers: readonly ExternalIssuerConfig[],
    options: { readonly jwksCooldownMs?: number } = {},
  ) {
    for (const issuer of issuers) this.byIssuer.set(issuer.issuer, issuer);
    this.jwksCooldownMs = options.jwksCooldownMs ?? JWKS_COOLDOWN_MS;
  }

  /** Whether `issuer` is one of the configured issuers. */
  has(issuer: string): boolean {
    return this.byIssuer.has(issuer);
  }

  /**
   * Verifies a user token: size, issuer (configured), algorithm (its allowlist: public-key only),
   * signature against the issuer's keys, `aud`, `exp` (required) and `nbf`, `sub`, and the tenant
   * claim when configured. Throws {@link SubjectTokenError}.
   */
  async verify(token: string, now: number): Promise<VerifiedUserToken> {
    let unverifiedIssuer: unknown;
    try {
      decodeProtectedHeader(token);
      unverifiedIssuer = decodeJwt(token).iss;
    } catch {
      throw new SubjectTokenError('malformed');
    }
    const config =
      typeof unverifiedIssuer === 'string' ? this.byIssuer.get(unverifiedIssuer) : undefined;
    if (config === undefined) throw new SubjectTokenError('unknown_issuer');
    if (Buffer.byteLength(token) > config.maxTokenBytes) throw new SubjectTokenError('too_large');
    let payload: JWTPayload;
    try {
      const keys = await this.keySet(config);
      ({ payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: [...config.algorithms],
        requiredClaims: ['exp', 'sub'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(now * 1000),
      }));
    } catch (error) {
      throw new SubjectTokenError(reasonOf(error));
    }
    const subject = payload.sub;
    if (typeof subject !== 'string' || subject === '' || subject.length > MAX_CLAIM_LENGTH)
      throw new SubjectTokenError('subject_invalid');
    // A user named like a workload would read as a service to anyone who skips `act`.
    if (subject.startsWith('spiffe://')) throw new SubjectTokenError('subject_is_workload');
    let tenant: string | undefined;
    if (config.tenantClaim !== undefined) {
      const value = payload[config.tenantClaim];
      if (typeof value !== 'string' || value === '' || value.length > MAX_CLAIM_LENGTH)
        throw new SubjectTokenError('tenant_claim_invalid');
      tenant = value;
    }
    const { exp, scope } = payload;
    if (typeof exp !== 'number') throw new SubjectTokenError('claim_invalid');
    const scopes = typeof scope === 'string' && scope !== '' ? scope.split(' ') : [];
    return {
      issuer: config.issuer,
      subject,
      ...(tenant !== undefined ? { tenant } : {}),
      scopes,
      expiresAt: exp,
    };
  }

  private keySet(config: ExternalIssuerConfig): Promise<KeySet> {
    let keys = this.keySets.get(config.issuer);
    if (keys === undefined) {
      keys = discoverKeySet(config, this.jwksCooldownMs);
      this.keySets.set(config.issuer, keys);
      // A failed discovery is tried again by the next request, not remembered.
      keys.catch(() => this.keySets.delete(config.issuer));
    }
    return keys;
  }
}

async function discoverKeySet(config: ExternalIssuerConfig, cooldownMs: number): Promise<KeySet> {
  let jwksUri = config.jwksUri;
  if (jwksUri === undefined) {
    const response = await fetch(`${config.issuer}/.well-known/openid-configuration`, {
      redirect: 'error',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (!response.ok) throw new SubjectTokenError('discovery_failed');
    const document = (await response.json()) as Record<string, unknown>;
    // OpenID Connect Discovery §4.3: the document's issuer is exactly the one asked about.
    if (document.issuer !== config.issuer || typeof document.jwks_uri !== 'string')
      throw new SubjectTokenError('discovery_invalid');
    try {
      assertSecureUrl(document.jwks_uri, 'jwks_uri');
    } catch {
      throw new SubjectTokenError('discovery_invalid');
    }
    jwksUri = document.jwks_uri;
  }
  return createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: FETCH_TIMEOUT_MS,
    cooldownDuration: cooldownMs,
    cacheMaxAge: JWKS_MAX_AGE_MS,
  });
}

function reasonOf(error: unknown): string {
  if (error instanceof SubjectTokenError) return error.reason;
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'wrong_audience';
    if (error.claim === 'iss') return 'unknown_issuer';
    if (error.claim === 'nbf') return 'not_yet_valid';
    return `claim_invalid`;
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm_not_allowed';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'key_unknown';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature_invalid';
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid)
    return 'jwks_unavailable';
  if (error instanceof joseErrors.JOSEError) return 'malformed';
  if (error instanceof TypeError || error instanceof DOMException) return 'jwks_unavailable';
  throw error;
}
