import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
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
