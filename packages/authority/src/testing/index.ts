/**
 * Contract test suites for the authority's pluggable interfaces, built on `node:test`. Every
 * implementation runs the same suite.
 */
export { storeContract } from './store-contract.ts';
