import { CertificationRequest, CertificationRequestInfo, Attributes } from '@peculiar/asn1-csr';
import { Name } from '@peculiar/asn1-x509';
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { BIT_STRING, INTEGER, readElement, SEQUENCE } from './der.ts';
import { TesseraError } from '../errors.ts';
import {
  digestFor,
  keyTypeOf,
  serializeDer,
  signatureAlgorithmFor,
  spkiOf,
  toBytes,
  type CertificateKeyType,
} from './asn1.ts';
import { pemDecodeAll, pemEncode } from './pem.ts';

const OBJECT_IDENTIFIER = 0x06;
/** 1.2.840.10045.4.3.2 and 1.3.101.112, as OBJECT IDENTIFIER content octets. */
const ECDSA_WITH_SHA256_OID = Uint8Array.of(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02);
const ED25519_OID = Uint8Array.of(0x2b, 0x65, 0x70);
const NULL = Uint8Array.of(0x05, 0x00);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

/**
 * SubjectPublicKeyInfo of an uncompressed P-256 key (RFC 5480 §2): id-ecPublicKey, prime256v1,
 * then a BIT STRING holding 0x04 || X || Y.
 */
const P256_SPKI_PREFIX = Buffer.from(
  '3059301306072a8648ce3d020106082a8648ce3d030107034200' + '04',
  'hex',
);

/**
 * Imports a public key from its SPKI DER. An uncompressed P-256 key goes in as a JWK: OpenSSL then
 * sets the affine coordinates directly (and refuses a point off the curve) instead of running its
 * generic decoder, which took as long as the signature check on the SVID endpoint's hot path.
 */
function importSpki(der: Uint8Array): {
  publicKey: KeyObject;
  keyType: CertificateKeyType | undefined;
} {
  if (der.byteLength === P256_SPKI_PREFIX.byteLength + 64 && startsWith(der, P256_SPKI_PREFIX)) {
    const point = Buffer.from(der.buffer, der.byteOffset + P256_SPKI_PREFIX.byteLength, 64);
    const publicKey = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(0, 32).toString('base64url'),
        y: point.subarray(32).toString('base64url'),
      },
      format: 'jwk',
    });
    return { publicKey, keyType: 'P-256' };
  }
  const publicKey = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  return { publicKey, keyType: keyTypeOf(publicKey) };
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.every((byte, i) => bytes[i] === byte);
}

/** A CSR larger than this is refused before it is parsed; a P-256 CSR is about 250 bytes. */
export const MAX_CSR_PEM_BYTES = 8192;

export interface CertificationRequestKey {
  readonly publicKey: KeyObject;
  readonly keyType: CertificateKeyType;
  /** The key's SubjectPublicKeyInfo (DER) as the CSR carries it, for `LeafRequest.spki`. */
  readonly spki: Uint8Array;
}

/**
 * Creates a PKCS#10 certificate signing request (RFC 2986) for a P-256 or Ed25519 key. The subject
 * is empty and no attributes are requested: the authority decides every field of the certificate.
 */
export function createCertificationRequest(privateKey: KeyObject): string {
  const keyType = keyTypeOf(privateKey);
  if (keyType === undefined) throw new TesseraError('ERR_CSR_KEY', 'key must be P-256 or Ed25519');
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new Name(),
    subjectPKInfo: spkiOf(privateKey),
    attributes: new Attributes(),
  });
  const infoDer = serializeDer(info);
  const signature = sign(digestFor(keyType), infoDer, privateKey);
  const request = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: signatureAlgorithmFor(keyType),
    signature: toBytes(signature).slice().buffer,
  });
  return pemEncode('CERTIFICATE REQUEST', serializeDer(request));
}

/**
 * Reads one PKCS#10 CSR (PEM) and returns its public key after checking its self-signature.
 * The key must be P-256 (signed with ecdsa-with-SHA256) or Ed25519; anything else is
 * `ERR_CSR_KEY`. A malformed request or a signature that does not verify is `ERR_CSR_INVALID`.
 * Subject, SANs and attributes are not read: a certificate's identity never comes from its CSR.
 */
export function parseCertificationRequest(pem: string): CertificationRequestKey {
  if (typeof pem !== 'string' || pem.length > MAX_CSR_PEM_BYTES)
    throw new TesseraError('ERR_CSR_INVALID', 'CSR is missing or too large');
  let blocks: Uint8Array[];
  try {
    blocks = pemDecodeAll(pem, 'CERTIFICATE REQUEST');
  } catch {
    throw new TesseraError('ERR_CSR_INVALID', 'no CERTIFICATE REQUEST block');
  }
  const [block] = blocks;
  if (blocks.length !== 1 || block === undefined)
    throw new TesseraError('ERR_CSR_INVALID', 'more than one CSR');
  // Walked with the strict DER reader rather than the schema: parsing a CSR into schema objects
  // cost several times its signature check, on the path of every SVID issuance.
  const invalid = (detail: string) => new TesseraError('ERR_CSR_INVALID', detail);
  const outer = readElement(block, 0);
  if (outer?.tag !== SEQUENCE || outer.end !== block.byteLength)
    throw invalid('CSR is not valid DER');
  const info = readElement(block, outer.start, outer.end);
  const algorithm = info && readElement(block, info.end, outer.end);
  const signature = algorithm && readElement(block, algorithm.end, outer.end);
  if (
    info?.tag !== SEQUENCE ||
    algorithm?.tag !== SEQUENCE ||
    signature?.tag !== BIT_STRING ||
    signature.end !== outer.end
  )
    throw invalid('CSR is not valid DER');
  const version = readElement(block, info.start, info.end);
  const subject = version && readElement(block, version.end, info.end);
  const spki = subject && readElement(block, subject.end, info.end);
  const attributes = spki && readElement(block, spki.end, info.end);
  if (
    version?.tag !== INTEGER ||
    subject?.tag !== SEQUENCE ||
    spki?.tag !== SEQUENCE ||
    attributes?.tag !== 0xa0 ||
    attributes.end !== info.end
  )
    throw invalid('CSR is not valid DER');
  if (version.end - version.start !== 1 || block[version.start] !== 0)
    throw invalid('CSR version is not 1');
  const spkiDer = block.subarray(subject.end, spki.end);
  let publicKey: KeyObject;
  let keyType: CertificateKeyType | undefined;
  try {
    ({ publicKey, keyType } = importSpki(spkiDer));
  } catch {
    throw new TesseraError('ERR_CSR_KEY', 'CSR public key cannot be read');
  }
  if (keyType === undefined) throw new TesseraError('ERR_CSR_KEY', 'key must be P-256 or Ed25519');
  const oid = readElement(block, algorithm.start, algorithm.end);
  const expected = keyType === 'P-256' ? ECDSA_WITH_SHA256_OID : ED25519_OID;
  const parameters = block.subarray(oid?.end ?? algorithm.start, algorithm.end);
  if (
    oid?.tag !== OBJECT_IDENTIFIER ||
    !sameBytes(block.subarray(oid.start, oid.end), expected) ||
    // RFC 8410 §3: Ed25519 has no parameters; RFC 5758 §3.2: nor has ecdsa-with-SHA256 (a NULL
    // written by old encoders is tolerated).
    !(parameters.byteLength === 0 || (keyType === 'P-256' && sameBytes(parameters, NULL)))
  )
    throw invalid('CSR signature algorithm does not match its key');
  if (signature.end - signature.start < 2 || block[signature.start] !== 0)
    throw invalid('CSR signature is not a whole number of octets');
  let valid = false;
  try {
    valid = verify(
      digestFor(keyType),
      block.subarray(outer.start, info.end),
      publicKey,
      block.subarray(signature.start + 1, signature.end),
    );
  } catch {
    valid = false;
  }
  if (!valid) throw invalid('CSR signature does not verify');
  return { publicKey, keyType, spki: block.slice(subject.end, spki.end) };
}
