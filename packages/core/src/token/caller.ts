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
}

export type Caller = ServiceCaller | DelegatedCaller;
