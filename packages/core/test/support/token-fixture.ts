import { createHmac } from 'node:crypto';
import { ManualClock } from '../../src/testing/manual-clock.ts';
import { generateSigningKey, type SigningKey } from '../../src/keys/jwk.ts';
import { KeySet } from '../../src/keys/jwks.ts';
import { signCompactJws } from '../../src/token/jws.ts';

export const ISSUER = 'http://127.0.0.1:7700';
export const TRUST_DOMAIN = 'tessera.local';
export const BILLING = 'spiffe://tessera.local/billing';
export const EVENTS = 'spiffe://tessera.local/event-service';
export const GATEWAY = 'spiffe://tessera.local/api-gateway';
/** 2026-11-23T12:00:00Z, a fixed "now" for every token test. */
export const NOW_S = 1_795_435_200;

export const es256 = generateSigningKey('ES256');
export const ed25519 = generateSigningKey('EdDSA');
/** Not in the verifier's key set: a stranger's key. */
export const stranger = generateSigningKey('ES256');
export const keys = new KeySet([es256, ed25519]);

export function newClock(): ManualClock {
  return new ManualClock(NOW_S * 1000);
}

/** Claims of a valid service token from event-service to billing. */
export function serviceClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    sub: EVENTS,
    client_id: EVENTS,
    aud: BILLING,
    iat: NOW_S,
    nbf: NOW_S,
    exp: NOW_S + 300,
    jti: 'jti-1',
    scope: 'invoices:write',
    ...overrides,
  };
}

export function header(
  key: SigningKey,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return { alg: key.alg, typ: 'at+jwt', kid: key.kid, ...overrides };
}

/** Signs any header and claims with `key`: the tool for forging tokens in tests. */
export function forge(
  claims: Record<string, unknown>,
  key: SigningKey = es256,
  headerOverrides: Record<string, unknown> = {},
): string {
  return signCompactJws(header(key, headerOverrides), claims, key);
}

/** An HS256 token keyed with `secret`: the classic algorithm-confusion forgery. */
export function forgeHs256(
  claims: Record<string, unknown>,
  secret: string | Buffer,
  kid: string,
): string {
  const input = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid })).toString('base64url')}.${Buffer.from(
    JSON.stringify(claims),
  ).toString('base64url')}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString(
    'base64url',
  );
}
