/** A key or CA on a rotation schedule: `next` (published), `active` (signing), then gone. */
export interface ScheduledRecord {
  readonly state: string;
  /** When it starts (or started) signing. */
  readonly activatesAtMs: number;
}

export interface Rotation<T> {
  /** The record that signs now. */
  readonly active: T | undefined;
  /** The record that signs next. */
  readonly next: T | undefined;
  /** Other due records: they may have signed, so they retire (and stay published). */
  readonly superseded: readonly T[];
  /** Other pending records: they never signed, so they are withdrawn. */
  readonly discarded: readonly T[];
}

/**
 * Which record signs, computed the same way by every instance from the same records, so
 * instances sharing a store agree without locks even when a race left extra records behind.
 * Shared by the signing keys (`keys/manager.ts`) and the CAs (`ca/certificate-authority.ts`).
 *
 * A record is due when it is `active`, or `next` with its activation time reached. The active one
 * is the due record that activated last (a rotation always activates the newer one), ties broken
 * by `idOf` in code-unit order. The next one is the pending record that activates first, ties
 * broken the same way: two instances that created a next record at once computed the same
 * activation time, so the id decides.
 */
export function resolveRotation<T extends ScheduledRecord>(
  records: readonly T[],
  nowMs: number,
  idOf: (record: T) => string,
): Rotation<T> {
  const byId = (a: T, b: T): number => {
    const x = idOf(a);
    const y = idOf(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
  const due: T[] = [];
  const pending: T[] = [];
  for (const record of records) {
    if (record.state === 'active' || (record.state === 'next' && record.activatesAtMs <= nowMs)) {
      due.push(record);
    } else if (record.state === 'next') {
      pending.push(record);
    }
  }
  due.sort((a, b) => b.activatesAtMs - a.activatesAtMs || byId(a, b));
  pending.sort((a, b) => a.activatesAtMs - b.activatesAtMs || byId(a, b));
  const [active, ...superseded] = due;
  const [next, ...discarded] = pending;
  return { active, next, superseded, discarded };
}
