import type { Clock } from '../clock.ts';

/** A clock that only moves when told to. For tests and simulations. */
export class ManualClock implements Clock {
  #now: number;
  constructor(startMs: number) {
    this.#now = startMs;
  }
  now(): number {
    return this.#now;
  }
  /** Moves time forward (or back, with a negative value) by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
  set(ms: number): void {
    this.#now = ms;
  }
}
