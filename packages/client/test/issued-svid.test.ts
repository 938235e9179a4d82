import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { issueCertificate, isTesseraError, pemEncode } from '@tessera/core';
import { createTestCa, type TestCa } from '@tessera/core/testing';
import { checkIssuedSvid, trustBundleFromPem } from '../src/svid-authority.ts';

/**
 * What the authority answers is checked before it is served: a certificate peers would refuse,
 * or one for another workload or another key, must not replace the current one.
 */

const TD = 'tessera.local';
const ID = `spiffe://${TD}/billing`;

function leaf(ca: TestCa, key: KeyObject, uris: readonly string[]): string {
  const now = Math.floor(Date.now() / 1000);
  return pemEncode(
    'CERTIFICATE',
    issueCertificate({
      serialNumber: new Uint8Array(randomBytes(16)).map((b, i) => (i === 0 ? b & 0x7f : b)),
      subject: {},
      publicKey: key,
      notBefore: now - 60,
      notAfter: now + 3600,
      profile: { kind: 'leaf', uris },
      issuer: { privateKey: ca.privateKey, certificate: ca.der },
    }),
  );
}

describe('checkIssuedSvid', () => {
  const ca = createTestCa(TD);
  const intermediate = ca.issueIntermediate();
  const otherCa = createTestCa(TD);
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const bundle = trustBundleFromPem(ca.certPem);

  const CASES: readonly [name: string, chain: string, code: string | undefined][] = [
    ['an SVID for this ID and key', leaf(ca, key, [ID]), undefined],
    ['through an intermediate', leaf(intermediate, key, [ID]) + intermediate.certPem, undefined],
    ['another SPIFFE ID', leaf(ca, key, [`spiffe://${TD}/ledger`]), 'ERR_SVID_UNEXPECTED'],
    ['another key', leaf(ca, otherKey, [ID]), 'ERR_X509_INVALID'],
    ['another CA', leaf(otherCa, key, [ID]), 'ERR_X509_INVALID'],
    ['an intermediate not sent', leaf(intermediate, key, [ID]), 'ERR_X509_INVALID'],
    ['two URI SANs', leaf(ca, key, [ID, `spiffe://${TD}/ledger`]), 'ERR_SVID_INVALID'],
    ['a CA certificate', ca.certPem, 'ERR_SVID_INVALID'],
    ['not PEM', 'svid', 'ERR_X509_INVALID'],
  ];
  for (const [name, chain, code] of CASES) {
    it(`${code === undefined ? 'accepts' : 'refuses'} ${name}`, () => {
      const check = () => checkIssuedSvid(chain, bundle, { spiffeId: ID, trustDomain: TD, key });
      if (code === undefined) assert.equal(check().info.spiffeId.uri, ID);
      else assert.throws(check, (error) => isTesseraError(error) && error.code === code);
    });
  }

  it('refuses a bundle that is empty or holds a non-CA certificate', () => {
    for (const pem of ['', ca.issueSvid('/billing').certPem, 42]) {
      assert.throws(
        () => trustBundleFromPem(pem),
        (error) => isTesseraError(error) && error.code === 'ERR_X509_INVALID',
      );
    }
  });
});
