import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { isTesseraError, parseX509Svid, type SigningKey } from '@tessera/core';
import { startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import { request } from 'undici';
import {
  createServiceDispatcher,
  createServiceMap,
  createWorkloadIdentity,
  type WorkloadIdentity,
  type WorkloadIdentityOptions,
} from '@tessera/client';

/**
 * The workload identity against the real authority (`startTestAuthority` over HTTPS): the first
 * SVID with a client assertion, renewal over mTLS with the current SVID, the trust bundle from
 * `GET /v1/bundle`, and a call between two services with mTLS and a bearer token from the token
 * endpoint reached over the same mTLS.
 */

const quiet = { info: () => undefined, warn: () => undefined };

function svidsIssued(metrics: string, method: string): number {
  const line = metrics
    .split('\n')
    .find((l) => l.startsWith(`tessera_authority_svids_issued_total{auth_method="${method}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

function nextRotation(identity: WorkloadIdentity, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no rotation within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = identity.on('rotated', (svid) => {
      clearTimeout(timer);
      off();
      resolve(svid.serialNumber);
    });
  });
}

describe('workload identity against the authority over HTTPS', () => {
  let authority: TestAuthority;
  let billingKey: SigningKey;
  let eventsKey: SigningKey;
  const identities: WorkloadIdentity[] = [];
  let server: Server | undefined;

  const options = (
    spiffeId: string,
    key: SigningKey,
    ca: string,
    extra: Partial<WorkloadIdentityOptions> = {},
  ): WorkloadIdentityOptions => ({
    authority: { url: authority.url, ca },
    spiffeId,
    credentials: { key },
    logger: quiet,
    retryBaseMs: 100,
    retryMaxMs: 1000,
    startTimeoutMs: 20_000,
    ...extra,
  });

  before(async () => {
    authority = await startTestAuthority({ tls: true });
    billingKey = (await authority.register('billing', [], [])).key;
    eventsKey = (await authority.register('event-service', ['billing'], ['invoices:write'])).key;
  });
  after(async () => {
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    }
    for (const identity of identities) await identity.close();
    await authority.close();
  });

  it('refuses the authority when trusting another CA', async () => {
    const { createTestCa } = await import('@tessera/core/testing');
    await assert.rejects(
      createWorkloadIdentity(
        options('spiffe://tessera.local/billing', billingKey, createTestCa().certPem, {
          startTimeoutMs: 1500,
        }),
      ),
      (error) => isTesseraError(error) && error.code === 'ERR_UNAVAILABLE',
    );
  });

  it('starts from a join token with an Ed25519 key and renews over mTLS (the token is spent)', async () => {
    await authority.register('ledger', [], []);
    const created = await authority.admin('POST', '/v1/admin/join-tokens', { service: 'ledger' });
    assert.equal(created.status, 201);
    const { token } = (await created.json()) as { token: string };
    const ledger = await createWorkloadIdentity({
      ...options('spiffe://tessera.local/ledger', billingKey, await authority.bundlePem(), {
        keyType: 'Ed25519',
        svidLifetimeSeconds: 4,
      }),
      credentials: { joinToken: token },
    });
    identities.push(ledger);
    const first = ledger.current()?.svid.serialNumber;
    assert.equal(ledger.current()?.svid.spiffeId.uri, 'spiffe://tessera.local/ledger');
    assert.notEqual(await nextRotation(ledger), first);
  });

  it('obtains SVIDs, serves mTLS, calls with mTLS plus a token, renews over mTLS', async () => {
    const ca = await authority.bundlePem();
    const billing = await createWorkloadIdentity(
      options('spiffe://tessera.local/billing', billingKey, ca, { svidLifetimeSeconds: 6 }),
    );
    identities.push(billing);
    const errors: string[] = [];
    billing.on('error', (error) => errors.push(`${error.code} ${error.detail ?? ''}`));
    const events = await createWorkloadIdentity(
      options('spiffe://tessera.local/event-service', eventsKey, ca),
    );
    identities.push(events);
    assert.equal(billing.current()?.svid.spiffeId.uri, 'spiffe://tessera.local/billing');

    const served = createServer(billing.tlsServerOptions(), (req, res) => {
      const peer = (
        req.socket as unknown as { getPeerCertificate(): PeerCertificate }
      ).getPeerCertificate();
      res.end(
        JSON.stringify({
          caller: parseX509Svid(new Uint8Array(peer.raw)).spiffeId.uri,
          bearer: req.headers.authorization?.startsWith('Bearer ') === true,
        }),
      );
    });
    server = served;
    billing.attachServer(served);
    served.listen(0, '127.0.0.1');
    await once(served, 'listening');
    const url = `https://127.0.0.1:${(served.address() as AddressInfo).port}`;

    const services = createServiceMap(
      { billing: { url, scopes: ['invoices:write'] } },
      { trustDomain: 'tessera.local' },
    );
    const agent = events.dispatcher({ services });
    const dispatcher = createServiceDispatcher({
      tokens: events.tokenSource(),
      services,
      agent,
    });
    try {
      const response = await request(`${url}/invoices`, { dispatcher });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(await response.body.json(), {
        caller: 'spiffe://tessera.local/event-service',
        bearer: true,
      });

      const metrics = async () => (await authority.request('/metrics')).text();
      const before = svidsIssued(await metrics(), 'tls_client_auth');
      const first = billing.current()?.svid.serialNumber;
      const renewed = await nextRotation(billing);
      assert.notEqual(renewed, first);
      const now = await metrics();
      assert.ok(svidsIssued(now, 'tls_client_auth') > before, 'renewal used the SVID over mTLS');
      assert.ok(svidsIssued(now, 'private_key_jwt') >= 2);
      const again = await request(`${url}/invoices`, { dispatcher });
      assert.equal(again.statusCode, 200);
      await again.body.dump();
      // The bundle refresh (GET /v1/bundle) and the renewal went through without a failure.
      assert.deepEqual(errors, []);
    } finally {
      await agent.close();
    }
  });
});
