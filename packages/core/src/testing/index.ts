/**
 * Contract test suites for Tessera's pluggable interfaces, built on `node:test`. Every
 * implementation (in-memory here; Redis, PostgreSQL and others elsewhere) runs the same suite.
 */
export { revocationSetContract } from './revocation-set-contract.ts';
export { replayCacheContract } from './replay-cache-contract.ts';
export { eventually, type EventuallyOptions } from './eventually.ts';
