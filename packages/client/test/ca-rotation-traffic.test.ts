import assert from 'node:assert/strict';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import { request } from 'undici';
import { createWorkloadIdentity, type WorkloadIdentity } from '@tessera/client';

/**
 * CA rotation under steady mTLS traffic, in real time: the next CA is published in the bundle
 * (`POST /v1/admin/ca/rotate`), reaches both workloads with their renewals, starts signing one
 * maximum SVID lifetime later, and both workloads move to certificates from it. Every request made
 * meanwhile must succeed: a single failed handshake fails the test.
 *
 * The authority allows no shorter pre-publication than one maximum SVID lifetime (60 s at least),
 * so this file takes about 80 s.
 */

const quiet = { info: () => undefined, warn: () => undefined };
const SVID_SECONDS = 16;
const WORKERS = 4;
/** Bounds: the whole scenario, and the pause between a worker's requests. */
const SCENARIO_MS = 150_000;
const PAUSE_MS = 25;

function issuerOf(identity: WorkloadIdentity): string {
  const pem = identity.current()?.certificatePem;
  assert.ok(pem !== undefined, 'the identity holds a certificate');
  return new X509Certificate(pem).issuer;
}

describe('CA rotation during steady mTLS traffic', () => {
  let authority: TestAuthority;
  const identities: WorkloadIdentity[] = [];
  let server: Server | undefined;

  before(async () => {
    authority = await startTestAuthority({
      tls: true,
      config: { ca: { maxSvidLifetimeSeconds: 60, prepublishSeconds: 60 } },
    });
  });
  after(async () => {
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    }
    for (const identity of identities) await identity.close();
    await authority.close();
  });

  it('serves every request while the next CA is published, activated and used', async () => {
    const billingKey = (await authority.register('billing', [], [])).key;
    const eventsKey = (await authority.register('event-service', ['billing'], [])).key;
    const ca = await authority.bundlePem();
    const errors: string[] = [];
    const identity = async (name: string, key: typeof billingKey) => {
      const created = await createWorkloadIdentity({
        authority: { url: authority.url, ca },
        spiffeId: `spiffe://tessera.local/${name}`,
        credentials: { key },
        logger: quiet,
        svidLifetimeSeconds: SVID_SECONDS,
        retryBaseMs: 100,
        retryMaxMs: 1000,
        startTimeoutMs: 20_000,
      });
      created.on('error', (error) => errors.push(`${name}: ${error.code}`));
      identities.push(created);
      return created;
    };
    const billing = await identity('billing', billingKey);
    const events = await identity('event-service', eventsKey);
    const oldIssuer = issuerOf(billing);
    assert.equal(issuerOf(events), oldIssuer);

    const served = createServer(billing.tlsServerOptions(), (_req, res) => res.end('ok'));
    server = served;
    billing.attachServer(served);
    served.listen(0, '127.0.0.1');
    await once(served, 'listening');
    const url = `https://127.0.0.1:${(served.address() as AddressInfo).port}/`;

    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        // A fresh dispatcher per request from the identity's current one: new connections, so
        // handshakes keep happening across the rotation, not just one long-lived connection.
        const dispatcher = events.dispatcher({
          expectedServerId: 'spiffe://tessera.local/billing',
        });
        try {
          const response = await request(url, { dispatcher, headersTimeout: 10_000 });
          await response.body.dump();
          if (response.statusCode === 200) ok += 1;
          else failures.push(`status ${response.statusCode}`);
        } catch (error) {
          failures.push((error as Error).message);
        } finally {
          await dispatcher.close();
        }
        await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      }
    };
    const workers = Array.from({ length: WORKERS }, worker);

    const started = Date.now();
    try {
      const rotated = await authority.admin('POST', '/v1/admin/ca/rotate');
      assert.equal(rotated.status, 200);
      const { next } = (await rotated.json()) as { next: { subject: string; activatesAt: number } };
      assert.notEqual(next.subject, oldIssuer);
      // Both workloads end on certificates from the new CA; until then traffic keeps flowing.
      while (issuerOf(billing) === oldIssuer || issuerOf(events) === oldIssuer) {
        assert.ok(Date.now() - started < SCENARIO_MS, 'both workloads moved to the new CA in time');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      // A little traffic with both new certificates in place.
      const settled = ok;
      while (ok < settled + 20) {
        assert.ok(Date.now() - started < SCENARIO_MS, 'traffic continues after the rotation');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    assert.deepEqual(failures, [], `${failures.length} failed of ${ok + failures.length}`);
    assert.deepEqual(errors, []);
    assert.ok(ok > 100, `steady traffic: ${ok} requests`);
    assert.notEqual(issuerOf(billing), oldIssuer);
  });
});
