import type { Clock, Jwks, KeyResolver, SigningKey } from '@tessera/core';
import type { FastifyBaseLogger } from 'fastify';
import type { ExternalIssuerConfig, TokenExchangeConfig } from './config.ts';
import type { CertificateAuthority } from './ca/certificate-authority.ts';
import type { UnauthenticatedFailures } from './client-auth/failures.ts';
import type { AuthorityMetrics } from './metrics.ts';
import type { RevocationFeed } from './revocation/feed.ts';
import type { ServiceCache } from './service-cache.ts';
import type { AuditEntry, ServiceRecord, Store } from './store/types.ts';
import type { IssuedTokenClaims } from './tokens/inspect.ts';

/** What the HTTP layer needs from key management (implemented by `KeyManager`). */
export interface AuthorityKeys {
  signingKey(): SigningKey | Promise<SigningKey>;
  jwks():
    { document: Jwks; maxAgeSeconds: number } | Promise<{ document: Jwks; maxAgeSeconds: number }>;
  rotateNow(options: { revokePrevious: boolean }): Promise<{
    activeKid: string;
    previousKid?: string | undefined;
    revokedKid?: string | undefined;
  }>;
}

/** Settings the routes read; validated once by the config loader. */
export interface AuthoritySettings {
  /** The exact origin clients use; the metadata `issuer` and every token's `iss` (RFC 8414 §3.3). */
  readonly issuer: string;
  readonly trustDomain: string;
  /** Access token lifetime in seconds (default 300, at most 3600). */
  readonly tokenLifetimeSeconds: number;
  /** Largest request body accepted, bytes (default 64 KiB). */
  readonly bodyLimitBytes: number;
  /** Limits of `GET /v1/revocations/stream`, per authority process. */
  readonly revocationFeed: RevocationFeedSettings;
  /** SPIFFE IDs that are admins when they call `/v1/admin/*` over mTLS with their SVID. */
  readonly adminSpiffeIds?: readonly string[];
  /** Whether the authority serves HTTPS (and so can see client certificates). */
  readonly tls?: boolean;
  /** External OpenID issuers whose user tokens token exchange accepts (absent: none). */
  readonly userIssuers?: readonly ExternalIssuerConfig[];
  /** Token exchange policy (absent: nobody may act for users). */
  readonly tokenExchange?: TokenExchangeConfig;
}

/** Stream limits; in a cluster each worker applies them on its own. */
export interface RevocationFeedSettings {
  /** Open streams one client may hold at once (default 4); one more gets 429. */
  readonly maxStreamsPerClient: number;
  /** Interval of the SSE comment line that keeps a quiet stream alive (default 15 s). */
  readonly heartbeatMs: number;
  /** Longest a stream stays open, whatever its credential says (default 15 min). */
  readonly maxStreamMs: number;
}

/**
 * The other instances of a cluster of authority processes on one machine. A lone instance has
 * none, and its `changed()` resolves at once.
 */
export interface AuthorityPeers {
  /**
   * Tells the other instances that shared state (registry, revocations, signing keys) changed,
   * and resolves once each has re-read it, or has had 5 s to.
   */
  changed(): Promise<void>;
  /** Prometheus text summed over every instance; absent when this instance is alone. */
  metrics?(): Promise<string>;
}

/** Everything a route may use. Built once at start-up; nothing global. */
export interface AuthorityContext {
  readonly settings: AuthoritySettings;
  readonly store: Store;
  /** Registry reads for the hot path (at most a second old; this instance's changes at once). */
  readonly services: ServiceCache;
  readonly keys: AuthorityKeys;
  /** The trust domain's CA: X.509-SVIDs, the bundle, the CRL. */
  readonly ca: CertificateAuthority;
  readonly clock: Clock;
  readonly revocations: RevocationFeed;
  readonly metrics: AuthorityMetrics;
  readonly logger: FastifyBaseLogger;
  readonly peers: AuthorityPeers;
  /** SHA-256 of the admin bearer token; compared in constant time. */
  readonly adminTokenHash: Buffer;
  /** Key resolver over the currently published JWKS, for reading back our own tokens. */
  publishedKeys(): Promise<KeyResolver>;
  /**
   * Reads back one of this authority's tokens against the published keys (signature, `typ`,
   * `iss`; not expiry or revocation), remembering tokens already read.
   */
  readIssuedToken(token: string): Promise<IssuedTokenClaims | undefined>;
  /**
   * Authenticates the client of a token, revocation or introspection request (RFC 7523
   * `private_key_jwt`). Resolves to the registered, enabled service and the `kid` of its key that
   * signed the assertion, or rejects with a {@link ClientAuthenticationError}.
   */
  authenticateClient(parameters: ReadonlyMap<string, string>): Promise<AuthenticatedClient>;
  /** Appends to the hash-chained audit log. */
  audit(entry: Omit<AuditEntry, 'atMs'>): Promise<void>;
  /**
   * Failed client authentication: counted in metrics, aggregated into the audit log (one row per
   * source and reason per interval, not one per request) and limited per source.
   */
  readonly unauthenticated: UnauthenticatedFailures;
}

/** A client that proved itself with `private_key_jwt`: the service, and the key it signed with. */
export interface AuthenticatedClient {
  readonly service: ServiceRecord;
  readonly kid: string;
}

export const TOKEN_ENDPOINT_PATH = '/oauth2/token';

/** Client authentication failed; `reason` is a closed code for logs, metrics and audit. */
export class ClientAuthenticationError extends Error {
  constructor(readonly reason: string) {
    super('client authentication failed');
  }
}
