import {
  ACCESS_TOKEN_TYP,
  isTesseraError,
  verifyCompactJws,
  type ActorClaim,
  type Clock,
  type KeyResolver,
} from '@tessera/core';
import type { RevocationFeed } from '../revocation/feed.ts';

/** The claims the authority reads back from one of its own tokens. */
export interface IssuedTokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly client_id: string;
  readonly aud: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
  readonly scope?: string;
  readonly act?: ActorClaim;
  readonly tenant_id?: string;
  readonly user_iss?: string;
  /** RFC 8705 §3.1: the client certificate the token is bound to. */
  readonly cnf?: { readonly 'x5t#S256': string };
}

function asClaims(value: unknown, issuer: string): IssuedTokenClaims | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const c = value as Record<string, unknown>;
  const ok =
    c.iss === issuer &&
    typeof c.sub === 'string' &&
    typeof c.client_id === 'string' &&
    typeof c.aud === 'string' &&
    typeof c.iat === 'number' &&
    typeof c.exp === 'number' &&
    typeof c.jti === 'string' &&
    (c.scope === undefined || typeof c.scope === 'string');
  return ok ? (c as unknown as IssuedTokenClaims) : undefined;
}

/**
 * Reads one of this authority's access tokens for any audience: signature against the
 * published keys, `typ`, `iss`. Returns undefined for anything that is not such a token.
 * Expiry and revocation are left to {@link isTokenActive}, because revocation of an expired or
 * foreign token is a no-op rather than an error (RFC 7009 §2.2).
 */
export function readIssuedToken(
  token: string,
  keys: KeyResolver,
  issuer: string,
): IssuedTokenClaims | undefined {
  try {
    const { payload } = verifyCompactJws(token, keys, { typ: [ACCESS_TOKEN_TYP] });
    return asClaims(JSON.parse(payload.toString('utf8')), issuer);
  } catch (error) {
    if (isTesseraError(error) || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** True while the token is unexpired and neither it, its subject nor its client has been revoked. */
export function isTokenActive(
  claims: IssuedTokenClaims,
  deps: { readonly revocations: RevocationFeed; readonly clock: Clock },
): boolean {
  if (deps.clock.now() / 1000 >= claims.exp) return false;
  const { revocations } = deps;
  return !(
    revocations.isRevoked(claims.jti, claims.sub, claims.iat) ||
    revocations.isRevoked(claims.jti, claims.client_id, claims.iat)
  );
}

/** Tokens a reader remembers; at about 1 KB each (token and claims), a few MB at most. */
const DEFAULT_READER_ENTRIES = 4096;

/**
 * {@link readIssuedToken} with memory: a token's signature, `typ` and `iss` never change, so
 * a resource server introspecting the same token again (the usual pattern) costs a map lookup,
 * not an ES256 verification. Only tokens that read successfully are kept (garbage cannot evict
 * them for free), oldest first out; the memory is dropped whenever the published key set
 * changes, so a withdrawn key (`keys rotate --revoke-previous`) takes its tokens with it.
 * Expiry and revocation are still decided on every call by {@link isTokenActive}.
 */
export function createIssuedTokenReader(
  issuer: string,
  maxEntries = DEFAULT_READER_ENTRIES,
): (token: string, keys: KeyResolver) => IssuedTokenClaims | undefined {
  let keysOfCache: KeyResolver | undefined;
  const read = new Map<string, IssuedTokenClaims>();
  return (token, keys) => {
    if (keys !== keysOfCache) {
      read.clear();
      keysOfCache = keys;
    }
    const known = read.get(token);
    if (known !== undefined) return known;
    const claims = readIssuedToken(token, keys, issuer);
    if (claims !== undefined) {
      if (read.size >= maxEntries) {
        const oldest = read.keys().next();
        if (oldest.done !== true) read.delete(oldest.value);
      }
      read.set(token, claims);
    }
    return claims;
  };
}
