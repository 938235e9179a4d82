import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { connect, TLSSocket, type PeerCertificate } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  expectPeerSpiffeId,
  generateSigningKey,
  JWT_BEARER_ASSERTION_TYPE,
  parseX509Svid,
} from '@tessera/core';
import {
  createTestCa,
  ManualClock,
  type TestCa,
  type TestCertificate,
} from '@tessera/core/testing';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';
import { curlTokenClaims, opensslThumbprint } from './support/curl-token.ts';
import { testSvidIssuer } from './support/test-svid-issuer.ts';

const run = promisify(execFile);
const TD = 'tessera.local';
const id = (name: string) => `spiffe://${TD}/${name}`;

let ca: TestCa;
let otherCa: TestCa;
let clock: ManualClock;
let authority: TestAuthority;
let issuer: ReturnType<typeof testSvidIssuer>;
let files: string;
let port: string;
const keys: Record<string, Awaited<ReturnType<TestAuthority['register']>>> = {};

/** Reasons the authority logged since `mark` (its log lines are JSON). */
function reasonsSince(mark: number): string[] {
  return authority.logLines
    .slice(mark)
    .map((line) => (JSON.parse(line) as { reason?: string }).reason)
    .filter((reason): reason is string => reason !== undefined);
}

function tokenRequest(fields: Record<string, string>, certificate?: TestCertificate) {
  return authority.request('/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...fields }).toString(),
    ...(certificate !== undefined ? { cert: certificate.certPem, key: certificate.keyPem } : {}),
  });
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

async function writeCertificate(name: string, certificate: TestCertificate) {
  const cert = join(files, `${name}.pem`);
  const key = join(files, `${name}.key`);
  await writeFile(cert, certificate.certPem);
  await writeFile(key, certificate.keyPem, { mode: 0o600 });
  return { cert, key };
}

/** The server certificate of a fresh TLS connection. */
function serverCertificate(): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false });
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.once('secureConnect', () => {
      const certificate = socket.getPeerCertificate();
      socket.end();
      resolve(certificate);
    });
    socket.once('error', reject);
  });
}

before(async () => {
  ca = createTestCa(TD);
  otherCa = createTestCa(TD);
  clock = new ManualClock(Date.now());
  issuer = testSvidIssuer(ca, clock);
  authority = await startTestAuthority({
    tls: true,
    clock,
    serverSvidIssuer: issuer,
    config: { admin: { spiffeIds: [id('ops'), id('ops-disabled')] } },
  });
  port = new URL(authority.url).port;
  files = await mkdtemp(join(tmpdir(), 'tessera-tls-'));
  await authority.register('billing', [], []);
  const vault = await authority.admin('POST', '/v1/admin/services', {
    name: 'vault',
    bound_tokens: true,
  });
  assert.equal(vault.status, 201);
  keys['event-service'] = await authority.register(
    'event-service',
    ['billing', 'vault'],
    ['invoices:write'],
  );
  keys['revoked-svc'] = await authority.register('revoked-svc', ['billing'], []);
  for (const [name, body] of [
    ['jwt-only', { token_endpoint_auth_method: 'private_key_jwt' }],
    ['mtls-only', { token_endpoint_auth_method: 'tls_client_auth' }],
    ['switched-off', { enabled: false }],
    ['ops-disabled', { enabled: false }],
  ] as const) {
    const response = await authority.admin('POST', '/v1/admin/services', {
      name,
      audiences: ['billing'],
      ...body,
    });
    assert.equal(response.status, 201);
  }
  keys['mtls-only'] = await authority.register('mtls-only', ['billing'], []);
  // register() posts without the method: it keeps the one the service already had.
  const revoked = await authority.admin('POST', '/v1/admin/revocations', {
    service: 'revoked-svc',
  });
  assert.equal(revoked.status, 201);
});

after(async () => {
  await authority.close();
  await rm(files, { recursive: true, force: true });
});

void describe('authority over HTTPS', () => {
  void it('serves its own SVID, which openssl s_client verifies against the bundle', async () => {
    const bundle = join(files, 'bundle.pem');
    await writeFile(bundle, await authority.bundlePem());
    const { stdout } = await run(
      'sh',
      [
        '-c',
        `openssl s_client -connect 127.0.0.1:${port} -CAfile "$1" -showcerts </dev/null 2>&1`,
        'sh',
        bundle,
      ],
      { timeout: 20_000 },
    );
    assert.match(stdout, /Verify return code: 0 \(ok\)/);
    assert.match(stdout, /New, TLSv1\.[23]/);
    const certificate = await serverCertificate();
    assert.equal(parseX509Svid(certificate.raw).spiffeId.uri, id('tessera-authority'));
    // It asks for a client certificate, and names the bundle's CA as acceptable.
    assert.match(stdout, /Acceptable client certificate CA names/);
  });

  void it('refuses TLS 1.1', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = connect({
          host: '127.0.0.1',
          port: Number(port),
          rejectUnauthorized: false,
          minVersion: 'TLSv1',
          maxVersion: 'TLSv1.1',
        });
        socket.once('secureConnect', () => {
          socket.end();
          resolve(undefined);
        });
        socket.once('error', reject);
      }),
    );
  });

  void it('publishes an https issuer with tls_client_auth and bound tokens in its metadata', async () => {
    const response = await authority.request('/.well-known/oauth-authorization-server');
    const metadata = (await response.json()) as Record<string, unknown>;
    assert.equal(metadata.issuer, `https://127.0.0.1:${port}`);
    assert.equal(metadata.token_endpoint, `https://127.0.0.1:${port}/oauth2/token`);
    assert.deepEqual(metadata.token_endpoint_auth_methods_supported, [
      'private_key_jwt',
      'tls_client_auth',
    ]);
    assert.equal(metadata.tls_client_certificate_bound_access_tokens, true);
  });
});

/**
 * `tls_client_auth` refusals: each is 401 invalid_client on the wire and names its reason in the
 * log. The certificate, the client_id and the expected reason are data.
 */
const REFUSALS: readonly {
  name: string;
  clientId: string;
  certificate: () => TestCertificate | undefined;
  reason: string;
  /** Authority clock offset during the request. */
  clockOffsetMs?: number;
}[] = [
  {
    name: 'no client certificate',
    clientId: id('event-service'),
    certificate: () => undefined,
    reason: 'certificate_missing',
  },
  {
    name: 'a certificate from another CA of the same trust domain',
    clientId: id('event-service'),
    certificate: () => otherCa.issueSvid('/event-service'),
    reason: 'certificate_untrusted',
  },
  {
    name: 'a certificate of another trust domain',
    clientId: id('event-service'),
    certificate: () => createTestCa('other.example').issueSvid('/event-service'),
    reason: 'certificate_untrusted',
  },
  {
    name: 'a valid SVID of another service than client_id',
    clientId: id('event-service'),
    certificate: () => ca.issueSvid('/billing'),
    reason: 'client_id_mismatch',
  },
  {
    name: 'an expired certificate (issued by a clock two hours back)',
    clientId: id('event-service'),
    certificate: () => {
      const now = Math.floor(Date.now() / 1000);
      return ca.issueSvid('/event-service', { notBefore: now - 7200, notAfter: now - 3600 });
    },
    reason: 'certificate_untrusted',
  },
  {
    name: "a certificate expired on the authority's clock",
    clientId: id('event-service'),
    certificate: () => ca.issueSvid('/event-service'),
    clockOffsetMs: 2 * 3600_000,
    reason: 'svid_expired',
  },
  {
    name: 'a CA certificate as the leaf',
    clientId: id('event-service'),
    certificate: () => ca.issueIntermediate(),
    // OpenSSL's client-purpose check already refuses it (no digitalSignature); parseX509Svid's
    // CA:true check is the second line.
    reason: 'certificate_untrusted',
  },
  {
    name: 'two URI SANs',
    clientId: id('event-service'),
    certificate: () => ca.issueLeaf([id('event-service'), id('billing')]),
    reason: 'svid_invalid',
  },
  {
    name: 'no URI SAN',
    clientId: id('event-service'),
    certificate: () => ca.issueLeaf([]),
    reason: 'svid_invalid',
  },
  {
    name: 'an SVID of a revoked service',
    clientId: id('revoked-svc'),
    certificate: () => ca.issueSvid('/revoked-svc'),
    reason: 'svid_revoked',
  },
  {
    name: 'an SVID of a disabled service',
    clientId: id('switched-off'),
    certificate: () => ca.issueSvid('/switched-off'),
    reason: 'client_disabled',
  },
  {
    name: 'an SVID of an unregistered service',
    clientId: id('stranger'),
    certificate: () => ca.issueSvid('/stranger'),
    reason: 'unknown_client',
  },
  {
    name: 'a service held to private_key_jwt',
    clientId: id('jwt-only'),
    certificate: () => ca.issueSvid('/jwt-only'),
    reason: 'auth_method_not_allowed',
  },
];

void describe('tls_client_auth at the token endpoint', () => {
  for (const refusal of REFUSALS) {
    void it(`refuses ${refusal.name}: 401 invalid_client`, async () => {
      const mark = authority.logLines.length;
      clock.advance(refusal.clockOffsetMs ?? 0);
      let response: Response;
      try {
        response = await tokenRequest(
          { client_id: refusal.clientId, audience: 'billing' },
          refusal.certificate(),
        );
      } finally {
        clock.advance(-(refusal.clockOffsetMs ?? 0));
      }
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_client');
      assert.match(response.headers.get('www-authenticate') ?? '', /invalid_client/);
      assert.deepEqual(reasonsSince(mark), [refusal.reason]);
    });
  }

  void it('refuses private_key_jwt from a service held to tls_client_auth', async () => {
    const caller = keys['mtls-only'];
    assert.ok(caller);
    const mark = authority.logLines.length;
    const response = await tokenRequest({
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: authority.assertion(caller.key, caller.clientId),
      audience: 'billing',
    });
    assert.equal(response.status, 401);
    assert.deepEqual(reasonsSince(mark), ['auth_method_not_allowed']);
    const over = await tokenRequest(
      { client_id: caller.clientId, audience: 'billing' },
      ca.issueSvid('/mtls-only'),
    );
    assert.equal(over.status, 200);
  });

  void it('rotates a client key over tls_client_auth: the newest registered key and the new one are kept', async () => {
    const caller = keys['mtls-only'];
    assert.ok(caller);
    const rotateOver = (certificate: TestCertificate | undefined, jwk: unknown) =>
      authority.request('/v1/service/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: caller.clientId,
          jwk: JSON.stringify(jwk),
        }).toString(),
        ...(certificate !== undefined
          ? { cert: certificate.certPem, key: certificate.keyPem }
          : {}),
      });
    const mark = authority.logLines.length;
    const refused = await rotateOver(
      ca.issueSvid('/event-service'),
      generateSigningKey().publicJwk,
    );
    assert.equal(refused.status, 401);
    assert.deepEqual(reasonsSince(mark), ['client_id_mismatch']);
    const added = generateSigningKey();
    const response = await rotateOver(ca.issueSvid('/mtls-only'), added.publicJwk);
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(((await response.json()) as { kids: string[] }).kids, [
      caller.key.kid,
      added.kid,
    ]);
    const last = generateSigningKey();
    const again = await rotateOver(ca.issueSvid('/mtls-only'), last.publicJwk);
    assert.deepEqual(((await again.json()) as { kids: string[] }).kids, [added.kid, last.kid]);
  });

  void it('issues a bound token to curl whose cnf is the openssl SHA-256 fingerprint', async () => {
    const svid = await writeCertificate('event-service', ca.issueSvid('/event-service'));
    const bundle = join(files, 'bundle.pem');
    await writeFile(bundle, await authority.bundlePem());
    const claims = await curlTokenClaims({
      url: `https://localhost:${port}/oauth2/token`,
      resolve: `localhost:${port}:127.0.0.1`,
      bundle,
      cert: svid.cert,
      key: svid.key,
      form: {
        grant_type: 'client_credentials',
        client_id: id('event-service'),
        audience: 'billing',
        scope: 'invoices:write',
        certificate_bound: 'true',
      },
    });
    assert.deepEqual(claims.cnf, { 'x5t#S256': await opensslThumbprint(svid.cert) });
    assert.equal(claims.sub, id('event-service'));
    assert.equal(claims.aud, id('billing'));
    assert.equal(claims.iss, `https://127.0.0.1:${port}`);
  });

  void it('leaves a token over mTLS unbound unless asked or the audience requires it', async () => {
    const svid = ca.issueSvid('/event-service');
    const plain = await tokenRequest({ client_id: id('event-service'), audience: 'billing' }, svid);
    assert.equal(plain.status, 200);
    const claims = claimsOf(((await plain.json()) as { access_token: string }).access_token);
    assert.equal(claims.cnf, undefined);
    const bound = await tokenRequest({ client_id: id('event-service'), audience: 'vault' }, svid);
    assert.equal(bound.status, 200);
    const boundClaims = claimsOf(((await bound.json()) as { access_token: string }).access_token);
    assert.deepEqual(boundClaims.cnf, {
      'x5t#S256': parseX509Svid(svid.der).thumbprint,
    });
  });
});

void describe('certificate-bound tokens with private_key_jwt', () => {
  const withAssertion = (extra: Record<string, string>) => {
    const caller = keys['event-service'];
    assert.ok(caller);
    return {
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: authority.assertion(caller.key, caller.clientId),
      ...extra,
    };
  };

  void it('refuses certificate_bound=true without a client certificate: 400 invalid_request', async () => {
    const response = await tokenRequest(
      withAssertion({ audience: 'billing', certificate_bound: 'true' }),
    );
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
  });

  void it('refuses a bound-token audience without a client certificate: 400 invalid_request', async () => {
    const response = await tokenRequest(withAssertion({ audience: 'vault' }));
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
  });

  void it("refuses to bind to another service's certificate: 401 invalid_client", async () => {
    const mark = authority.logLines.length;
    const response = await tokenRequest(
      withAssertion({ audience: 'billing', certificate_bound: 'true' }),
      ca.issueSvid('/billing'),
    );
    assert.equal(response.status, 401);
    assert.deepEqual(reasonsSince(mark), ['binding_other_client']);
  });

  void it('refuses to bind to a certificate from another CA: 401 invalid_client', async () => {
    const mark = authority.logLines.length;
    const response = await tokenRequest(
      withAssertion({ audience: 'billing', certificate_bound: 'true' }),
      otherCa.issueSvid('/event-service'),
    );
    assert.equal(response.status, 401);
    assert.deepEqual(reasonsSince(mark), ['certificate_untrusted']);
  });

  void it("binds to the client's own SVID, and introspection shows the binding", async () => {
    const svid = ca.issueSvid('/event-service');
    const response = await tokenRequest(
      withAssertion({ audience: 'billing', certificate_bound: 'true' }),
      svid,
    );
    assert.equal(response.status, 200);
    const token = ((await response.json()) as { access_token: string }).access_token;
    const cnf = { 'x5t#S256': parseX509Svid(svid.der).thumbprint };
    assert.deepEqual(claimsOf(token).cnf, cnf);
    const introspection = await authority.request('/oauth2/introspect', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${authority.adminToken}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }).toString(),
    });
    const body = (await introspection.json()) as { active: boolean; cnf?: unknown };
    assert.equal(body.active, true);
    assert.deepEqual(body.cnf, cnf);
  });
});

void describe('admin over mTLS', () => {
  const adminRequest = (
    certificate?: TestCertificate,
    init: { method?: string; body?: string } = {},
  ) =>
    authority.request('/v1/admin/services', {
      method: init.method ?? 'GET',
      ...(init.body !== undefined
        ? { headers: { 'content-type': 'application/json' }, body: init.body }
        : {}),
      ...(certificate !== undefined ? { cert: certificate.certPem, key: certificate.keyPem } : {}),
    });

  void it('accepts a listed SPIFFE ID without the admin token, and audits it as the actor', async () => {
    const ops = ca.issueSvid('/ops');
    const response = await adminRequest(ops);
    assert.equal(response.status, 200);
    const revoked = await authority.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jti: 'audited-by-svid' }),
      cert: ops.certPem,
      key: ops.keyPem,
    });
    assert.equal(revoked.status, 201);
    const audit = (await (await authority.admin('GET', '/v1/admin/audit?limit=1000')).json()) as {
      records: { type: string; actor: string; data: { value?: string } }[];
    };
    const record = audit.records.find((r) => r.data.value === 'audited-by-svid');
    assert.equal(record?.actor, id('ops'));
  });

  const ADMIN_REFUSALS: readonly {
    name: string;
    certificate: () => TestCertificate | undefined;
    reason?: string;
  }[] = [
    { name: 'no certificate and no token', certificate: () => undefined },
    {
      name: 'a SPIFFE ID not in the list',
      certificate: () => ca.issueSvid('/event-service'),
      reason: 'admin_id_not_listed',
    },
    {
      name: 'a listed SPIFFE ID from another CA',
      certificate: () => otherCa.issueSvid('/ops'),
      reason: 'certificate_untrusted',
    },
    {
      name: 'a listed SPIFFE ID whose service is disabled',
      certificate: () => ca.issueSvid('/ops-disabled'),
      reason: 'client_disabled',
    },
    {
      name: 'a listed SPIFFE ID among two URI SANs',
      certificate: () => ca.issueLeaf([id('ops'), id('event-service')]),
      reason: 'svid_invalid',
    },
    {
      name: 'an expired certificate for a listed SPIFFE ID',
      certificate: () => {
        const now = Math.floor(Date.now() / 1000);
        return ca.issueSvid('/ops', { notBefore: now - 7200, notAfter: now - 3600 });
      },
      reason: 'certificate_untrusted',
    },
  ];
  for (const refusal of ADMIN_REFUSALS) {
    void it(`refuses ${refusal.name}: 401`, async () => {
      const mark = authority.logLines.length;
      const response = await adminRequest(refusal.certificate());
      assert.equal(response.status, 401);
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.deepEqual(reasonsSince(mark), refusal.reason === undefined ? [] : [refusal.reason]);
    });
  }

  void it('refuses before the body is parsed: malformed JSON with an unlisted SVID is 401, not 400', async () => {
    const response = await adminRequest(ca.issueSvid('/event-service'), {
      method: 'POST',
      body: '{"name": ',
    });
    assert.equal(response.status, 401);
  });
});

// Last: the renewed certificate's validity starts on the advanced clock.
void describe('server certificate renewal', () => {
  void it('renews its server certificate at half its lifetime without a restart', async () => {
    const before = parseX509Svid((await serverCertificate()).raw).serialNumber;
    // A keep-alive connection opened before the swap.
    const agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 1,
      ca: await authority.bundlePem(),
      checkServerIdentity: expectPeerSpiffeId(authority.spiffeId),
    });
    const healthz = () =>
      new Promise<{ status: number; reused: boolean; serial: string }>((resolve, reject) => {
        const request = httpsGet(
          `${authority.url}/healthz`,
          { agent, timeout: 10_000 },
          (response) => {
            response.resume();
            const socket = response.socket;
            response.on('end', () => {
              assert.ok(socket instanceof TLSSocket);
              resolve({
                status: response.statusCode ?? 0,
                reused: request.reusedSocket,
                serial: parseX509Svid(socket.getPeerCertificate().raw).serialNumber,
              });
            });
          },
        );
        request.on('timeout', () => request.destroy(new Error('timeout')));
        request.on('error', reject);
      });
    const opened = await healthz();
    assert.equal(opened.serial, before);
    await authority.running.refreshTls();
    assert.equal(parseX509Svid((await serverCertificate()).raw).serialNumber, before);
    clock.advance(31 * 60_000);
    try {
      await authority.running.refreshTls();
    } finally {
      clock.advance(-31 * 60_000);
    }
    const renewed = parseX509Svid((await serverCertificate()).raw);
    assert.notEqual(renewed.serialNumber, before);
    assert.equal(renewed.serialNumber, authority.running.serverCredentials?.serialNumber);
    // The open connection keeps serving with the certificate it started with.
    const again = await healthz();
    assert.deepEqual(again, { status: 200, reused: true, serial: before });
    agent.destroy();
  });
});
