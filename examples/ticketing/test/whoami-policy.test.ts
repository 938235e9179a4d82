/**
 * policy.yaml's `GET /whoami` rules behind the edge: each service's own callers may ask, on their
 * certificate alone (the mTLS plugin's caller has no scopes) or with a token for other routes;
 * any other workload of the trust domain is refused.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { evaluate, parsePolicy, serviceSpiffeId, type ServiceCaller } from '@tessera/core';
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

// prettier-ignore
const CASES: readonly (readonly [service: string, caller: ServiceCaller, expected: string])[] = [
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
];

describe("policy.yaml: GET /whoami admits each service's own callers only", () => {
  for (const [service, caller, expected] of CASES) {
    it(`${service}, ${caller.spiffeId} (scopes: ${caller.scopes.join(' ') || 'none'}): ${expected}`, () => {
      const decision = evaluate(policy, caller, service, 'GET', '/whoami');
      assert.equal(decision.allow ? 'allow' : decision.code, expected);
    });
  }
});
