/**
 * policy.yaml's `GET /whoami` rules. Behind the edge, each service's own callers may ask, on their
 * certificate alone (the mTLS plugin's caller has no scopes) or with a token for other routes;
 * any other workload of the trust domain is refused. At the edge only end users may ask.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  evaluate,
  parsePolicy,
  serviceSpiffeId,
  type Caller,
  type DelegatedCaller,
  type ServiceCaller,
  type UserCaller,
} from '@tessera/core';
import { POLICY_FILE } from '../src/main.ts';

const policy = parsePolicy(readFileSync(POLICY_FILE, 'utf8'));

/** A caller as the plugin's mTLS mode makes it from an X.509-SVID: no token, no scopes. */
function certificate(name: string, scopes: readonly string[] = []): ServiceCaller {
  return {
    kind: 'service',
    spiffeId: serviceSpiffeId(policy.trustDomain, name),
    scopes,
    jti: '',
    issuer: `spiffe://${policy.trustDomain}`,
    issuedAt: 1_700_000_000,
    expiresAt: 1_700_000_300,
  };
}

/** alice at the edge, with the demo IdP's access token. */
const alice: UserCaller = {
  kind: 'user',
  user: 'alice',
  tenant: 'acme',
  scopes: ['events:read'],
  jti: 'alice-1',
  issuer: 'http://127.0.0.1:7704',
  issuedAt: 1_700_000_000,
  expiresAt: 1_700_000_300,
};
/** event-service acting for alice (a token exchanged at the authority). */
const eventsForAlice: DelegatedCaller = {
  ...certificate('event-service', ['events:read']),
  kind: 'delegated',
  user: 'alice',
  tenant: 'acme',
  actors: [serviceSpiffeId(policy.trustDomain, 'event-service')],
};

// prettier-ignore
const CASES: readonly (readonly [service: string, caller: Caller, expected: string])[] = [
  ['billing', certificate('event-service'), 'allow'],
  ['billing', certificate('event-service', ['invoices:write']), 'allow'],
  ['billing', certificate('api-gateway'), 'allow'],
  ['billing', certificate('billing'), 'ERR_POLICY_CALLER'],
  ['billing', certificate('outsider'), 'ERR_POLICY_CALLER'],
  ['billing', certificate('outsider', ['invoices:write', 'invoices:read']), 'ERR_POLICY_CALLER'],
  ['event-service', certificate('api-gateway'), 'allow'],
  ['event-service', certificate('billing'), 'ERR_POLICY_CALLER'],
  ['event-service', certificate('event-service'), 'ERR_POLICY_CALLER'],
  ['event-service', certificate('outsider'), 'ERR_POLICY_CALLER'],
  ['event-service', alice, 'ERR_POLICY_CALLER'],
  ['api-gateway', alice, 'allow'],
  ['api-gateway', certificate('event-service'), 'ERR_POLICY_DELEGATION'],
  ['api-gateway', certificate('outsider', ['events:read']), 'ERR_POLICY_DELEGATION'],
  ['api-gateway', eventsForAlice, 'ERR_POLICY_CALLER'],
];

/** Who is asking, for test names. */
const who = (caller: Caller): string =>
  caller.kind === 'user'
    ? `user ${caller.user}`
    : `${caller.kind} ${caller.spiffeId} (scopes: ${caller.scopes.join(' ') || 'none'})`;

describe("policy.yaml: GET /whoami admits each service's own callers, and end users at the edge", () => {
  for (const [service, caller, expected] of CASES) {
    it(`${service}, ${who(caller)}: ${expected}`, () => {
      const decision = evaluate(policy, caller, service, 'GET', '/whoami');
      assert.equal(decision.allow ? 'allow' : decision.code, expected);
    });
  }
});
