/**
 * Time enters Tessera only through a `Clock`, so tests can fix it and nothing sleeps to wait
 * for expiry. `now()` returns milliseconds since the Unix epoch.
 */
export interface Clock {
  now(): number;
}

/** The wall clock. Pass it at the edge (servers, CLIs); core logic never reads time itself. */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/** Whole seconds since the epoch, the unit of JWT `iat`/`nbf`/`exp` (RFC 7519 §2 NumericDate). */
export function epochSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}
