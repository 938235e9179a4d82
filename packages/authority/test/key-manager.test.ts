import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  createVerifier,
  mintAccessToken,
  parseJwks,
  TesseraError,
  type Jwks,
  type SigningKey,
  type TesseraErrorCode,
} from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import { generateKek, parseKek } from '../src/keys/kek.ts';
import { KeyManager, type KeyManagerOptions } from '../src/keys/manager.ts';
import { MemoryStore } from './support/memory-store.ts';

const T0 = Date.UTC(2025, 0, 1);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ISSUER = 'http://127.0.0.1:7700';
const BILLING = 'spiffe://tessera.local/billing';
const EVENTS = 'spiffe://tessera.local/event-service';
/** Default max token lifetime plus default clock tolerance. */
const RETAIN = HOUR + 30 * SECOND;

function setup(options: KeyManagerOptions = {}) {
  const clock = new ManualClock(T0);
  const store = new MemoryStore(clock);
  const kek = parseKek(generateKek());
  const manager = new KeyManager({ store, kek, clock }, options);
  return { clock, store, kek, manager };
}

function mint(key: SigningKey, clock: ManualClock, lifetimeSeconds = 3600): string {
  return mintAccessToken(
    { issuer: ISSUER, subject: EVENTS, audience: BILLING, lifetimeSeconds },
    { key, clock },
  ).token;
}

function verifierFor(document: Jwks, clock: ManualClock) {
  return createVerifier({
    issuer: ISSUER,
    audience: BILLING,
    keys: parseJwks(document),
    clock,
    cache: false,
  });
}

function verify(token: string, document: Jwks, clock: ManualClock): void {
  verifierFor(document, clock).verify(token);
}

function assertCode(fn: () => unknown, code: TesseraErrorCode): void {
  assert.throws(fn, (error: unknown) => error instanceof TesseraError && error.code === code);
}

const kids = (document: Jwks) => document.keys.map((key) => key.kid);

describe('KeyManager: first start', () => {
  it('creates an active key now and a next key published now that activates one interval later', async () => {
    const { clock, store, manager } = setup();
    const changes = await manager.init();
    assert.equal(changes.created.length, 2);
    const records = [...store.signingKeys.values()];
    const active = records.find((r) => r.state === 'active');
    const next = records.find((r) => r.state === 'next');
    assert.equal(active?.activatesAtMs, T0);
    assert.equal(next?.activatesAtMs, T0 + DAY);
    assert.equal(next.createdAtMs, T0);
    assert.equal(manager.signingKey().kid, active.kid);
    assert.deepEqual(kids(manager.jwks().document), [active.kid, next.kid]);
    assert.deepEqual(
      manager.publishedKeys().map((k) => k.role),
      ['active', 'next'],
    );
    assert.equal(manager.jwks().maxAgeSeconds, 300);
    clock.advance(MINUTE);
    assert.deepEqual((await manager.tick()).created, [], 'a tick with nothing due changes nothing');
  });

  it('is idempotent, and a second instance on the same store adopts the same keys', async () => {
    const { clock, store, kek, manager } = setup();
    await manager.init();
    await manager.init();
    const other = new KeyManager({ store, kek, clock });
    assert.deepEqual((await other.init()).created, []);
    assert.equal(store.signingKeys.size, 2);
    assert.equal(other.signingKey().kid, manager.signingKey().kid);
    assert.deepEqual(other.jwks(), manager.jwks());
  });

  it('creates EdDSA keys when asked', async () => {
    const { clock, manager } = setup({ alg: 'EdDSA' });
    await manager.init();
    const key = manager.signingKey();
    assert.equal(key.alg, 'EdDSA');
    assert.ok(manager.jwks().document.keys.every((k) => k.crv === 'Ed25519'));
    verify(mint(key, clock), manager.jwks().document, clock);
  });

  it('refuses to sign or publish before init()', () => {
    const { manager } = setup();
    assertCode(() => manager.signingKey(), 'ERR_CONFIG_INVALID');
  });
});

describe('KeyManager: scheduled rotation over three simulated days', () => {
  it('keeps every token of the last hour verifiable and publishes keys ahead of use', async () => {
    const { clock, manager } = setup();
    await manager.init();
    const initialKid = manager.signingKey().kid;
    const STEP = MINUTE;
    const tokens: { token: string; expMs: number }[] = [];
    const firstPublished = new Map<string, number>();
    const firstSigned = new Map<string, number>();
    const lastSigned = new Map<string, number>();
    const withdrawn = new Map<string, number>();
    // A verifier that caches the JWKS for max-age and never refetches on an unknown kid: the
    // strictest possible consumer of the caching headers.
    let cachedVerifier = verifierFor(manager.jwks().document, clock);
    let cachedUntil = T0 + manager.jwks().maxAgeSeconds * SECOND;
    let previousKids = '';

    for (let now = T0; now <= T0 + 3 * DAY; now += STEP) {
      clock.set(now);
      await manager.tick();
      const { document, maxAgeSeconds } = manager.jwks();
      assert.ok(maxAgeSeconds >= 0 && maxAgeSeconds <= 300);
      const published = new Set(kids(document));
      for (const kid of published) {
        assert.ok(!withdrawn.has(kid), `${kid} came back after it was withdrawn`);
        if (!firstPublished.has(kid)) firstPublished.set(kid, now);
      }
      for (const kid of firstPublished.keys()) {
        if (!published.has(kid) && !withdrawn.has(kid)) withdrawn.set(kid, now);
      }

      const key = manager.signingKey();
      if (!firstSigned.has(key.kid)) firstSigned.set(key.kid, now);
      lastSigned.set(key.kid, now);
      const token = mint(key, clock);
      tokens.push({ token, expMs: now + HOUR });
      while (tokens[0] !== undefined && tokens[0].expMs <= now) tokens.shift();

      // Every unexpired token, whenever the published set changes and every half hour; the
      // newest and the oldest (the likeliest to lose its key) at every step.
      const changed = [...published].join() !== previousKids;
      previousKids = [...published].join();
      const due = changed || (now - T0) % (30 * MINUTE) === 0;
      const current = verifierFor(document, clock);
      const sample = due ? tokens : [tokens[0], tokens.at(-1)];
      for (const entry of sample) if (entry !== undefined) current.verify(entry.token);

      if (now >= cachedUntil) {
        cachedVerifier = current;
        cachedUntil = now + maxAgeSeconds * SECOND;
      }
      cachedVerifier.verify(token);
    }

    assert.equal(firstSigned.size, 4, 'three rotations in three days');
    assert.deepEqual(
      [...firstSigned.values()],
      [T0, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY],
      'each key signs from its scheduled activation',
    );
    for (const [kid, signedAt] of firstSigned) {
      if (kid === initialKid) continue;
      const publishedAt = firstPublished.get(kid) ?? Infinity;
      assert.ok(signedAt - publishedAt >= 300 * SECOND, `${kid} signed before one JWKS max-age`);
    }
    for (const [kid, at] of withdrawn) {
      assert.ok(
        at >= (lastSigned.get(kid) ?? 0) + HOUR,
        `${kid} withdrawn before its tokens expired`,
      );
    }
    for (const [kid, last] of lastSigned) {
      if (T0 + 3 * DAY - last > RETAIN + STEP)
        assert.ok(withdrawn.has(kid), `${kid} still published`);
    }
    assert.equal(
      withdrawn.size,
      2,
      'the first two keys are gone, the third retired less than an hour ago',
    );
  });

  it('limits max-age to the time left before the next scheduled change', async () => {
    const { clock, manager } = setup();
    await manager.init();
    clock.set(T0 + DAY - 100 * SECOND);
    assert.equal(manager.jwks().maxAgeSeconds, 100, 'the next key activates in 100 s');
    clock.set(T0 + DAY);
    assert.equal(manager.jwks().maxAgeSeconds, 0, 'a new next key is due: do not cache');
    await manager.tick();
    assert.equal(manager.jwks().maxAgeSeconds, 300);
    clock.set(T0 + DAY + RETAIN - 42 * SECOND);
    assert.equal(manager.jwks().maxAgeSeconds, 42, 'the retired key is withdrawn in 42 s');
  });

  it('switches to the next key at its activation time even before the next tick', async () => {
    const { clock, manager } = setup();
    await manager.init();
    const next = manager.publishedKeys()[1];
    clock.set(T0 + DAY - 1);
    assert.notEqual(manager.signingKey().kid, next?.kid);
    clock.set(T0 + DAY);
    assert.equal(manager.signingKey().kid, next?.kid);
  });

  it('catches up after a long outage: the new next key still gets two cache lifetimes', async () => {
    const { clock, manager } = setup();
    await manager.init();
    clock.set(T0 + 5 * DAY);
    await manager.tick();
    const next = manager.publishedKeys().find((k) => k.role === 'next');
    assert.equal(next?.activatesAtMs, T0 + 5 * DAY + 2 * 300 * SECOND);
  });
});

describe('KeyManager: manual rotation', () => {
  it('activates the next key at once and keeps the old one published for its tokens', async () => {
    const { clock, manager } = setup();
    await manager.init();
    const [old, next] = manager.publishedKeys();
    const oldToken = mint(manager.signingKey(), clock);
    clock.advance(10 * MINUTE);
    const result = await manager.rotateNow();
    assert.equal(result.previousKid, old?.kid);
    assert.equal(result.activeKid, next?.kid);
    assert.equal(result.revokedKid, undefined);
    assert.equal(result.publishedForSeconds, 600);
    assert.equal(result.cachedJwksMayLackActiveKey, false);
    assert.equal(manager.signingKey().kid, next?.kid);
    assert.deepEqual(
      manager.publishedKeys().map((k) => k.role),
      ['active', 'next', 'retired'],
    );
    verify(oldToken, manager.jwks().document, clock);
    const newNext = manager.publishedKeys()[1];
    assert.equal(newNext?.activatesAtMs, clock.now() + DAY);
  });

  it('says when the new active key was published less than one JWKS cache lifetime ago', async () => {
    const { clock, manager } = setup();
    await manager.init();
    clock.advance(MINUTE);
    await manager.rotateNow();
    clock.advance(MINUTE);
    const second = await manager.rotateNow();
    assert.equal(second.publishedForSeconds, 60);
    assert.equal(second.cachedJwksMayLackActiveKey, true);
  });

  it('with revokePrevious, tokens of the old key stop verifying at once', async () => {
    const { clock, store, manager } = setup();
    await manager.init();
    const oldKey = manager.signingKey();
    const oldToken = mint(oldKey, clock);
    verify(oldToken, manager.jwks().document, clock);
    clock.advance(MINUTE);
    const result = await manager.rotateNow({ revokePrevious: true });
    assert.equal(result.revokedKid, oldKey.kid);
    assert.deepEqual(result.changes.revoked, [oldKey.kid]);
    assert.equal(store.signingKeys.get(oldKey.kid)?.state, 'revoked');
    const { document } = manager.jwks();
    assert.ok(!kids(document).includes(oldKey.kid));
    assert.ok(!manager.publishedKeys().some((k) => k.kid === oldKey.kid));
    assertCode(() => {
      verify(oldToken, document, clock);
    }, 'ERR_TOKEN_KID_UNKNOWN');
    verify(mint(manager.signingKey(), clock), document, clock);
    clock.advance(DAY);
    await manager.tick();
    assert.ok(!kids(manager.jwks().document).includes(oldKey.kid), 'never comes back');
  });

  it('an instance that kept signing with a key another instance retired keeps it published', async () => {
    const { clock, store, kek, manager: a } = setup();
    await a.init();
    const b = new KeyManager({ store, kek, clock });
    await b.init();
    const oldKid = b.signingKey().kid;
    clock.advance(MINUTE);
    await a.rotateNow();
    // b has not ticked yet: it still signs with the old key for a while.
    clock.advance(20 * MINUTE);
    assert.equal(b.signingKey().kid, oldKid);
    const lateToken = mint(b.signingKey(), clock);
    const changes = await b.tick();
    assert.deepEqual(changes.extended, [oldKid]);
    assert.notEqual(b.signingKey().kid, oldKid);
    // Past the publication a's rotation gave the old key, within the late token's lifetime.
    clock.advance(HOUR - 10 * MINUTE);
    await a.tick();
    verify(lateToken, a.jwks().document, clock);
    clock.advance(20 * MINUTE);
    await a.tick();
    assert.ok(!kids(a.jwks().document).includes(oldKid));
  });
});

describe('KeyManager: instances sharing a store', () => {
  it('two instances starting at once agree on one active key', async () => {
    const { clock, store, kek } = setup();
    const a = new KeyManager({ store, kek, clock });
    const b = new KeyManager({ store, kek, clock });
    await Promise.all([a.init(), b.init()]);
    clock.advance(SECOND);
    await Promise.all([a.tick(), b.tick()]);
    await Promise.all([a.tick(), b.tick()]);
    const states = [...store.signingKeys.values()].map((r) => r.state);
    assert.equal(states.filter((s) => s === 'active').length, 1);
    assert.equal(states.filter((s) => s === 'next').length, 1);
    assert.equal(a.signingKey().kid, b.signingKey().kid);
    assert.deepEqual(a.jwks().document, b.jwks().document);
    // A loser of the start-up race may have signed: it stays published for its tokens.
    for (const record of store.signingKeys.values()) {
      if (record.state === 'retired' && record.activatesAtMs <= T0) {
        assert.ok(kids(a.jwks().document).includes(record.kid));
      }
    }
  });

  it('two instances promoting at once leave one active and one next key', async () => {
    const { clock, store, kek, manager: a } = setup();
    await a.init();
    const b = new KeyManager({ store, kek, clock });
    await b.init();
    clock.set(T0 + DAY);
    await Promise.all([a.tick(), b.tick()]);
    const nexts = [...store.signingKeys.values()].filter((r) => r.state === 'next');
    assert.ok(nexts.length >= 1, 'the race may create two next keys');
    clock.advance(SECOND);
    await Promise.all([a.tick(), b.tick()]);
    const records = [...store.signingKeys.values()];
    assert.equal(records.filter((r) => r.state === 'active').length, 1);
    assert.equal(records.filter((r) => r.state === 'next').length, 1);
    assert.equal(a.signingKey().kid, b.signingKey().kid);
    assert.deepEqual(a.jwks(), b.jwks());
    // The next key that lost never signed: it is withdrawn, not kept for a token lifetime.
    for (const record of records) {
      if (record.activatesAtMs > clock.now() && record.state === 'retired') {
        assert.ok(!kids(a.jwks().document).includes(record.kid));
      }
    }
  });

  it('concurrent manual rotations settle on one active key', async () => {
    const { clock, store, kek, manager: a } = setup();
    await a.init();
    const b = new KeyManager({ store, kek, clock });
    await b.init();
    clock.advance(10 * MINUTE);
    await Promise.all([a.rotateNow(), b.rotateNow()]);
    clock.advance(SECOND);
    await Promise.all([a.tick(), b.tick()]);
    const records = [...store.signingKeys.values()];
    assert.equal(records.filter((r) => r.state === 'active').length, 1);
    assert.equal(a.signingKey().kid, b.signingKey().kid);
  });
});

describe('KeyManager: keys at rest', () => {
  it('stores private keys only encrypted', async () => {
    const { store, manager } = setup();
    await manager.init();
    const key = manager.signingKey();
    const der = key.privateKey.export({ format: 'der', type: 'pkcs8' });
    const raw = key.privateKey.export({ format: 'jwk' }).d ?? '';
    const forms = [der.toString('base64url'), der.toString('base64'), der.toString('hex'), raw];
    const stored = JSON.stringify([...store.signingKeys.values()]);
    for (const form of forms) assert.ok(!stored.includes(form), 'private key stored in clear');
    for (const record of store.signingKeys.values()) {
      assert.match(record.encryptedPrivateKey, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
      const ciphertext = Buffer.from(record.encryptedPrivateKey.split('.')[2] ?? '', 'base64url');
      assert.ok(!ciphertext.equals(der));
    }
  });

  it('fails fast at start with the wrong key-encryption key, without leaking key material', async () => {
    const { clock, store, manager } = setup();
    await manager.init();
    const wrong = new KeyManager({ store, kek: parseKek(generateKek()), clock });
    await assert.rejects(
      () => wrong.init(),
      (error: unknown) => {
        assert.ok(error instanceof TesseraError);
        assert.equal(error.code, 'ERR_CONFIG_INVALID');
        assert.match(error.message, /signing key .+ failed authentication/);
        const der = manager.signingKey().privateKey.export({ format: 'der', type: 'pkcs8' });
        assert.ok(!inspect(error).includes(der.toString('base64url')));
        return true;
      },
    );
  });

  it('refuses a record whose encrypted key was swapped with another record', async () => {
    const { clock, store, kek, manager } = setup();
    await manager.init();
    const [a, b] = [...store.signingKeys.values()];
    assert.ok(a !== undefined && b !== undefined);
    store.signingKeys.set(a.kid, { ...a, encryptedPrivateKey: b.encryptedPrivateKey });
    const fresh = new KeyManager({ store, kek, clock });
    await assert.rejects(() => fresh.init(), /moved to another kid/);
  });

  it('never shows the private key when the signing key is logged', async () => {
    const { manager } = setup();
    await manager.init();
    const key = manager.signingKey();
    const d = key.privateKey.export({ format: 'jwk' }).d ?? '';
    assert.ok(d !== '' && !inspect(key, { depth: 5 }).includes(d));
    assert.ok(!JSON.stringify(key).includes(d));
  });
});

describe('KeyManager: options', () => {
  const INVALID: readonly [string, KeyManagerOptions][] = [
    ['rotation shorter than two JWKS cache lifetimes', { rotationIntervalMs: 599_999 }],
    ['rotation under a minute', { rotationIntervalMs: 30_000, jwksMaxAgeSeconds: 0 }],
    ['token lifetime above 3600', { maxTokenLifetimeSeconds: 3601 }],
    ['token lifetime 0', { maxTokenLifetimeSeconds: 0 }],
    ['negative max-age', { jwksMaxAgeSeconds: -1 }],
    ['fractional tolerance', { clockToleranceSeconds: 1.5 }],
    ['unknown algorithm', { alg: 'HS256' as 'ES256' }],
  ];
  for (const [name, options] of INVALID) {
    it(`refuses ${name}`, () => {
      assertCode(() => setup(options), 'ERR_CONFIG_INVALID');
    });
  }

  it('honours a shorter schedule', async () => {
    const { clock, manager } = setup({
      rotationIntervalMs: HOUR,
      jwksMaxAgeSeconds: 60,
      maxTokenLifetimeSeconds: 300,
      clockToleranceSeconds: 5,
    });
    await manager.init();
    const first = manager.signingKey().kid;
    clock.set(T0 + HOUR);
    await manager.tick();
    assert.notEqual(manager.signingKey().kid, first);
    clock.set(T0 + HOUR + 305 * SECOND - 1);
    assert.ok(kids(manager.jwks().document).includes(first));
    clock.set(T0 + HOUR + 305 * SECOND);
    assert.ok(!kids(manager.jwks().document).includes(first));
  });
});
