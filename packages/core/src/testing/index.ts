/**
 * What tests of Tessera and of the services built on it share: contract test suites for the
 * pluggable interfaces, built on `node:test` (every implementation, in-memory here and Redis,
 * PostgreSQL and others elsewhere, runs the same suite); `ManualClock`, for time that moves only
 * when a test says so; `eventually`, for waiting on what settles asynchronously; and the seeded
 * PRNG and mutator the fuzz tests replay failures with. Nothing here belongs in production code.
 */
export { revocationSetContract } from './revocation-set-contract.ts';
export { replayCacheContract } from './replay-cache-contract.ts';
export { eventually, type EventuallyOptions } from './eventually.ts';
export { ManualClock } from './manual-clock.ts';
export { fuzzSeed, mulberry32, mutate } from './fuzz.ts';
export {
  createTestCa,
  type TestCa,
  type TestCertificate,
  type TestLeafOptions,
} from './test-ca.ts';
