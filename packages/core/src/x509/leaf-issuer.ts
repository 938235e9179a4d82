import {
  AuthorityKeyIdentifier,
  Certificate,
  KeyIdentifier,
  id_ce_authorityKeyIdentifier,
} from '@peculiar/asn1-x509';
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { TesseraError } from '../errors.ts';
import {
  digestFor,
  extension,
  keyIdentifier,
  keyTypeOf,
  parseDer,
  serializeDer,
  signatureAlgorithmFor,
} from './asn1.ts';
import { BIT_STRING, concatBytes, derTime, INTEGER, readElement, SEQUENCE, tlv } from './der.ts';
import {
  buildName,
  integerContent,
  profileExtensions,
  subjectKeyIdOf,
  type CertificateTemplate,
} from './issue.ts';

/** One leaf certificate for a {@link LeafIssuer}. */
export interface LeafRequest {
  /** Unsigned big-endian, 1 to 20 octets. */
  readonly serialNumber: Uint8Array;
  /** P-256 or Ed25519 public key (a private key stands for its public half). */
  readonly publicKey: KeyObject;
  /**
   * The same key's SubjectPublicKeyInfo (DER), when the caller has it already (as
   * `parseCertificationRequest` returns it, key type checked): saves exporting it again.
   */
  readonly spki?: Uint8Array;
  /** Seconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly uris: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

/** Issues leaf certificates under one CA; see {@link createLeafIssuer}. */
export interface LeafIssuer {
  issue(request: LeafRequest): Uint8Array;
}

/** [0] EXPLICIT Version v3 (INTEGER 2). */
const VERSION_V3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);
/** OBJECT IDENTIFIER 2.5.29.14 (subjectKeyIdentifier). */
const OID_SUBJECT_KEY_IDENTIFIER = Uint8Array.of(0x06, 0x03, 0x55, 0x1d, 0x0e);
/** Distinct SAN sets remembered (a service's SANs are the same on every renewal). */
const MAX_CACHED_NAME_SETS = 1024;

/**
 * A fast path for {@link issueCertificate}'s leaf profile under one CA: the same DER, byte for
 * byte (a test compares them), with everything that does not change between leaves (issuer name,
 * authority key identifier, algorithm, subject, the fixed extensions, each SAN set) encoded once.
 * Building the schema objects for every certificate cost several times the signature; an
 * authority signing thousands of X.509-SVIDs a second signs them here.
 */
export function createLeafIssuer(
  issuer: CertificateTemplate['issuer'] & { readonly certificate: Uint8Array },
  subject: CertificateTemplate['subject'] = {},
): LeafIssuer {
  const signerType = keyTypeOf(issuer.privateKey);
  if (signerType === undefined)
    throw new TesseraError('ERR_X509_INVALID', 'issuer key must be P-256 or Ed25519');
  const issuerCertificate = parseDer(issuer.certificate, Certificate, 'issuer certificate');
  const issuerName = serializeDer(issuerCertificate.tbsCertificate.subject);
  const authorityKeyId =
    subjectKeyIdOf(issuerCertificate) ??
    keyIdentifier(issuerCertificate.tbsCertificate.subjectPublicKeyInfo);
  const authorityKeyIdExtension = serializeDer(
    extension(
      id_ce_authorityKeyIdentifier,
      false,
      new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyId) }),
    ),
  );
  const signatureAlgorithm = serializeDer(signatureAlgorithmFor(signerType));
  const subjectName = buildName(subject);
  const subjectDer = serializeDer(subjectName);
  const emptySubject = subjectName.length === 0;
  const digest = digestFor(signerType);
  const profiles = new Map<string, Uint8Array>();

  /** basicConstraints, keyUsage, extKeyUsage and the SANs, as `issueCertificate` writes them. */
  const profilePart = (request: LeafRequest): Uint8Array => {
    const key = JSON.stringify([request.uris, request.dnsNames ?? [], request.ipAddresses ?? []]);
    let part = profiles.get(key);
    if (part === undefined) {
      const profile = {
        kind: 'leaf' as const,
        uris: request.uris,
        ...(request.dnsNames !== undefined ? { dnsNames: request.dnsNames } : {}),
        ...(request.ipAddresses !== undefined ? { ipAddresses: request.ipAddresses } : {}),
      };
      part = concatBytes(profileExtensions(profile, emptySubject).map((ext) => serializeDer(ext)));
      if (profiles.size >= MAX_CACHED_NAME_SETS) profiles.clear();
      profiles.set(key, part);
    }
    return part;
  };

  return {
    issue(request) {
      if (!(request.notAfter > request.notBefore))
        throw new TesseraError('ERR_X509_INVALID', 'notAfter must be after notBefore');
      const spki = request.spki ?? leafSpki(request.publicKey);
      const tbs = tlv(
        SEQUENCE,
        VERSION_V3,
        tlv(INTEGER, new Uint8Array(integerContent(request.serialNumber))),
        signatureAlgorithm,
        issuerName,
        tlv(SEQUENCE, derTime(request.notBefore), derTime(request.notAfter)),
        subjectDer,
        spki,
        tlv(
          0xa3,
          tlv(SEQUENCE, profilePart(request), subjectKeyIdExtension(spki), authorityKeyIdExtension),
        ),
      );
      const signature = sign(digest, tbs, issuer.privateKey);
      return tlv(SEQUENCE, tbs, signatureAlgorithm, tlv(BIT_STRING, Uint8Array.of(0), signature));
    },
  };
}

function leafSpki(key: KeyObject): Uint8Array {
  if (keyTypeOf(key) === undefined)
    throw new TesseraError('ERR_X509_INVALID', 'leaf key must be P-256 or Ed25519');
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
}

/** RFC 7093 §2 method 1 over the key's BIT STRING, as `keyIdentifier` computes it. */
function subjectKeyIdExtension(spki: Uint8Array): Uint8Array {
  const outer = readElement(spki, 0);
  const algorithm = outer === undefined ? undefined : readElement(spki, outer.start, outer.end);
  const bits = algorithm === undefined ? undefined : readElement(spki, algorithm.end, outer?.end);
  if (bits?.tag !== BIT_STRING)
    throw new TesseraError('ERR_X509_INVALID', 'public key cannot be read');
  const id = createHash('sha256')
    .update(spki.subarray(bits.start + 1, bits.end))
    .digest()
    .subarray(0, 20);
  return tlv(SEQUENCE, OID_SUBJECT_KEY_IDENTIFIER, tlv(0x04, tlv(0x04, id)));
}
