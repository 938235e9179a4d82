import type { FastifyInstance } from 'fastify';
import { TOKEN_ENDPOINT_PATH, type AuthorityContext } from '../context.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** RFC 8414 metadata and the RFC 7517 JWKS, with caching headers that follow the key schedule. */
export function registerDiscoveryRoutes(app: FastifyInstance, ctx: AuthorityContext): void {
  const { issuer } = ctx.settings;
  const metadata = Object.freeze({
    issuer,
    token_endpoint: `${issuer}${TOKEN_ENDPOINT_PATH}`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    introspection_endpoint: `${issuer}/oauth2/introspect`,
    grant_types_supported: ['client_credentials'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
    revocation_endpoint_auth_methods_supported: ['private_key_jwt'],
    revocation_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
    introspection_endpoint_auth_methods_supported: ['private_key_jwt'],
    introspection_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
    access_token_signing_alg_values_supported: ['ES256', 'EdDSA'],
    client_assertion_types_supported: [JWT_BEARER],
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
