import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import { generateSigningKey, isTesseraError, type SigningKey } from '@tessera/core';
import { startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import { ClientCredentialsTokenSource, createKeyRotation } from '../src/index.ts';

const AUTHORITY = 'http://127.0.0.1:7799';
const CLIENT_ID = 'spiffe://tessera.local/billing';
const HOUR = 3600;

/** Lets promise callbacks run (setImmediate is not faked). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

function bodyText(init: RequestInit | undefined): string {
  return typeof init?.body === 'string' ? init.body : '';
}

function urlText(url: string | URL | Request): string {
  return typeof url === 'string' ? url : url instanceof URL ? url.href : url.url;
}

/** A stand-in authority: answers each key rotation with the next status in `statuses`. */
function fakeAuthority(statuses: number[]) {
  const calls: { url: string; jwk: { kid: string; d?: unknown }; assertionKid: string }[] = [];
  const fetchImpl = ((url: string | URL | Request, init?: RequestInit) => {
    const form = new URLSearchParams(bodyText(init));
    const jwk = JSON.parse(form.get('jwk') ?? '{}') as { kid: string };
    const header = JSON.parse(
      Buffer.from((form.get('client_assertion') ?? '').split('.')[0] ?? '', 'base64url').toString(),
    ) as { kid: string };
    calls.push({ url: urlText(url), jwk, assertionKid: header.kid });
    const status = statuses.shift() ?? 200;
    const body = status === 200 ? { kid: jwk.kid } : { error: 'invalid_request' };
    return Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json' },
      }),
    );
  }) as typeof fetch;
  return { calls, fetch: fetchImpl };
}

void describe('createKeyRotation: configuration', () => {
  const CASES: readonly { name: string; options: Record<string, unknown>; code: string }[] = [
    {
      name: 'an http authority off loopback',
      options: { authorityUrl: 'http://10.0.0.1:7700' },
      code: 'ERR_CONFIG_INSECURE',
    },
    {
      name: 'an interval under a minute',
      options: { intervalSeconds: 59 },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'a NaN interval',
      options: { intervalSeconds: Number.NaN },
      code: 'ERR_CONFIG_INVALID',
    },
  ];
  for (const c of CASES) {
    void it(`refuses ${c.name}`, () => {
      assert.throws(
        () =>
          createKeyRotation({
            authorityUrl: AUTHORITY,
            clientId: CLIENT_ID,
            key: generateSigningKey(),
            intervalSeconds: HOUR,
            ...c.options,
          }),
        (error: unknown) => isTesseraError(error) && error.code === c.code,
      );
    });
  }
});

void describe('createKeyRotation: schedule (fake timers)', () => {
  before(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  after(() => {
    mock.timers.reset();
  });

  void it('rotates after the jittered interval, persists before switching, and keeps going', async () => {
    const first = generateSigningKey('EdDSA');
    const authority = fakeAuthority([200, 200]);
    const persisted: SigningKey[] = [];
    const rotation = createKeyRotation({
      authorityUrl: AUTHORITY,
      clientId: CLIENT_ID,
      key: first,
      intervalSeconds: HOUR,
      random: () => 0,
      fetch: authority.fetch,
      onRotated: (key) => {
        // Not in use until persisted.
        assert.equal(rotation.current(), persisted.at(-1) ?? first);
        persisted.push(key);
      },
    });
    try {
      mock.timers.tick(HOUR * 800 - 1);
      await settle();
      assert.equal(authority.calls.length, 0);
      mock.timers.tick(1);
      await settle();
      assert.equal(authority.calls.length, 1);
      const call = authority.calls[0];
      assert.ok(call !== undefined);
      assert.equal(call.url, `${AUTHORITY}/v1/service/keys`);
      assert.equal(call.assertionKid, first.kid);
      assert.equal(call.jwk.d, undefined, 'only the public key is sent');
      const second = rotation.current();
      assert.notEqual(second, first);
      assert.equal(second.alg, 'EdDSA');
      assert.deepEqual(persisted, [second]);
      assert.equal(call.jwk.kid, second.kid);

      mock.timers.tick(HOUR * 800);
      await settle();
      assert.equal(authority.calls.length, 2);
      assert.equal(authority.calls[1]?.assertionKid, second.kid);
      assert.notEqual(rotation.current(), second);
      assert.deepEqual(persisted, [second, rotation.current()]);
    } finally {
      rotation.close();
    }
  });

  void it('keeps the key after a refusal, reports it, and retries with bounded backoff', async () => {
    const first = generateSigningKey();
    const authority = fakeAuthority([503, 400, 200]);
    const errors: { code: string | undefined; retryInMs: number }[] = [];
    const rotation = createKeyRotation({
      authorityUrl: AUTHORITY,
      clientId: CLIENT_ID,
      key: first,
      intervalSeconds: HOUR,
      retryBaseMs: 1000,
      retryMaxMs: 1500,
      random: () => 1,
      fetch: authority.fetch,
      onError: (error, retryInMs) => {
        errors.push({ code: isTesseraError(error) ? error.code : undefined, retryInMs });
        throw new Error('a reporter that throws does not stop the schedule');
      },
    });
    try {
      mock.timers.tick(HOUR * 1000);
      await settle();
      assert.deepEqual(errors, [{ code: 'ERR_UNAVAILABLE', retryInMs: 1000 }]);
      assert.equal(rotation.current(), first);
      mock.timers.tick(1000);
      await settle();
      // Doubled, capped at retryMaxMs.
      assert.deepEqual(errors[1], { code: 'ERR_CLIENT_AUTH', retryInMs: 1500 });
      assert.equal(rotation.current(), first);
      mock.timers.tick(1500);
      await settle();
      assert.equal(authority.calls.length, 3);
      assert.notEqual(rotation.current(), first);
      assert.equal(errors.length, 2);
    } finally {
      rotation.close();
    }
  });

  void it('keeps the key when persisting the new one fails', async () => {
    const first = generateSigningKey();
    const authority = fakeAuthority([200]);
    const rotation = createKeyRotation({
      authorityUrl: AUTHORITY,
      clientId: CLIENT_ID,
      key: first,
      intervalSeconds: HOUR,
      fetch: authority.fetch,
      onRotated: () => Promise.reject(new Error('disk full')),
    });
    try {
      await assert.rejects(rotation.rotate(), /disk full/);
      assert.equal(rotation.current(), first);
    } finally {
      rotation.close();
    }
  });

  void it('shares one rotation between concurrent calls, and close() stops the schedule', async () => {
    const authority = fakeAuthority([200]);
    const rotation = createKeyRotation({
      authorityUrl: AUTHORITY,
      clientId: CLIENT_ID,
      key: generateSigningKey(),
      intervalSeconds: HOUR,
      fetch: authority.fetch,
    });
    const [a, b] = await Promise.all([rotation.rotate(), rotation.rotate()]);
    assert.equal(a, b);
    assert.equal(authority.calls.length, 1);
    rotation.close();
    mock.timers.tick(HOUR * 2000);
    await settle();
    assert.equal(authority.calls.length, 1);
  });
});

void describe('createKeyRotation against the authority', () => {
  let authority: TestAuthority;
  before(async () => {
    authority = await startTestAuthority();
    await authority.register('billing', [], []);
  });
  after(() => authority.close());

  void it('token sources sign with the current key; the key before the last is refused', async () => {
    const caller = await authority.register('rotating-client', ['billing'], []);
    const kids: string[] = [];
    const recording = (async (url: string | URL | Request, init?: RequestInit) => {
      const assertion = new URLSearchParams(bodyText(init)).get('client_assertion');
      if (assertion !== null) {
        const header = Buffer.from(assertion.split('.')[0] ?? '', 'base64url').toString();
        kids.push((JSON.parse(header) as { kid: string }).kid);
      }
      return fetch(url, init);
    }) as typeof fetch;
    const rotation = createKeyRotation({
      authorityUrl: authority.url,
      clientId: caller.clientId,
      key: caller.key,
      intervalSeconds: HOUR,
    });
    try {
      const tokens = () =>
        new ClientCredentialsTokenSource({
          authorityUrl: authority.url,
          clientId: caller.clientId,
          key: rotation,
          fetch: recording,
        });
      await tokens().getToken('billing', []);
      const second = await rotation.rotate();
      await tokens().getToken('billing', []);
      const third = await rotation.rotate();
      await tokens().getToken('billing', []);
      assert.deepEqual(kids, [caller.key.kid, second.kid, third.kid]);

      const status = async (key: SigningKey) =>
        (await authority.tokenRequest(key, caller.clientId, { audience: 'billing' })).status;
      assert.equal(await status(third), 200);
      assert.equal(
        await status(second),
        200,
        'the key just replaced works until the next rotation',
      );
      assert.equal(await status(caller.key), 401, 'the key before it is gone');
    } finally {
      rotation.close();
    }
  });
});
