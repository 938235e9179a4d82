import type { Extension } from '@peculiar/asn1-x509';
import {
  BasicConstraints,
  Certificate,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectAltName,
} from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { createHash } from 'node:crypto';
import { TesseraError } from '../errors.ts';
import { parseWorkloadId, type SpiffeId } from '../spiffe/id.ts';
import { parseDer, toBytes } from './asn1.ts';

/** What a verifier needs from an X.509-SVID once TLS has checked its chain against the bundle. */
export interface X509SvidInfo {
  readonly spiffeId: SpiffeId;
  /** Lower-case hex of the serial number, without leading zero octets. */
  readonly serialNumber: string;
  /** Seconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** RFC 8705 §3.1 `x5t#S256`: base64url SHA-256 of the DER certificate. */
  readonly thumbprint: string;
}

/** RFC 8705 §3.1: the certificate thumbprint that binds a token to it (`cnf.x5t#S256`). */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}

/**
 * Reads a leaf certificate as an X.509-SVID (SPIFFE X.509-SVID standard §4, §5) and returns its
 * identity. Strict: exactly one URI SAN, which must be a workload SPIFFE ID (in `trustDomain` when
 * given); `CA:false` (or no basicConstraints); keyUsage present with `digitalSignature` and
 * without `keyCertSign` or `cRLSign`. Anything else is `ERR_SVID_INVALID` (or
 * `ERR_SVID_TRUST_DOMAIN`). The chain is not checked here: TLS did that against the bundle.
 */
export function parseX509Svid(
  der: Uint8Array,
  options: { trustDomain?: string } = {},
): X509SvidInfo {
  let certificate: Certificate;
  try {
    certificate = parseDer(der, Certificate, 'certificate');
  } catch {
    throw new TesseraError('ERR_SVID_INVALID', 'certificate is not valid DER');
  }
  const tbs = certificate.tbsCertificate;
  let uris: string[] | undefined;
  let keyUsage: number | undefined;
  const extensions: readonly Extension[] = tbs.extensions ?? [];
  for (const ext of extensions) {
    const value = toBytes(ext.extnValue.buffer);
    try {
      if (ext.extnID === id_ce_subjectAltName) {
        if (uris !== undefined) throw new TesseraError('ERR_SVID_INVALID', 'two SAN extensions');
        uris = AsnConvert.parse(value, SubjectAlternativeName).flatMap(
          (name) => name.uniformResourceIdentifier ?? [],
        );
      } else if (ext.extnID === id_ce_basicConstraints) {
        if (AsnConvert.parse(value, BasicConstraints).cA)
          throw new TesseraError('ERR_SVID_INVALID', 'a CA certificate is not a leaf SVID');
      } else if (ext.extnID === id_ce_keyUsage) {
        keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
      }
    } catch (error) {
      if (error instanceof TesseraError) throw error;
      throw new TesseraError('ERR_SVID_INVALID', `extension ${ext.extnID} cannot be read`);
    }
  }
  const uri = uris?.length === 1 ? uris[0] : undefined;
  if (uri === undefined)
    throw new TesseraError('ERR_SVID_INVALID', 'an SVID has exactly one URI SAN');
  if (keyUsage === undefined || (keyUsage & KeyUsageFlags.digitalSignature) === 0)
    throw new TesseraError('ERR_SVID_INVALID', 'keyUsage lacks digitalSignature');
  if ((keyUsage & (KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)) !== 0)
    throw new TesseraError('ERR_SVID_INVALID', 'a leaf SVID must not sign certificates or CRLs');
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseWorkloadId(uri);
  } catch {
    throw new TesseraError('ERR_SVID_INVALID', 'URI SAN is not a workload SPIFFE ID');
  }
  if (options.trustDomain !== undefined && spiffeId.trustDomain !== options.trustDomain)
    throw new TesseraError('ERR_SVID_TRUST_DOMAIN', 'SVID is from another trust domain');
  const serial = Buffer.from(tbs.serialNumber)
    .toString('hex')
    .replace(/^(00)+(?=.)/, '');
  return {
    spiffeId,
    serialNumber: serial,
    notBefore: Math.floor(tbs.validity.notBefore.getTime().getTime() / 1000),
    notAfter: Math.floor(tbs.validity.notAfter.getTime().getTime() / 1000),
    thumbprint: certificateThumbprint(der),
  };
}
