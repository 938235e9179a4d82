import { OctetString } from '@peculiar/asn1-schema';
import type { Extension } from '@peculiar/asn1-x509';
import {
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extensions,
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  NameConstraints,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  TBSCertificate,
  Version,
  Validity,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import { sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { TesseraError } from '../errors.ts';
import {
  digestFor,
  extension,
  keyIdentifier,
  keyTypeOf,
  parseDer,
  serializeDer,
  signatureAlgorithmFor,
  spkiOf,
  toBytes,
} from './asn1.ts';

const OID_COMMON_NAME = '2.5.4.3';
const OID_ORGANIZATION = '2.5.4.10';

/** What a certificate says about its key: a CA, or an end entity (an X.509-SVID). */
export type CertificateProfile =
  | {
      readonly kind: 'ca';
      /** RFC 5280 §4.2.1.10 permitted URI subtree: the trust domain's host name. */
      readonly permittedUriDomain?: string;
      /** basicConstraints pathLenConstraint; 0 means it may sign only end entities. */
      readonly pathLength?: number;
    }
  | {
      readonly kind: 'leaf';
      /** URI SANs; an X.509-SVID has exactly one, its SPIFFE ID. */
      readonly uris: readonly string[];
      readonly dnsNames?: readonly string[];
      /** IP address SANs (IPv4 or IPv6 text form), for peers that check a literal address. */
      readonly ipAddresses?: readonly string[];
    };

export interface CertificateTemplate {
  /** The serial as unsigned big-endian bytes (RFC 5280 §4.1.2.2: at most 20 octets, positive). */
  readonly serialNumber: Uint8Array;
  /** Subject organisation and common name; both optional. */
  readonly subject: { readonly organization?: string; readonly commonName?: string };
  readonly publicKey: KeyObject;
  /** Seconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly profile: CertificateProfile;
  /** The issuing key, and the issuer's certificate (DER); without it the certificate is self-signed. */
  readonly issuer: { readonly privateKey: KeyObject; readonly certificate?: Uint8Array };
}

/**
 * Builds and signs an X.509 v3 certificate (RFC 5280) with `node:crypto`. The issuer's key must
 * be P-256 (ecdsa-with-SHA256) or Ed25519. Returns DER.
 */
export function issueCertificate(template: CertificateTemplate): Uint8Array {
  const signerType = keyTypeOf(template.issuer.privateKey);
  if (signerType === undefined)
    throw new TesseraError('ERR_X509_INVALID', 'issuer key must be P-256 or Ed25519');
  if (!(template.notAfter > template.notBefore))
    throw new TesseraError('ERR_X509_INVALID', 'notAfter must be after notBefore');
  const spki = spkiOf(template.publicKey);
  const subject = buildName(template.subject);
  let issuerName = subject;
  let authorityKeyId = keyIdentifier(spki);
  if (template.issuer.certificate !== undefined) {
    const issuer = parseDer(template.issuer.certificate, Certificate, 'issuer certificate');
    issuerName = issuer.tbsCertificate.subject;
    authorityKeyId =
      subjectKeyIdOf(issuer) ?? keyIdentifier(issuer.tbsCertificate.subjectPublicKeyInfo);
  }
  const signatureAlgorithm = signatureAlgorithmFor(signerType);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: integerContent(template.serialNumber),
    signature: signatureAlgorithm,
    issuer: issuerName,
    validity: new Validity({
      notBefore: new Date(template.notBefore * 1000),
      notAfter: new Date(template.notAfter * 1000),
    }),
    subject,
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(
      profileExtensions(template.profile, subject.length === 0).concat([
        extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(spki))),
        extension(
          id_ce_authorityKeyIdentifier,
          false,
          new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyId) }),
        ),
      ]),
    ),
  });
  const tbsDer = serializeDer(tbs);
  const signature = sign(digestFor(signerType), tbsDer, template.issuer.privateKey);
  return serializeDer(
    new Certificate({
      tbsCertificate: tbs,
      signatureAlgorithm,
      signatureValue: toBytes(signature).slice().buffer,
    }),
  );
}

export function profileExtensions(profile: CertificateProfile, emptySubject: boolean) {
  if (profile.kind === 'ca') {
    const extensions = [
      extension(
        id_ce_basicConstraints,
        true,
        new BasicConstraints({
          cA: true,
          ...(profile.pathLength === undefined ? {} : { pathLenConstraint: profile.pathLength }),
        }),
      ),
      extension(
        id_ce_keyUsage,
        true,
        new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign),
      ),
    ];
    if (profile.permittedUriDomain !== undefined)
      extensions.push(
        extension(
          id_ce_nameConstraints,
          true,
          new NameConstraints({
            permittedSubtrees: new GeneralSubtrees([
              new GeneralSubtree({
                base: new GeneralName({ uniformResourceIdentifier: profile.permittedUriDomain }),
              }),
            ]),
          }),
        ),
      );
    return extensions;
  }
  const names = [
    ...profile.uris.map((uri) => new GeneralName({ uniformResourceIdentifier: uri })),
    ...(profile.dnsNames ?? []).map((dns) => new GeneralName({ dNSName: dns })),
    ...(profile.ipAddresses ?? []).map((ip) => {
      if (isIP(ip) === 0) throw new TesseraError('ERR_X509_INVALID', 'not an IP address');
      return new GeneralName({ iPAddress: ip });
    }),
  ];
  return [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
    extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth, id_kp_clientAuth])),
    // RFC 5280 §4.2.1.6: the SAN extension is critical when the subject is empty.
    extension(id_ce_subjectAltName, emptySubject, new SubjectAlternativeName(names)),
  ];
}

export function buildName(subject: CertificateTemplate['subject']): Name {
  const rdns: RelativeDistinguishedName[] = [];
  const add = (type: string, value: string | undefined) => {
    if (value === undefined) return;
    rdns.push(
      new RelativeDistinguishedName([
        new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) }),
      ]),
    );
  };
  add(OID_ORGANIZATION, subject.organization);
  add(OID_COMMON_NAME, subject.commonName);
  return new Name(rdns);
}

export function subjectKeyIdOf(certificate: Certificate): Uint8Array | undefined {
  const extensions: readonly Extension[] = certificate.tbsCertificate.extensions ?? [];
  for (const ext of extensions) {
    if (ext.extnID !== id_ce_subjectKeyIdentifier) continue;
    // The extension value is the DER of an OCTET STRING holding the key id.
    const inner = toBytes(ext.extnValue.buffer);
    return parseDer(inner, OctetStringHolder, 'subject key identifier').value;
  }
  return undefined;
}

class OctetStringHolder extends OctetString {
  get value(): Uint8Array {
    return toBytes(this.buffer);
  }
}

/** DER INTEGER content for an unsigned serial: no redundant leading zeros, positive. */
export function integerContent(serial: Uint8Array): ArrayBuffer {
  let start = 0;
  while (start < serial.length - 1 && serial[start] === 0) start++;
  const bytes = serial.subarray(start);
  if (bytes.length === 0 || bytes.length > 20 || (bytes.length === 1 && bytes[0] === 0))
    throw new TesseraError('ERR_X509_INVALID', 'serial number must be 1 to 20 octets and non-zero');
  const content = new Uint8Array(bytes.length + ((bytes[0] ?? 0) & 0x80 ? 1 : 0));
  content.set(bytes, content.length - bytes.length);
  return content.buffer;
}
