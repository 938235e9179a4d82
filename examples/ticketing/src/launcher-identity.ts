import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { serviceSpiffeId } from '@tessera/core';
import type { AdminCredential } from './registration.ts';

/** The launcher's own name in the trust domain; the dev authority lists its SPIFFE ID as an admin. */
export const LAUNCHER = 'ticketing-launcher';

/** Long enough to register three services; the launcher needs it for nothing else. */
const LAUNCHER_SVID_SECONDS = 300;

/** What the launcher needs from the authority's CA: the same call the authority makes for its own SVID. */
export interface InProcessCa {
  issueSvid(request: {
    readonly spiffeId: string;
    readonly publicKey: KeyObject;
    readonly lifetimeSeconds?: number;
  }): Promise<{ readonly chainPem: string }>;
  bundlePem(): Promise<string> | string;
}

/**
 * The launcher's admin credential for the mTLS demo: a five-minute X.509-SVID for
 * `spiffe://<trust domain>/ticketing-launcher`, issued in-process by the CA of the dev authority
 * it has just started, for a key made in memory and never written. That bootstraps the admin API
 * without the static admin token: the launcher can ask the CA directly because it runs the
 * authority; anyone else gets an SVID through `POST /v1/svid/x509`.
 */
export async function launcherAdminCredential(
  ca: InProcessCa,
  trustDomain: string,
): Promise<AdminCredential> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issued = await ca.issueSvid({
    spiffeId: serviceSpiffeId(trustDomain, LAUNCHER),
    publicKey,
    lifetimeSeconds: LAUNCHER_SVID_SECONDS,
  });
  return {
    certificate: {
      cert: issued.chainPem,
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      ca: await ca.bundlePem(),
      authorityId: serviceSpiffeId(trustDomain, 'tessera-authority'),
    },
  };
}
