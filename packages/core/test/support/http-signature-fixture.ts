import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
} from 'node:crypto';
import { ManualClock } from '../../src/testing/manual-clock.ts';
import { TesseraError, type TesseraErrorCode } from '../../src/errors.ts';
import type { SignatureKey } from '../../src/http-signature/algorithms.ts';
import type { SignableRequest } from '../../src/http-signature/components.ts';

const VECTORS = new URL('../fixtures/vectors/', import.meta.url);

export function readVectorFile(path: string): string {
  return readFileSync(new URL(path, VECTORS), 'utf8');
}

interface Rfc9421Case {
  readonly id: string;
  readonly label: string;
  readonly alg: 'hmac-sha256' | 'ed25519';
  readonly keyid: string;
  readonly signature_input: string;
  readonly signature_base: string;
  readonly signature: string;
}

interface Rfc9421Vectors {
  readonly test_request: {
    readonly method: string;
    readonly target_uri: string;
    readonly headers: Record<string, string>;
    readonly body: string;
  };
  readonly cases: readonly Rfc9421Case[];
  readonly content_digest: { readonly body: string; readonly 'sha-512': string };
}

/** RFC 9421 Appendix B.2 request, B.2.5/B.2.6 cases and the RFC 9530 digest of the body. */
export const rfc9421 = JSON.parse(readVectorFile('rfc9421/vectors.json')) as Rfc9421Vectors;

/** `created` of the B.2 examples: 2021-04-20T02:07:53Z. */
export const RFC_CREATED = 1_618_884_473;

/** The B.2 test request, without any signature field. */
export const rfcRequest: SignableRequest = {
  method: rfc9421.test_request.method,
  url: rfc9421.test_request.target_uri,
  headers: rfc9421.test_request.headers,
};

/** The RFC 9421 Appendix B.1 keys, as signing keys (private) and verification keys (public). */
export const rfcKeys = {
  sharedSecret: {
    keyid: 'test-shared-secret',
    alg: 'hmac-sha256',
    key: createSecretKey(
      Buffer.from(readVectorFile('rfc9421/test-shared-secret.txt').trim(), 'base64'),
    ),
  },
  ed25519: {
    keyid: 'test-key-ed25519',
    alg: 'ed25519',
    key: createPrivateKey(readVectorFile('rfc9421/test-key-ed25519.pem')),
  },
  eccP256: {
    keyid: 'test-key-ecc-p256',
    alg: 'ecdsa-p256-sha256',
    key: createPrivateKey(readVectorFile('rfc9421/test-key-ecc-p256.pem')),
  },
} as const satisfies Record<string, SignatureKey>;

/** The public half of an asymmetric key; secrets are returned unchanged. */
export function verificationKey(key: SignatureKey): SignatureKey {
  return key.key.type === 'private' ? { ...key, key: createPublicKey(key.key) } : key;
}

/** A resolver over `keys`, holding only what a verifier holds (public keys, shared secrets). */
export function keyResolver(...keys: SignatureKey[]): (keyid: string) => SignatureKey | undefined {
  const byId = new Map(keys.map((key) => [key.keyid, verificationKey(key)]));
  return (keyid) => byId.get(keyid);
}

/** Fresh keys, one per algorithm, for round trips. */
export function generateKeys(): Record<'hmac' | 'ecdsa' | 'ed25519', SignatureKey> {
  return {
    hmac: { keyid: 'hmac-1', alg: 'hmac-sha256', key: createSecretKey(randomBytes(32)) },
    ecdsa: {
      keyid: 'ecdsa-1',
      alg: 'ecdsa-p256-sha256',
      key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    },
    ed25519: { keyid: 'ed25519-1', alg: 'ed25519', key: generateKeyPairSync('ed25519').privateKey },
  };
}

/** 2026-11-23T12:00:00Z, a fixed "now" for the tests that are not RFC vectors. */
export const NOW_S = 1_795_435_200;

export function newClock(seconds = NOW_S): ManualClock {
  return new ManualClock(seconds * 1000);
}

/** A request between Tessera services, with a body and its digest. */
export function invoiceRequest(headers: SignableRequest['headers'] = {}): SignableRequest {
  return {
    method: 'POST',
    url: 'https://billing.tessera.local:8443/invoices?customer=42&draft=true',
    headers: {
      host: 'billing.tessera.local:8443',
      'content-type': 'application/json',
      'content-length': '18',
      'content-digest': 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
      ...headers,
    },
  };
}

/** Components a Tessera client signs on a request with a body. */
export const CLIENT_COMPONENTS = [
  '@method',
  '@authority',
  '@path',
  '@query',
  'content-digest',
  'content-type',
];

/** Asserts that `action` rejects (or throws) a `TesseraError` with `code`. */
export async function assertRejectsWith(
  action: () => unknown,
  code: TesseraErrorCode,
  message?: string,
): Promise<void> {
  await assert.rejects(
    async () => {
      await action();
    },
    (error: unknown) => {
      assert.ok(
        error instanceof TesseraError,
        `${message ?? ''} expected a TesseraError, got ${String(error)}`,
      );
      assert.equal(error.code, code, `${message ?? ''} ${error.message}`);
      return true;
    },
  );
}
