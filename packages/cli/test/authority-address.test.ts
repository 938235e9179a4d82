import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PeerCertificate } from 'node:tls';
import { createTestCa } from '@tessera/core/testing';
import { checkAuthorityIdentity, defaultAuthorityUrl } from '../src/authority-client.ts';

/** What `getPeerCertificate()` gives the identity check: the DER and the SAN text. */
function peer(certPem: string): PeerCertificate {
  const x509 = new X509Certificate(certPem);
  return {
    raw: x509.raw,
    subject: {},
    subjectaltname: x509.subjectAltName ?? '',
  } as unknown as PeerCertificate;
}

describe('the default authority address', () => {
  const start = process.cwd();
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-cli-address-'));
    process.chdir(dir);
  });

  after(async () => {
    process.chdir(start);
    await rm(dir, { recursive: true, force: true });
  });

  it('is plain HTTP on 127.0.0.1:7700 without a dev bundle, HTTPS with one, the environment first', async () => {
    assert.equal(defaultAuthorityUrl({}), 'http://127.0.0.1:7700');
    await mkdir('.tessera');
    await writeFile(join('.tessera', 'bundle.pem'), createTestCa().certPem);
    assert.equal(defaultAuthorityUrl({}), 'https://127.0.0.1:7700');
    assert.equal(
      defaultAuthorityUrl({ TESSERA_AUTHORITY: 'http://10.0.0.1:7700' }),
      'http://10.0.0.1:7700',
    );
  });
});

describe("the authority's certificate check", () => {
  const ca = createTestCa('tessera.local');

  const CASES: readonly { name: string; certPem: string; host: string; accepted: boolean }[] = [
    {
      name: "the authority's SVID, whatever the host name",
      certPem: ca.issueSvid('/tessera-authority').certPem,
      host: '10.9.9.9',
      accepted: true,
    },
    {
      name: "another workload's valid SVID",
      certPem: ca.issueSvid('/billing').certPem,
      host: '127.0.0.1',
      accepted: false,
    },
    {
      name: 'a certificate with two URI SANs, one of them the authority',
      certPem: ca.issueLeaf([
        'spiffe://tessera.local/tessera-authority',
        'spiffe://tessera.local/x',
      ]).certPem,
      host: '127.0.0.1',
      accepted: false,
    },
    {
      name: 'a non-SVID certificate for another host name',
      certPem: ca.issueLeaf([]).certPem,
      host: 'authority.example',
      accepted: false,
    },
  ];
  for (const row of CASES) {
    it(`${row.accepted ? 'accepts' : 'refuses'} ${row.name}`, () => {
      const verdict = checkAuthorityIdentity(row.host, peer(row.certPem));
      assert.equal(verdict === undefined, row.accepted, verdict?.message);
    });
  }
});
