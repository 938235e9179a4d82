import {
  AuthorityKeyIdentifier,
  Certificate,
  CertificateList,
  CRLNumber,
  KeyIdentifier,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
} from '@peculiar/asn1-x509';
import { sign, type KeyObject } from 'node:crypto';
import { TesseraError } from '../errors.ts';
import {
  digestFor,
  extension,
  keyIdentifier,
  keyTypeOf,
  parseDer,
  serializeDer,
  signatureAlgorithmFor,
  toBytes,
} from './asn1.ts';
import { integerContent, subjectKeyIdOf } from './issue.ts';

/** One revoked certificate: its serial as lower-case hex (as `parseX509Svid` gives it). */
export interface RevokedSerial {
  readonly serialNumber: string;
  /** Seconds since the epoch. */
  readonly revokedAt: number;
}

export interface RevocationListTemplate {
  /** The CA that issued the revoked certificates: its key and its certificate (DER). */
  readonly issuer: { readonly privateKey: KeyObject; readonly certificate: Uint8Array };
  /** Seconds since the epoch. */
  readonly thisUpdate: number;
  readonly nextUpdate: number;
  /** RFC 5280 §5.2.3: increases with every CRL this issuer publishes. */
  readonly crlNumber: number;
  readonly revoked: readonly RevokedSerial[];
}

const HEX_SERIAL = /^[0-9a-f]{1,40}$/;

/**
 * Builds and signs an X.509 v2 CRL (RFC 5280 §5) with `node:crypto`: issuer name and authority
 * key identifier from the issuing CA's certificate (§5.2.1, required), a CRL number (§5.2.3,
 * required), `nextUpdate` (§5.1.2.5, required of conforming issuers). P-256 or Ed25519 issuer.
 * Returns DER.
 */
export function issueCertificateRevocationList(template: RevocationListTemplate): Uint8Array {
  const signerType = keyTypeOf(template.issuer.privateKey);
  if (signerType === undefined)
    throw new TesseraError('ERR_X509_INVALID', 'issuer key must be P-256 or Ed25519');
  if (!(template.nextUpdate > template.thisUpdate))
    throw new TesseraError('ERR_X509_INVALID', 'nextUpdate must be after thisUpdate');
  if (!Number.isSafeInteger(template.crlNumber) || template.crlNumber < 0)
    throw new TesseraError('ERR_X509_INVALID', 'crlNumber must be a non-negative integer');
  const issuer = parseDer(template.issuer.certificate, Certificate, 'issuer certificate');
  const authorityKeyId =
    subjectKeyIdOf(issuer) ?? keyIdentifier(issuer.tbsCertificate.subjectPublicKeyInfo);
  const revoked = template.revoked.map((entry) => {
    if (!HEX_SERIAL.test(entry.serialNumber))
      throw new TesseraError('ERR_X509_INVALID', 'a revoked serial is not lower-case hex');
    const hex = entry.serialNumber.length % 2 === 1 ? `0${entry.serialNumber}` : entry.serialNumber;
    return new RevokedCertificate({
      userCertificate: integerContent(new Uint8Array(Buffer.from(hex, 'hex'))),
      revocationDate: new Time(new Date(entry.revokedAt * 1000)),
    });
  });
  const signatureAlgorithm = signatureAlgorithmFor(signerType);
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: signatureAlgorithm,
    issuer: issuer.tbsCertificate.subject,
    thisUpdate: new Time(new Date(template.thisUpdate * 1000)),
    nextUpdate: new Time(new Date(template.nextUpdate * 1000)),
    ...(revoked.length > 0 ? { revokedCertificates: revoked } : {}),
    crlExtensions: [
      extension(
        id_ce_authorityKeyIdentifier,
        false,
        new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyId) }),
      ),
      extension(id_ce_cRLNumber, false, new CRLNumber(template.crlNumber)),
    ],
  });
  const tbsDer = serializeDer(tbs);
  const signature = sign(digestFor(signerType), tbsDer, template.issuer.privateKey);
  return serializeDer(
    new CertificateList({
      tbsCertList: tbs,
      signatureAlgorithm,
      signature: toBytes(signature).slice().buffer,
    }),
  );
}
