import type { FastifyReply } from 'fastify';

/** RFC 6749 §5.2 error codes, plus RFC 8707's `invalid_target` and RFC 7009's `unsupported_token_type`. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'unsupported_token_type'
  // RFC 6749 §4.1.2.1; here with 429 for a source past its failed-authentication budget.
  | 'temporarily_unavailable';

/**
 * Sends an RFC 6749 §5.2 error. `invalid_client` is a 401 with `WWW-Authenticate` (§5.2 requires
 * it when the client tried to authenticate); everything else is a 400 unless `status` says
 * otherwise (413 for an oversized body). The description is fixed text chosen by the caller,
 * never request data: nothing the client sent is echoed back.
 */
export function sendOAuthError(
  reply: FastifyReply,
  error: OAuthErrorCode,
  description: string,
  status: number = error === 'invalid_client' ? 401 : 400,
): FastifyReply {
  if (status === 401) {
    reply.header('www-authenticate', 'Bearer realm="tessera", error="invalid_client"');
  }
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .send({ error, error_description: description });
}
