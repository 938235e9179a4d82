import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { TesseraError } from '../errors.ts';

/** The signature algorithms Tessera writes and accepts in certificates and CSRs. */
export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
export const OID_ED25519 = '1.3.101.112';

export function toBytes(buffer: ArrayBuffer | ArrayBufferView): Uint8Array {
  return buffer instanceof ArrayBuffer
    ? new Uint8Array(buffer)
    : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * Parses DER into an ASN.1 schema class, refusing trailing bytes: the schema parser stops at the
 * end of the first element, so without this check `cert || junk` would be read as `cert`.
 */
export function parseDer<T>(der: Uint8Array, schema: new () => T, what: string): T {
  let value: T;
  try {
    value = AsnConvert.parse(der, schema);
  } catch {
    throw new TesseraError('ERR_X509_INVALID', `${what} is not valid DER`);
  }
  if (outerLength(der) !== der.byteLength)
    throw new TesseraError('ERR_X509_INVALID', `${what} has trailing bytes`);
  return value;
}

/** The length of the outermost DER element (tag, length and content), or -1 when unreadable. */
function outerLength(der: Uint8Array): number {
  if (der.byteLength < 2) return -1;
  const first = der[1] ?? 0;
  if (first < 0x80) return 2 + first;
  const octets = first & 0x7f;
  if (octets === 0 || octets > 4 || der.byteLength < 2 + octets) return -1;
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + (der[2 + i] ?? 0);
  return 2 + octets + length;
}

export function serializeDer(value: unknown): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(value));
}

export function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({
    extnID,
    critical,
    extnValue: new OctetString(AsnConvert.serialize(value)),
  });
}

/** The key types a workload or CA key may have: ECDSA P-256 or Ed25519. */
export type CertificateKeyType = 'P-256' | 'Ed25519';

export function keyTypeOf(key: KeyObject): CertificateKeyType | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'Ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'P-256';
  return undefined;
}

export function signatureAlgorithmFor(type: CertificateKeyType): AlgorithmIdentifier {
  return new AlgorithmIdentifier({
    algorithm: type === 'P-256' ? OID_ECDSA_WITH_SHA256 : OID_ED25519,
  });
}

/** `crypto.sign`'s digest argument for a key type (Ed25519 hashes internally). */
export function digestFor(type: CertificateKeyType): string | null {
  return type === 'P-256' ? 'sha256' : null;
}

/** The SubjectPublicKeyInfo of a key; a private key stands for its public half. */
export function spkiOf(key: KeyObject): SubjectPublicKeyInfo {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = toBytes(publicKey.export({ type: 'spki', format: 'der' }));
  return AsnConvert.parse(der, SubjectPublicKeyInfo);
}

export function publicKeyFromSpki(spki: SubjectPublicKeyInfo): KeyObject {
  try {
    return createPublicKey({
      key: Buffer.from(AsnConvert.serialize(spki)),
      format: 'der',
      type: 'spki',
    });
  } catch {
    throw new TesseraError('ERR_X509_INVALID', 'public key cannot be read');
  }
}

/** RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256 of the subjectPublicKey bits. */
export function keyIdentifier(spki: SubjectPublicKeyInfo): Uint8Array {
  const digest = createHash('sha256').update(toBytes(spki.subjectPublicKey)).digest();
  return new Uint8Array(digest.subarray(0, 20));
}
