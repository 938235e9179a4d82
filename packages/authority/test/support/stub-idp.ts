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
  /** The current signing key's `kid` and private key (for forging tokens by hand). */
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** Further JWKs its JWKS publishes as they are (encryption keys, say). */
  extraKeys: JWK[];
  /** The status its JWKS answers with (200 unless a test breaks it). */
  jwksStatus: number;
  /** Replaces the discovery document's body (a test's broken discovery). */
  discoveryBody: string | undefined;
  /** A token of this issuer (or `issuer`), signed with its algorithm (ES256 unless started otherwise), for `audience`, valid 10 minutes unless `claims` say otherwise. */
  sign(
    claims: JWTPayload,
    options?: { issuer?: string; key?: CryptoKey; kid?: string },
  ): Promise<string>;
  /** Replaces the signing key with a new one under a new `kid`; the JWKS publishes only it. */
  rotate(): Promise<void>;
  close(): Promise<void>;
}

export async function startStubIdp(
  audience: string,
  options: { readonly alg?: 'ES256' | 'RS256' | 'PS256' } = {},
): Promise<StubIdp> {
  const alg = options.alg ?? 'ES256';
  let generation = 1;
  const keyPair = async () => {
    const pair = await generateKeyPair(alg);
    const kid = `idp-${generation}`;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' };
    return { privateKey: pair.privateKey, jwk, kid };
  };
  let current = await keyPair();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  let jwksRequests = 0;
  const state = {
    extraKeys: [] as JWK[],
    jwksStatus: 200,
    discoveryBody: undefined as string | undefined,
  };
  const server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    if (request.url === '/.well-known/openid-configuration') {
      response.end(state.discoveryBody ?? JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else if (request.url === '/jwks') {
      jwksRequests += 1;
      response.statusCode = state.jwksStatus;
      response.end(JSON.stringify({ keys: [current.jwk, ...state.extraKeys] }));
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
    get kid() {
      return current.kid;
    },
    get privateKey() {
      return current.privateKey;
    },
    get extraKeys() {
      return state.extraKeys;
    },
    set extraKeys(keys: JWK[]) {
      state.extraKeys = keys;
    },
    get jwksStatus() {
      return state.jwksStatus;
    },
    set jwksStatus(status: number) {
      state.jwksStatus = status;
    },
    get discoveryBody() {
      return state.discoveryBody;
    },
    set discoveryBody(body: string | undefined) {
      state.discoveryBody = body;
    },
    async sign(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iat: now, exp: now + 600, aud: audience, ...claims })
        .setProtectedHeader({ alg, kid: options.kid ?? current.kid, typ: 'at+jwt' })
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
