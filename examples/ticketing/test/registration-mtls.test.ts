/**
 * The launcher's registration over mutual TLS, against a real dev authority over HTTPS that lists
 * `spiffe://tessera.local/ticketing-launcher` as its only admin SPIFFE ID: only that SVID from the
 * authority's own CA registers, and only with the authority's SPIFFE ID on the other end.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import { generateSigningKey, serviceSpiffeId } from '@tessera/core';
import { createTestCa } from '@tessera/core/testing';
import { LAUNCHER, launcherAdminCredential } from '../src/launcher-identity.ts';
import { registerServices, type AdminCredential } from '../src/registration.ts';

const TRUST_DOMAIN = 'tessera.local';
const AUTHORITY_ID = serviceSpiffeId(TRUST_DOMAIN, 'tessera-authority');

describe('registering the demo services over mTLS as an admin SPIFFE ID', () => {
  let authority: TestAuthority;

  before(async () => {
    authority = await startTestAuthority({
      tls: true,
      config: { admin: { spiffeIds: [serviceSpiffeId(TRUST_DOMAIN, LAUNCHER)] } },
    });
  });
  after(() => authority.close());

  const register = (name: string, admin: AdminCredential) =>
    registerServices({
      authorityUrl: authority.url,
      admin,
      grants: [{ name, grants: [] }],
      keys: new Map([[name, generateSigningKey('ES256')]]),
      hosts: ['127.0.0.1'],
    });

  /** An SVID from the authority's own CA for `name`, as the launcher would present it. */
  async function svidFor(name: string, authorityId = AUTHORITY_ID): Promise<AdminCredential> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = await authority.running.context.ca.issueSvid({
      spiffeId: serviceSpiffeId(TRUST_DOMAIN, name),
      publicKey,
    });
    return {
      certificate: {
        cert: issued.chainPem,
        key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        ca: await authority.bundlePem(),
        authorityId,
      },
    };
  }

  const refusals: {
    name: string;
    admin: () => Promise<AdminCredential>;
    error: RegExp;
  }[] = [
    {
      name: 'an SVID of the trust domain that is not a listed admin',
      admin: () => svidFor('billing'),
      error: /answered 401/,
    },
    {
      name: 'a certificate for the launcher from another CA',
      admin: async () => {
        const other = createTestCa(TRUST_DOMAIN).issueSvid(`/${LAUNCHER}`);
        return {
          certificate: {
            cert: other.certPem,
            key: other.keyPem,
            ca: await authority.bundlePem(),
            authorityId: AUTHORITY_ID,
          },
        };
      },
      error: /answered 401/,
    },
    {
      name: 'the launcher SVID, but the server is not the expected SPIFFE ID',
      admin: () => svidFor(LAUNCHER, serviceSpiffeId(TRUST_DOMAIN, 'billing')),
      error: /fetch failed/,
    },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name}`, async () => {
      await assert.rejects(register('refused-service', await refusal.admin()), refusal.error);
    });
  }

  it("registers with the launcher's SVID from the CA in-process, hosts included", async () => {
    const admin = await launcherAdminCredential(authority.running.context.ca, TRUST_DOMAIN);
    assert.ok('certificate' in admin, 'a certificate, not the admin token');
    await register('billing', admin);
    const record = (await (await authority.admin('GET', '/v1/admin/services/billing')).json()) as {
      hosts?: string[];
    };
    assert.deepEqual(record.hosts, ['127.0.0.1']);
  });
});
