import { createHash } from 'node:crypto';
import { publicErrorBody } from '@tessera/core';
import type { FastifyInstance } from 'fastify';
import type { AuthorityContext } from '../context.ts';

/** The SPIFFE bundle document (SPIFFE Trust Domain and Bundle §4). */
export interface SpiffeBundle {
  readonly keys: readonly Record<string, unknown>[];
  readonly spiffe_sequence: number;
  readonly spiffe_refresh_hint: number;
}

/**
 * Builds the trust domain's SPIFFE bundle: the CA certificates as `x509-svid` keys (each with its
 * certificate in `x5c`), the token signing keys as `jwt-svid` keys, `spiffe_refresh_hint`, and a
 * `spiffe_sequence` that moves forward, in the store shared by every instance, whenever the set
 * of keys changes.
 */
export async function buildSpiffeBundle(ctx: AuthorityContext): Promise<SpiffeBundle> {
  const { document } = await ctx.keys.jwks();
  const keys = [
    ...ctx.ca.bundleJwks(),
    ...document.keys.map((key) => ({ ...key, use: 'jwt-svid' })),
  ];
  const digest = createHash('sha256').update(JSON.stringify(keys)).digest('hex');
  return {
    keys,
    spiffe_sequence: await ctx.store.bundleSequence(digest),
    spiffe_refresh_hint: ctx.ca.bundleRefreshHintSeconds,
  };
}

/**
 * `GET /v1/bundle` (SPIFFE bundle, JSON), `GET /v1/bundle.pem` (the CA certificates for openssl
 * and curl), `GET /v1/crl` (RFC 5280 CRL, DER, signed by the active CA, or by the published CA
 * named in `?ca=<id>`). Public: they hold nothing secret, and verifiers need them before they
 * have any credential.
 */
export function registerBundleRoutes(app: FastifyInstance, ctx: AuthorityContext): void {
  const maxAge = () => `public, max-age=${ctx.ca.bundleRefreshHintSeconds}`;

  app.get('/v1/bundle', async (_request, reply) =>
    reply
      .header('cache-control', maxAge())
      .header('content-type', 'application/json')
      .send(await buildSpiffeBundle(ctx)),
  );

  app.get('/v1/bundle.pem', async (_request, reply) =>
    reply
      .header('cache-control', maxAge())
      .header('content-type', 'application/x-pem-file')
      .send(ctx.ca.bundlePem()),
  );

  app.get<{ Querystring: { ca?: string } }>(
    '/v1/crl',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ca: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' } },
        },
      },
    },
    async (request, reply) => {
      const der = await ctx.ca.crlDer(request.query.ca);
      if (der === undefined) return reply.code(404).send(publicErrorBody('ERR_NOT_FOUND'));
      return reply
        .header('cache-control', 'public, max-age=60')
        .header('content-type', 'application/pkix-crl')
        .send(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
    },
  );
}
