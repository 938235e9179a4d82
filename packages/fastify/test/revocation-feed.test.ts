import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { generateSigningKey, parsePolicy, systemClock, type SigningKey } from '@tessera/core';
import { eventually } from '@tessera/core/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import { tessera, type TesseraPluginOptions } from '../src/index.ts';

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  event-service: {}
  billing:
    routes:
      - { method: POST, path: /invoices, allow: [{ service: event-service, scopes: [invoices:write] }] }
`);

const URL = 'http://127.0.0.1:1';

const BAD_CREDENTIALS: readonly [string, unknown, RegExp][] = [
  ['no credentials', undefined, /authority\.credentials is required/],
  ['null', null, /authority\.credentials is \{ privateKey/],
  ['a string', 'secret', /authority\.credentials is \{ privateKey/],
  ['no privateKey', {}, /privateKey is not a private key/],
  ['a private key that is not a key', { privateKey: 'nope' }, /privateKey is not a private key/],
  [
    'a public JWK',
    { privateKey: generateSigningKey().publicJwk },
    /privateKey is not a private key/,
  ],
  ['a public KeyObject', { privateKey: generateSigningKey().key }, /not a private key/],
  [
    'a P-384 key',
    { privateKey: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey },
    /P-256 \(ES256\) or Ed25519/,
  ],
  [
    'an empty kid',
    { privateKey: generateSigningKey().privateKey, kid: '' },
    /kid must be a non-empty string/,
  ],
];

describe('@tessera/fastify authority credentials (secure by default)', () => {
  for (const [name, credentials, message] of BAD_CREDENTIALS) {
    it(`refuses to register with ${name}`, async () => {
      const app = Fastify();
      const authority = (
        credentials === undefined ? { url: URL } : { url: URL, credentials }
      ) as NonNullable<TesseraPluginOptions['authority']>;
      await assert.rejects(
        (async () => {
          await app.register(tessera, { service: 'billing', policy, authority });
          await app.ready();
        })(),
        (error: { code?: string; message?: string }) =>
          error.code === 'ERR_CONFIG_INVALID' && message.test(error.message ?? ''),
      );
      await app.close();
    });
  }

  it('accepts a private JWK, a KeyObject (ES256 or EdDSA) and a token function', async () => {
    const jwk = generateSigningKey().privateKey.export({ format: 'jwk' });
    for (const credentials of [
      { privateKey: jwk },
      { privateKey: generateSigningKey().privateKey },
      { privateKey: generateSigningKey('EdDSA').privateKey, kid: 'registered-kid' },
      () => 'token',
    ]) {
      const app = Fastify();
      await app.register(tessera, {
        service: 'billing',
        policy,
        authority: { url: URL, credentials },
      });
      await app.close();
    }
  });
});

describe('@tessera/fastify reads the revocation feed with a credential', () => {
  let authority: TestAuthority;
  let billingKey: SigningKey;
  const apps: FastifyInstance[] = [];

  before(async () => {
    authority = await startTestAuthority();
    billingKey = (await authority.register('billing', [], [])).key;
  });
  after(async () => {
    for (const app of apps) await app.close();
    await authority.close();
  });

  async function billing(
    credentials: NonNullable<TesseraPluginOptions['authority']>['credentials'],
  ) {
    const app = Fastify();
    apps.push(app);
    await app.register(tessera, {
      service: 'billing',
      policy,
      authority: { url: authority.url, credentials },
      clock: systemClock,
    });
    await app.ready();
    return app;
  }

  const refusals = () =>
    authority.logLines.filter((line) => line.includes('revocation feed: authentication failed'))
      .length;

  it('streams with client assertions signed by its registered key', async () => {
    const before = refusals();
    const app = await billing({ privateKey: billingKey.privateKey });
    await eventually(() => app.tessera.revocations?.state === 'streaming', 3000);
    assert.equal(app.tessera.degraded(), false);
    assert.equal(refusals(), before, 'the authority refused nothing');
  });

  it('streams with an access token for the authority from a function', async () => {
    let calls = 0;
    const app = await billing(async () => {
      calls += 1;
      const response = await authority.tokenRequest(billingKey, 'spiffe://tessera.local/billing', {
        audience: 'tessera-authority',
      });
      return ((await response.json()) as { access_token: string }).access_token;
    });
    await eventually(() => app.tessera.revocations?.state === 'streaming', 3000);
    assert.ok(calls >= 2, 'one token per feed request (the first poll and the stream)');
  });

  it('does not get the feed with a key the authority does not know', async () => {
    const before = refusals();
    const app = await billing({ privateKey: generateSigningKey().privateKey });
    await eventually(() => refusals() > before, 3000);
    assert.equal(app.tessera.revocations?.state, 'polling');
    assert.equal(app.tessera.revocations.isStale(), true, 'it never had news: fail closed');
  });
});
