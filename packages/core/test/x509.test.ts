import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { TesseraError } from '../src/errors.ts';
import {
  certificateThumbprint,
  createCertificationRequest,
  createLeafIssuer,
  issueCertificate,
  issueCertificateRevocationList,
  parseCertificationRequest,
  parseX509Svid,
  pemDecodeAll,
  pemEncode,
  type LeafRequest,
} from '../src/x509/index.ts';
import { createTestCa } from '../src/testing/test-ca.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-x509-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** openssl's exit status and everything it printed (some verdicts go to stderr). */
function opensslAll(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

function rejectsWith(code: string, fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => error instanceof TesseraError && error.code === code);
}

const ca = createTestCa('tessera.local');

describe('certificates checked by openssl', () => {
  test('an SVID verifies against its CA and has the SPIFFE profile', () => {
    const svid = ca.issueSvid('/billing');
    const caFile = file('ca.pem', ca.certPem);
    const leafFile = file('leaf.pem', svid.certPem);
    assert.match(openssl('verify', '-CAfile', caFile, leafFile), /: OK/);
    const text = openssl('x509', '-in', leafFile, '-noout', '-text');
    assert.match(text, /CA:FALSE/);
    assert.match(text, /Digital Signature/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /URI:spiffe:\/\/tessera\.local\/billing/);
    assert.match(
      openssl('x509', '-in', caFile, '-noout', '-text'),
      /Permitted:\s+URI:tessera\.local/,
    );
  });

  test("the CA's name constraint makes openssl refuse a leaf for another trust domain", () => {
    const foreign = ca.issueLeaf(['spiffe://evil.example/billing']);
    const caFile = file('ca2.pem', ca.certPem);
    const leafFile = file('foreign.pem', foreign.certPem);
    assert.throws(
      () => openssl('verify', '-CAfile', caFile, leafFile),
      (error: { stdout?: string; stderr?: string }) =>
        /name constraint|permitted subtree/i.test(`${error.stdout}${error.stderr}`),
    );
  });

  test('an intermediate chains to the root and its SVIDs verify with the chain', () => {
    const intermediate = ca.issueIntermediate();
    const svid = intermediate.issueSvid('/api');
    const out = openssl(
      'verify',
      '-CAfile',
      file('root.pem', ca.certPem),
      '-untrusted',
      file('int.pem', intermediate.certPem),
      file('leaf-int.pem', svid.certPem),
    );
    assert.match(out, /: OK/);
  });

  test('node:crypto agrees: the leaf is issued by the CA and signed by its key', () => {
    const svid = ca.issueSvid('/api', { keyType: 'Ed25519' });
    const leaf = new X509Certificate(svid.certPem);
    const root = new X509Certificate(ca.certPem);
    assert.equal(leaf.checkIssued(root), true);
    assert.equal(leaf.verify(root.publicKey), true);
    assert.equal(root.ca, true);
    assert.equal(leaf.ca, false);
  });
});

describe('parseX509Svid', () => {
  test('reads the SPIFFE ID, serial, validity and thumbprint', () => {
    const notBefore = Math.floor(Date.now() / 1000) - 10;
    const svid = ca.issueSvid('/billing', { notBefore, notAfter: notBefore + 600 });
    const info = parseX509Svid(svid.der, { trustDomain: 'tessera.local' });
    assert.equal(info.spiffeId.uri, 'spiffe://tessera.local/billing');
    assert.equal(info.notBefore, notBefore);
    assert.equal(info.notAfter, notBefore + 600);
    const node = new X509Certificate(svid.certPem);
    assert.equal(info.serialNumber, node.serialNumber.toLowerCase().replace(/^(00)+/, ''));
    // x5t#S256 per RFC 8705 §3.1, computed independently with openssl.
    const digest = openssl(
      'x509',
      '-in',
      file('tp.pem', svid.certPem),
      '-noout',
      '-fingerprint',
      '-sha256',
    )
      .split('=')[1]!
      .trim()
      .replace(/:/g, '');
    assert.equal(info.thumbprint, Buffer.from(digest, 'hex').toString('base64url'));
    assert.equal(certificateThumbprint(svid.der), info.thumbprint);
  });

  const refusals: readonly [string, () => Uint8Array, string][] = [
    ['no URI SAN', () => ca.issueLeaf([]).der, 'ERR_SVID_INVALID'],
    [
      'two URI SANs',
      () => ca.issueLeaf(['spiffe://tessera.local/a', 'spiffe://tessera.local/b']).der,
      'ERR_SVID_INVALID',
    ],
    [
      'a URI SAN that is not a SPIFFE ID',
      () => ca.issueLeaf(['https://tessera.local/a']).der,
      'ERR_SVID_INVALID',
    ],
    [
      'the trust domain itself (no path)',
      () => ca.issueLeaf(['spiffe://tessera.local']).der,
      'ERR_SVID_INVALID',
    ],
    [
      'a non-canonical SPIFFE ID',
      () => ca.issueLeaf(['spiffe://Tessera.local/a']).der,
      'ERR_SVID_INVALID',
    ],
    [
      'another trust domain',
      () => ca.issueLeaf(['spiffe://evil.example/a']).der,
      'ERR_SVID_TRUST_DOMAIN',
    ],
    ['a CA certificate presented as a leaf', () => ca.der, 'ERR_SVID_INVALID'],
    [
      'trailing bytes after the certificate',
      () => concat(ca.issueSvid('/a').der, [0]),
      'ERR_SVID_INVALID',
    ],
    ['a truncated certificate', () => ca.issueSvid('/a').der.subarray(0, 100), 'ERR_SVID_INVALID'],
    ['garbage', () => new Uint8Array([0x30, 0x03, 1, 2, 3]), 'ERR_SVID_INVALID'],
  ];
  for (const [name, make, code] of refusals) {
    test(`refuses ${name}`, () => {
      rejectsWith(code, () => parseX509Svid(make(), { trustDomain: 'tessera.local' }));
    });
  }
});

function concat(a: Uint8Array, b: number[]): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

describe('certification requests (PKCS#10)', () => {
  test('a P-256 and an Ed25519 CSR are accepted, and openssl agrees they verify', () => {
    for (const key of [
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      generateKeyPairSync('ed25519').privateKey,
    ]) {
      const pem = createCertificationRequest(key);
      const checked = opensslAll('req', '-in', file('req.pem', pem), '-noout', '-verify');
      assert.equal(checked.status, 0);
      assert.match(checked.output, /verify OK/i);
      const parsed = parseCertificationRequest(pem);
      assert.equal(
        parsed.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'),
        createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('hex'),
      );
    }
  });

  test('a CSR made by openssl is accepted, its subject and SANs ignored', () => {
    const keyFile = file(
      'o.key',
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    );
    const pem = openssl(
      'req',
      '-new',
      '-key',
      keyFile,
      '-subj',
      '/CN=admin',
      '-addext',
      'subjectAltName=URI:spiffe://tessera.local/admin',
    );
    assert.equal(parseCertificationRequest(pem).keyType, 'P-256');
  });

  test('refuses an RSA-1024 key', () => {
    const keyFile = file(
      'rsa.key',
      generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    );
    const pem = openssl('req', '-new', '-key', keyFile, '-subj', '/CN=x');
    rejectsWith('ERR_CSR_KEY', () => parseCertificationRequest(pem));
  });

  test('refuses a P-384 key', () => {
    const keyFile = file(
      'p384.key',
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    );
    rejectsWith('ERR_CSR_KEY', () =>
      parseCertificationRequest(openssl('req', '-new', '-key', keyFile, '-subj', '/CN=x')),
    );
  });

  test('refuses a P-256 key whose point is not on the curve (ERR_CSR_KEY, before any signature check)', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const der = pemDecodeAll(createCertificationRequest(key), 'CERTIFICATE REQUEST')[0]!;
    const point = Buffer.from(der).indexOf(
      Buffer.from(createPublicKey(key).export({ type: 'spki', format: 'der' })).subarray(26),
    );
    assert.ok(point > 0);
    const offCurve = der.slice();
    // The last byte of Y: the point (X, Y ^ 1) is not on P-256.
    offCurve[point + 64] = offCurve[point + 64]! ^ 0x01;
    rejectsWith('ERR_CSR_KEY', () =>
      parseCertificationRequest(pemEncode('CERTIFICATE REQUEST', offCurve)),
    );
  });

  test('refuses a CSR whose signature does not verify', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const der = pemDecodeAll(createCertificationRequest(key), 'CERTIFICATE REQUEST')[0]!;
    const tampered = der.slice();
    tampered[tampered.length - 5] = tampered[tampered.length - 5]! ^ 0x01;
    rejectsWith('ERR_CSR_INVALID', () =>
      parseCertificationRequest(pemEncode('CERTIFICATE REQUEST', tampered)),
    );
    // The body signed by one key, carrying another key: the signature no longer matches.
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const a = pemDecodeAll(createCertificationRequest(key), 'CERTIFICATE REQUEST')[0]!;
    const b = pemDecodeAll(createCertificationRequest(other), 'CERTIFICATE REQUEST')[0]!;
    const swapped = a.slice();
    swapped.set(b.subarray(b.length - 72), a.length - 72);
    rejectsWith('ERR_CSR_INVALID', () =>
      parseCertificationRequest(pemEncode('CERTIFICATE REQUEST', swapped)),
    );
  });

  const malformed: readonly [string, unknown][] = [
    ['an empty string', ''],
    ['not PEM', 'hello'],
    ['a certificate instead', ca.certPem],
    ['two CSRs', 'x'],
    [
      'oversized input',
      `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(9000)}\n-----END CERTIFICATE REQUEST-----\n`,
    ],
    [
      'bad base64',
      '-----BEGIN CERTIFICATE REQUEST-----\nAB=C\n-----END CERTIFICATE REQUEST-----\n',
    ],
    ['a number', 42],
  ];
  for (const [name, input] of malformed) {
    test(`refuses ${name}`, () => {
      const value =
        name === 'two CSRs'
          ? createCertificationRequest(generateKeyPairSync('ed25519').privateKey).repeat(2)
          : input;
      rejectsWith('ERR_CSR_INVALID', () => parseCertificationRequest(value as string));
    });
  }
});

describe('certificate revocation lists (RFC 5280 §5)', () => {
  test('openssl verifies the signature, reads the CRL number, next update and revoked serials', () => {
    const now = Math.floor(Date.now() / 1000);
    const revokedSvid = ca.issueSvid('/billing');
    const serial = parseX509Svid(revokedSvid.der).serialNumber;
    const der = issueCertificateRevocationList({
      issuer: { privateKey: ca.privateKey, certificate: ca.der },
      thisUpdate: now - 5,
      nextUpdate: now + 600,
      crlNumber: 7,
      revoked: [
        { serialNumber: serial, revokedAt: now - 1 },
        { serialNumber: '1', revokedAt: now - 1 },
      ],
    });
    const crlFile = join(dir, 'list.crl');
    writeFileSync(crlFile, der);
    const caFile = file('crl-ca.pem', ca.certPem);
    const checked = opensslAll(
      'crl',
      '-inform',
      'DER',
      '-in',
      crlFile,
      '-CAfile',
      caFile,
      '-noout',
      '-verify',
    );
    assert.equal(checked.status, 0, checked.output);
    assert.match(checked.output, /verify OK/);
    const text = openssl('crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text');
    assert.match(text, /X509v3 CRL Number:\s+7/);
    assert.match(text, /Next Update:/);
    assert.match(text, /X509v3 Authority Key Identifier/);
    assert.match(text.toLowerCase(), new RegExp(`serial number: ${serial}`));
    // openssl refuses the revoked certificate once the CRL is in play.
    const leafFile = file('revoked-leaf.pem', revokedSvid.certPem);
    const crlPem = file('list.crl.pem', pemEncode('X509 CRL', der));
    const refused = opensslAll(
      'verify',
      '-crl_check',
      '-CAfile',
      caFile,
      '-CRLfile',
      crlPem,
      leafFile,
    );
    assert.notEqual(refused.status, 0);
    assert.match(refused.output, /certificate revoked/);
    const other = file('good-leaf.pem', ca.issueSvid('/api').certPem);
    assert.match(
      openssl('verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crlPem, other),
      /: OK/,
    );
  });

  test('a CRL signed by another CA does not verify', () => {
    const now = Math.floor(Date.now() / 1000);
    const other = createTestCa('tessera.local');
    const der = issueCertificateRevocationList({
      issuer: { privateKey: other.privateKey, certificate: ca.der },
      thisUpdate: now,
      nextUpdate: now + 60,
      crlNumber: 1,
      revoked: [],
    });
    const crlFile = join(dir, 'forged.crl');
    writeFileSync(crlFile, der);
    const checked = opensslAll(
      'crl',
      '-inform',
      'DER',
      '-in',
      crlFile,
      '-CAfile',
      file('ca3.pem', ca.certPem),
      '-noout',
      '-verify',
    );
    assert.doesNotMatch(checked.output, /verify OK/);
  });

  const badTemplates: [string, Record<string, unknown>][] = [
    ['a serial that is not lower-case hex', { revoked: [{ serialNumber: 'AB', revokedAt: 1 }] }],
    ['an empty serial', { revoked: [{ serialNumber: '', revokedAt: 1 }] }],
    ['nextUpdate before thisUpdate', { nextUpdate: 1 }],
    ['a negative CRL number', { crlNumber: -1 }],
  ];
  for (const [name, change] of badTemplates) {
    test(`refuses ${name}`, () => {
      rejectsWith('ERR_X509_INVALID', () =>
        issueCertificateRevocationList({
          issuer: { privateKey: ca.privateKey, certificate: ca.der },
          thisUpdate: 100,
          nextUpdate: 200,
          crlNumber: 1,
          revoked: [],
          ...change,
        }),
      );
    });
  }
});

describe('IP address SANs', () => {
  test('a leaf may carry IP and DNS SANs next to its one URI SAN', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const now = Math.floor(Date.now() / 1000);
    const der = issueCertificate({
      serialNumber: new Uint8Array([1, 2, 3]),
      subject: {},
      publicKey: key,
      notBefore: now - 60,
      notAfter: now + 600,
      profile: {
        kind: 'leaf',
        uris: ['spiffe://tessera.local/billing'],
        dnsNames: ['billing.internal'],
        ipAddresses: ['127.0.0.1', '::1'],
      },
      issuer: { privateKey: ca.privateKey, certificate: ca.der },
    });
    const text = openssl(
      'x509',
      '-in',
      file('ip-leaf.pem', pemEncode('CERTIFICATE', der)),
      '-noout',
      '-text',
    );
    assert.match(text, /IP Address:127\.0\.0\.1/);
    assert.match(text, /IP Address:0:0:0:0:0:0:0:1/);
    assert.match(text, /DNS:billing\.internal/);
    assert.equal(parseX509Svid(der).spiffeId.uri, 'spiffe://tessera.local/billing');
    assert.ok(new X509Certificate(der).checkIP('127.0.0.1'));
  });

  test('refuses an IP SAN that is not an address', () => {
    rejectsWith('ERR_X509_INVALID', () =>
      issueCertificate({
        serialNumber: new Uint8Array([1]),
        subject: {},
        publicKey: ca.privateKey,
        notBefore: 1,
        notAfter: 2,
        profile: { kind: 'leaf', uris: ['spiffe://tessera.local/a'], ipAddresses: ['localhost'] },
        issuer: { privateKey: ca.privateKey, certificate: ca.der },
      }),
    );
  });
});

describe('createLeafIssuer (the fast path of issueCertificate for leaves)', () => {
  const cases: [string, 'P-256' | 'Ed25519', 'P-256' | 'Ed25519', Partial<LeafRequest>][] = [
    ['P-256 CA, P-256 leaf, URI SAN only', 'P-256', 'P-256', {}],
    [
      'Ed25519 CA, P-256 leaf, IP and DNS SANs',
      'Ed25519',
      'P-256',
      {
        dnsNames: ['billing.internal', 'a.b.c'],
        ipAddresses: ['127.0.0.1', '::1', '10.1.2.3'],
      },
    ],
    [
      'Ed25519 CA, Ed25519 leaf, a long SAN list (long-form lengths)',
      'Ed25519',
      'Ed25519',
      {
        dnsNames: Array.from({ length: 40 }, (_, i) => `host-${i}.tessera.internal`),
      },
    ],
    [
      'Ed25519 CA, validity past 2049 (GeneralizedTime)',
      'Ed25519',
      'P-256',
      {
        notAfter: 2_600_000_000,
      },
    ],
  ];
  for (const [name, caType, leafType, extra] of cases) {
    test(`writes the same DER as issueCertificate: ${name}`, () => {
      const issuerCa = createTestCa('tessera.local', { keyType: caType });
      const leafKey =
        leafType === 'P-256'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
          : generateKeyPairSync('ed25519').privateKey;
      const request: LeafRequest = {
        serialNumber: new Uint8Array([0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]),
        publicKey: createPublicKey(leafKey),
        notBefore: Math.floor(Date.now() / 1000) - 60,
        notAfter: Math.floor(Date.now() / 1000) + 3600,
        uris: ['spiffe://tessera.local/billing'],
        ...extra,
      };
      const issuer = { privateKey: issuerCa.privateKey, certificate: issuerCa.der };
      const fast = createLeafIssuer(issuer, { organization: 'Tessera' }).issue(request);
      const slow = issueCertificate({
        serialNumber: request.serialNumber,
        subject: { organization: 'Tessera' },
        publicKey: request.publicKey,
        notBefore: request.notBefore,
        notAfter: request.notAfter,
        profile: {
          kind: 'leaf',
          uris: request.uris,
          ...(request.dnsNames !== undefined ? { dnsNames: request.dnsNames } : {}),
          ...(request.ipAddresses !== undefined ? { ipAddresses: request.ipAddresses } : {}),
        },
        issuer,
      });
      const fastCert = new X509Certificate(fast);
      assert.ok(fastCert.verify(createPublicKey(issuerCa.privateKey)));
      if (caType === 'Ed25519') {
        // Deterministic signatures: the whole certificate is the same.
        assert.equal(Buffer.from(fast).toString('hex'), Buffer.from(slow).toString('hex'));
      } else {
        // ECDSA signatures differ; everything they sign must not.
        const tbs = (der: Uint8Array) =>
          der.subarray(4, 4 + ((der[6] ?? 0) << 8) + (der[7] ?? 0) + 4);
        assert.equal(
          Buffer.from(tbs(fast)).toString('hex'),
          Buffer.from(tbs(slow)).toString('hex'),
        );
      }
      const caFile = file(`leaf-issuer-ca-${caType}.pem`, issuerCa.certPem);
      const leafFile = file('leaf-issuer-leaf.pem', pemEncode('CERTIFICATE', fast));
      const verified = opensslAll(
        'verify',
        '-attime',
        String(request.notBefore + 60),
        '-CAfile',
        caFile,
        leafFile,
      );
      assert.equal(verified.status, 0, verified.output);
    });
  }

  test("takes the CSR's SubjectPublicKeyInfo as is, with the same result", () => {
    const issuerCa = createTestCa('tessera.local', { keyType: 'Ed25519' });
    const issuer = createLeafIssuer({ privateKey: issuerCa.privateKey, certificate: issuerCa.der });
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const fromCsr = parseCertificationRequest(createCertificationRequest(key));
    assert.deepEqual(
      Buffer.from(fromCsr.spki),
      createPublicKey(key).export({ type: 'spki', format: 'der' }),
    );
    const base = {
      serialNumber: new Uint8Array([7]),
      publicKey: fromCsr.publicKey,
      notBefore: 1_000_000_000,
      notAfter: 1_000_003_600,
      uris: ['spiffe://tessera.local/a'],
    };
    assert.deepEqual(issuer.issue({ ...base, spki: fromCsr.spki }), issuer.issue(base));
  });

  test('refuses an RSA issuer key and a leaf window that ends before it starts', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    rejectsWith('ERR_X509_INVALID', () =>
      createLeafIssuer({ privateKey: rsa, certificate: ca.der }),
    );
    const issuer = createLeafIssuer({ privateKey: ca.privateKey, certificate: ca.der });
    rejectsWith('ERR_X509_INVALID', () =>
      issuer.issue({
        serialNumber: new Uint8Array([1]),
        publicKey: ca.privateKey,
        notBefore: 10,
        notAfter: 10,
        uris: ['spiffe://tessera.local/a'],
      }),
    );
    rejectsWith('ERR_X509_INVALID', () =>
      issuer.issue({
        serialNumber: new Uint8Array([1]),
        publicKey: createPublicKey(rsa),
        notBefore: 10,
        notAfter: 20,
        uris: ['spiffe://tessera.local/a'],
      }),
    );
  });
});
