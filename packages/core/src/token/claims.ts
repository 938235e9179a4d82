/**
 * The claims of a Tessera access token (RFC 9068 §2.2 plus RFC 8693 `act` and RFC 8705 `cnf`).
 */
export interface AccessTokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly client_id: string;
  readonly aud: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  readonly scope?: string;
  readonly act?: ActorClaim;
  readonly tenant_id?: string;
  /** Delegated tokens: the issuer that vouched for the user in `sub` (an OpenID issuer). */
  readonly user_iss?: string;
  readonly cnf?: { readonly 'x5t#S256': string };
}

/**
 * RFC 8693 §4.1 `act`: the service acting now, nesting the actors before it (nearest first).
 */
export interface ActorClaim {
  readonly sub: string;
  readonly act?: ActorClaim;
}

/** RFC 9068 §2.1: the `typ` header of a JWT access token. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** Default access token lifetime (seconds). */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 300;
/** No access token lives longer than this (seconds), at minting or at verification. */
export const MAX_TOKEN_LIFETIME_SECONDS = 3600;
