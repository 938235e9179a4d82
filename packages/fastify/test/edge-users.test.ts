import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  createVerifier,
  generateSigningKey,
  KeySet,
  parsePolicy,
  signCompactJws,
  systemClock,
  type SigningKey,
} from '@tessera/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { tessera, type TesseraPluginOptions } from '@tessera/fastify';

/**
 * Users behind services, through the plugin over Fastify's inject: end-user tokens of an external
 * OpenID issuer at the edge, delegated callers with their actor chain, per-route user and tenant
 * rules, and what the audit event records. Every refusal row names the code it must produce.
 */

const AUTHORITY = 'http://127.0.0.1:7700';
const IDP = 'http://127.0.0.1:7704';
const GATEWAY = 'spiffe://tessera.local/api-gateway';
const EVENTS = 'spiffe://tessera.local/event-service';
const BILLING = 'spiffe://tessera.local/billing';

const authorityKey = generateSigningKey('ES256');
const idpKey = generateSigningKey('ES256');
const strangerKey = generateSigningKey('ES256');

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  api-gateway:
    routes:
      - { method: GET, path: /me, user: required, allow: [{ users: true }] }
      - method: GET
        path: /tenants/:tenantId/invoices/:id
        user: required
        tenant: { param: tenantId }
        allow: [{ users: true, scopes: [invoices:read] }, { service: event-service, scopes: [invoices:read] }]
      - { method: GET, path: /internal, user: forbidden, allow: [{ service: event-service, scopes: [invoices:read] }] }
      - { method: GET, path: /delegated, user: required, allow: [{ service: event-service, scopes: [invoices:read] }] }
  event-service: {}
  billing: {}
`);

const nowS = (): number => Math.floor(Date.now() / 1000);

function userToken(
  claims: Record<string, unknown> = {},
  key: SigningKey = idpKey,
  header: Record<string, unknown> = {},
): string {
  return signCompactJws(
    { alg: key.alg, typ: 'at+jwt', kid: key.kid, ...header },
    {
      iss: IDP,
      sub: 'alice',
      aud: 'api-gateway',
      iat: nowS(),
      exp: nowS() + 300,
      tenant_id: 'acme',
      scope: 'openid invoices:read',
      ...claims,
    },
    key,
  );
}

/** A token of the authority for the gateway: a service call, or a delegated one with `act`. */
function authorityToken(claims: Record<string, unknown> = {}): string {
  return signCompactJws(
    { alg: 'ES256', typ: 'at+jwt', kid: authorityKey.kid },
    {
      iss: AUTHORITY,
      sub: EVENTS,
      client_id: EVENTS,
      aud: GATEWAY,
      iat: nowS(),
      nbf: nowS(),
      exp: nowS() + 300,
      jti: `jti-${Math.random()}`,
      scope: 'invoices:read',
      ...claims,
    },
    authorityKey,
  );
}

const delegated = (act: unknown, extra: Record<string, unknown> = {}): string =>
  authorityToken({ sub: 'alice', tenant_id: 'acme', act, ...extra });

function unsigned(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode(header)}.${encode(claims)}`;
}

function hs256(): string {
  const input = unsigned(
    { alg: 'HS256', typ: 'at+jwt', kid: idpKey.kid },
    { iss: IDP, sub: 'alice', aud: 'api-gateway', iat: nowS(), exp: nowS() + 300 },
  );
  return `${input}.${createHmac('sha256', JSON.stringify(idpKey.publicJwk)).update(input).digest('base64url')}`;
}

/** An RS256 user token, signed as Keycloak, Auth0 or Entra ID would. */
function rs256UserToken(privateKey: KeyObject, kid: string): string {
  const input = unsigned(
    { alg: 'RS256', typ: 'JWT', kid },
    {
      iss: IDP,
      sub: 'alice',
      aud: 'api-gateway',
      iat: nowS(),
      exp: nowS() + 300,
      tenant_id: 'acme',
    },
  );
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

/** The IdP's JWKS on a loopback socket; `keys` may change during a test (rotation). */
class JwksServer {
  keys: SigningKey[] = [idpKey];
  /** Further JWKs published as they are (an RSA provider's keys). */
  extra: Record<string, unknown>[] = [];
  fetches = 0;
  readonly server: Server = createServer((_request, response) => {
    this.fetches++;
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({ keys: [...this.keys.map((key) => key.publicJwk), ...this.extra] }),
    );
  });
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks`;
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}

interface Edge {
  readonly app: FastifyInstance;
  readonly audit: Record<string, unknown>[];
}

async function buildEdge(overrides: Partial<TesseraPluginOptions> = {}): Promise<Edge> {
  const audit: Record<string, unknown>[] = [];
  const app = Fastify({
    logger: {
      level: 'info',
      stream: {
        write: (line: string) => {
          const record = JSON.parse(line) as Record<string, unknown>;
          if (record.event === 'tessera.request') audit.push(record);
        },
      },
    },
  });
  await app.register(tessera, {
    service: 'api-gateway',
    policy,
    verifier: createVerifier({
      issuer: AUTHORITY,
      audience: GATEWAY,
      keys: new KeySet([authorityKey]),
      clock: systemClock,
      trustDomain: 'tessera.local',
    }),
    users: { issuer: IDP, audience: 'api-gateway', jwks: new KeySet([idpKey]) },
    ...overrides,
  });
  const whoami = (request: { caller: unknown }) => ({ caller: request.caller });
  app.get('/me', whoami);
  app.get('/tenants/:tenantId/invoices/:id', whoami);
  app.get('/internal', whoami);
  app.get('/delegated', whoami);
  await app.ready();
  return { app, audit };
}

async function call(
  edge: Edge,
  url: string,
  token: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await edge.app.inject({
    method: 'GET',
    url,
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.statusCode, body: response.json() };
}

describe('@tessera/fastify: users behind services', () => {
  let edge: Edge;
  before(async () => {
    edge = await buildEdge();
  });
  after(async () => {
    await edge.app.close();
  });

  it('makes an end-user token of the configured issuer a user caller on a route for users', async () => {
    const { status, body } = await call(edge, '/me', userToken());
    assert.equal(status, 200);
    assert.deepEqual(body.caller, {
      kind: 'user',
      user: 'alice',
      tenant: 'acme',
      scopes: ['openid', 'invoices:read'],
      jti: '',
      issuer: IDP,
      issuedAt: (body.caller as { issuedAt: number }).issuedAt,
      expiresAt: (body.caller as { expiresAt: number }).expiresAt,
    });
  });

  it('makes a token with an act chain a delegated caller with user, tenant and actors', async () => {
    const { status, body } = await call(
      edge,
      '/delegated',
      delegated({ sub: EVENTS, act: { sub: BILLING } }),
    );
    assert.equal(status, 200);
    const caller = body.caller as Record<string, unknown>;
    assert.equal(caller.kind, 'delegated');
    assert.equal(caller.user, 'alice');
    assert.equal(caller.tenant, 'acme');
    assert.equal(caller.spiffeId, EVENTS);
    assert.deepEqual(caller.actors, [EVENTS, BILLING]);
  });

  // Route × token → status and code. Each row is a check that, removed, lets the request through.
  // prettier-ignore
  const REFUSALS: readonly (readonly [name: string, url: string, token: () => string, status: number, code: string])[] = [
    ['a delegated token on a service-only route', '/internal', () => delegated({ sub: EVENTS }), 403, 'ERR_POLICY_DELEGATION'],
    ['a service token on a user-required route', '/delegated', () => authorityToken(), 403, 'ERR_POLICY_DELEGATION'],
    ['a service token on a route for end users', '/me', () => authorityToken(), 403, 'ERR_POLICY_DELEGATION'],
    ['a user token from an unconfigured issuer', '/me', () => userToken({ iss: 'http://127.0.0.1:9999' }), 401, 'ERR_TOKEN_KID_UNKNOWN'],
    ['a user token of the issuer signed by a stranger', '/me', () => userToken({}, strangerKey), 401, 'ERR_TOKEN_KID_UNKNOWN'],
    ['a user token with a forged signature under the real kid', '/me', () => `${userToken().slice(0, -6)}AAAAAA`, 401, 'ERR_TOKEN_SIGNATURE'],
    ['a user token with alg none', '/me', () => `${unsigned({ alg: 'none', typ: 'at+jwt', kid: idpKey.kid }, { iss: IDP, sub: 'alice', aud: 'api-gateway', exp: nowS() + 300 })}.`, 401, 'ERR_TOKEN_ALG'],
    ['a user token with alg none and a signature', '/me', () => `${unsigned({ alg: 'none', typ: 'at+jwt', kid: idpKey.kid }, { iss: IDP, sub: 'alice', aud: 'api-gateway', exp: nowS() + 300 })}.${userToken().split('.')[2]}`, 401, 'ERR_TOKEN_ALG'],
    ['a user token with HMAC keyed by the public key', '/me', hs256, 401, 'ERR_TOKEN_ALG'],
    ['a user token carrying its own key (jwk header)', '/me', () => userToken({}, idpKey, { jwk: idpKey.publicJwk }), 401, 'ERR_TOKEN_HEADER'],
    ['a user token for another audience', '/me', () => userToken({ aud: 'billing' }), 401, 'ERR_TOKEN_AUDIENCE'],
    ['a user token with no audience', '/me', () => userToken({ aud: undefined }), 401, 'ERR_TOKEN_AUDIENCE'],
    ['an expired user token', '/me', () => userToken({ iat: nowS() - 900, exp: nowS() - 600 }), 401, 'ERR_TOKEN_EXPIRED'],
    ['a user token without exp', '/me', () => userToken({ exp: undefined }), 401, 'ERR_TOKEN_CLAIMS'],
    ['a user token not yet valid', '/me', () => userToken({ nbf: nowS() + 600 }), 401, 'ERR_TOKEN_NOT_YET_VALID'],
    ['a user token without sub', '/me', () => userToken({ sub: undefined }), 401, 'ERR_TOKEN_CLAIMS'],
    ['a user token on a route not for users (act injected)', '/delegated', () => userToken({ act: { sub: EVENTS } }), 401, 'ERR_TOKEN_KID_UNKNOWN'],
    ['a user token on a service-only route', '/internal', () => userToken(), 401, 'ERR_TOKEN_KID_UNKNOWN'],
    ['an act chain with a malformed SPIFFE ID', '/delegated', () => delegated({ sub: EVENTS, act: { sub: 'spiffe://tessera.local/../billing' } }), 401, 'ERR_TOKEN_ACT'],
    ['an act chain naming another trust domain', '/delegated', () => delegated({ sub: EVENTS, act: { sub: 'spiffe://evil.example/billing' } }), 401, 'ERR_TOKEN_ACT'],
    ['an act without sub', '/delegated', () => delegated({ act: { sub: EVENTS } }), 401, 'ERR_TOKEN_ACT'],
    ['alice reading an invoice of another tenant', '/tenants/globex/invoices/inv-1', () => userToken(), 403, 'ERR_POLICY_TENANT'],
    ['a delegated call for another tenant', '/tenants/globex/invoices/inv-1', () => delegated({ sub: EVENTS }), 403, 'ERR_POLICY_TENANT'],
    ['a user without a tenant on a tenant route', '/tenants/acme/invoices/inv-1', () => userToken({ tenant_id: undefined }), 403, 'ERR_POLICY_TENANT'],
    ['a user without the route scope', '/tenants/acme/invoices/inv-1', () => userToken({ scope: 'openid' }), 403, 'ERR_POLICY_SCOPE'],
  ];
  for (const [name, url, token, status, code] of REFUSALS) {
    it(`refuses ${name}: ${status} ${code}`, async () => {
      const response = await call(edge, url, token());
      assert.equal(response.status, status);
      assert.equal(response.body.code, code);
    });
  }

  it('lets alice read her own tenant, and keeps a user token with an injected act a user', async () => {
    const own = await call(edge, '/tenants/acme/invoices/inv-1', userToken());
    assert.equal(own.status, 200);
    const injected = await call(
      edge,
      '/me',
      userToken({ act: { sub: EVENTS, act: { sub: BILLING } } }),
    );
    assert.equal(injected.status, 200);
    const caller = injected.body.caller as Record<string, unknown>;
    assert.equal(caller.kind, 'user');
    assert.equal(caller.actors, undefined);
    assert.equal(caller.spiffeId, undefined);
  });

  it('records user, tenant and the actor chain in every audit event', async () => {
    edge.audit.length = 0;
    await call(edge, '/delegated', delegated({ sub: EVENTS, act: { sub: BILLING } }));
    await call(edge, '/me', userToken());
    await call(edge, '/internal', authorityToken());
    await call(edge, '/tenants/globex/invoices/inv-1', userToken());
    const [forUser, user, service, crossTenant] = edge.audit;
    assert.deepEqual(
      [forUser?.caller, forUser?.actor, forUser?.user, forUser?.tenant, forUser?.actors],
      ['alice', EVENTS, 'alice', 'acme', [EVENTS, BILLING]],
    );
    assert.deepEqual(
      [user?.caller, user?.actor, user?.user, user?.tenant, user?.actors],
      ['alice', null, 'alice', 'acme', null],
    );
    assert.deepEqual(
      [service?.caller, service?.user, service?.tenant, service?.actors],
      [EVENTS, null, null, null],
    );
    assert.deepEqual(
      [crossTenant?.decision, crossTenant?.reason, crossTenant?.user, crossTenant?.tenant],
      ['deny', 'ERR_POLICY_TENANT', 'alice', 'acme'],
    );
  });
});

describe('@tessera/fastify: users.jwks fetched from the issuer', () => {
  it('verifies RS256 tokens of a provider publishing an RSA signing key beside an encryption key', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = rsa.publicKey.export({ format: 'jwk' });
    const jwks = new JwksServer();
    // Keycloak's layout: one RS256 signing key, one RSA-OAEP encryption key, no EC keys.
    jwks.keys = [];
    jwks.extra = [
      { ...jwk, kid: 'kc-sig', use: 'sig', alg: 'RS256' },
      { ...jwk, kid: 'kc-enc', use: 'enc', alg: 'RSA-OAEP' },
    ];
    const url = await jwks.start();
    const edge = await buildEdge({ users: { issuer: IDP, audience: 'api-gateway', jwks: url } });
    try {
      const admitted = await call(edge, '/me', rs256UserToken(rsa.privateKey, 'kc-sig'));
      assert.equal(admitted.status, 200);
      assert.deepEqual(
        [
          (admitted.body.caller as Record<string, unknown>).kind,
          (admitted.body.caller as Record<string, unknown>).user,
        ],
        ['user', 'alice'],
      );
      const encryptionKey = await call(edge, '/me', rs256UserToken(rsa.privateKey, 'kc-enc'));
      assert.deepEqual(
        [encryptionKey.status, encryptionKey.body.code],
        [401, 'ERR_TOKEN_KID_UNKNOWN'],
      );
    } finally {
      await edge.app.close();
      await jwks.close();
    }
  });

  it('refuses RS256 when users.algorithms leaves it out', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa', use: 'sig' };
    const edge = await buildEdge({
      users: { issuer: IDP, audience: 'api-gateway', jwks: { keys: [jwk] }, algorithms: ['ES256'] },
    });
    try {
      const refused = await call(edge, '/me', rs256UserToken(rsa.privateKey, 'rsa'));
      assert.deepEqual([refused.status, refused.body.code], [401, 'ERR_TOKEN_ALG']);
    } finally {
      await edge.app.close();
    }
  });

  it('fetches the JWKS at startup and refetches once for an unknown kid (rotation)', async () => {
    const jwks = new JwksServer();
    const url = await jwks.start();
    const edge = await buildEdge({
      users: { issuer: IDP, audience: 'api-gateway', jwks: url, jwksCooldownMs: 1 },
    });
    try {
      assert.equal(jwks.fetches, 1);
      assert.equal((await call(edge, '/me', userToken())).status, 200);
      const rotated = generateSigningKey('ES256');
      jwks.keys = [idpKey, rotated];
      assert.equal((await call(edge, '/me', userToken({}, rotated))).status, 200);
      assert.equal(jwks.fetches, 2);
      const stranger = await call(edge, '/me', userToken({}, strangerKey));
      assert.deepEqual([stranger.status, stranger.body.code], [401, 'ERR_TOKEN_KID_UNKNOWN']);
    } finally {
      await edge.app.close();
      await jwks.close();
    }
  });

  it('refuses a users.jwks URL over plain http to a non-loopback host, and bad options', async () => {
    await assert.rejects(
      buildEdge({
        users: { issuer: IDP, audience: 'api-gateway', jwks: 'http://idp.example/jwks' },
      }),
      (error: { code?: string }) => error.code === 'ERR_CONFIG_INSECURE',
    );
    for (const users of [
      { audience: 'api-gateway', jwks: new KeySet([idpKey]) },
      { issuer: IDP, jwks: new KeySet([idpKey]) },
      { issuer: IDP, audience: 'api-gateway', jwks: 7 },
      { issuer: IDP, audience: 'api-gateway', jwks: new KeySet([idpKey]), algorithms: ['HS256'] },
      { issuer: IDP, audience: 'api-gateway', jwks: new KeySet([idpKey]), algorithms: ['none'] },
      { issuer: IDP, audience: 'api-gateway', jwks: new KeySet([idpKey]), algorithms: 'RS256' },
      { issuer: IDP, audience: 'api-gateway', jwks: new KeySet([idpKey]), algorithms: [] },
    ]) {
      await assert.rejects(
        buildEdge({ users: users as unknown as NonNullable<TesseraPluginOptions['users']> }),
        (error: { code?: string }) => error.code === 'ERR_CONFIG_INVALID',
        JSON.stringify(users),
      );
    }
  });
});
