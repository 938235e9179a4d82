import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parsePolicy } from '@tessera/core';
import { DEFAULT_PORTS, demoSettingsFromEnv } from '../src/config.ts';
import { POLICY_FILE } from '../src/main.ts';
import { grantsFromPolicy, scopesFor } from '../src/registration.ts';

const policy = parsePolicy(readFileSync(POLICY_FILE, 'utf8'));

describe('registration from policy.yaml', () => {
  it('grants each service, per audience, exactly the scopes that audience requires', () => {
    assert.deepEqual(grantsFromPolicy(policy), [
      {
        name: 'api-gateway',
        grants: [
          {
            audience: 'event-service',
            scopes: ['events:read', 'events:write', 'invoices:write'],
          },
          { audience: 'billing', scopes: ['invoices:read'] },
        ],
      },
      { name: 'event-service', grants: [{ audience: 'billing', scopes: ['invoices:write'] }] },
      { name: 'billing', grants: [] },
    ]);
  });

  it('asks, per upstream, only for the scopes the policy requires there', () => {
    // invoices:write: event-service's exchange for billing keeps only what the gateway's
    // delegated token holds (scopes only narrow along a chain).
    assert.deepEqual(scopesFor(policy, 'api-gateway', 'event-service'), [
      'events:read',
      'events:write',
      'invoices:write',
    ]);
    assert.deepEqual(scopesFor(policy, 'api-gateway', 'billing'), ['invoices:read']);
    assert.deepEqual(scopesFor(policy, 'event-service', 'billing'), ['invoices:write']);
    assert.deepEqual(scopesFor(policy, 'billing', 'event-service'), []);
  });
});

describe('demo settings from the environment', () => {
  it('defaults to mutual TLS on 7700–7703, the IdP on 7704, and ./.tessera', () => {
    assert.deepEqual(demoSettingsFromEnv({}), {
      dataDir: '.tessera',
      ports: DEFAULT_PORTS,
      transport: 'mtls',
      keyRotationSeconds: 3600,
    });
    assert.deepEqual(DEFAULT_PORTS, {
      authority: 7700,
      gateway: 7701,
      eventService: 7702,
      billing: 7703,
      idp: 7704,
    });
  });

  it('takes each port and the data directory from its variable', () => {
    assert.deepEqual(
      demoSettingsFromEnv({
        TESSERA_AUTHORITY_PORT: '8800',
        GATEWAY_PORT: '8801',
        EVENT_SERVICE_PORT: '8802',
        BILLING_PORT: '8803',
        IDP_PORT: '8804',
        TESSERA_DATA_DIR: '/tmp/demo',
        TESSERA_DEMO_TRANSPORT: 'http',
        TESSERA_DEMO_KEY_ROTATION_SECONDS: '600',
      }),
      {
        dataDir: '/tmp/demo',
        ports: { authority: 8800, gateway: 8801, eventService: 8802, billing: 8803, idp: 8804 },
        transport: 'http',
        keyRotationSeconds: 600,
      },
    );
  });

  for (const value of ['59', '0', '-60', '1h', '60.5', '1e3']) {
    it(`refuses TESSERA_DEMO_KEY_ROTATION_SECONDS=${value}, naming the variable`, () => {
      assert.throws(
        () => demoSettingsFromEnv({ TESSERA_DEMO_KEY_ROTATION_SECONDS: value }),
        /TESSERA_DEMO_KEY_ROTATION_SECONDS must be a number of seconds, at least 60/,
      );
    });
  }

  for (const value of ['https', 'HTTP', 'tls', 'plain']) {
    it(`refuses TESSERA_DEMO_TRANSPORT=${value}, naming the variable`, () => {
      assert.throws(
        () => demoSettingsFromEnv({ TESSERA_DEMO_TRANSPORT: value }),
        /TESSERA_DEMO_TRANSPORT must be one of: mtls, http/,
      );
    });
  }

  for (const value of ['0', '65536', 'http', '77o1', '-1', '7701.5']) {
    it(`refuses GATEWAY_PORT=${value}, naming the variable`, () => {
      assert.throws(() => demoSettingsFromEnv({ GATEWAY_PORT: value }), /GATEWAY_PORT/);
    });
  }
});
