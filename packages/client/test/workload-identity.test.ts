import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { generateSigningKey, isTesseraError, parseX509Svid, type SigningKey } from '@tessera/core';
import { createTestCa, type TestCertificate } from '@tessera/core/testing';
import { request } from 'undici';
import {
  createServiceDispatcher,
  createServiceMap,
  createWorkloadIdentity,
  type WorkloadIdentity,
  type WorkloadIdentityEvents,
  type WorkloadIdentityOptions,
} from '@tessera/client';
import { startStubSvidAuthority, type StubSvidAuthority } from './stub-svid-authority.ts';

const TD = 'tessera.local';
const BILLING = `spiffe://${TD}/billing`;
const EVENTS = `spiffe://${TD}/event-service`;

const keys = new Map<string, SigningKey>([
  [BILLING, generateSigningKey()],
  [EVENTS, generateSigningKey()],
]);
const keyOf = (id: string) => keys.get(id)!;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-identity-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(
  command: string,
  args: readonly string[],
  input = '',
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

async function files(name: string, certificate: { certPem: string; keyPem: string }) {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await writeFile(cert, certificate.certPem);
  await writeFile(key, certificate.keyPem, { mode: 0o600 });
  return { cert, key };
}

function identityOptions(
  authority: StubSvidAuthority,
  spiffeId: string,
  extra: Partial<WorkloadIdentityOptions> = {},
): WorkloadIdentityOptions {
  return {
    authority: {
      url: authority.url,
      ...(authority.url.startsWith('https') ? { ca: authority.bundlePem() } : {}),
    },
    spiffeId,
    credentials: { key: keyOf(spiffeId) },
    retryBaseMs: 50,
    retryMaxMs: 200,
    startTimeoutMs: 10_000,
    random: () => 0.5,
    logger: { info: () => undefined, warn: () => undefined },
    ...extra,
  };
}

/** An mTLS server built from the identity; answers with the caller's SPIFFE ID and authorization. */
async function mtlsServer(identity: WorkloadIdentity): Promise<{ server: Server; url: string }> {
  const server = createServer(identity.tlsServerOptions(), (req, res) => {
    const peer = (
      req.socket as unknown as { getPeerCertificate(): PeerCertificate }
    ).getPeerCertificate();
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        // Answers (rather than throws) without a certificate, so a refusal is the TLS layer's.
        caller: 'raw' in peer ? parseX509Svid(new Uint8Array(peer.raw)).spiffeId.uri : null,
        authorization: req.headers.authorization ?? null,
      }),
    );
  });
  identity.attachServer(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function closeServer(server: Server) {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** One TLS handshake; resolves to the server certificate's serial or the error. */
function handshake(
  port: number,
  options: { ca: string; key?: string; cert?: string },
): Promise<{ serial?: string; error?: Error; socket?: TLSSocket }> {
  return new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ...options,
      checkServerIdentity: () => undefined,
      minVersion: 'TLSv1.2',
    });
    socket.once('secureConnect', () => {
      // TLS 1.3: the server judges the client certificate after the client's Finished; a refusal
      // arrives as an alert on the first read.
      socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      socket.once('data', () => {
        resolve({ serial: socket.getPeerCertificate().serialNumber.toLowerCase(), socket });
      });
    });
    socket.once('error', (error: Error) => {
      resolve({ error });
    });
    // A refused client certificate may end in a plain close instead of an alert.
    socket.once('close', () => {
      resolve({ error: new Error('closed before an answer') });
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
  });
}

/** The next `event` of the identity, or a rejection after `timeoutMs` (a bound, not a measurement). */
function nextEvent<E extends keyof WorkloadIdentityEvents>(
  identity: WorkloadIdentity,
  event: E,
  timeoutMs = 20_000,
): Promise<Parameters<WorkloadIdentityEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = identity.on(event, (value: Parameters<WorkloadIdentityEvents[E]>[0]) => {
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}

const errorChain = (error: unknown): unknown[] => {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && chain.length < 6;) {
    chain.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return chain;
};
const codeIn = (error: unknown) =>
  errorChain(error)
    .map((e) => (isTesseraError(e) ? e.code : (e as { code?: string }).code))
    .filter((c) => c !== undefined);

interface TwoServices {
  authority: StubSvidAuthority;
  billing: WorkloadIdentity;
  events: WorkloadIdentity;
  served: { server: Server; url: string };
}

/** For one describe block: a stub authority, billing serving mTLS, and event-service. */
function twoServices(): TwoServices {
  const fixture = {} as TwoServices;
  before(async () => {
    fixture.authority = await startStubSvidAuthority({ services: keys });
    fixture.billing = await createWorkloadIdentity(identityOptions(fixture.authority, BILLING));
    fixture.events = await createWorkloadIdentity(identityOptions(fixture.authority, EVENTS));
    fixture.served = await mtlsServer(fixture.billing);
  });
  after(async () => {
    await closeServer(fixture.served.server);
    await fixture.billing.close();
    await fixture.events.close();
    await fixture.authority.close();
  });
  return fixture;
}

describe('workload identity: refusals', () => {
  const f = twoServices();

  it('the server refuses a client without a certificate (node, curl, openssl)', async () => {
    const port = Number(new URL(f.served.url).port);
    const result = await handshake(port, { ca: f.authority.bundlePem() });
    assert.ok(result.error, 'handshake without a client certificate must fail');
    result.socket?.destroy();
    const ca = join(dir, 'refusal-ca.pem');
    await writeFile(ca, f.authority.bundlePem());
    const curl = await run('curl', [
      '-sS',
      '--cacert',
      ca,
      '--resolve',
      `localhost:${port}:127.0.0.1`,
      `https://localhost:${port}/`,
    ]);
    assert.notEqual(curl.code, 0, curl.stdout);
    const openssl = await run(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-CAfile',
        ca,
        '-verify_return_error',
        '-ign_eof',
      ],
      'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    assert.doesNotMatch(openssl.stdout, /"caller"/);
  });

  it('the server refuses certificates it must not trust', async () => {
    const port = Number(new URL(f.served.url).port);
    const otherCa = createTestCa(TD);
    const CASES: readonly [string, TestCertificate][] = [
      ['another CA, same trust domain', otherCa.issueSvid('/event-service')],
      ['a CA certificate presented as a leaf', f.authority.ca.issueIntermediate()],
      [
        'expired',
        f.authority.ca.issueSvid('/event-service', {
          notAfter: Math.floor(Date.now() / 1000) - 10,
          notBefore: Math.floor(Date.now() / 1000) - 100,
        }),
      ],
    ];
    for (const [name, certificate] of CASES) {
      const result = await handshake(port, {
        ca: f.authority.bundlePem(),
        key: certificate.keyPem,
        cert: certificate.certPem,
      });
      assert.ok(result.error, name);
    }
  });

  it('the client refuses a server whose valid certificate is another service’s', async () => {
    const otherCa = createTestCa(TD);
    const CASES: readonly [string, TestCertificate, string | undefined][] = [
      ['the expected service', f.authority.ca.issueSvid('/billing'), undefined],
      [
        'another service of the same CA',
        f.authority.ca.issueSvid('/ledger'),
        'ERR_SVID_UNEXPECTED',
      ],
      [
        'two URI SANs',
        f.authority.ca.issueLeaf([BILLING, `spiffe://${TD}/ledger`]),
        'ERR_SVID_INVALID',
      ],
      // The test CA's name constraint refuses it in the chain check already.
      ['another trust domain', f.authority.ca.issueLeaf(['spiffe://other.example/billing']), '*'],
      ['another CA', otherCa.issueSvid('/billing'), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ];
    const dispatcher = f.events.dispatcher({ expectedServerId: BILLING });
    try {
      for (const [name, certificate, code] of CASES) {
        const server = createServer(
          { key: certificate.keyPem, cert: certificate.certPem },
          (_req, res) => res.end('reached'),
        );
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
        try {
          const outcome = await request(url, { dispatcher }).then(
            async (response) => ({ body: await response.body.text(), error: undefined }),
            (error: unknown) => ({ body: undefined, error }),
          );
          if (code === undefined) assert.equal(outcome.body, 'reached', name);
          else {
            assert.equal(outcome.body, undefined, name);
            assert.ok(
              code === '*' || codeIn(outcome.error).includes(code),
              `${name}: ${codeIn(outcome.error).join(',')}`,
            );
          }
        } finally {
          await closeServer(server);
        }
      }
    } finally {
      await dispatcher.close();
    }
  });

  it('the client refuses an origin the service map does not list', async () => {
    const services = createServiceMap(
      { ledger: { url: 'https://127.0.0.1:1' } },
      { trustDomain: TD },
    );
    const dispatcher = f.events.dispatcher({ services });
    try {
      await assert.rejects(request(`${f.served.url}/`, { dispatcher }), (error) =>
        codeIn(error).includes('ERR_CONFIG_INVALID'),
      );
    } finally {
      await dispatcher.close();
    }
  });

  it('refuses what the authority issues for another SPIFFE ID and keeps its own', async () => {
    const before = f.billing.current()?.svid.serialNumber;
    const errors: string[] = [];
    const identity = await createWorkloadIdentity(identityOptions(f.authority, EVENTS));
    try {
      identity.on('error', (error) => errors.push(error.code));
      f.authority.issueFor = `spiffe://${TD}/ledger`;
      await assert.rejects(
        createWorkloadIdentity(identityOptions(f.authority, BILLING, { startTimeoutMs: 1000 })),
        (error) =>
          codeIn(error).includes('ERR_UNAVAILABLE') &&
          codeIn(error).includes('ERR_SVID_UNEXPECTED'),
      );
      assert.equal(f.billing.current()?.svid.serialNumber, before);
    } finally {
      f.authority.issueFor = undefined;
      await identity.close();
    }
  });

  it('creation fails with a clear error when no SVID arrives within the bound', async () => {
    f.authority.down = true;
    try {
      await assert.rejects(
        createWorkloadIdentity(identityOptions(f.authority, BILLING, { startTimeoutMs: 500 })),
        (error) =>
          isTesseraError(error) &&
          error.code === 'ERR_UNAVAILABLE' &&
          (error.detail ?? '').includes('no X.509-SVID from the authority within 500 ms'),
      );
    } finally {
      f.authority.down = false;
    }
  });

  it('refuses an https authority whose certificate is not the authority’s SPIFFE ID', async () => {
    const impostor = await startStubSvidAuthority({
      services: keys,
      tls: true,
      serverId: `spiffe://${TD}/billing`,
    });
    try {
      await assert.rejects(
        createWorkloadIdentity(identityOptions(impostor, EVENTS, { startTimeoutMs: 1000 })),
        (error) => codeIn(error).includes('ERR_SVID_UNEXPECTED'),
      );
      assert.equal(impostor.issuedSerials.length, 0);
    } finally {
      await impostor.close();
    }
  });
});

describe('workload identity: serving and calling over mTLS', () => {
  const f = twoServices();

  it('obtains an X.509-SVID for its SPIFFE ID with a key made in memory', () => {
    const current = f.billing.current();
    assert.equal(current?.svid.spiffeId.uri, BILLING);
    assert.equal(f.authority.requests.filter((r) => r.auth === 'assertion').length >= 2, true);
    assert.doesNotMatch(current.certificatePem, /PRIVATE KEY/);
  });

  it('openssl s_client and curl with a client certificate are served', async () => {
    const port = Number(new URL(f.served.url).port);
    const ca = join(dir, 'bundle.pem');
    await writeFile(ca, f.authority.bundlePem());
    const caller = await files('caller', f.authority.ca.issueSvid('/event-service'));
    const openssl = await run(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-cert',
        caller.cert,
        '-key',
        caller.key,
        '-CAfile',
        ca,
        '-verify_return_error',
        '-ign_eof',
        '-quiet',
      ],
      'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    assert.match(
      openssl.stdout,
      /"caller":"spiffe:\/\/tessera\.local\/event-service"/,
      openssl.stderr,
    );
    const curl = await run('curl', [
      '-sS',
      '--cert',
      caller.cert,
      '--key',
      caller.key,
      '--cacert',
      ca,
      '--resolve',
      `localhost:${port}:127.0.0.1`,
      `https://localhost:${port}/`,
    ]);
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(curl.stdout, /"caller":"spiffe:\/\/tessera\.local\/event-service"/);
  });

  it('the client dispatcher does mTLS and the bearer token together, through the service map', async () => {
    const services = createServiceMap({ billing: { url: f.served.url } }, { trustDomain: TD });
    const agent = f.events.dispatcher({ services });
    const dispatcher = createServiceDispatcher({
      tokens: { getToken: (audience) => Promise.resolve(`token-for-${audience}`) },
      services,
      agent,
    });
    try {
      const response = await request(`${f.served.url}/invoices`, { dispatcher });
      assert.deepEqual(await response.body.json(), {
        caller: EVENTS,
        authorization: `Bearer token-for-${BILLING}`,
      });
    } finally {
      await agent.close();
    }
  });
});

describe('workload identity: renewal, outage and rotation', () => {
  it('renews at half its lifetime over mTLS; the server hot-swaps with connections open', async () => {
    const authority = await startStubSvidAuthority({
      services: keys,
      tls: true,
      lifetimeSeconds: 6,
    });
    const billing = await createWorkloadIdentity(identityOptions(authority, BILLING));
    const served = await mtlsServer(billing);
    const port = Number(new URL(served.url).port);
    const caller = authority.ca.issueSvid('/event-service');
    try {
      const first = billing.current()?.svid;
      assert.ok(first);
      const open = await handshake(port, {
        ca: authority.bundlePem(),
        key: caller.keyPem,
        cert: caller.certPem,
      });
      assert.equal(open.serial, first.serialNumber);
      const renewed = await nextEvent(billing, 'rotated');
      assert.notEqual(renewed.serialNumber, first.serialNumber);
      const renewal = authority.requests.filter((r) => r.path === '/v1/svid/x509').at(-1);
      assert.equal(renewal?.auth, 'svid');
      // random() = 0.5: at exactly half of [notBefore, notAfter].
      assert.ok(renewal.atMs >= (first.notBefore + (first.notAfter - first.notBefore) / 2) * 1000);
      // The open keep-alive connection keeps working with the certificate it had.
      const socket = open.socket!;
      socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      const [again] = (await once(socket, 'data')) as [Buffer];
      assert.match(String(again), /^HTTP\/1\.1 200/);
      assert.equal(socket.getPeerCertificate().serialNumber.toLowerCase(), first.serialNumber);
      socket.destroy();
      // A new connection sees the new certificate.
      const fresh = await handshake(port, {
        ca: authority.bundlePem(),
        key: caller.keyPem,
        cert: caller.certPem,
      });
      assert.equal(fresh.serial, renewed.serialNumber);
      fresh.socket?.destroy();
    } finally {
      await closeServer(served.server);
      await billing.close();
      await authority.close();
    }
  });
});

describe('workload identity: renewal schedule', () => {
  it('a backdated short-lived certificate is renewed at half of what is left, not at once in a loop', async () => {
    const authority = await startStubSvidAuthority({ services: keys, lifetimeSeconds: 4 });
    authority.backdateSeconds = 60;
    const billing = await createWorkloadIdentity(identityOptions(authority, BILLING));
    try {
      const first = billing.current()?.svid;
      assert.ok(first);
      const issuedAt = authority.requests.find((r) => r.path === '/v1/svid/x509')?.atMs ?? 0;
      await nextEvent(billing, 'rotated');
      const svidRequests = authority.requests.filter((r) => r.path === '/v1/svid/x509');
      assert.equal(svidRequests.length, 2);
      assert.ok((svidRequests[1]?.atMs ?? 0) >= (issuedAt + first.notAfter * 1000) / 2);
    } finally {
      await billing.close();
      await authority.close();
    }
  });
});

describe('workload identity: events', () => {
  it('a listener that throws and a failure nobody listens to are logged, not thrown', async () => {
    const authority = await startStubSvidAuthority({ services: keys, lifetimeSeconds: 2 });
    const warnings: string[] = [];
    const billing = await createWorkloadIdentity(
      identityOptions(authority, BILLING, {
        logger: { info: () => undefined, warn: (_fields, message) => warnings.push(message) },
      }),
    );
    try {
      billing.on('rotated', () => {
        throw new Error('listener bug');
      });
      await nextEvent(billing, 'rotated');
      assert.ok(warnings.includes('workload identity listener threw'));
      authority.down = true;
      await nextEvent(billing, 'expired');
      assert.ok(warnings.includes('workload identity: renewal failed'));
    } finally {
      await billing.close();
      await authority.close();
    }
  });
});

describe('workload identity: outage, CA rotation, credentials', () => {
  it('keeps serving its certificate while the authority is down, then fails closed at expiry', async () => {
    const authority = await startStubSvidAuthority({ services: keys, lifetimeSeconds: 3 });
    const billing = await createWorkloadIdentity(identityOptions(authority, BILLING));
    const events = await createWorkloadIdentity(identityOptions(authority, EVENTS));
    authority.down = true;
    const served = await mtlsServer(billing);
    const port = Number(new URL(served.url).port);
    const caller = authority.ca.issueSvid('/event-service', {
      notAfter: Math.floor(Date.now() / 1000) + 3600,
    });
    const dispatcher = events.dispatcher({ expectedServerId: BILLING });
    const errors: string[] = [];
    billing.on('error', (error) => errors.push(error.code));
    try {
      const first = billing.current()?.svid.serialNumber;
      const expired = nextEvent(billing, 'expired');
      const eventsExpired = nextEvent(events, 'expired');
      const during = await handshake(port, {
        ca: authority.bundlePem(),
        key: caller.keyPem,
        cert: caller.certPem,
      });
      assert.equal(during.serial, first);
      during.socket?.destroy();
      assert.equal((await expired).serialNumber, first);
      assert.ok(errors.includes('ERR_UNAVAILABLE'), 'renewal failures are reported as events');
      // Fail closed: no certificate is served, the client refuses to connect, nothing to build a server from.
      const after = await handshake(port, {
        ca: authority.bundlePem(),
        key: caller.keyPem,
        cert: caller.certPem,
      });
      assert.ok(after.error, 'a handshake after expiry must fail');
      await eventsExpired;
      await assert.rejects(request(`${served.url}/`, { dispatcher }), (error) =>
        codeIn(error).includes('ERR_UNAVAILABLE'),
      );
      assert.throws(
        () => billing.tlsServerOptions(),
        (error) => isTesseraError(error) && error.code === 'ERR_UNAVAILABLE',
      );
      assert.equal(billing.current(), undefined);
      // The authority comes back: the next renewal restores service with a new certificate.
      authority.lifetimeSeconds = 3600;
      authority.down = false;
      const [renewed] = await Promise.all([
        nextEvent(billing, 'rotated'),
        nextEvent(events, 'rotated'),
      ]);
      const back = await handshake(port, {
        ca: authority.bundlePem(),
        key: caller.keyPem,
        cert: caller.certPem,
      });
      assert.equal(back.serial, renewed.serialNumber);
      back.socket?.destroy();
      const response = await request(`${served.url}/`, { dispatcher });
      assert.equal(((await response.body.json()) as { caller: string }).caller, EVENTS);
    } finally {
      await dispatcher.close();
      await closeServer(served.server);
      await billing.close();
      await events.close();
      await authority.close();
    }
  });

  it('picks up a CA rotation from the bundle: peers of the new CA are trusted after the refresh', async () => {
    const authority = await startStubSvidAuthority({ services: keys, tls: true });
    authority.refreshHintSeconds = 1;
    const billing = await createWorkloadIdentity(identityOptions(authority, BILLING));
    const served = await mtlsServer(billing);
    const port = Number(new URL(served.url).port);
    const next = createTestCa(TD);
    const newCaller = next.issueSvid('/event-service');
    const withNewCa = () =>
      handshake(port, {
        ca: authority.bundlePem(),
        key: newCaller.keyPem,
        cert: newCaller.certPem,
      });
    try {
      const refused = await withNewCa();
      assert.ok(refused.error, 'a CA not yet in the bundle is not trusted');
      const bundleChanged = nextEvent(billing, 'bundle');
      authority.rotateCa(next);
      const { pem } = await bundleChanged;
      assert.ok(pem.includes(next.certPem.trim().split('\n')[1] ?? 'missing'));
      const accepted = await withNewCa();
      assert.equal(accepted.serial, billing.current()?.svid.serialNumber);
      accepted.socket?.destroy();
    } finally {
      await closeServer(served.server);
      await billing.close();
      await authority.close();
    }
  });

  it('starts from a one-time join token, with an Ed25519 key', async () => {
    const authority = await startStubSvidAuthority({
      services: keys,
      joinTokens: new Map([['join-canary-1', EVENTS]]),
    });
    const identity = await createWorkloadIdentity(
      identityOptions(authority, EVENTS, {
        credentials: { joinToken: 'join-canary-1' },
        keyType: 'Ed25519',
      }),
    );
    const served = await mtlsServer(identity);
    try {
      assert.equal(identity.current()?.svid.spiffeId.uri, EVENTS);
      assert.deepEqual(
        authority.requests.filter((r) => r.path === '/v1/svid/x509').map((r) => r.auth),
        ['join_token'],
      );
      const caller = authority.ca.issueSvid('/billing');
      const result = await handshake(Number(new URL(served.url).port), {
        ca: authority.bundlePem(),
        key: caller.keyPem,
        cert: caller.certPem,
      });
      assert.equal(result.serial, identity.current()?.svid.serialNumber);
      result.socket?.destroy();
      assert.throws(() => identity.tokenSource(), /tokenSource needs credentials\.key/);
    } finally {
      await closeServer(served.server);
      await identity.close();
      await authority.close();
    }
  });

  it('its token source uses the https authority over mTLS, and no token outlives its certificate', async () => {
    const authority = await startStubSvidAuthority({
      services: keys,
      tls: true,
      lifetimeSeconds: 3,
    });
    const events = await createWorkloadIdentity(identityOptions(authority, EVENTS));
    try {
      const tokens = events.tokenSource();
      const token = await tokens.getToken(BILLING, []);
      assert.match(token, /-svid$/);
      assert.equal(await tokens.getToken(BILLING, []), token, 'cached while the certificate lasts');
      await nextEvent(events, 'rotated');
      // A token bound to the previous certificate (cnf) would be refused with the new one.
      assert.notEqual(await tokens.getToken(BILLING, []), token);
      // It exchanges tokens too (delegate: true), over the same mTLS connection to the authority.
      const exchanged = await tokens.exchangeToken('user-token', BILLING, ['invoices:write']);
      assert.equal(exchanged.accessToken, `exchanged-user-token-${BILLING}-svid`);
      assert.equal(exchanged.scope, 'invoices:write');
    } finally {
      await events.close();
      await authority.close();
    }
  });
});
