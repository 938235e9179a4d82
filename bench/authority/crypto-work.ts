/**
 * The raw signature work the authority cannot avoid per request (`CryptoWork`), on inputs of the
 * sizes the benchmark sends: the `authority.*` baselines. Run by the ceiling threads
 * (`ceiling-thread.ts`), one per core the authority is given.
 */
import { sign, verify } from 'node:crypto';
import {
  generateSigningKey,
  mintAccessToken,
  mintClientAssertion,
  type SigningKey,
  systemClock,
} from '@tessera/core';
import type { CryptoWork } from './messages.ts';

/** A compact JWS split the way a verifier sees it. */
function signed(jws: string): { input: Buffer; signature: Buffer } {
  const [header, payload, signature] = jws.split('.') as [string, string, string];
  return {
    input: Buffer.from(`${header}.${payload}`),
    signature: Buffer.from(signature, 'base64url'),
  };
}

const P1363 = 'ieee-p1363' as const;

/** One unit of `work` on realistic inputs (an assertion and a token of the sizes the bench sends). */
function cryptoWork(work: CryptoWork, issuer: string): () => unknown {
  const client = generateSigningKey('ES256');
  const authorityKey: SigningKey = generateSigningKey('ES256');
  const clientId = 'spiffe://tessera.local/bench-client';
  const assertion = signed(
    mintClientAssertion({ clientId, audience: issuer }, { key: client, clock: systemClock }),
  );
  const token = signed(
    mintAccessToken(
      {
        issuer,
        subject: clientId,
        audience: 'spiffe://tessera.local/bench-target',
        scopes: ['reports:read'],
      },
      { key: authorityKey, clock: systemClock },
    ).token,
  );
  const verifyOne = (key: SigningKey, jws: { input: Buffer; signature: Buffer }): void => {
    if (!verify('sha256', jws.input, { key: key.key, dsaEncoding: P1363 }, jws.signature)) {
      throw new Error('baseline signature did not verify');
    }
  };
  if (work === 'sign') {
    // About the size of the TBSCertificate of an X.509-SVID with one URI SAN.
    const tbs = Buffer.alloc(420, 0x5a);
    return () => sign('sha256', tbs, authorityKey.privateKey);
  }
  if (work === 'verify+verify+sign') {
    return () => {
      verifyOne(client, assertion);
      verifyOne(authorityKey, token);
      return sign('sha256', token.input, { key: authorityKey.privateKey, dsaEncoding: P1363 });
    };
  }
  return work === 'verify+sign'
    ? () => {
        verifyOne(client, assertion);
        return sign('sha256', token.input, { key: authorityKey.privateKey, dsaEncoding: P1363 });
      }
    : () => {
        verifyOne(client, assertion);
        verifyOne(authorityKey, token);
      };
}

// The same inputs in every round, so rounds differ only by what the machine is doing.
const works = new Map<CryptoWork, () => unknown>();

export function workFor(work: CryptoWork, issuer: string): () => unknown {
  let fn = works.get(work);
  if (fn === undefined) {
    fn = cryptoWork(work, issuer);
    works.set(work, fn);
  }
  return fn;
}
