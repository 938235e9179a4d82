import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  createCertificationRequest,
  JWT_BEARER_ASSERTION_TYPE,
  parseX509Svid,
  pemDecodeAll,
} from '@tessera/core';
import { createTestCa } from '@tessera/core/testing';
import { requestOverTls } from '../src/testing/tls-request.ts';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';
import { curlTokenClaims, opensslThumbprint } from './support/curl-token.ts';

/**
 * The HTTPS authority with its real CA (no test issuer): its own SVID carries 127.0.0.1 as an
 * IP SAN, so openssl and curl check the host too; client SVIDs come from `POST /v1/svid/x509`,
 * and are renewed there over mTLS with the current one.
 */

const run = promisify(execFile);
const EVENTS = 'spiffe://tessera.local/event-service';

let authority: TestAuthority;
let files: string;
let bundleFile: string;
let port: string;
let events: Awaited<ReturnType<TestAuthority['register']>>;

interface Svid {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serial: string;
}

function newKey() {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/**
 * A new SVID for event-service: over mTLS with `current` when given, else with its client
 * assertion. Answers the response and the new key (PEM).
 */
async function requestSvid(current?: Svid): Promise<{ response: Response; keyPem: string }> {
  const key = newKey();
  const form = new URLSearchParams({ csr: createCertificationRequest(key) });
  if (current === undefined) {
    form.set('client_assertion_type', JWT_BEARER_ASSERTION_TYPE);
    form.set('client_assertion', authority.assertion(events.key, events.clientId));
  }
  const response = await authority.request('/v1/svid/x509', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    ...(current !== undefined ? { cert: current.certPem, key: current.keyPem } : {}),
  });
  return { response, keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string };
}

async function svidFrom({
  response,
  keyPem,
}: {
  response: Response;
  keyPem: string;
}): Promise<Svid> {
  assert.equal(response.status, 200);
  const body = (await response.json()) as { svid: string };
  const leaf = pemDecodeAll(body.svid, 'CERTIFICATE')[0];
  assert.ok(leaf !== undefined);
  return {
    certPem: body.svid,
    keyPem,
    serial: parseX509Svid(leaf).serialNumber,
  };
}

function tokenOverMtls(svid: Svid, extra: Record<string, string> = {}) {
  return authority.request('/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: EVENTS,
      audience: 'billing',
      ...extra,
    }).toString(),
    cert: svid.certPem,
    key: svid.keyPem,
  });
}

before(async () => {
  authority = await startTestAuthority({ tls: true });
  port = new URL(authority.url).port;
  files = await mkdtemp(join(tmpdir(), 'tessera-tls-ca-'));
  bundleFile = join(files, 'bundle.pem');
  await writeFile(bundleFile, await authority.bundlePem());
  await authority.register('billing', [], []);
  events = await authority.register('event-service', ['billing'], []);
});

after(async () => {
  await authority.close();
  await rm(files, { recursive: true, force: true });
});

void describe('the authority over HTTPS with its own CA', () => {
  void it('serves a certificate openssl verifies for 127.0.0.1 against the bundle', async () => {
    const { stdout } = await run(
      'sh',
      [
        '-c',
        `openssl s_client -connect 127.0.0.1:${port} -CAfile "$1" -verify_ip 127.0.0.1 </dev/null 2>&1`,
        'sh',
        bundleFile,
      ],
      { timeout: 20_000 },
    );
    assert.match(stdout, /Verify return code: 0 \(ok\)/);
    const text = await run(
      'sh',
      [
        '-c',
        `openssl s_client -connect 127.0.0.1:${port} -CAfile "$1" </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName`,
        'sh',
        bundleFile,
      ],
      { timeout: 20_000 },
    );
    assert.match(text.stdout, /URI:spiffe:\/\/tessera\.local\/tessera-authority/);
    assert.match(text.stdout, /IP Address:127\.0\.0\.1/);
  });

  void it('gives curl a token bound to its SVID; cnf is the openssl SHA-256 fingerprint', async () => {
    const svid = await svidFrom(await requestSvid());
    const cert = join(files, 'svid.pem');
    const key = join(files, 'svid.key');
    await writeFile(cert, svid.certPem);
    await writeFile(key, svid.keyPem, { mode: 0o600 });
    const claims = await curlTokenClaims({
      url: `https://127.0.0.1:${port}/oauth2/token`,
      bundle: bundleFile,
      cert,
      key,
      form: {
        grant_type: 'client_credentials',
        client_id: EVENTS,
        audience: 'billing',
        certificate_bound: 'true',
      },
    });
    assert.deepEqual(claims.cnf, { 'x5t#S256': await opensslThumbprint(cert) });
    assert.equal(claims.iss, `https://127.0.0.1:${port}`);
  });

  void it('renews an SVID over mTLS with the current one, for the same SPIFFE ID', async () => {
    const first = await svidFrom(await requestSvid());
    const renewed = await svidFrom(await requestSvid(first));
    assert.notEqual(renewed.serial, first.serial);
    const leaf = pemDecodeAll(renewed.certPem, 'CERTIFICATE')[0];
    assert.ok(leaf !== undefined);
    assert.equal(parseX509Svid(leaf).spiffeId.uri, EVENTS);
  });

  void it('refuses renewal with a certificate from another CA: 401 invalid_client', async () => {
    const foreign = createTestCa('tessera.local').issueSvid('/event-service');
    const { response } = await requestSvid({
      certPem: foreign.certPem,
      keyPem: foreign.keyPem,
      serial: '',
    });
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_client');
  });

  void it('refuses a revoked SVID serial for renewal and at the token endpoint', async () => {
    const svid = await svidFrom(await requestSvid());
    assert.equal((await tokenOverMtls(svid)).status, 200);
    const revoked = await authority.admin('POST', '/v1/admin/svids/revoke', {
      serial: svid.serial,
    });
    assert.equal(revoked.status, 201);
    const mark = authority.logLines.length;
    const token = await tokenOverMtls(svid);
    const renewal = (await requestSvid(svid)).response;
    assert.equal(token.status, 401);
    assert.equal(renewal.status, 401);
    const reasons = authority.logLines
      .slice(mark)
      .map((line) => (JSON.parse(line) as { reason?: string }).reason)
      .filter((reason) => reason !== undefined);
    assert.deepEqual(reasons, ['svid_revoked', 'svid_revoked']);
  });
});

void describe('CA bundle changes', () => {
  void it('rewrites the bundle file and the trusted client CAs when the next CA is published', async () => {
    const before = await authority.bundlePem();
    assert.equal(pemDecodeAll(before, 'CERTIFICATE').length, 1);
    const rotated = await authority.admin('POST', '/v1/admin/ca/rotate');
    assert.equal(rotated.status, 200);
    await authority.running.refreshTls();
    const after = await authority.bundlePem();
    assert.equal(pemDecodeAll(after, 'CERTIFICATE').length, 2);
    assert.equal(authority.running.serverCredentials?.ca, after);
    // The server still presents a certificate that chains to the bundle as written.
    await writeFile(bundleFile, after);
    const { stdout } = await run(
      'sh',
      [
        '-c',
        `openssl s_client -connect 127.0.0.1:${port} -CAfile "$1" </dev/null 2>&1`,
        'sh',
        bundleFile,
      ],
      { timeout: 20_000 },
    );
    assert.match(stdout, /Verify return code: 0 \(ok\)/);
  });
});

void describe('operator-provided server certificate (tls.certFile, tls.keyFile)', () => {
  let operator: TestAuthority;
  let dir: string;
  const operatorCa = createTestCa('tessera.local');
  const EDGE = 'spiffe://tessera.local/edge';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-tls-operator-'));
    const first = operatorCa.issueSvid('/edge');
    await writeFile(join(dir, 'tls.crt'), first.certPem);
    await writeFile(join(dir, 'tls.key'), first.keyPem, { mode: 0o600 });
    operator = await startTestAuthority({
      tls: true,
      config: {
        tls: {
          certFile: join(dir, 'tls.crt'),
          keyFile: join(dir, 'tls.key'),
          bundleFile: join(dir, 'bundle.pem'),
        },
      },
    });
  });

  after(async () => {
    await operator.close();
    await rm(dir, { recursive: true, force: true });
  });

  const serverSerial = async () => {
    const response = await requestOverTls(`${operator.url}/healthz`, {
      ca: operatorCa.certPem,
      serverSpiffeId: EDGE,
    });
    assert.equal(response.status, 200);
    return operator.running.serverCredentials?.cert;
  };

  void it("serves the operator's chain, and picks up new files without a restart", async () => {
    const first = await serverSerial();
    const second = operatorCa.issueSvid('/edge');
    await writeFile(join(dir, 'tls.crt'), second.certPem);
    await writeFile(join(dir, 'tls.key'), second.keyPem, { mode: 0o600 });
    await operator.running.refreshTls();
    const now = await serverSerial();
    assert.notEqual(now, first);
    assert.equal(now, second.certPem);
    const { stdout } = await run(
      'sh',
      [
        '-c',
        `openssl s_client -connect 127.0.0.1:${new URL(operator.url).port} </dev/null 2>/dev/null | openssl x509 -noout -serial`,
      ],
      { timeout: 20_000 },
    );
    const serial = /serial=([0-9A-F]+)/
      .exec(stdout)?.[1]
      ?.toLowerCase()
      .replace(/^(00)+/, '');
    assert.equal(serial, parseX509Svid(second.der).serialNumber);
  });

  void it("still checks client certificates against the authority's own CA bundle", async () => {
    for (const body of [{ name: 'billing' }, { name: 'event-service', audiences: ['billing'] }]) {
      const registered = await requestOverTls(`${operator.url}/v1/admin/services`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${operator.adminToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
        ca: operatorCa.certPem,
        serverSpiffeId: EDGE,
      });
      assert.equal(registered.status, 201);
    }
    const tokenWith = (certPem: string, keyPem: string) =>
      requestOverTls(`${operator.url}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: EVENTS,
          audience: 'billing',
        }).toString(),
        ca: operatorCa.certPem,
        serverSpiffeId: EDGE,
        cert: certPem,
        key: keyPem,
      });
    const foreign = operatorCa.issueSvid('/event-service');
    assert.equal((await tokenWith(foreign.certPem, foreign.keyPem)).status, 401);
    const key = newKey();
    const own = await operator.running.ca.issueSvid({
      spiffeId: EVENTS,
      publicKey: createPublicKey(key),
    });
    const ownKey = key.export({ type: 'pkcs8', format: 'pem' }) as string;
    assert.equal((await tokenWith(own.chainPem, ownKey)).status, 200);
  });
});
