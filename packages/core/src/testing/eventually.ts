import { setTimeout as delay } from 'node:timers/promises';

export interface EventuallyOptions {
  /** Time between checks, in ms. Default 20. */
  readonly intervalMs?: number;
}

/**
 * Calls `check` until it returns true, at most `timeoutMs` milliseconds, and resolves to how
 * long that took; rejects with `not within <timeoutMs> ms` otherwise, or with whatever `check`
 * throws. For waiting on another process or a socket (a revocation crossing the network, a
 * server starting), where no injected clock can be moved: never use it to wait for an expiry.
 *
 * @example
 * ```ts
 * const tookMs = await eventually(async () => (await app.inject('/invoices')).statusCode === 401, 1000);
 * ```
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  options: EventuallyOptions = {},
): Promise<number> {
  const intervalMs = Math.max(options.intervalMs ?? 20, 1);
  const started = performance.now();
  // Bounded in count as well as time: a check that returns at once still stops.
  const maxChecks = Math.ceil(timeoutMs / intervalMs) + 1;
  for (let checks = 1; checks <= maxChecks; checks++) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started >= timeoutMs) break;
    await delay(intervalMs);
  }
  throw new Error(`not within ${timeoutMs} ms`);
}
