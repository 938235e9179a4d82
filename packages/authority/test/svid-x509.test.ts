import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createCertificationRequest,
  parseX509Svid,
  pemDecodeAll,
  pemEncode,
  type SigningKey,
} from '@tessera/core';
import { createTestCa, ManualClock } from '@tessera/core/testing';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const dir = mkdtempSync(join(tmpdir(), 'tessera-svid-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileCount = 0;
function file(name: string, content: string | Uint8Array): string {
  fileCount += 1;
  const path = join(dir, `${fileCount}-${name}`);
  writeFileSync(path, content);
  return path;
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** openssl's exit status and everything it printed (some verdicts go to stderr). */
function opensslAll(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync('openssl', args, { encoding: 'utf8', timeout: 20_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

function p256(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

interface SvidResponse {
  svid: string;
  bundle: string;
  expires_at: number;
}

interface Caller {
  key: SigningKey;
  clientId: string;
}

function requestSvid(
  authority: TestAuthority,
  caller: Caller,
  csr: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return authority.form('/v1/svid/x509', {
    csr,
    client_assertion_type: JWT_BEARER,
    client_assertion: authority.assertion(caller.key, caller.clientId),
    ...extra,
  });
}

async function issued(response: Response): Promise<SvidResponse> {
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(response.headers.get('cache-control'), 'no-store');
  return (await response.json()) as SvidResponse;
}

async function refusal(response: Response, status: number, error: string): Promise<void> {
  assert.equal(response.status, status);
  const body = (await response.json()) as { error: string };
  assert.equal(body.error, error);
}

/** Whether the authority logged a refusal with this code (the wire only says invalid_request). */
function logged(authority: TestAuthority, code: string): boolean {
  return authority.logLines.some((line) => line.includes(`"code":"${code}"`));
}

describe('POST /v1/svid/x509 (real sockets, openssl as the peer)', () => {
  let authority: TestAuthority;
  let billing: Caller;

  before(async () => {
    authority = await startTestAuthority();
    billing = await authority.register('billing', [], []);
    const hosts = await authority.admin('POST', '/v1/admin/services', {
      name: 'billing',
      hosts: ['127.0.0.1', 'billing.tessera.internal'],
    });
    assert.equal(hosts.status, 200);
  });
  after(() => authority.close());

  it('issues an X.509-SVID that openssl verifies against the bundle, with the SPIFFE profile', async () => {
    const key = p256();
    const body = await issued(
      await requestSvid(authority, billing, createCertificationRequest(key)),
    );
    const svidFile = file('svid.pem', body.svid);
    const bundleFile = file('bundle.pem', body.bundle);
    assert.match(openssl('verify', '-CAfile', bundleFile, svidFile), /: OK/);
    assert.match(
      openssl('verify', '-CAfile', bundleFile, '-verify_ip', '127.0.0.1', svidFile),
      /: OK/,
    );
    const text = openssl('x509', '-in', svidFile, '-noout', '-text');
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.equal(text.match(/URI:/g)?.length, 1);
    assert.match(text, /URI:spiffe:\/\/tessera\.local\/billing/);
    assert.match(text, /IP Address:127\.0\.0\.1/);
    assert.match(text, /DNS:billing\.tessera\.internal/);
    const certificate = new X509Certificate(body.svid);
    assert.ok(certificate.checkPrivateKey(key));
    const info = parseX509Svid(new Uint8Array(certificate.raw), { trustDomain: 'tessera.local' });
    assert.equal(info.spiffeId.uri, 'spiffe://tessera.local/billing');
    assert.ok(info.serialNumber.length >= 28 && info.serialNumber.length <= 32, info.serialNumber);
    // Default lifetime: one hour (started a minute early for clock skew).
    assert.equal(info.notAfter, body.expires_at);
    assert.equal(info.notAfter - info.notBefore, 3600 + 60);
    // The CA: name-constrained to the trust domain, path length 0.
    const caText = openssl('x509', '-in', bundleFile, '-noout', '-text');
    assert.match(caText, /X509v3 Name Constraints: critical\s+Permitted:\s+URI:tessera\.local/);
    assert.match(caText, /CA:TRUE, pathlen:0/);
    assert.match(caText, /ASN1 OID: prime256v1/);
  });

  it('gives two SVIDs different random serials', async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const body = await issued(
        await requestSvid(authority, billing, createCertificationRequest(p256())),
      );
      serials.add(new X509Certificate(body.svid).serialNumber);
    }
    assert.equal(serials.size, 3);
  });

  it('takes an Ed25519 key', async () => {
    const key = generateKeyPairSync('ed25519').privateKey;
    const body = await issued(
      await requestSvid(authority, billing, createCertificationRequest(key)),
    );
    assert.ok(new X509Certificate(body.svid).checkPrivateKey(key));
  });

  it('honours ttl up to the maximum (24 h) and refuses more', async () => {
    const csr = createCertificationRequest(p256());
    const body = await issued(await requestSvid(authority, billing, csr, { ttl: '7200' }));
    const info = parseX509Svid(new Uint8Array(new X509Certificate(body.svid).raw));
    assert.equal(info.notAfter - info.notBefore, 7200 + 60);
    for (const ttl of ['86401', '0', '-5', '1e3', 'abc']) {
      await refusal(await requestSvid(authority, billing, csr, { ttl }), 400, 'invalid_request');
    }
  });

  const badCsrs: [string, string, () => string][] = [
    [
      'an RSA-1024 key',
      'ERR_CSR_KEY',
      () => {
        const keyFile = join(dir, 'rsa1024.key');
        return openssl(
          'req',
          '-new',
          '-newkey',
          'rsa:1024',
          '-nodes',
          '-keyout',
          keyFile,
          '-subj',
          '/CN=billing',
        );
      },
    ],
    [
      'a signature that does not verify',
      'ERR_CSR_INVALID',
      () => {
        const der = pemDecodeAll(createCertificationRequest(p256()), 'CERTIFICATE REQUEST')[0];
        assert.ok(der !== undefined);
        const broken = new Uint8Array(der);
        // The last byte belongs to the signature's S value.
        broken[broken.length - 1] = (broken[broken.length - 1] ?? 0) ^ 0x01;
        return pemEncode('CERTIFICATE REQUEST', broken);
      },
    ],
    ['text that is no CSR', 'ERR_CSR_INVALID', () => 'hello'],
    [
      'a certificate instead of a CSR',
      'ERR_CSR_INVALID',
      () => createTestCa().issueSvid('/billing').certPem,
    ],
  ];
  for (const [name, code, make] of badCsrs) {
    it(`answers 400 invalid_request to a CSR with ${name} (${code} in the log)`, async () => {
      await refusal(await requestSvid(authority, billing, make()), 400, 'invalid_request');
      assert.ok(logged(authority, code), `${code} logged`);
    });
  }

  it('refuses a request without csr, with two client authentications, or without one', async () => {
    const csr = createCertificationRequest(p256());
    await refusal(
      await authority.form('/v1/svid/x509', {
        client_assertion_type: JWT_BEARER,
        client_assertion: authority.assertion(billing.key, billing.clientId),
      }),
      400,
      'invalid_request',
    );
    await refusal(
      await requestSvid(authority, billing, csr, { join_token: 'x'.repeat(43) }),
      400,
      'invalid_request',
    );
    const none = await authority.form('/v1/svid/x509', { csr });
    await refusal(none, 401, 'invalid_client');
    assert.match(none.headers.get('www-authenticate') ?? '', /invalid_client/);
  });

  it('refuses a body over its size limit', async () => {
    const response = await authority.form('/v1/svid/x509', { csr: 'A'.repeat(70_000) });
    assert.equal(response.status, 413);
  });

  it('refuses a client assertion from another key (401)', async () => {
    const other = {
      key: (await authority.register('other', [], [])).key,
      clientId: billing.clientId,
    };
    await refusal(
      await requestSvid(authority, other, createCertificationRequest(p256())),
      401,
      'invalid_client',
    );
  });

  it('issues once per join token: a second use is refused', async () => {
    const created = await authority.admin('POST', '/v1/admin/join-tokens', {
      service: 'billing',
      ttl_seconds: 600,
    });
    assert.equal(created.status, 201);
    const { token } = (await created.json()) as { token: string };
    const first = await issued(
      await authority.form('/v1/svid/x509', {
        csr: createCertificationRequest(p256()),
        join_token: token,
      }),
    );
    assert.equal(
      parseX509Svid(new Uint8Array(new X509Certificate(first.svid).raw)).spiffeId.uri,
      'spiffe://tessera.local/billing',
    );
    await refusal(
      await authority.form('/v1/svid/x509', {
        csr: createCertificationRequest(p256()),
        join_token: token,
      }),
      401,
      'invalid_client',
    );
  });

  it('keeps a join token when the CSR is refused', async () => {
    const created = await authority.admin('POST', '/v1/admin/join-tokens', { service: 'billing' });
    const { token } = (await created.json()) as { token: string };
    await refusal(
      await authority.form('/v1/svid/x509', { csr: 'not a csr', join_token: token }),
      400,
      'invalid_request',
    );
    await issued(
      await authority.form('/v1/svid/x509', {
        csr: createCertificationRequest(p256()),
        join_token: token,
      }),
    );
  });

  it('refuses a disabled service, by client assertion and by join token', async () => {
    const gone = await authority.register('retired-service', [], []);
    const created = await authority.admin('POST', '/v1/admin/join-tokens', {
      service: 'retired-service',
    });
    const { token } = (await created.json()) as { token: string };
    const before = await issued(
      await requestSvid(authority, gone, createCertificationRequest(p256())),
    );
    const serial = parseX509Svid(new Uint8Array(new X509Certificate(before.svid).raw)).serialNumber;
    assert.equal(
      (await authority.admin('DELETE', '/v1/admin/services/retired-service')).status,
      204,
    );
    // Its SVIDs go into the CRL too.
    const crl = new Uint8Array(await (await fetch(`${authority.url}/v1/crl`)).arrayBuffer());
    const text = openssl(
      'crl',
      '-inform',
      'DER',
      '-in',
      file('disabled.crl', crl),
      '-noout',
      '-text',
    );
    assert.match(text.toLowerCase(), new RegExp(`serial number: ${serial}`));
    await refusal(
      await requestSvid(authority, gone, createCertificationRequest(p256())),
      401,
      'invalid_client',
    );
    await refusal(
      await authority.form('/v1/svid/x509', {
        csr: createCertificationRequest(p256()),
        join_token: token,
      }),
      401,
      'invalid_client',
    );
    // The subject revocation lasts as long as an SVID can (24 h), not only a token's hour.
    const revocations = await authority.running.context.store.listRevocations(
      0,
      Math.floor(Date.now() / 1000),
    );
    const entry = revocations.find((r) => r.value === 'spiffe://tessera.local/retired-service');
    assert.ok(entry !== undefined && entry.expiresAt >= Math.floor(Date.now() / 1000) + 86_000);
  });

  it('validates the hosts of a service registration', async () => {
    for (const hosts of [['*.example.com'], ['Bad Host'], ['127.0.0.1', '127.0.0.1'], ['a/b']]) {
      const response = await authority.admin('POST', '/v1/admin/services', {
        name: 'hosty',
        hosts,
      });
      assert.equal(response.status, 400, JSON.stringify(hosts));
    }
    const ok = await authority.admin('POST', '/v1/admin/services', {
      name: 'hosty',
      hosts: ['::1', 'hosty.internal'],
    });
    assert.equal(ok.status, 201);
    assert.deepEqual(((await ok.json()) as { hosts: string[] }).hosts, ['::1', 'hosty.internal']);
  });

  it("issues the authority's own server certificate through issueSvid", async () => {
    const key = p256();
    const own = await authority.running.ca.issueSvid({
      spiffeId: 'spiffe://tessera.local/tessera-authority',
      publicKey: key,
      hosts: ['127.0.0.1'],
    });
    const bundleFile = file('own-bundle.pem', authority.running.ca.bundlePem());
    const svidFile = file('own.pem', own.chainPem);
    assert.match(
      openssl(
        'verify',
        '-CAfile',
        bundleFile,
        '-purpose',
        'sslserver',
        '-verify_ip',
        '127.0.0.1',
        svidFile,
      ),
      /: OK/,
    );
    assert.equal(
      new X509Certificate(own.certificatePem).serialNumber.toLowerCase().replace(/^(00)+/, ''),
      own.serialNumber,
    );
  });

  it('serves the SPIFFE bundle: x509-svid keys with x5c, jwt-svid keys, sequence and refresh hint', async () => {
    const response = await fetch(`${authority.url}/v1/bundle`);
    assert.equal(response.status, 200);
    const bundle = (await response.json()) as {
      keys: { use: string; kty: string; x5c?: string[]; kid?: string }[];
      spiffe_sequence: number;
      spiffe_refresh_hint: number;
    };
    const x509 = bundle.keys.filter((k) => k.use === 'x509-svid');
    const jwt = bundle.keys.filter((k) => k.use === 'jwt-svid');
    assert.equal(x509.length, 1);
    assert.equal(x509[0]?.kty, 'EC');
    assert.deepEqual(
      x509.map((k) => k.x5c?.length),
      [1],
    );
    assert.ok(
      jwt.length >= 2 && jwt.every((k) => typeof k.kid === 'string' && k.x5c === undefined),
    );
    assert.ok(Number.isSafeInteger(bundle.spiffe_sequence) && bundle.spiffe_sequence >= 1);
    assert.equal(bundle.spiffe_refresh_hint, 300);
    assert.equal(bundle.keys.length, x509.length + jwt.length);
    const pem = await (await fetch(`${authority.url}/v1/bundle.pem`)).text();
    assert.equal(
      pemDecodeAll(pem, 'CERTIFICATE')
        .map((der) => Buffer.from(der).toString('base64'))
        .join(),
      x509.map((k) => k.x5c?.[0]).join(),
    );
    // Unchanged bundle, unchanged sequence.
    const again = (await (await fetch(`${authority.url}/v1/bundle`)).json()) as typeof bundle;
    assert.equal(again.spiffe_sequence, bundle.spiffe_sequence);
  });

  it('revokes an SVID by serial: on the revocation feed and in the CRL openssl verifies', async () => {
    const body = await issued(
      await requestSvid(authority, billing, createCertificationRequest(p256())),
    );
    const info = parseX509Svid(new Uint8Array(new X509Certificate(body.svid).raw));
    const bundleFile = file('crl-bundle.pem', body.bundle);
    const svidFile = file('revoked.pem', body.svid);
    const before = await fetch(`${authority.url}/v1/crl`);
    assert.equal(before.headers.get('content-type'), 'application/pkix-crl');
    const beforeFile = file('before.crl', new Uint8Array(await before.arrayBuffer()));
    const beforePem = file('before.crl.pem', pemEncode('X509 CRL', readFileSync(beforeFile)));
    assert.match(
      openssl('verify', '-crl_check', '-CAfile', bundleFile, '-CRLfile', beforePem, svidFile),
      /: OK/,
    );

    const revoked = await authority.admin('POST', '/v1/admin/svids/revoke', {
      serial: info.serialNumber.toUpperCase(),
    });
    assert.equal(revoked.status, 201);
    const record = (await revoked.json()) as { kind: string; value: string; expires_at: number };
    assert.deepEqual(
      { kind: record.kind, value: record.value, expires_at: record.expires_at },
      { kind: 'svid', value: info.serialNumber, expires_at: info.notAfter },
    );
    const feed = await authority.running.context.store.listRevocations(
      0,
      Math.floor(Date.now() / 1000),
    );
    assert.ok(feed.some((r) => r.kind === 'svid' && r.value === info.serialNumber));

    const crl = new Uint8Array(await (await fetch(`${authority.url}/v1/crl`)).arrayBuffer());
    const crlFile = file('after.crl', crl);
    const checked = opensslAll(
      'crl',
      '-inform',
      'DER',
      '-in',
      crlFile,
      '-CAfile',
      bundleFile,
      '-noout',
      '-verify',
    );
    assert.equal(checked.status, 0, checked.output);
    assert.match(checked.output, /verify OK/);
    const text = openssl('crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text');
    assert.match(text.toLowerCase(), new RegExp(`serial number: ${info.serialNumber}`));
    assert.match(text, /X509v3 CRL Number/);
    assert.match(text, /Next Update/);
    const crlPem = file('after.crl.pem', pemEncode('X509 CRL', crl));
    const refused = opensslAll(
      'verify',
      '-crl_check',
      '-CAfile',
      bundleFile,
      '-CRLfile',
      crlPem,
      svidFile,
    );
    assert.notEqual(refused.status, 0);
    assert.match(refused.output, /certificate revoked/);

    const unknown = await authority.admin('POST', '/v1/admin/svids/revoke', { serial: 'abcdef' });
    assert.equal(unknown.status, 404);
    const bad = await authority.admin('POST', '/v1/admin/svids/revoke', { serial: 'xyz' });
    assert.equal(bad.status, 400);
    const anonymous = await fetch(`${authority.url}/v1/admin/svids/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serial: info.serialNumber }),
    });
    assert.equal(anonymous.status, 401);
  });

  it('audits each issuance and counts it', async () => {
    await issued(await requestSvid(authority, billing, createCertificationRequest(p256())));
    const records = await authority.running.context.store.listAudit(0, 10_000);
    const last = records.filter((r) => r.type === 'svid.issued').at(-1);
    assert.equal(last?.actor, 'spiffe://tessera.local/billing');
    assert.equal(last.data.authMethod, 'private_key_jwt');
    const metrics = await authority.running.context.metrics.registry.metrics();
    assert.match(
      metrics,
      /tessera_authority_svids_issued_total\{auth_method="private_key_jwt"\} \d+/,
    );
  });
});

describe('SVIDs and CA rotation under an injected clock', () => {
  it('an SVID issued with the clock two days back is expired for openssl', async () => {
    const clock = new ManualClock(Date.now() - 2 * 86_400_000);
    const authority = await startTestAuthority({ clock });
    try {
      const caller = await authority.register('billing', [], []);
      const body = await issued(
        await requestSvid(authority, caller, createCertificationRequest(p256())),
      );
      const result = opensslAll(
        'verify',
        '-CAfile',
        file('past-bundle.pem', body.bundle),
        file('past.pem', body.svid),
      );
      assert.notEqual(result.status, 0);
      assert.match(result.output, /certificate has expired/);
    } finally {
      await authority.close();
    }
  });

  it('publishes the next CA before it signs and keeps the old one until its last SVID expires', async () => {
    const t0 = Date.now();
    const clock = new ManualClock(t0);
    const authority = await startTestAuthority({
      clock,
      config: {
        ca: {
          maxSvidLifetimeSeconds: 3600,
          svidLifetimeSeconds: 3600,
          lifetimeSeconds: 6 * 3600,
          prepublishSeconds: 3600,
        },
      },
    });
    const bundle = async () =>
      (await (await fetch(`${authority.url}/v1/bundle`)).json()) as {
        keys: { use: string; x5c?: string[] }[];
        spiffe_sequence: number;
      };
    const caIds = async () =>
      (await bundle()).keys.filter((k) => k.use === 'x509-svid').map((k) => k.x5c?.[0]);
    const issuer = (svid: SvidResponse) => new X509Certificate(svid.svid).issuer;
    try {
      const caller = await authority.register('billing', [], []);
      const [first] = await caIds();
      const sequence0 = (await bundle()).spiffe_sequence;

      const rotated = await authority.admin('POST', '/v1/admin/ca/rotate');
      assert.equal(rotated.status, 200);
      const { next } = (await rotated.json()) as { next: { role: string; activatesAt: number } };
      assert.equal(next.role, 'next');
      assert.equal(next.activatesAt, Math.floor(t0 / 1000) + 3600);
      const published = await caIds();
      assert.equal(published.length, 2);
      assert.ok((await bundle()).spiffe_sequence > sequence0);

      // Before activation, the old CA signs.
      clock.advance(3000_000);
      const a = await issued(
        await requestSvid(authority, caller, createCertificationRequest(p256())),
      );
      const oldIssuer = issuer(a);

      // After activation, the new CA signs; the old one stays while a is valid.
      clock.advance(700_000);
      await authority.running.ca.tick();
      const b = await issued(
        await requestSvid(authority, caller, createCertificationRequest(p256())),
      );
      assert.notEqual(issuer(b), oldIssuer);
      assert.deepEqual((await caIds()).sort(), published.sort());
      const both = file('rotation-bundle.pem', b.bundle);
      assert.match(
        openssl(
          'verify',
          '-attime',
          String(Math.floor(clock.now() / 1000)),
          '-CAfile',
          both,
          file('a.pem', a.svid),
        ),
        /: OK/,
      );
      assert.match(
        openssl(
          'verify',
          '-attime',
          String(Math.floor(clock.now() / 1000)),
          '-CAfile',
          both,
          file('b.pem', b.svid),
        ),
        /: OK/,
      );
      const shown = (await (await authority.admin('GET', '/v1/admin/ca')).json()) as {
        cas: { role: string; publishUntil: number | null }[];
      };
      const retired = shown.cas.find((c) => c.role === 'retired');
      assert.equal(
        retired?.publishUntil,
        parseX509Svid(new Uint8Array(new X509Certificate(a.svid).raw)).notAfter,
      );

      // Once a has expired, the old CA leaves the bundle.
      clock.advance(3000_000);
      await authority.running.ca.tick();
      const remaining = await caIds();
      assert.equal(remaining.length, 1);
      assert.notEqual(remaining[0], first);
    } finally {
      await authority.close();
    }
  });
});

describe("an operator's root CA", () => {
  it("makes the authority's CA an intermediate under it; openssl verifies the chain", async () => {
    const root = createTestCa('tessera.local', { nameConstraint: false });
    const certFile = file('root.pem', root.certPem);
    const keyFile = join(dir, 'root.key');
    writeFileSync(keyFile, root.keyPem, { mode: 0o600 });
    const authority = await startTestAuthority({ config: { ca: { certFile, keyFile } } });
    try {
      const caller = await authority.register('billing', [], []);
      const body = await issued(
        await requestSvid(authority, caller, createCertificationRequest(p256())),
      );
      // Leaf and intermediate; the self-signed root stays out of the chain.
      const chain = pemDecodeAll(body.svid, 'CERTIFICATE');
      assert.equal(chain.length, 2);
      const bundle = pemDecodeAll(body.bundle, 'CERTIFICATE');
      assert.equal(
        Buffer.from(bundle[0] ?? []).toString('base64'),
        Buffer.from(root.der).toString('base64'),
      );
      const chainFile = file('chain.pem', body.svid);
      const rootOnly = file('root-only.pem', root.certPem);
      assert.match(
        openssl('verify', '-CAfile', rootOnly, '-untrusted', chainFile, chainFile),
        /: OK/,
      );
      const intermediate = openssl(
        'x509',
        '-noout',
        '-text',
        '-in',
        file('intermediate.pem', pemEncode('CERTIFICATE', chain[1] ?? new Uint8Array())),
      );
      assert.match(intermediate, /Permitted:\s+URI:tessera\.local/);
    } finally {
      await authority.close();
    }
  });

  it('refuses a key that is not the certificate’s', async () => {
    const root = createTestCa('tessera.local');
    const other = createTestCa('tessera.local');
    const certFile = file('root2.pem', root.certPem);
    const keyFile = join(dir, 'other.key');
    writeFileSync(keyFile, other.keyPem, { mode: 0o600 });
    await assert.rejects(
      startTestAuthority({ config: { ca: { certFile, keyFile } } }),
      (error: { code?: string; detail?: string }) =>
        error.code === 'ERR_CONFIG_INVALID' && (error.detail ?? '').includes('ca.keyFile'),
    );
  });
});
