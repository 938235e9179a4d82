import assert from 'node:assert/strict';
import {
  createVerifier,
  evaluate,
  generateSigningKey,
  KeySet,
  mintAccessToken,
  parseJwks,
  parsePolicy,
  systemClock,
  TesseraError,
} from '@tessera/core';

const issuer = 'http://127.0.0.1:7700';
const billing = 'spiffe://tessera.local/billing';
const events = 'spiffe://tessera.local/event-service';

// The authority signs; services only ever see its public JWKS.
const authorityKey = generateSigningKey(); // ES256, kid = RFC 7638 thumbprint
const jwks = JSON.stringify({ keys: [authorityKey.publicJwk] });

// billing verifies locally: no network call per request.
const verifier = createVerifier({
  issuer,
  audience: billing,
  keys: parseJwks(jwks),
  clock: systemClock,
});

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  event-service: {}
  billing:
    routes:
      - method: POST
        path: /invoices
        allow: [{ service: event-service, scopes: [invoices:write] }]
`);

function attempt(label: string, token: string): void {
  try {
    const caller = verifier.verify(token);
    const decision = evaluate(policy, caller, 'billing', 'POST', '/invoices');
    console.log(
      `${label}: ${decision.allow ? 'allowed' : `denied (${decision.code})`} as ${caller.spiffeId}`,
    );
  } catch (error) {
    assert.ok(error instanceof TesseraError);
    console.log(`${label}: refused (${error.code})`);
  }
}

// 1. A real token: event-service → billing, audience-bound, five minutes.
const real = mintAccessToken(
  { issuer, subject: events, audience: billing, scopes: ['invoices:write'] },
  { key: authorityKey, clock: systemClock },
);
attempt('real token', real.token);

// 2. The same claims signed by a key the authority never published.
const attackerKey = generateSigningKey();
const forged = mintAccessToken(
  { issuer, subject: events, audience: billing, scopes: ['invoices:write'] },
  { key: attackerKey, clock: systemClock },
);
attempt('forged (unknown key)', forged.token);

// 3. A stolen token with a scope spliced into its claims: the signature no longer matches.
const [header, , signature] = real.token.split('.');
const payload = Buffer.from(
  JSON.stringify({ ...real.claims, scope: 'invoices:write admin' }),
).toString('base64url');
attempt('tampered claims', `${header}.${payload}.${signature}`);

// 4. A valid token without the scope the route needs: authenticated, then denied by policy.
const readOnly = mintAccessToken(
  { issuer, subject: events, audience: billing, scopes: ['invoices:read'] },
  { key: authorityKey, clock: systemClock },
);
attempt('missing scope', readOnly.token);

// A key set never silently accepts a private key or a duplicate kid.
assert.throws(() => new KeySet([authorityKey, authorityKey]), { code: 'ERR_JWKS_DUPLICATE_KID' });
