import { createServer, type Server } from 'node:http';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { freePort } from '../../src/testing/free-port.ts';

/** A stub OpenID provider on loopback: discovery and JWKS, its tokens signed with jose. */
export interface StubIdp {
  readonly issuer: string;
  readonly audience: string;
  readonly server: Server;
  /** How many times its JWKS was fetched. */
  readonly jwksRequests: number;
  /** An ES256 token of this issuer (or `issuer`), for `audience`, valid 10 minutes unless `claims` say otherwise. */
  sign(
    claims: JWTPayload,
    options?: { issuer?: string; key?: CryptoKey; kid?: string },
  ): Promise<string>;
  close(): Promise<void>;
}

export async function startStubIdp(audience: string): Promise<StubIdp> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  let jwksRequests = 0;
  const server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    if (request.url === '/.well-known/openid-configuration') {
      response.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else if (request.url === '/jwks') {
      jwksRequests += 1;
      response.end(JSON.stringify({ keys: [jwk] }));
    } else {
      response.statusCode = 404;
      response.end('{}');
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    audience,
    server,
    get jwksRequests() {
      return jwksRequests;
    },
    async sign(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iat: now, exp: now + 600, aud: audience, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'idp-1', typ: 'at+jwt' })
        .setIssuer(options.issuer ?? issuer)
        .sign(options.key ?? privateKey);
    },
    close: () =>
      new Promise<void>((resolve, reject) =>
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        }),
      ),
  };
}
