import type { FastifyInstance } from 'fastify';
import { TOKEN_ENDPOINT_PATH, type AuthorityContext } from '../context.ts';
import { SUBJECT_TOKEN_TYPES, TOKEN_EXCHANGE_GRANT } from './token-exchange.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** RFC 8414 metadata and the RFC 7517 JWKS, with caching headers that follow the key schedule. */
export function registerDiscoveryRoutes(app: FastifyInstance, ctx: AuthorityContext): void {
  const { issuer } = ctx.settings;
  // RFC 8705 §2.1.2, §3.3: over HTTPS the same endpoints also take tls_client_auth and bind
  // tokens to the client certificate. No `mtls_endpoint_aliases` (§5): mTLS is on these very
  // endpoints, client certificates being optional at the TLS layer.
  const authMethods =
    ctx.settings.tls === true ? ['private_key_jwt', 'tls_client_auth'] : ['private_key_jwt'];
  const metadata = Object.freeze({
    issuer,
    token_endpoint: `${issuer}${TOKEN_ENDPOINT_PATH}`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    introspection_endpoint: `${issuer}/oauth2/introspect`,
    grant_types_supported: ['client_credentials', TOKEN_EXCHANGE_GRANT],
    // Not registered by RFC 8414; the token types token exchange takes as subject_token_type.
    token_exchange_subject_token_types_supported: SUBJECT_TOKEN_TYPES,
    response_types_supported: [],
    token_endpoint_auth_methods_supported: authMethods,
    token_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
    revocation_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
    introspection_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
    access_token_signing_alg_values_supported: ['ES256', 'EdDSA'],
    client_assertion_types_supported: [JWT_BEARER],
    ...(ctx.settings.tls === true ? { tls_client_certificate_bound_access_tokens: true } : {}),
    // Tessera extensions: where verifiers learn of revocations.
    revocations_endpoint: `${issuer}/v1/revocations`,
    revocations_stream_endpoint: `${issuer}/v1/revocations/stream`,
  });

  app.get('/.well-known/oauth-authorization-server', async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=3600').send(metadata),
  );

  app.get('/.well-known/jwks.json', async (_request, reply) => {
    const { document, maxAgeSeconds } = await ctx.keys.jwks();
    return reply
      .header('cache-control', `public, max-age=${maxAgeSeconds}`)
      .header('content-type', 'application/jwk-set+json')
      .send(document);
  });
}
