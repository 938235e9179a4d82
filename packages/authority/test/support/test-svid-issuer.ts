import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { issueCertificate, parseX509Svid, pemEncode, type Clock } from '@tessera/core';
import type { TestCa } from '@tessera/core/testing';
import type { ServerSvidIssuer } from '../../src/tls/server-credentials.ts';

/**
 * The authority's server certificates from a `createTestCa` CA, on the authority's clock: what
 * the real CA does for `issueSvid`, minus storage. Host names become DNS SANs, and `localhost`
 * is always one (core's leaf profile has no IP SANs yet), so curl can check the host name.
 */
export function testSvidIssuer(ca: TestCa, clock: Clock): ServerSvidIssuer & { issued: number } {
  const issuer = {
    issued: 0,
    issueSvid(request: Parameters<ServerSvidIssuer['issueSvid']>[0]) {
      const now = Math.floor(clock.now() / 1000);
      const notAfter = now + (request.lifetimeSeconds ?? 3600);
      const dnsNames = [
        ...new Set(['localhost', ...(request.hosts ?? []).filter((h) => isIP(h) === 0)]),
      ];
      const der = issueCertificate({
        serialNumber: new Uint8Array(randomBytes(16)),
        subject: {},
        publicKey: request.publicKey,
        notBefore: now - 60,
        notAfter,
        profile: { kind: 'leaf', uris: [request.spiffeId], dnsNames },
        issuer: { privateKey: ca.privateKey, certificate: ca.der },
      });
      issuer.issued += 1;
      return {
        chainPem: pemEncode('CERTIFICATE', der),
        serialNumber: parseX509Svid(der).serialNumber,
        expiresAt: notAfter,
      };
    },
    bundlePem: () => ca.certPem,
  };
  return issuer;
}
