import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { issueCertificate, type CertificateProfile } from '../x509/issue.ts';
import { pemEncode } from '../x509/pem.ts';

/** A certificate with its key, in the forms TLS options and tools take. */
export interface TestCertificate {
  readonly der: Uint8Array;
  readonly certPem: string;
  readonly keyPem: string;
  readonly privateKey: KeyObject;
}

export interface TestCa extends TestCertificate {
  readonly trustDomain: string;
  /** An X.509-SVID for `spiffe://<trust domain><path>`; options make the broken ones tests need. */
  issueSvid(path: string, options?: TestLeafOptions): TestCertificate;
  /** A leaf with exactly the given URI SANs (zero, two, another trust domain...). */
  issueLeaf(uris: readonly string[], options?: TestLeafOptions): TestCertificate;
  /** A subordinate CA signed by this one (itself a `TestCa`). */
  issueIntermediate(options?: TestLeafOptions): TestCa;
}

export interface TestLeafOptions {
  /** Seconds since the epoch; default now − 60 s and now + 1 h. */
  readonly notBefore?: number;
  readonly notAfter?: number;
  readonly keyType?: 'P-256' | 'Ed25519';
}

function newKey(type: 'P-256' | 'Ed25519' = 'P-256'): KeyObject {
  return type === 'P-256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    : generateKeyPairSync('ed25519').privateKey;
}

function withPem(der: Uint8Array, privateKey: KeyObject): TestCertificate {
  return {
    der,
    certPem: pemEncode('CERTIFICATE', der),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    privateKey,
  };
}

function serial(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}

/**
 * A throwaway CA for tests: P-256, name-constrained to its trust domain unless
 * `nameConstraint: false`. Real certificates come from the authority; this makes the certificates
 * (valid and deliberately broken) that tests of TLS peers need without one.
 */
export function createTestCa(
  trustDomain = 'tessera.local',
  options: TestLeafOptions & { nameConstraint?: boolean } = {},
  parent?: { der: Uint8Array; privateKey: KeyObject },
): TestCa {
  const now = Math.floor(Date.now() / 1000);
  const privateKey = newKey(options.keyType);
  const profile: CertificateProfile = {
    kind: 'ca',
    ...(options.nameConstraint === false ? {} : { permittedUriDomain: trustDomain }),
  };
  const der = issueCertificate({
    serialNumber: serial(),
    subject: { organization: 'Tessera test', commonName: `${trustDomain} test CA ${now}` },
    publicKey: privateKey,
    notBefore: options.notBefore ?? now - 60,
    notAfter: options.notAfter ?? now + 86_400,
    profile,
    issuer:
      parent === undefined
        ? { privateKey }
        : { privateKey: parent.privateKey, certificate: parent.der },
  });
  const issueLeaf = (uris: readonly string[], leaf: TestLeafOptions = {}): TestCertificate => {
    const key = newKey(leaf.keyType);
    return withPem(
      issueCertificate({
        serialNumber: serial(),
        subject: { organization: 'Tessera test' },
        publicKey: key,
        notBefore: leaf.notBefore ?? now - 60,
        notAfter: leaf.notAfter ?? now + 3600,
        profile: { kind: 'leaf', uris },
        issuer: { privateKey, certificate: der },
      }),
      key,
    );
  };
  return {
    ...withPem(der, privateKey),
    trustDomain,
    issueLeaf,
    issueSvid: (path, leaf) => issueLeaf([`spiffe://${trustDomain}${path}`], leaf),
    issueIntermediate: (leaf) => createTestCa(trustDomain, leaf, { der, privateKey }),
  };
}
