import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TesseraError, type TesseraErrorCode } from '../src/errors.ts';
import { KeySet } from '../src/keys/jwks.ts';
import { createUserTokenVerifier } from '../src/token/user-token.ts';
import {
  b64,
  ed25519,
  es256,
  forge,
  forgeHs256,
  newClock,
  NOW_S,
  stranger,
} from './support/token-fixture.ts';

const IDP = 'http://127.0.0.1:7704';

function userClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: IDP,
    sub: 'alice',
    aud: 'api-gateway',
    iat: NOW_S,
    exp: NOW_S + 600,
    tenant_id: 'acme',
    scope: 'openid invoices:read',
    ...overrides,
  };
}

const verifier = (
  options: { algorithms?: readonly ('ES256' | 'EdDSA')[]; tenantClaim?: string } = {},
) =>
  createUserTokenVerifier({
    issuer: IDP,
    audience: 'api-gateway',
    keys: new KeySet([es256, ed25519]),
    clock: newClock(),
    ...options,
  });

const valid = forge(userClaims());
const [, payload, signature] = valid.split('.') as [string, string, string];

// prettier-ignore
const ATTACKS: readonly (readonly [name: string, token: () => string, code: TesseraErrorCode])[] = [
  ['alg none without a signature', () => `${b64({ alg: 'none', kid: es256.kid })}.${payload}.`, 'ERR_TOKEN_ALG'],
  ['alg none with a signature', () => `${b64({ alg: 'none', kid: es256.kid })}.${payload}.${signature}`, 'ERR_TOKEN_ALG'],
  ['HS256 keyed with the public key', () => forgeHs256(userClaims(), JSON.stringify(es256.publicJwk), es256.kid), 'ERR_TOKEN_ALG'],
  ['RS256', () => `${b64({ alg: 'RS256', kid: es256.kid })}.${payload}.${signature}`, 'ERR_TOKEN_ALG'],
  ['an embedded jwk', () => forge(userClaims(), es256, { jwk: es256.publicJwk }), 'ERR_TOKEN_HEADER'],
  ['a jku', () => forge(userClaims(), es256, { jku: 'http://127.0.0.1:1/jwks' }), 'ERR_TOKEN_HEADER'],
  ['a stranger key', () => forge(userClaims(), stranger), 'ERR_TOKEN_KID_UNKNOWN'],
  ['no kid', () => forge(userClaims(), es256, { kid: undefined }), 'ERR_TOKEN_KID_MISSING'],
  ['a flipped signature', () => `${valid.slice(0, -4)}AAAA`, 'ERR_TOKEN_SIGNATURE'],
  ['another issuer', () => forge(userClaims({ iss: 'http://127.0.0.1:9999' })), 'ERR_TOKEN_ISSUER'],
  ['an issuer with a trailing slash', () => forge(userClaims({ iss: `${IDP}/` })), 'ERR_TOKEN_ISSUER'],
  ['another audience', () => forge(userClaims({ aud: 'billing' })), 'ERR_TOKEN_AUDIENCE'],
  ['an audience list without this audience', () => forge(userClaims({ aud: ['billing', 'x'] })), 'ERR_TOKEN_AUDIENCE'],
  ['no audience', () => forge(userClaims({ aud: undefined })), 'ERR_TOKEN_AUDIENCE'],
  ['expired', () => forge(userClaims({ iat: NOW_S - 900, exp: NOW_S - 60 })), 'ERR_TOKEN_EXPIRED'],
  ['no exp', () => forge(userClaims({ exp: undefined })), 'ERR_TOKEN_CLAIMS'],
  ['exp as a string', () => forge(userClaims({ exp: String(NOW_S + 600) })), 'ERR_TOKEN_CLAIMS'],
  ['not yet valid', () => forge(userClaims({ nbf: NOW_S + 600 })), 'ERR_TOKEN_NOT_YET_VALID'],
  ['issued in the future', () => forge(userClaims({ iat: NOW_S + 600, exp: NOW_S + 900 })), 'ERR_TOKEN_ISSUED_IN_FUTURE'],
  ['no sub', () => forge(userClaims({ sub: undefined })), 'ERR_TOKEN_CLAIMS'],
  ['an empty sub', () => forge(userClaims({ sub: '' })), 'ERR_TOKEN_CLAIMS'],
  ['a tenant that is not a string', () => forge(userClaims({ tenant_id: ['acme', 'globex'] })), 'ERR_TOKEN_CLAIMS'],
  ['a scope that is not a string', () => forge(userClaims({ scope: ['a'] })), 'ERR_TOKEN_CLAIMS'],
];

describe('user tokens of an external OpenID issuer', () => {
  for (const [name, token, code] of ATTACKS) {
    it(`refuses ${name} with ${code}`, () => {
      assert.throws(
        () => verifier().verify(token()),
        (error: unknown) => error instanceof TesseraError && error.code === code,
      );
    });
  }

  it('refuses an algorithm left out of algorithms', () => {
    assert.throws(
      () => verifier({ algorithms: ['ES256'] }).verify(forge(userClaims(), ed25519)),
      (error: unknown) => error instanceof TesseraError && error.code === 'ERR_TOKEN_ALG',
    );
  });

  it('returns a frozen user caller; an act claim does not make it delegated', () => {
    const caller = verifier().verify(
      forge(userClaims({ act: { sub: 'spiffe://tessera.local/billing' }, jti: 'j-1' })),
    );
    assert.deepEqual(caller, {
      kind: 'user',
      user: 'alice',
      tenant: 'acme',
      scopes: ['openid', 'invoices:read'],
      jti: 'j-1',
      issuer: IDP,
      issuedAt: NOW_S,
      expiresAt: NOW_S + 600,
    });
    assert.ok(Object.isFrozen(caller));
  });

  it('reads the tenant from the configured claim and accepts an audience list', () => {
    const caller = verifier({ tenantClaim: 'org' }).verify(
      forge(userClaims({ org: 'globex', aud: ['other', 'api-gateway'] })),
    );
    assert.equal(caller.tenant, 'globex');
  });

  it('refuses bad options with ERR_CONFIG_INVALID', () => {
    for (const options of [
      { algorithms: [] },
      { algorithms: ['HS256'] },
      { algorithms: ['none'] },
      { algorithms: ['RS256', 'Ed25519'] },
      { algorithms: 'RS256' },
      { tenantClaim: '' },
      { maxTokenBytes: 0 },
      { maxTokenBytes: 65537 },
      { maxTokenBytes: 1.5 },
    ]) {
      assert.throws(
        () => verifier(options as never),
        (error: unknown) => error instanceof TesseraError && error.code === 'ERR_CONFIG_INVALID',
      );
    }
  });
});
