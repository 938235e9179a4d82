import {
  ACCESS_TOKEN_TYP,
  DEFAULT_MAX_TOKEN_BYTES,
  JWT_BEARER_ASSERTION_TYPE,
  serviceSpiffeId,
} from '@tessera/core';
import type { FastifyRequest } from 'fastify';
import { ClientAuthenticationError, type AuthorityContext } from '../context.ts';
import type { RevocationRecord } from '../store/types.ts';

/**
 * The authority's own workload name. `spiffe://<trust domain>/tessera-authority` is the audience
 * of access tokens meant for the authority (today: to read the revocation feed); the token
 * endpoint issues them to every enabled client, and no service may be registered under the name,
 * so no other workload ever receives a token it could replay here.
 */
export const AUTHORITY_SERVICE_NAME = 'tessera-authority';

/** The authority's SPIFFE ID in `trustDomain`. */
export function authoritySpiffeId(trustDomain: string): string {
  return serviceSpiffeId(trustDomain, AUTHORITY_SERVICE_NAME);
}

/**
 * Why a feed request was refused: a closed set for logs and metrics. The client only ever hears
 * 401 `ERR_UNAUTHENTICATED`.
 */
export type FeedAuthFailure =
  /** No `Authorization` header. */
  | 'missing'
  /** More than one `Authorization` header: which one counts must never be a guess. */
  | 'duplicate'
  /** Not `Bearer <compact JWS>` of a sane size, or a header that is not a JSON object. */
  | 'malformed'
  /** An access token that does not verify against the published keys (forged, withdrawn key, other issuer, `alg` not allowed). */
  | 'token_invalid'
  /** An access token for another audience than the authority itself. */
  | 'token_audience'
  | 'token_expired'
  /** `iat` in the future. */
  | 'token_not_yet_valid'
  /** A delegated token (`act`): the feed is for services, not for users. */
  | 'token_delegated'
  | 'token_revoked'
  /** A client assertion whose `aud` is not exactly the issuer (a single string). */
  | 'assertion_audience'
  /** The token's client or the assertion's signer is unknown or disabled. */
  | 'client_unknown'
  /** Any refusal of the assertion by `private_key_jwt` verification (the log has its reason). */
  | 'assertion_invalid';

export class FeedAuthError extends Error {
  constructor(
    readonly reason: FeedAuthFailure,
    /** The `private_key_jwt` reason, when `reason` is `assertion_invalid`. */
    readonly clientAuthReason?: string,
  ) {
    super(`revocation feed authentication failed: ${reason}`);
  }
}

/** Who opened a feed request, and until when the credential it showed holds. */
export interface FeedClient {
  /** The client's SPIFFE ID. */
  readonly clientId: string;
  /** The credential's `exp`, in milliseconds. */
  readonly expiresAtMs: number;
  /** Set when the credential is an access token: a revocation of it, or of its key, ends streams. */
  readonly token?: { readonly jti: string; readonly kid: string };
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

function decodeSegment(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new FeedAuthError('malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FeedAuthError('malformed');
  }
  return value as Record<string, unknown>;
}

/** The one `Authorization` header, read from the raw headers: Node keeps only the first of several. */
function authorizationHeader(request: FastifyRequest): string {
  const raw = request.raw.rawHeaders;
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() !== 'authorization') continue;
    if (found !== undefined) throw new FeedAuthError('duplicate');
    found = raw[i + 1] ?? '';
  }
  if (found === undefined) throw new FeedAuthError('missing');
  return found;
}

async function enabledClient(ctx: AuthorityContext, clientId: string): Promise<void> {
  const name = clientId.slice(clientId.lastIndexOf('/') + 1);
  const record = await ctx.services.get(name);
  if (record?.enabled !== true || record.spiffeId !== clientId) {
    throw new FeedAuthError('client_unknown');
  }
}

/** RFC 9068 access token for the authority: ours, unexpired, unrevoked, for a service. */
async function fromAccessToken(
  ctx: AuthorityContext,
  token: string,
  kid: string,
): Promise<FeedClient> {
  const claims = await ctx.readIssuedToken(token);
  if (claims === undefined) throw new FeedAuthError('token_invalid');
  if (claims.aud !== authoritySpiffeId(ctx.settings.trustDomain)) {
    throw new FeedAuthError('token_audience');
  }
  const now = ctx.clock.now() / 1000;
  // RFC 7519 §4.1.4; no tolerance needed: the authority's clock is the one that signed it.
  if (now >= claims.exp) throw new FeedAuthError('token_expired');
  if (claims.iat > now + 5) throw new FeedAuthError('token_not_yet_valid');
  if (claims.act !== undefined) throw new FeedAuthError('token_delegated');
  if (claims.sub !== claims.client_id) throw new FeedAuthError('token_invalid');
  if (ctx.revocations.isRevoked(claims.jti, claims.sub, claims.iat)) {
    throw new FeedAuthError('token_revoked');
  }
  await enabledClient(ctx, claims.client_id);
  return {
    clientId: claims.client_id,
    expiresAtMs: claims.exp * 1000,
    token: { jti: claims.jti, kid },
  };
}

/** RFC 7523 `private_key_jwt` assertion, with the token endpoint's checks and replay cache. */
async function fromClientAssertion(
  ctx: AuthorityContext,
  assertion: string,
  payload: Record<string, unknown>,
): Promise<FeedClient> {
  // Checked on the unverified claims first so a misdirected assertion burns nothing; the
  // signature, `iss`/`sub`, lifetime and replay are then checked as at the token endpoint.
  if (payload.aud !== ctx.settings.issuer) throw new FeedAuthError('assertion_audience');
  let clientId: string;
  try {
    const { service } = await ctx.authenticateClient(
      new Map([
        ['client_assertion_type', JWT_BEARER_ASSERTION_TYPE],
        ['client_assertion', assertion],
      ]),
    );
    clientId = service.spiffeId;
  } catch (error) {
    if (!(error instanceof ClientAuthenticationError)) throw error;
    throw new FeedAuthError('assertion_invalid', error.reason);
  }
  // Verified by now: `exp` is a NumericDate within the assertion lifetime limit.
  return { clientId, expiresAtMs: Number(payload.exp) * 1000 };
}

/**
 * Authenticates a request to `GET /v1/revocations` or `/v1/revocations/stream`:
 * `Authorization: Bearer <credential>`, where the credential is either an access token whose
 * audience is the authority ({@link authoritySpiffeId}), told apart by its `typ: at+jwt`, or a
 * `private_key_jwt` client assertion (RFC 7523) whose `aud` is the issuer. Throws
 * {@link FeedAuthError}; store failures propagate (the request fails, closed).
 */
export async function authenticateFeedClient(
  ctx: AuthorityContext,
  request: FastifyRequest,
): Promise<FeedClient> {
  const match = BEARER.exec(authorizationHeader(request));
  const credential = match?.[1];
  if (credential === undefined || credential.length > DEFAULT_MAX_TOKEN_BYTES) {
    throw new FeedAuthError('malformed');
  }
  const [headerSegment = '', payloadSegment = ''] = credential.split('.');
  const header = decodeSegment(headerSegment);
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined;
  if (typ === ACCESS_TOKEN_TYP || typ === `application/${ACCESS_TOKEN_TYP}`) {
    const kid = typeof header.kid === 'string' ? header.kid : '';
    return fromAccessToken(ctx, credential, kid);
  }
  return fromClientAssertion(ctx, credential, decodeSegment(payloadSegment));
}

/** Whether a new revocation takes away the credential a stream was opened with. */
export function revokesFeedClient(record: RevocationRecord, client: FeedClient): boolean {
  switch (record.kind) {
    case 'subject':
      return record.value === client.clientId;
    case 'jti':
      return record.value === client.token?.jti;
    case 'kid':
      return record.value === client.token?.kid;
    case 'svid':
      // Streams are opened with a token or an assertion, never with a certificate.
      return false;
  }
}
