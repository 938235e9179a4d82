import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  createCertificationRequest,
  parsePolicy,
  parseX509Svid,
  pemDecodeAll,
  type SigningKey,
} from '@tessera/core';
import { createTestCa, eventually, ManualClock, type TestCertificate } from '@tessera/core/testing';
import { freePort, startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { tessera, tesseraHttpsOptions, type TesseraPluginOptions } from '../src/index.ts';
import { get, keepAliveAgent } from './support/mtls.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  event-service: {}
  api-gateway: {}
  billing:
    routes:
      - { method: GET, path: /whoami, allow: any-authenticated }
`);

/** An X.509-SVID from the authority's `POST /v1/svid/x509`, with its key, as a client presents it. */
async function svidFor(
  authority: TestAuthority,
  caller: { key: SigningKey; clientId: string },
): Promise<TestCertificate> {
  const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const response = await authority.form('/v1/svid/x509', {
    csr: createCertificationRequest(privateKey),
    client_assertion_type: JWT_BEARER,
    client_assertion: authority.assertion(caller.key, caller.clientId),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const { svid } = (await response.json()) as { svid: string };
  const der = pemDecodeAll(svid, 'CERTIFICATE')[0]!;
  return {
    der,
    certPem: svid,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    privateKey,
  };
}

describe('@tessera/fastify with an HTTPS authority (authority.ca) and mTLS callers', () => {
  let authority: TestAuthority;
  let bundle: string;
  let billing: { key: SigningKey; clientId: string };
  let events: { key: SigningKey; clientId: string };
  let gateway: { key: SigningKey; clientId: string };
  const apps: FastifyInstance[] = [];

  before(async () => {
    authority = await startTestAuthority({ tls: true });
    bundle = await authority.bundlePem();
    billing = await authority.register('billing', [], []);
    events = await authority.register('event-service', ['billing'], ['invoices:write']);
    gateway = await authority.register('api-gateway', ['billing'], ['invoices:read']);
  });
  after(async () => {
    for (const app of apps) await app.close();
    await authority.close();
  });

  async function billingApp(
    trust: Partial<NonNullable<TesseraPluginOptions['authority']>>,
    https?: { key: string; cert: string },
    clock?: ManualClock,
  ): Promise<FastifyInstance> {
    const app = (
      https === undefined
        ? Fastify()
        : Fastify({ https: tesseraHttpsOptions({ ...https, ca: bundle }) })
    ) as FastifyInstance;
    apps.push(app);
    await app.register(tessera, {
      service: 'billing',
      policy,
      authority: {
        url: authority.url,
        credentials: { privateKey: billing.key.privateKey },
        ...trust,
      },
      ...(https === undefined ? {} : { mtls: { mode: 'required' as const } }),
      ...(clock === undefined ? {} : { clock }),
    });
    app.get('/whoami', (request) => ({ caller: request.caller?.spiffeId }));
    return app;
  }

  it('fetches keys and streams revocations trusting only the bundle, checking the authority ID', async () => {
    const app = await billingApp({ ca: bundle });
    await app.ready();
    await eventually(() => app.tessera.revocations?.state === 'streaming', 5000);
    assert.equal(app.tessera.degraded(), false);
  });

  for (const [name, trust] of [
    ['a bundle of another CA', () => ({ ca: createTestCa().certPem })],
    [
      'another SPIFFE ID than the authority presents',
      () => ({ ca: bundle, spiffeId: 'spiffe://tessera.local/billing' }),
    ],
  ] as const) {
    it(`does not talk to the authority with ${name}`, async () => {
      const before = authority.logLines.length;
      const app = await billingApp(trust());
      await app.ready();
      assert.equal(app.tessera.jwks?.isStale(), true, 'no keys were fetched');
      assert.equal(app.tessera.revocations?.isStale(), true, 'no revocations either');
      assert.equal(
        authority.logLines.slice(before).some((line) => line.includes('/v1/revocations')),
        false,
        'no request reached the authority',
      );
    });
  }

  it('refuses authority.ca for a plain-http URL and authority.spiffeId without ca', async () => {
    for (const authorityOptions of [
      { url: 'http://127.0.0.1:1', ca: bundle },
      { url: authority.url, spiffeId: 'spiffe://tessera.local/tessera-authority' },
      { url: authority.url, ca: 'not a bundle' },
    ]) {
      const app = Fastify();
      await assert.rejects(
        (async () => {
          await app.register(tessera, {
            service: 'billing',
            policy,
            authority: { credentials: { privateKey: billing.key.privateKey }, ...authorityOptions },
          });
          await app.ready();
        })(),
        (error: { code?: string }) => error.code === 'ERR_CONFIG_INVALID',
      );
      await app.close();
    }
  });

  it('refuses an authority-issued SVID revoked by serial, and a disabled service, on the next request of an open connection', async () => {
    const server = await svidFor(authority, billing);
    const app = await billingApp({ ca: bundle }, { key: server.keyPem, cert: server.certPem });
    const port = await freePort();
    await app.listen({ host: '127.0.0.1', port });
    await eventually(() => app.tessera.revocations?.state === 'streaming', 5000);

    const eventsSvid = await svidFor(authority, events);
    const eventsConnection = keepAliveAgent(bundle, eventsSvid, billing.clientId);
    const gatewayConnection = keepAliveAgent(
      bundle,
      await svidFor(authority, gateway),
      billing.clientId,
    );
    try {
      const first = await get(eventsConnection, port, '/whoami');
      assert.equal(first.status, 200);
      assert.deepEqual(JSON.parse(first.body), { caller: events.clientId });
      assert.equal((await get(gatewayConnection, port, '/whoami')).status, 200);

      const revoked = await authority.admin('POST', '/v1/admin/svids/revoke', {
        serial: parseX509Svid(eventsSvid.der).serialNumber,
      });
      assert.equal(revoked.status, 201);
      await eventually(
        async () => (await get(eventsConnection, port, '/whoami')).status === 401,
        5000,
      );
      const again = await get(eventsConnection, port, '/whoami');
      assert.equal(again.localPort, first.localPort, 'the same connection');
      assert.equal((JSON.parse(again.body) as { code: string }).code, 'ERR_SVID_REVOKED');

      assert.equal((await authority.admin('DELETE', '/v1/admin/services/api-gateway')).status, 204);
      await eventually(
        async () => (await get(gatewayConnection, port, '/whoami')).status === 401,
        5000,
      );
      const disabled = await get(gatewayConnection, port, '/whoami');
      assert.equal((JSON.parse(disabled.body) as { code: string }).code, 'ERR_SVID_REVOKED');
    } finally {
      eventsConnection.destroy();
      gatewayConnection.destroy();
    }
  });

  it('refuses a certificate caller while the revocation feed is stale (fail closed)', async () => {
    const clock = new ManualClock(Date.now());
    const server = await svidFor(authority, billing);
    const app = await billingApp(
      { ca: bundle },
      { key: server.keyPem, cert: server.certPem },
      clock,
    );
    const port = await freePort();
    await app.listen({ host: '127.0.0.1', port });
    await eventually(() => app.tessera.revocations?.state === 'streaming', 5000);
    const connection = keepAliveAgent(bundle, await svidFor(authority, events), billing.clientId);
    try {
      assert.equal((await get(connection, port, '/whoami')).status, 200);
      // The feed's last news is now 61 s old on the plugin's clock (its limit is 60 s).
      clock.advance(61_000);
      const stale = await get(connection, port, '/whoami');
      assert.equal(stale.status, 401);
      assert.equal((JSON.parse(stale.body) as { code: string }).code, 'ERR_REVOCATIONS_STALE');
    } finally {
      connection.destroy();
    }
  });
});
