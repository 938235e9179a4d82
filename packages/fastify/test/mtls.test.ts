import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  certificateThumbprint,
  createVerifier,
  generateSigningKey,
  KeySet,
  MemoryRevocationSet,
  mintAccessToken,
  parsePolicy,
  parseX509Svid,
} from '@tessera/core';
import { createTestCa, eventually, ManualClock, type TestCertificate } from '@tessera/core/testing';
import { freePort } from '@tessera/authority/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { tessera, tesseraHttpsOptions, type MtlsOptions } from '../src/index.ts';
import { curl, get, keepAliveAgent, PemFiles, run, serverCertificate } from './support/mtls.ts';

const ISSUER = 'https://127.0.0.1:7700';
const BILLING = 'spiffe://tessera.local/billing';
const EVENTS = 'spiffe://tessera.local/event-service';
const GATEWAY = 'spiffe://tessera.local/api-gateway';

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  event-service: {}
  edge-proxy: {}
  billing:
    routes:
      - { method: POST, path: /invoices, allow: [{ service: event-service, scopes: [invoices:write] }] }
      - { method: GET, path: /events-only, allow: [{ service: event-service, scopes: [events:read] }] }
      - { method: GET, path: /events-by-identity, allow: [{ service: event-service }] }
      - { method: GET, path: /whoami, allow: any-authenticated }
      - { method: GET, path: /healthz, public: true }
`);

const NOW = Math.floor(Date.now() / 1000);
const ca = createTestCa('tessera.local');
/** A CA of another trust domain that the bundle also trusts (a federated domain). */
const foreignCa = createTestCa('other.example');
/** A CA nobody trusts. */
const strangerCa = createTestCa('tessera.local');
const bundle = ca.certPem + foreignCa.certPem;
const server = serverCertificate(ca, BILLING);
const events = ca.issueSvid('/event-service');
const gateway = ca.issueSvid('/api-gateway');
const signingKey = generateSigningKey();
const clock = new ManualClock(Date.now());
const revocations = new MemoryRevocationSet({ clock });
const files = new PemFiles();
const bundleFile = files.write(bundle);

function token(subject: string, scopes: string[], boundTo?: TestCertificate): string {
  return mintAccessToken(
    {
      issuer: ISSUER,
      subject,
      audience: BILLING,
      scopes,
      ...(boundTo === undefined
        ? {}
        : { certificateThumbprint: certificateThumbprint(boundTo.der) }),
    },
    { key: signingKey, clock },
  ).token;
}

interface Service {
  readonly app: FastifyInstance;
  readonly port: number;
  readonly audit: Record<string, unknown>[];
  /** The reason code of the next audit event after `count` events. */
  reasonAfter(count: number): Promise<unknown>;
}

/**
 * Billing behind the plugin on a real HTTPS (or plain HTTP) socket. `tls: 'required'` is
 * `tesseraHttpsOptions`: the handshake itself refuses untrusted certificates. `tls: 'optional'`
 * lets every certificate through TLS, so the plugin's own checks are what refuses.
 */
async function startBilling(
  tls: 'required' | 'optional' | 'none',
  mtls: MtlsOptions | undefined,
): Promise<Service> {
  const audit: Record<string, unknown>[] = [];
  const https =
    tls === 'none'
      ? undefined
      : tesseraHttpsOptions(
          { key: server.keyPem, cert: server.certPem, ca: bundle },
          { clientCertificate: tls },
        );
  const app = (https === undefined ? Fastify() : Fastify({ https })) as FastifyInstance;
  await app.register(tessera, {
    service: 'billing',
    policy,
    verifier: createVerifier({
      issuer: ISSUER,
      audience: BILLING,
      keys: new KeySet([signingKey]),
      clock,
    }),
    clock,
    auditDestination: {
      write: (line: string) => audit.push(JSON.parse(line) as Record<string, unknown>),
    },
    ...(mtls === undefined ? {} : { mtls }),
  });
  app.get('/whoami', (request) => ({
    caller: request.caller?.spiffeId,
    scopes: request.caller?.scopes,
    forwardedHeaderSeen: request.headers['x-forwarded-client-cert'] !== undefined,
  }));
  app.get('/events-only', () => ({ ok: true }));
  app.get('/events-by-identity', () => ({ ok: true }));
  app.post('/invoices', () => ({ ok: true }));
  app.get('/healthz', () => ({ ok: true }));
  const port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
  return {
    app,
    port,
    audit,
    reasonAfter: async (count) => {
      await eventually(() => audit.length > count, 5000);
      return audit[count]?.reason;
    },
  };
}

/** What a client presenting `client` gets from `service` at `path`, through curl. */
async function callWithCurl(
  service: Service,
  path: string,
  client: TestCertificate | undefined,
  headers: readonly string[] = [],
): Promise<{ handshake: boolean; status: number; reason: unknown; body: string }> {
  const count = service.audit.length;
  const result = await curl(service.port, path, {
    cacert: bundleFile,
    headers,
    ...(client === undefined ? {} : { client: files.pair(client) }),
  });
  if (result.exitCode !== 0 || result.status === 0) {
    return { handshake: false, status: 0, reason: undefined, body: '' };
  }
  return {
    handshake: true,
    status: result.status,
    reason: await service.reasonAfter(count),
    body: result.body,
  };
}

const HANDSHAKE_REFUSED = 'handshake refused';
type Expected = typeof HANDSHAKE_REFUSED | readonly [number, string];

/**
 * Each refusal, as data: the client certificate, what a server with `tesseraHttpsOptions`
 * answers (the TLS handshake refuses what does not chain to the bundle), and what the plugin
 * answers when TLS lets every certificate through (its own checks).
 */
const REFUSALS: readonly {
  name: string;
  client: () => TestCertificate | undefined;
  withTls: Expected;
  pluginOnly: readonly [number, string];
}[] = [
  {
    name: 'no client certificate',
    client: () => undefined,
    withTls: HANDSHAKE_REFUSED,
    pluginOnly: [401, 'ERR_CERT_MISSING'],
  },
  {
    name: 'a certificate from another CA',
    client: () => strangerCa.issueSvid('/event-service'),
    withTls: HANDSHAKE_REFUSED,
    pluginOnly: [401, 'ERR_CERT_UNTRUSTED'],
  },
  {
    name: 'a certificate of another trust domain (its CA in the bundle)',
    client: () => foreignCa.issueSvid('/event-service'),
    withTls: [401, 'ERR_SVID_TRUST_DOMAIN'],
    pluginOnly: [401, 'ERR_SVID_TRUST_DOMAIN'],
  },
  {
    name: 'a certificate with two URI SANs',
    client: () => ca.issueLeaf([EVENTS, GATEWAY]),
    withTls: [401, 'ERR_SVID_INVALID'],
    pluginOnly: [401, 'ERR_SVID_INVALID'],
  },
  {
    name: 'a certificate with no URI SAN',
    client: () => ca.issueLeaf([]),
    withTls: [401, 'ERR_SVID_INVALID'],
    pluginOnly: [401, 'ERR_SVID_INVALID'],
  },
  {
    name: 'a certificate naming the trust domain itself, not a workload',
    client: () => ca.issueLeaf(['spiffe://tessera.local']),
    withTls: [401, 'ERR_SVID_INVALID'],
    pluginOnly: [401, 'ERR_SVID_INVALID'],
  },
  {
    name: 'an expired certificate',
    client: () => ca.issueSvid('/event-service', { notBefore: NOW - 7200, notAfter: NOW - 3600 }),
    withTls: HANDSHAKE_REFUSED,
    pluginOnly: [401, 'ERR_CERT_UNTRUSTED'],
  },
  {
    // TLS refuses it (no digitalSignature: unsuitable purpose); parseX509Svid's own CA check is
    // exercised through a trusted proxy below, where no TLS stack looked at the certificate.
    name: 'a CA certificate presented as a leaf',
    client: () => ca.issueIntermediate(),
    withTls: HANDSHAKE_REFUSED,
    pluginOnly: [401, 'ERR_CERT_UNTRUSTED'],
  },
];

describe('@tessera/fastify mtls: refusals, with curl as the client', () => {
  let withTls: Service;
  let pluginOnly: Service;
  before(async () => {
    withTls = await startBilling('required', { mode: 'required', revocations });
    pluginOnly = await startBilling('optional', { mode: 'required', revocations });
  });
  after(async () => {
    await withTls.app.close();
    await pluginOnly.app.close();
  });

  for (const refusal of REFUSALS) {
    it(`refuses ${refusal.name} (the plugin's own check)`, async () => {
      const answer = await callWithCurl(pluginOnly, '/whoami', refusal.client());
      assert.deepEqual([answer.status, answer.reason], refusal.pluginOnly);
      assert.equal(
        (JSON.parse(answer.body) as { message: string }).message,
        'unauthorized',
        'a generic message on the wire',
      );
    });

    it(`refuses ${refusal.name} (tesseraHttpsOptions)`, async () => {
      const answer = await callWithCurl(withTls, '/whoami', refusal.client());
      if (refusal.withTls === HANDSHAKE_REFUSED) assert.equal(answer.handshake, false);
      else assert.deepEqual([answer.status, answer.reason], refusal.withTls);
    });
  }

  it('refuses the right CA but the wrong service for the route (403, by policy)', async () => {
    const answer = await callWithCurl(withTls, '/events-only', gateway);
    assert.deepEqual([answer.status, answer.reason], [403, 'ERR_POLICY_CALLER']);
  });

  it('identifies the caller by its certificate alone', async () => {
    const answer = await callWithCurl(withTls, '/whoami', events);
    assert.deepEqual([answer.status, answer.reason], [200, 'ok']);
    assert.equal((JSON.parse(answer.body) as { caller: string }).caller, EVENTS);
    assert.equal(withTls.audit.at(-1)?.caller, EVENTS);
    assert.equal(withTls.audit.at(-1)?.jti, null, 'a certificate caller has no jti');
  });

  it('gives a certificate caller no scopes: the allowed service still needs a token for a scoped route', async () => {
    const alone = await callWithCurl(withTls, '/events-only', events);
    assert.deepEqual([alone.status, alone.reason], [403, 'ERR_POLICY_SCOPE']);
    const withToken = await callWithCurl(withTls, '/events-only', events, [
      `authorization: Bearer ${token(EVENTS, ['events:read'])}`,
    ]);
    assert.deepEqual([withToken.status, withToken.reason], [200, 'ok']);
  });

  it('admits a listed service on its certificate alone where the entry names no scopes', async () => {
    const listed = await callWithCurl(withTls, '/events-by-identity', events);
    assert.deepEqual([listed.status, listed.reason], [200, 'ok']);
    const other = await callWithCurl(withTls, '/events-by-identity', gateway);
    assert.deepEqual([other.status, other.reason], [403, 'ERR_POLICY_CALLER']);
    const otherWithToken = await callWithCurl(withTls, '/events-by-identity', gateway, [
      `authorization: Bearer ${token(GATEWAY, ['events:read'])}`,
    ]);
    assert.deepEqual([otherWithToken.status, otherWithToken.reason], [403, 'ERR_POLICY_CALLER']);
  });

  it('serves a public route without a certificate when TLS lets the client in', async () => {
    const answer = await callWithCurl(pluginOnly, '/healthz', undefined);
    assert.deepEqual([answer.status, answer.reason], [200, 'public']);
  });

  it('answers openssl s_client with a valid SVID, and refuses its handshake without one', async () => {
    const client = files.pair(events);
    const request = 'GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
    const base = [
      's_client',
      '-connect',
      `127.0.0.1:${String(withTls.port)}`,
      '-CAfile',
      bundleFile,
    ];
    const ok = await run(
      'openssl',
      [...base, '-cert', client.cert, '-key', client.key, '-quiet'],
      request,
    );
    assert.match(ok.stdout, /^HTTP\/1\.1 200/);
    assert.match(ok.stdout, /spiffe:\/\/tessera\.local\/event-service/);
    const refused = await run('openssl', [...base, '-quiet'], request);
    assert.doesNotMatch(refused.stdout, /HTTP\/1\.1/);
  });
});

describe('@tessera/fastify mtls: tokens over the connection', () => {
  let billing: Service;
  let bearerOnly: Service;
  before(async () => {
    billing = await startBilling('required', { mode: 'required', revocations });
    bearerOnly = await startBilling('none', undefined);
  });
  after(async () => {
    await billing.app.close();
    await bearerOnly.app.close();
  });

  it('refuses a bound token replayed over a connection with another certificate (401)', async () => {
    // Bound to event-service's certificate; presented with another event-service certificate.
    const other = ca.issueSvid('/event-service');
    const answer = await callWithCurl(billing, '/whoami', other, [
      `authorization: Bearer ${token(EVENTS, [], events)}`,
    ]);
    assert.deepEqual([answer.status, answer.reason], [401, 'ERR_TOKEN_BINDING']);
  });

  it('refuses a bound token over plain HTTP, where no certificate can match (401)', async () => {
    const count = bearerOnly.audit.length;
    const response = await fetch(`http://127.0.0.1:${String(bearerOnly.port)}/whoami`, {
      headers: { authorization: `Bearer ${token(EVENTS, [], events)}` },
    });
    assert.equal(response.status, 401);
    assert.equal(await bearerOnly.reasonAfter(count), 'ERR_TOKEN_BINDING');
  });

  it('refuses a token of another service sent with a certificate (one caller per request)', async () => {
    const answer = await callWithCurl(billing, '/whoami', events, [
      `authorization: Bearer ${token(GATEWAY, [])}`,
    ]);
    assert.deepEqual([answer.status, answer.reason], [401, 'ERR_TOKEN_BINDING']);
  });

  it('takes the caller from a token bound to the presented certificate (its scopes)', async () => {
    const count = billing.audit.length;
    const result = await curl(billing.port, '/invoices', {
      cacert: bundleFile,
      client: files.pair(events),
      method: 'POST',
      headers: [`authorization: Bearer ${token(EVENTS, ['invoices:write'], events)}`],
    });
    assert.equal(result.status, 200);
    assert.equal(await billing.reasonAfter(count), 'ok');
    assert.notEqual(billing.audit[count]?.jti, null, 'the token caller, with its jti');
  });
});

describe('@tessera/fastify mtls: revocation and expiry on an open connection', () => {
  // A set of its own: the revocations made here must not reach the other tests' callers.
  const feed = new MemoryRevocationSet({ clock });
  let billing: Service;
  before(async () => {
    billing = await startBilling('required', { mode: 'required', revocations: feed });
  });
  after(async () => {
    await billing.app.close();
  });

  async function openConnection(client: TestCertificate) {
    const agent = keepAliveAgent(bundle, client);
    const first = await get(agent, billing.port, '/whoami');
    assert.equal(first.status, 200);
    return { agent, first };
  }

  it('refuses a revoked certificate serial on the next request of an open connection', async () => {
    const client = ca.issueSvid('/event-service');
    const { agent, first } = await openConnection(client);
    feed.revokeCertificate(parseX509Svid(client.der).serialNumber, NOW + 3600);
    const count = billing.audit.length;
    const next = await get(agent, billing.port, '/whoami');
    assert.equal(next.localPort, first.localPort, 'the same connection');
    assert.equal(next.status, 401);
    assert.equal(await billing.reasonAfter(count), 'ERR_SVID_REVOKED');
    agent.destroy();
  });

  it('refuses a disabled service (subject revocation) on the next request of an open connection', async () => {
    const client = ca.issueSvid('/api-gateway');
    const { agent, first } = await openConnection(client);
    feed.revokeSubject(GATEWAY, Math.floor(clock.now() / 1000), NOW + 3600);
    const count = billing.audit.length;
    const next = await get(agent, billing.port, '/whoami');
    assert.equal(next.localPort, first.localPort, 'the same connection');
    assert.equal(next.status, 401);
    assert.equal(await billing.reasonAfter(count), 'ERR_SVID_REVOKED');
    agent.destroy();
  });

  it('refuses a certificate that expired while its connection stayed open', async () => {
    const client = ca.issueSvid('/event-service', { notAfter: NOW + 600 });
    const { agent, first } = await openConnection(client);
    const start = clock.now();
    clock.set((NOW + 601) * 1000);
    try {
      const count = billing.audit.length;
      const next = await get(agent, billing.port, '/whoami');
      assert.equal(next.localPort, first.localPort, 'the same connection');
      assert.equal(next.status, 401);
      assert.equal(await billing.reasonAfter(count), 'ERR_SVID_EXPIRED');
    } finally {
      clock.set(start);
      agent.destroy();
    }
  });
});

const xfcc = (certificate: TestCertificate): string =>
  `Cert="${encodeURIComponent(certificate.certPem)}"`;

/** What a listed proxy may forward and is still refused: parsed as strictly as a socket's certificate. */
const FORWARDED_REFUSALS: readonly [() => string, string][] = [
  [() => xfcc(ca.issueLeaf([EVENTS, GATEWAY])), 'ERR_SVID_INVALID'],
  [() => xfcc(ca.issueIntermediate()), 'ERR_SVID_INVALID'],
  [() => xfcc(foreignCa.issueSvid('/event-service')), 'ERR_SVID_TRUST_DOMAIN'],
  [() => 'Cert="not%20a%20certificate"', 'ERR_SVID_INVALID'],
  [() => `${xfcc(events)};${xfcc(gateway)}`, 'ERR_SVID_INVALID'],
  [() => `${xfcc(events)},By=${BILLING}`, 'ERR_CERT_MISSING'],
];

describe('@tessera/fastify mtls: x-forwarded-client-cert', () => {
  const forwardedEvents = `By=${BILLING};Cert="${encodeURIComponent(events.certPem)}";URI=${EVENTS}`;
  const services: Service[] = [];
  after(async () => {
    for (const service of services) await service.app.close();
  });

  async function start(tls: 'required' | 'none', mtls: MtlsOptions): Promise<Service> {
    const service = await startBilling(tls, mtls);
    services.push(service);
    return service;
  }

  it('ignores the header by default: it cannot set the identity, and handlers never see it', async () => {
    const billing = await start('required', { mode: 'required', revocations });
    const answer = await callWithCurl(billing, '/events-only', gateway, [
      `x-forwarded-client-cert: ${forwardedEvents}`,
    ]);
    assert.deepEqual([answer.status, answer.reason], [403, 'ERR_POLICY_CALLER']);
    const whoami = await callWithCurl(billing, '/whoami', gateway, [
      `x-forwarded-client-cert: ${forwardedEvents}`,
    ]);
    assert.deepEqual(JSON.parse(whoami.body), {
      caller: GATEWAY,
      scopes: [],
      forwardedHeaderSeen: false,
    });
  });

  /** Plain-HTTP services that must not take the header from this client (127.0.0.1). */
  const IGNORED: readonly [string, MtlsOptions][] = [
    ['without forwardedClientCert', { mode: 'required', revocations }],
    [
      'from a proxy that is not listed',
      {
        mode: 'required',
        revocations,
        forwardedClientCert: { trustedProxies: ['10.0.0.1', 'spiffe://tessera.local/edge-proxy'] },
      },
    ],
  ];
  for (const [name, mtls] of IGNORED) {
    it(`ignores the header ${name}: 401 without a certificate, not the forwarded identity`, async () => {
      const billing = await start('none', mtls);
      const count = billing.audit.length;
      const response = await fetch(`http://127.0.0.1:${String(billing.port)}/whoami`, {
        headers: { 'x-forwarded-client-cert': forwardedEvents },
      });
      assert.equal(response.status, 401);
      assert.equal(await billing.reasonAfter(count), 'ERR_CERT_MISSING');
    });
  }

  it('honours the header from a listed proxy address, parsed as strictly as a socket certificate', async () => {
    const billing = await start('none', {
      mode: 'required',
      revocations,
      forwardedClientCert: { trustedProxies: ['127.0.0.1'] },
    });
    const url = `http://127.0.0.1:${String(billing.port)}/whoami`;
    const ok = await fetch(url, { headers: { 'x-forwarded-client-cert': forwardedEvents } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { caller: string }).caller, EVENTS);
    for (const [forwarded, code] of FORWARDED_REFUSALS) {
      const count = billing.audit.length;
      const refused = await fetch(url, { headers: { 'x-forwarded-client-cert': forwarded() } });
      assert.equal(refused.status, 401, code);
      assert.equal(await billing.reasonAfter(count), code);
    }
  });

  it('checks a forwarded certificate against revocations on every request', async () => {
    const feed = new MemoryRevocationSet({ clock });
    const client = ca.issueSvid('/event-service');
    const billing = await start('none', {
      mode: 'required',
      revocations: feed,
      forwardedClientCert: { trustedProxies: ['127.0.0.1'] },
    });
    const call = () =>
      fetch(`http://127.0.0.1:${String(billing.port)}/whoami`, {
        headers: { 'x-forwarded-client-cert': xfcc(client) },
      });
    assert.equal((await call()).status, 200);
    feed.revokeCertificate(parseX509Svid(client.der).serialNumber, NOW + 3600);
    const count = billing.audit.length;
    assert.equal((await call()).status, 401);
    assert.equal(await billing.reasonAfter(count), 'ERR_SVID_REVOKED');
  });

  it('honours the header from a proxy identified by its own SVID', async () => {
    const billing = await start('required', {
      mode: 'required',
      revocations,
      forwardedClientCert: { trustedProxies: ['spiffe://tessera.local/edge-proxy'] },
    });
    const proxy = ca.issueSvid('/edge-proxy');
    const answer = await callWithCurl(billing, '/whoami', proxy, [
      `x-forwarded-client-cert: ${forwardedEvents}`,
    ]);
    assert.deepEqual([answer.status, answer.reason], [200, 'ok']);
    assert.equal((JSON.parse(answer.body) as { caller: string }).caller, EVENTS);
  });

  it('refuses forwardedClientCert without a list of proxies', async () => {
    for (const trustedProxies of [[], ['not an address'], ['spiffe://tessera.local'], undefined]) {
      await assert.rejects(
        startBilling('none', {
          mode: 'required',
          forwardedClientCert: { trustedProxies } as unknown as { trustedProxies: string[] },
        }),
        (error: { code?: string }) => error.code === 'ERR_CONFIG_INVALID',
      );
    }
  });
});

describe('@tessera/fastify mtls: optional mode', () => {
  let billing: Service;
  before(async () => {
    billing = await startBilling('optional', { mode: 'optional', revocations });
  });
  after(async () => {
    await billing.app.close();
  });

  it('accepts a bearer token without a certificate', async () => {
    const answer = await callWithCurl(billing, '/whoami', undefined, [
      `authorization: Bearer ${token(EVENTS, [])}`,
    ]);
    assert.deepEqual([answer.status, answer.reason], [200, 'ok']);
  });

  it('refuses a presented certificate that is not a valid SVID, token or not', async () => {
    const answer = await callWithCurl(billing, '/whoami', ca.issueLeaf([EVENTS, GATEWAY]), [
      `authorization: Bearer ${token(EVENTS, [])}`,
    ]);
    assert.deepEqual([answer.status, answer.reason], [401, 'ERR_SVID_INVALID']);
  });

  it('refuses a bound token without its certificate', async () => {
    const answer = await callWithCurl(billing, '/whoami', undefined, [
      `authorization: Bearer ${token(EVENTS, [], events)}`,
    ]);
    assert.deepEqual([answer.status, answer.reason], [401, 'ERR_TOKEN_BINDING']);
  });
});

describe('@tessera/fastify mtls options', () => {
  after(() => {
    files.remove();
  });

  for (const [name, mtls] of [
    ['no mode', {}],
    ['an unknown mode', { mode: 'sometimes' }],
    ['a trust domain that is not one', { mode: 'required', trustDomain: 'Bad Domain' }],
    ['revocations that are not a RevocationSet', { mode: 'required', revocations: {} }],
  ] as const) {
    it(`refuses ${name}`, async () => {
      await assert.rejects(
        startBilling('none', mtls as unknown as MtlsOptions),
        (error: { code?: string }) => error.code === 'ERR_CONFIG_INVALID',
      );
    });
  }

  it('tesseraHttpsOptions: client certificates against the bundle only, TLS 1.2 at least', () => {
    const options = tesseraHttpsOptions({ key: server.keyPem, cert: server.certPem, ca: bundle });
    assert.equal(options.requestCert, true);
    assert.equal(options.rejectUnauthorized, true);
    assert.equal(options.minVersion, 'TLSv1.2');
    assert.equal(options.ca, bundle);
    const fromIdentity = tesseraHttpsOptions({
      tlsServerOptions: () => ({ key: server.keyPem, cert: server.certPem, ca: bundle }),
    });
    assert.equal(fromIdentity.cert, server.certPem);
    assert.throws(
      () => tesseraHttpsOptions({ key: server.keyPem, cert: server.certPem }),
      (error: { code?: string }) => error.code === 'ERR_CONFIG_INVALID',
    );
  });
});
