import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Clock } from '@tessera/core';
import type { ServiceRecord, SigningKeyRecord, Store } from '../../src/store/types.ts';

type UsedMethods =
  'insertSigningKey' | 'updateSigningKey' | 'listSigningKeys' | 'getService' | 'rememberAssertion';

/**
 * An in-memory stand-in for the few `Store` methods the key manager and client authentication
 * use, until the SQLite store lands. Like a database, it hands out copies, and every call yields
 * to the event loop first, so two managers sharing it interleave the way two authority instances
 * sharing a database would.
 */
export class MemoryStore implements Pick<Store, UsedMethods> {
  readonly signingKeys = new Map<string, SigningKeyRecord>();
  readonly services = new Map<string, ServiceRecord>();
  readonly assertions = new Map<string, number>();
  /** Method names in call order, for tests that assert what was (not) written. */
  readonly calls: UsedMethods[] = [];
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  addService(record: ServiceRecord): void {
    this.services.set(record.name, structuredClone(record));
  }

  async insertSigningKey(record: SigningKeyRecord): Promise<void> {
    await this.#enter('insertSigningKey');
    if (this.signingKeys.has(record.kid)) throw new Error(`duplicate kid ${record.kid}`);
    this.signingKeys.set(record.kid, structuredClone(record));
  }

  async updateSigningKey(
    kid: string,
    patch: Partial<
      Pick<SigningKeyRecord, 'state' | 'activatesAtMs' | 'retiredAtMs' | 'publishUntilMs'>
    >,
  ): Promise<void> {
    await this.#enter('updateSigningKey');
    const record = this.signingKeys.get(kid);
    if (record === undefined) throw new Error(`no signing key ${kid}`);
    this.signingKeys.set(kid, { ...record, ...patch });
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    await this.#enter('listSigningKeys');
    return [...this.signingKeys.values()].map((record) => structuredClone(record));
  }

  async getService(name: string): Promise<ServiceRecord | undefined> {
    await this.#enter('getService');
    const record = this.services.get(name);
    return record === undefined ? undefined : structuredClone(record);
  }

  async rememberAssertion(key: string, expiresAt: number): Promise<boolean> {
    await this.#enter('rememberAssertion');
    const known = this.assertions.get(key);
    if (known !== undefined && known > this.#clock.now() / 1000) return false;
    this.assertions.set(key, expiresAt);
    return true;
  }

  async #enter(method: UsedMethods): Promise<void> {
    this.calls.push(method);
    await nextTurn();
  }
}
