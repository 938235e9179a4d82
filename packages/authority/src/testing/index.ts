/**
 * For tests of the authority and of services built against it: the contract suite every `Store`
 * implementation runs (built on `node:test`), and a real dev-mode authority on a free loopback
 * port. Nothing here belongs in production code.
 */
export { storeContract } from './store-contract.ts';
export { startTestAuthority, type TestAuthority } from './test-authority.ts';
export { freePort } from './free-port.ts';
export { requestOverTls, type TlsRequestOptions } from './tls-request.ts';
