/**
 * @tessera/core benchmarks. Names are published (see bench/README.md): do not rename.
 * Every candidate is measured against a raw node:crypto baseline in the same run.
 */
import { createHash, createHmac, createSecretKey, randomBytes, sign, verify } from 'node:crypto';
import { jwtVerify } from 'jose';
import {
  createContentDigest,
  createRequestSignatureVerifier,
  createSignatureBase,
  createVerifier,
  generateSigningKey,
  KeySet,
  mintAccessToken,
  type SignatureKey,
  type SignatureParameterName,
  signRequest,
  verifyContentDigest,
} from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import type { Benchmark } from './harness.ts';

const ISSUER = 'http://127.0.0.1:7700';
const AUDIENCE = 'spiffe://tessera.local/billing';
const SUBJECT = 'spiffe://tessera.local/event-service';
// A fixed clock far from any expiry: benchmarks must not drift into ERR_TOKEN_EXPIRED.
const clock = new ManualClock(Date.UTC(2026, 10, 23, 12));
const key = generateSigningKey('ES256');
const keys = new KeySet([key]);

function mint(jti?: string): string {
  return mintAccessToken(
    {
      issuer: ISSUER,
      subject: SUBJECT,
      audience: AUDIENCE,
      scopes: ['invoices:write'],
      lifetimeSeconds: 3600,
      ...(jti ? { jti } : {}),
    },
    { key, clock },
  ).token;
}

const token = mint();
const [h, p, s] = token.split('.') as [string, string, string];
const signingInput = Buffer.from(`${h}.${p}`);
const signature = Buffer.from(s, 'base64url');
const verifyOptions = { key: key.key, dsaEncoding: 'ieee-p1363' as const };
const signOptions = { key: key.privateKey, dsaEncoding: 'ieee-p1363' as const };

/** The raw cost of the one ES256 verification every uncached token needs. */
const rawVerify = {
  name: 'crypto.verify',
  fn: () => {
    if (!verify('sha256', signingInput, verifyOptions, signature))
      throw new Error('baseline failed');
  },
};

/**
 * The same verification in `crypto.verify`'s callback form, which runs on libuv's thread pool:
 * the raw ceiling of 64 verifications in flight, as `verifyAsync` keeps them.
 */
const rawVerifyCallback = {
  name: 'crypto.verify.callback',
  fn: () =>
    new Promise<void>((resolve, reject) => {
      verify('sha256', signingInput, verifyOptions, signature, (error, valid) => {
        if (error !== null) reject(error);
        else if (!valid) reject(new Error('baseline failed'));
        else resolve();
      });
    }),
};

const uncached = createVerifier({ issuer: ISSUER, audience: AUDIENCE, keys, clock, cache: false });
const cached = createVerifier({ issuer: ISSUER, audience: AUDIENCE, keys, clock });
// 1,000 distinct callers' tokens, all in the cache: a hit is a Map lookup on a fresh key each time.
const pool = Array.from({ length: 1000 }, (_, i) => mint(`bench-${i}`));
let next = 0;

// RFC 9421: a 1 KB JSON body, HMAC-SHA256 over method, authority, path, query, digest and type.
const hmacSecret = randomBytes(32);
const hmacKey: SignatureKey = {
  keyid: 'bench-hmac',
  alg: 'hmac-sha256',
  key: createSecretKey(hmacSecret),
};
const body = JSON.stringify({ invoice: 'x'.repeat(1000) }).slice(0, 1024);
const signedRequest = {
  method: 'POST',
  url: 'http://127.0.0.1:7703/invoices?tenant=acme',
  headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
};
const components = ['@method', '@authority', '@path', '@query', 'content-digest', 'content-type'];
const verifySignature = createRequestSignatureVerifier({
  keys: (keyid) => (keyid === hmacKey.keyid ? hmacKey : undefined),
  clock,
  requiredComponents: components,
});

/** The bytes signRequest MACs for the benchmark's request: the same length and content. */
const signatureBase = createSignatureBase(
  {
    ...signedRequest,
    headers: { ...signedRequest.headers, 'content-digest': createContentDigest(body) },
  },
  {
    components,
    params: new Map<SignatureParameterName, number | string>([
      ['created', Math.floor(clock.now() / 1000)],
      ['keyid', hmacKey.keyid],
    ]),
  },
  'ERR_CONFIG_INVALID',
  'ERR_CONFIG_INVALID',
);

/** Sign a request (digest + signature), then verify both, as a client and a server would. */
async function signAndVerify9421(): Promise<void> {
  const headers = { ...signedRequest.headers, 'content-digest': createContentDigest(body) };
  const fields = signRequest({ ...signedRequest, headers }, { key: hmacKey, components, clock });
  const received = { ...signedRequest, headers: { ...headers, ...fields } };
  await verifySignature(received);
  verifyContentDigest(received.headers['content-digest'], body);
}

export const benchmarks: readonly Benchmark[] = [
  {
    name: 'core.verify.cached',
    setup: () => {
      pool.forEach((t) => cached.verify(t));
    },
    fn: () => cached.verify(pool[(next = (next + 1) % pool.length)]!),
    baseline: rawVerify,
  },
  {
    name: 'core.verify.uncached.serial',
    fn: () => uncached.verify(token),
    baseline: rawVerify,
  },
  {
    name: 'core.verify.uncached.concurrent64',
    fn: () => uncached.verifyAsync(token),
    concurrency: 64,
    baseline: rawVerifyCallback,
  },
  {
    // Not a Tessera code path: the reason core does not verify through jose (see token/jws.ts).
    name: 'core.verify.jose.serial',
    fn: () =>
      jwtVerify(token, key.key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(clock.now()),
      }),
    baseline: rawVerify,
  },
  {
    name: 'core.mint',
    fn: () => mint(),
    baseline: {
      name: 'crypto.sign',
      fn: () => sign('sha256', signingInput, signOptions),
    },
  },
  {
    name: 'core.sig9421.hmac',
    fn: signAndVerify9421,
    baseline: {
      // The hashing the candidate cannot avoid, done raw: the body's SHA-256 by the sender
      // (Content-Digest) and again by the receiver, the signature base's HMAC by each side.
      name: 'sha256+hmac-sha256',
      fn: () => {
        createHash('sha256').update(body).digest();
        createHash('sha256').update(body).digest();
        createHmac('sha256', hmacSecret).update(signatureBase).digest();
        return createHmac('sha256', hmacSecret).update(signatureBase).digest();
      },
    },
  },
];
