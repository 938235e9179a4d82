import {
  buildJwks,
  generateSigningKey,
  isSigningAlgorithm,
  isTesseraError,
  MAX_TOKEN_LIFETIME_SECONDS,
  signingKeyFromPrivateKey,
  TesseraError,
  type Clock,
  type Jwks,
  type SigningAlgorithm,
  type SigningKey,
} from '@tessera/core';
import type { SigningKeyRecord, SigningKeyState, Store } from '../store/types.ts';
import { decryptPrivateKey, encryptPrivateKey, type KeyEncryptionKey } from './kek.ts';
import { resolveRotation, type Rotation } from './rotation.ts';

/** The part of the {@link Store} the key manager uses. */
export type SigningKeyStore = Pick<
  Store,
  'insertSigningKey' | 'updateSigningKey' | 'listSigningKeys'
>;

export interface KeyManagerDeps {
  readonly store: SigningKeyStore;
  readonly kek: KeyEncryptionKey;
  readonly clock: Clock;
}

export interface KeyManagerOptions {
  /** Algorithm of newly created keys. Default `ES256`. Existing keys keep theirs. */
  readonly alg?: SigningAlgorithm;
  /** How long a key signs before the next one takes over. Default 24 h; at least 2 × `jwksMaxAgeSeconds`. */
  readonly rotationIntervalMs?: number;
  /** Upper bound of the JWKS `Cache-Control: max-age`. Default 300. */
  readonly jwksMaxAgeSeconds?: number;
  /** The longest access token the authority issues. Default and maximum 3600. */
  readonly maxTokenLifetimeSeconds?: number;
  /** Verifiers' clock tolerance, added to how long retired keys stay published. Default 30. */
  readonly clockToleranceSeconds?: number;
}

/** What a call to {@link KeyManager.init}, {@link KeyManager.tick} or {@link KeyManager.rotateNow} changed, for logs and audit events. */
export interface KeyChanges {
  /** New keys (the first `active` one on first start, otherwise `next` keys). */
  readonly created: string[];
  /** Keys that started signing. */
  readonly activated: string[];
  /** Keys that stopped signing; published until their tokens have expired. */
  readonly retired: string[];
  /** Keys revoked: withdrawn from the JWKS at once. */
  readonly revoked: string[];
  /** `next` keys that lost a creation race with another instance; never signed, withdrawn. */
  readonly discarded: string[];
  /** Retired keys whose publication this instance extended because it signed with them after another instance retired them. */
  readonly extended: string[];
}

export interface RotationResult {
  /** The key that signs from now on. */
  readonly activeKid: string;
  /** The key that signed until now. */
  readonly previousKid: string;
  /** Set when `revokePrevious` was asked: equals `previousKid`. */
  readonly revokedKid?: string;
  /** How long the new active key had been published in the JWKS before it started signing. */
  readonly publishedForSeconds: number;
  /**
   * True when the new active key was published less than one JWKS cache lifetime
   * (`jwksMaxAgeSeconds`) ago, so verifiers may hold a cached JWKS without it. Tokens still
   * verify: a verifier that meets an unknown `kid` refetches the JWKS (with a cooldown), so the
   * cost is one refetch per verifier, and a refusal only if that verifier refetched within its
   * cooldown. Scheduled rotation never does this; a second manual rotation shortly after a first
   * one does.
   */
  readonly cachedJwksMayLackActiveKey: boolean;
  readonly changes: KeyChanges;
}

/** A key as currently published, for introspection and `/v1/bundle`. */
export interface PublishedSigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  /** The role it has right now (may run ahead of the stored state until the next `tick()`). */
  readonly role: Exclude<SigningKeyState, 'revoked'>;
  readonly publicJwk: SigningKeyRecord['publicJwk'];
  readonly createdAtMs: number;
  readonly activatesAtMs: number;
  readonly retiredAtMs: number | null;
  readonly publishUntilMs: number | null;
}

export interface JwksResponse {
  readonly document: Jwks;
  /** For `Cache-Control: public, max-age=<maxAgeSeconds>`. */
  readonly maxAgeSeconds: number;
}

const HOUR_MS = 3_600_000;
const DEFAULTS = {
  alg: 'ES256',
  rotationIntervalMs: 24 * HOUR_MS,
  jwksMaxAgeSeconds: 300,
  maxTokenLifetimeSeconds: MAX_TOKEN_LIFETIME_SECONDS,
  clockToleranceSeconds: 30,
} as const;
const MAX_JWKS_MAX_AGE_SECONDS = 86_400;
const MAX_CLOCK_TOLERANCE_SECONDS = 300;

function invalid(detail: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', detail);
}

function integerIn(value: number, min: number, max: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in ${min}..${max}`);
  }
  return value;
}

/** Code-unit order: deterministic everywhere, unlike localeCompare. */
function byKid(a: SigningKeyRecord, b: SigningKeyRecord): number {
  return a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0;
}

/** Which key signs now and next: see {@link resolveRotation}. */
function resolve(records: readonly SigningKeyRecord[], nowMs: number): Rotation<SigningKeyRecord> {
  return resolveRotation(records, nowMs, (record) => record.kid);
}

function noChanges(): KeyChanges {
  return { created: [], activated: [], retired: [], revoked: [], discarded: [], extended: [] };
}

/**
 * The authority's signing keys: created here, stored encrypted under the key-encryption key,
 * rotated on a schedule, published in the JWKS.
 *
 * Lifecycle of a key: `next` (published, not signing) → `active` (signing) → `retired` (published
 * until every token it signed has expired) — or `revoked` (withdrawn at once, the emergency path).
 *
 * - A scheduled key is created one full rotation interval (and never less than two JWKS cache
 *   lifetimes) before it signs, so every verifier's cached JWKS has it before its first token.
 * - A retired key stays published for `maxTokenLifetimeSeconds + clockToleranceSeconds` after it
 *   last signed, so no verifier meets a token whose key has gone.
 * - All state lives in the store; several instances may share it. Each reads the records on every
 *   `tick()` and computes the same answer from them (see {@link resolve}); races leave at most
 *   extra keys, which the next tick retires (if they may have signed) or withdraws.
 *
 * Call `init()` once at start (fails fast when the KEK cannot decrypt the stored keys), then
 * `tick()` periodically on every instance — at least every `clockToleranceSeconds`, since that is
 * how quickly an instance learns of a manual rotation done by another one.
 *
 * @example
 * ```ts
 * const keys = new KeyManager({ store, kek: parseKek(kekBytes), clock: systemClock });
 * await keys.init();
 * setInterval(() => void keys.tick(), 10_000).unref();
 * const { token } = mintAccessToken(input, { key: keys.signingKey(), clock: systemClock });
 * ```
 */
export class KeyManager {
  readonly #store: SigningKeyStore;
  readonly #kek: KeyEncryptionKey;
  readonly #clock: Clock;
  readonly #alg: SigningAlgorithm;
  readonly #rotationIntervalMs: number;
  readonly #jwksMaxAgeMs: number;
  /** How long a key stays published after it last signed. */
  readonly #retainMs: number;

  /** Keys in state `next` or `active`, as last read from the store. */
  #live: readonly SigningKeyRecord[] = [];
  /** Retired keys still published when last read. */
  #retired: readonly SigningKeyRecord[] = [];
  /** Decrypted live keys, by kid. Only these ever exist in memory in decrypted form. */
  readonly #decrypted = new Map<string, SigningKey>();
  /** When this instance last handed out each key for signing. */
  readonly #handedOut = new Map<string, number>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: KeyManagerDeps, options: KeyManagerOptions = {}) {
    const { store, kek, clock } = deps;
    if (typeof store !== 'object' || typeof store.listSigningKeys !== 'function') {
      throw invalid('store is required');
    }
    if (typeof clock !== 'object' || typeof clock.now !== 'function') {
      throw invalid('clock is required');
    }
    const alg = options.alg ?? DEFAULTS.alg;
    if (!isSigningAlgorithm(alg)) throw invalid('alg must be ES256 or EdDSA');
    const maxAge = integerIn(
      options.jwksMaxAgeSeconds ?? DEFAULTS.jwksMaxAgeSeconds,
      0,
      MAX_JWKS_MAX_AGE_SECONDS,
      'jwksMaxAgeSeconds',
    );
    // A key must be published two cache lifetimes before it signs, and a rotation interval is
    // what a key gets: shorter, and the schedule could not keep that promise.
    const interval = integerIn(
      options.rotationIntervalMs ?? DEFAULTS.rotationIntervalMs,
      Math.max(60_000, 2 * maxAge * 1000),
      Number.MAX_SAFE_INTEGER,
      'rotationIntervalMs (at least 60000 and 2 x jwksMaxAgeSeconds x 1000)',
    );
    const lifetime = integerIn(
      options.maxTokenLifetimeSeconds ?? DEFAULTS.maxTokenLifetimeSeconds,
      1,
      MAX_TOKEN_LIFETIME_SECONDS,
      'maxTokenLifetimeSeconds',
    );
    const tolerance = integerIn(
      options.clockToleranceSeconds ?? DEFAULTS.clockToleranceSeconds,
      0,
      MAX_CLOCK_TOLERANCE_SECONDS,
      'clockToleranceSeconds',
    );
    this.#store = store;
    this.#kek = kek;
    this.#clock = clock;
    this.#alg = alg;
    this.#rotationIntervalMs = interval;
    this.#jwksMaxAgeMs = maxAge * 1000;
    this.#retainMs = (lifetime + tolerance) * 1000;
  }

  /**
   * Makes sure there is an active and a next key (first start: one active now, one published now
   * that activates a rotation interval later) and loads them. Throws `ERR_CONFIG_INVALID` when the
   * KEK cannot decrypt them.
   */
  init(): Promise<KeyChanges> {
    return this.tick();
  }

  /**
   * Brings the keys up to date: promotes the next key when its time has come (the old one
   * retires), creates a new next key, settles races between instances, and reloads the records.
   */
  tick(): Promise<KeyChanges> {
    return this.#exclusive(() => this.#reconcile(this.#clock.now()));
  }

  /**
   * Rotates now (`tessera keys rotate`): the next key signs from now on and a new next key is
   * created. The old key retires (published until its tokens expire), or with `revokePrevious`
   * is revoked: withdrawn from the JWKS at once, so tokens it signed stop verifying as soon as
   * verifiers refetch the JWKS. See {@link RotationResult.cachedJwksMayLackActiveKey}.
   */
  rotateNow(options: { readonly revokePrevious?: boolean } = {}): Promise<RotationResult> {
    const revoke = options.revokePrevious === true;
    return this.#exclusive(async () => {
      const now = this.#clock.now();
      const changes = await this.#reconcile(now);
      const { active: previous, next } = resolve(this.#live, now);
      if (previous === undefined) throw invalid('no active signing key to rotate');
      // Only after a concurrent rotation elsewhere consumed the next key.
      const incoming = next ?? (await this.#createKey('next', now, now));
      if (next === undefined) changes.created.push(incoming.kid);
      // The old key leaves before the new one is activated: another instance reading in between
      // sees no due key and promotes the same next key, and never sees two due keys — so it
      // never writes to (and cannot un-revoke) the old one.
      if (revoke) {
        await this.#store.updateSigningKey(previous.kid, {
          state: 'revoked',
          retiredAtMs: now,
          publishUntilMs: now,
        });
        changes.revoked.push(previous.kid);
      } else {
        await this.#store.updateSigningKey(previous.kid, {
          state: 'retired',
          retiredAtMs: now,
          publishUntilMs: now + this.#retainMs,
        });
        changes.retired.push(previous.kid);
      }
      await this.#store.updateSigningKey(incoming.kid, { state: 'active', activatesAtMs: now });
      changes.activated.push(incoming.kid);
      const after = await this.#reconcile(now);
      for (const name of Object.keys(after) as (keyof KeyChanges)[]) {
        changes[name].push(...after[name]);
      }
      const publishedForMs = now - incoming.createdAtMs;
      return {
        activeKid: incoming.kid,
        previousKid: previous.kid,
        ...(revoke ? { revokedKid: previous.kid } : {}),
        publishedForSeconds: Math.floor(publishedForMs / 1000),
        cachedJwksMayLackActiveKey: publishedForMs < this.#jwksMaxAgeMs,
        changes,
      };
    });
  }

  /**
   * The key to sign access tokens with right now. Synchronous and cheap: keys are decrypted once,
   * when loaded, and kept in memory only while they may sign. Switches to the next key at its
   * activation time even between ticks. Throws `ERR_CONFIG_INVALID` before `init()` completed.
   */
  signingKey(): SigningKey {
    const now = this.#clock.now();
    const { active } = resolve(this.#live, now);
    const key = active === undefined ? undefined : this.#decrypted.get(active.kid);
    if (key === undefined) throw invalid('no signing key loaded: call KeyManager.init() first');
    this.#handedOut.set(key.kid, now);
    return key;
  }

  /**
   * The JWKS to publish and how long it may be cached: never longer than `jwksMaxAgeSeconds`, nor
   * than the time until the next scheduled change of the published set (the next key's
   * activation, which brings a new next key; a retired key's withdrawal).
   */
  jwks(): JwksResponse {
    const now = this.#clock.now();
    const published = this.publishedKeys();
    const { next } = resolve(this.#live, now);
    // Without a pending next key a new one is overdue (the next tick creates it): do not cache.
    let changeAt = next?.activatesAtMs ?? now;
    for (const key of published) {
      if (key.publishUntilMs !== null && key.publishUntilMs > now) {
        changeAt = Math.min(changeAt, key.publishUntilMs);
      }
    }
    const maxAgeMs = Math.min(this.#jwksMaxAgeMs, Math.max(0, changeAt - now));
    return { document: buildJwks(published), maxAgeSeconds: Math.floor(maxAgeMs / 1000) };
  }

  /** The published keys: active first, then next, then retired ones, newest first. */
  publishedKeys(): PublishedSigningKey[] {
    const now = this.#clock.now();
    const { active, next } = resolve(this.#live, now);
    const rank = (record: SigningKeyRecord): number =>
      record === active ? 0 : record === next ? 1 : 2;
    const role = (record: SigningKeyRecord): PublishedSigningKey['role'] =>
      record === active ? 'active' : record === next ? 'next' : 'retired';
    return [...this.#live, ...this.#retired.filter((record) => (record.publishUntilMs ?? 0) > now)]
      .sort((a, b) => rank(a) - rank(b) || b.activatesAtMs - a.activatesAtMs || byKid(a, b))
      .map((record) => ({
        kid: record.kid,
        alg: record.alg,
        role: role(record),
        publicJwk: record.publicJwk,
        createdAtMs: record.createdAtMs,
        activatesAtMs: record.activatesAtMs,
        retiredAtMs: record.retiredAtMs,
        publishUntilMs: record.publishUntilMs,
      }));
  }

  /** Runs store-mutating work one at a time within this instance. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reconcile(now: number): Promise<KeyChanges> {
    const changes = noChanges();
    const store = this.#store;
    const plan = resolve(await store.listSigningKeys(), now);
    // Losers first, the winner last: see rotateNow for why that order keeps racing instances apart.
    for (const record of plan.superseded) {
      await store.updateSigningKey(record.kid, {
        state: 'retired',
        retiredAtMs: now,
        publishUntilMs: now + this.#retainMs,
      });
      changes.retired.push(record.kid);
    }
    for (const record of plan.discarded) {
      await store.updateSigningKey(record.kid, {
        state: 'retired',
        retiredAtMs: now,
        publishUntilMs: now,
      });
      changes.discarded.push(record.kid);
    }
    let { active, next } = plan;
    if (active === undefined && next !== undefined) {
      // No signing key (first start raced, or a revocation elsewhere is half done): the next key
      // is already published, so it is the best one to sign with.
      active = { ...next, state: 'active', activatesAtMs: now };
      next = undefined;
      await store.updateSigningKey(active.kid, { state: 'active', activatesAtMs: now });
      changes.activated.push(active.kid);
    } else if (active === undefined) {
      active = await this.#createKey('active', now, now);
      changes.created.push(active.kid);
    } else if (active.state === 'next') {
      await store.updateSigningKey(active.kid, { state: 'active' });
      changes.activated.push(active.kid);
    }
    if (next === undefined) {
      // Two cache lifetimes ahead at the least: a JWKS fetched just before the key appeared
      // expires before the key signs.
      const activatesAtMs = Math.max(
        active.activatesAtMs + this.#rotationIntervalMs,
        now + 2 * this.#jwksMaxAgeMs,
      );
      changes.created.push((await this.#createKey('next', activatesAtMs, now)).kid);
    }
    // Read again rather than trusting our writes: another instance may have written meanwhile.
    const records = await store.listSigningKeys();
    this.#adopt(records, now);
    await this.#extendWhereStillSigning(records, changes);
    return changes;
  }

  /** Replaces the in-memory view. Decrypts first, so a failure leaves the old view in place. */
  #adopt(records: readonly SigningKeyRecord[], now: number): void {
    const live = records.filter((r) => r.state === 'active' || r.state === 'next');
    const retired = records.filter(
      (r) => r.state === 'retired' && r.publishUntilMs !== null && r.publishUntilMs > now,
    );
    const decrypted = new Map<string, SigningKey>();
    for (const record of live) {
      decrypted.set(record.kid, this.#decrypted.get(record.kid) ?? this.#decrypt(record));
    }
    this.#live = live;
    this.#retired = retired;
    this.#decrypted.clear();
    for (const [kid, key] of decrypted) this.#decrypted.set(kid, key);
  }

  /**
   * Another instance may have retired a key that this one kept signing with until its own tick
   * (a manual rotation elsewhere). Keep such a key published until this instance's tokens expire
   * too. Revoked keys are left alone: that is the point of revoking.
   */
  async #extendWhereStillSigning(
    records: readonly SigningKeyRecord[],
    changes: KeyChanges,
  ): Promise<void> {
    const extend: { kid: string; publishUntilMs: number }[] = [];
    for (const [kid, lastMs] of this.#handedOut) {
      const record = records.find((r) => r.kid === kid);
      if (record?.state === 'active' || record?.state === 'next') continue;
      // From here on this instance no longer hands the key out, so one check suffices.
      this.#handedOut.delete(kid);
      const needed = lastMs + this.#retainMs;
      if (record?.state === 'retired' && (record.publishUntilMs ?? 0) < needed) {
        extend.push({ kid, publishUntilMs: needed });
      }
    }
    if (extend.length === 0) return;
    for (const { kid, publishUntilMs } of extend) {
      await this.#store.updateSigningKey(kid, { publishUntilMs });
      changes.extended.push(kid);
    }
    this.#adopt(await this.#store.listSigningKeys(), this.#clock.now());
  }

  async #createKey(
    state: 'active' | 'next',
    activatesAtMs: number,
    now: number,
  ): Promise<SigningKeyRecord> {
    const key = generateSigningKey(this.#alg);
    const record: SigningKeyRecord = {
      kid: key.kid,
      alg: key.alg,
      state,
      publicJwk: key.publicJwk,
      encryptedPrivateKey: encryptPrivateKey(this.#kek, key.privateKey, key.kid),
      createdAtMs: now,
      activatesAtMs,
      retiredAtMs: null,
      publishUntilMs: null,
    };
    await this.#store.insertSigningKey(record);
    this.#decrypted.set(key.kid, key);
    return record;
  }

  #decrypt(record: SigningKeyRecord): SigningKey {
    let key: SigningKey;
    try {
      key = signingKeyFromPrivateKey(
        decryptPrivateKey(this.#kek, record.encryptedPrivateKey, record.kid),
        record.alg,
      );
    } catch (error) {
      const why = isTesseraError(error) ? (error.detail ?? error.message) : 'cannot be loaded';
      throw invalid(`signing key ${record.kid}: ${why}`);
    }
    // The kid is the key's thumbprint: a record whose private key does not match its published
    // public key would sign tokens nobody can verify.
    if (key.kid !== record.kid) {
      throw invalid(`signing key ${record.kid}: private key does not match the record`);
    }
    return key;
  }
}
