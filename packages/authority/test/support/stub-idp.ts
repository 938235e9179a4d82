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
  /** Replaces the signing key with a new one under a new `kid`; the JWKS publishes only it. */
  rotate(): Promise<void>;
  close(): Promise<void>;
}

export async function startStubIdp(audience: string): Promise<StubIdp> {
  let generation = 1;
  const keyPair = async () => {
    const pair = await generateKeyPair('ES256');
    const kid = `idp-${generation}`;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' };
    return { privateKey: pair.privateKey, jwk, kid };
  };
  let current = await keyPair();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  let jwksRequests = 0;
  const server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    if (request.url === '/.well-known/openid-configuration') {
      response.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else if (request.url === '/jwks') {
      jwksRequests += 1;
      response.end(JSON.stringify({ keys: [current.jwk] }));
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
        .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? current.kid, typ: 'at+jwt' })
        .setIssuer(options.issuer ?? issuer)
        .sign(options.key ?? current.privateKey);
    },
    async rotate() {
      generation += 1;
      current = await keyPair();
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
