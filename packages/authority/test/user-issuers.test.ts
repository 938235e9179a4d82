import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../src/config.ts';
import { SubjectTokenError, UserIssuers } from '../src/exchange/user-issuers.ts';
import { startStubIdp, type StubIdp } from './support/stub-idp.ts';

const BASE = {
  issuer: 'http://127.0.0.1:7700',
  trustDomain: 'tessera.local',
  listen: { host: '127.0.0.1', port: 7700 },
  store: { kind: 'sqlite', path: '/tmp/unused.db' },
  kekFile: '/tmp/kek',
  adminTokenFile: '/tmp/admin',
};

/** The external issuers' key sets against a real (loopback) discovery document and JWKS. */
describe('UserIssuers', () => {
  let idp: StubIdp;
  let issuers: UserIssuers;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    idp = await startStubIdp('tessera');
    const config = validateConfig(
      { ...BASE, users: { issuers: [{ issuer: idp.issuer, audience: 'tessera' }] } },
      { dev: true },
    );
    // No cooldown: a refetch on an unknown kid happens at once (the default waits 30 s).
    issuers = new UserIssuers(config.userIssuers, { jwksCooldownMs: 0 });
  });
  after(async () => {
    await idp.close();
  });

  it('refetches the JWKS when a token names an unknown kid, and caches it otherwise', async () => {
    const first = await issuers.verify(await idp.sign({ sub: 'alice' }), now());
    assert.equal(first.subject, 'alice');
    await issuers.verify(await idp.sign({ sub: 'alice' }), now());
    assert.equal(idp.jwksRequests, 1);

    await idp.rotate();
    const rotated = await issuers.verify(await idp.sign({ sub: 'bob' }), now());
    assert.equal(rotated.subject, 'bob');
    assert.equal(idp.jwksRequests, 2);
  });

  it('refuses a kid the issuer does not publish, even after a refetch', async () => {
    await assert.rejects(
      issuers.verify(await idp.sign({ sub: 'alice' }, { kid: 'idp-unknown' }), now()),
      (error: unknown) => error instanceof SubjectTokenError && error.reason === 'key_unknown',
    );
  });
});
