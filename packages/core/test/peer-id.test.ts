import assert from 'node:assert/strict';
import { it } from 'node:test';
import { expectPeerSpiffeId } from '../src/index.ts';
import { createTestCa } from '../src/testing/index.ts';

const ca = createTestCa('tessera.local');
const foreign = createTestCa('other.example');
const AUTHORITY = 'spiffe://tessera.local/tessera-authority';
const check = expectPeerSpiffeId(AUTHORITY, { trustDomain: 'tessera.local' });

it('expectPeerSpiffeId accepts exactly the expected SPIFFE ID', () => {
  assert.equal(check('127.0.0.1', { raw: ca.issueSvid('/tessera-authority').der }), undefined);
});

/** Certificates the check must refuse, with the code of the error it returns. */
const REFUSED: readonly [string, () => Uint8Array, string][] = [
  [
    'another workload of the trust domain',
    () => ca.issueSvid('/billing').der,
    'ERR_SVID_UNEXPECTED',
  ],
  [
    'the same path in another trust domain',
    () => foreign.issueSvid('/tessera-authority').der,
    'ERR_SVID_TRUST_DOMAIN',
  ],
  [
    'two URI SANs, the expected one first',
    () => ca.issueLeaf([AUTHORITY, 'spiffe://tessera.local/x']).der,
    'ERR_SVID_INVALID',
  ],
  ['a CA certificate', () => ca.der, 'ERR_SVID_INVALID'],
  ['bytes that are not a certificate', () => new Uint8Array([1, 2, 3]), 'ERR_SVID_INVALID'],
];

for (const [name, der, code] of REFUSED) {
  it(`expectPeerSpiffeId refuses ${name}`, () => {
    const error = check('127.0.0.1', { raw: der() });
    assert.equal((error as { code?: string } | undefined)?.code, code);
  });
}
