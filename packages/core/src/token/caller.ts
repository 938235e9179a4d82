/**
 * The verified caller of a request, produced only by token verification. Identity is never read
 * from headers: a `Caller` exists only after a signature, issuer, audience and lifetime check.
 */
interface CallerBase {
  /** The calling workload's SPIFFE ID (`sub` for a service, `act.sub` for a delegated call). */
  readonly spiffeId: string;
  /** Granted scopes from the token's space-separated `scope` claim. */
  readonly scopes: readonly string[];
  /** The token's `jti`, for audit and revocation. */
  readonly jti: string;
  /** Token issuer (`iss`). */
  readonly issuer: string;
  /** Seconds since the epoch (`iat`). */
  readonly issuedAt: number;
  /** Seconds since the epoch (`exp`). */
  readonly expiresAt: number;
  /** `tenant_id`, only when the token carries one (it came from a verified user token). */
  readonly tenant?: string;
  /** `cnf["x5t#S256"]` when the token is bound to a client certificate (RFC 8705). */
  readonly certificateThumbprint?: string;
}

/** A service calling as itself: `sub` is a SPIFFE ID and there is no `act` claim. */
export interface ServiceCaller extends CallerBase {
  readonly kind: 'service';
}

/**
 * A service acting for a user (RFC 8693 token exchange): `sub` is the user, `act.sub` the
 * service. `user` and `tenant` come from the verified token, never from request headers.
 */
export interface DelegatedCaller extends CallerBase {
  readonly kind: 'delegated';
  /** The end user (`sub`). */
  readonly user: string;
  /**
   * Every service in the `act` chain as SPIFFE IDs, nearest first: `actors[0]` is `act.sub`
   * (equal to `spiffeId`), `actors[1]` is `act.act.sub`, and so on (RFC 8693 §4.1).
   */
  readonly actors: readonly string[];
}

/**
 * An end user calling the edge directly with a token of the configured external OpenID issuer.
 * Only the Fastify plugin's `users` option makes one, only on routes whose policy admits users.
 * It has no workload identity: `spiffeId` is absent, and an `act` claim in the token is ignored
 * (a user token is never delegated).
 */
export interface UserCaller {
  readonly kind: 'user';
  readonly spiffeId?: undefined;
  /** The end user (`sub`). */
  readonly user: string;
  /** The configured claim (default `tenant_id`) of the verified token, when present. */
  readonly tenant?: string;
  /** The `scope` claim's (or `scp` array's) scopes. */
  readonly scopes: readonly string[];
  /** `jti`, or `''` when the issuer sets none. */
  readonly jti: string;
  /** The external issuer (`iss`). */
  readonly issuer: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly certificateThumbprint?: undefined;
}

/** A caller with a workload identity: what the authority's access tokens (and certificates) give. */
export type WorkloadCaller = ServiceCaller | DelegatedCaller;

export type Caller = ServiceCaller | DelegatedCaller | UserCaller;
