import type { Clock } from '@tessera/core';
import type { ServiceRecord, Store } from './store/types.ts';

/** How long a service record read from the store is reused. Also added to revocation cut-offs. */
export const SERVICE_CACHE_TTL_MS = 1000;

/**
 * Registry reads on the token endpoint (the client, then the target) were two store queries per
 * token. Records are reused for at most a second, and dropped at once when this instance
 * changes them; another instance's change is seen within the TTL, which is why disabling a
 * service revokes what it was issued up to now + TTL.
 */
export class ServiceCache {
  readonly #store: Pick<Store, 'getService'>;
  readonly #clock: Clock;
  readonly #entries = new Map<string, { record: ServiceRecord | undefined; until: number }>();

  constructor(store: Pick<Store, 'getService'>, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  async get(name: string): Promise<ServiceRecord | undefined> {
    const now = this.#clock.now();
    const hit = this.#entries.get(name);
    if (hit !== undefined && now < hit.until) return hit.record;
    const record = await this.#store.getService(name);
    // Bounded by the registry's size plus unknown names; unknown names are cached too (briefly),
    // so a flood of made-up clients costs one query per name per second. Cap it anyway.
    if (this.#entries.size >= 10_000) this.#entries.clear();
    this.#entries.set(name, { record, until: now + SERVICE_CACHE_TTL_MS });
    return record;
  }

  invalidate(name: string): void {
    this.#entries.delete(name);
  }

  /** Forgets every record (another instance changed the registry). */
  clear(): void {
    this.#entries.clear();
  }
}
