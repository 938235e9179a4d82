import { CertificationRequest, CertificationRequestInfo, Attributes } from '@peculiar/asn1-csr';
import { Name } from '@peculiar/asn1-x509';
import { sign, verify, type KeyObject } from 'node:crypto';
import { TesseraError } from '../errors.ts';
import {
  OID_ECDSA_WITH_SHA256,
  OID_ED25519,
  digestFor,
  keyTypeOf,
  parseDer,
  publicKeyFromSpki,
  serializeDer,
  signatureAlgorithmFor,
  spkiOf,
  toBytes,
  type CertificateKeyType,
} from './asn1.ts';
import { pemDecodeAll, pemEncode } from './pem.ts';

/** A CSR larger than this is refused before it is parsed; a P-256 CSR is about 250 bytes. */
export const MAX_CSR_PEM_BYTES = 8192;

export interface CertificationRequestKey {
  readonly publicKey: KeyObject;
  readonly keyType: CertificateKeyType;
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
  let request: CertificationRequest;
  try {
    request = parseDer(block, CertificationRequest, 'CSR');
  } catch {
    throw new TesseraError('ERR_CSR_INVALID', 'CSR is not valid DER');
  }
  if (request.certificationRequestInfo.version !== 0)
    throw new TesseraError('ERR_CSR_INVALID', 'CSR version is not 1');
  let publicKey: KeyObject;
  try {
    publicKey = publicKeyFromSpki(request.certificationRequestInfo.subjectPKInfo);
  } catch {
    throw new TesseraError('ERR_CSR_KEY', 'CSR public key cannot be read');
  }
  const keyType = keyTypeOf(publicKey);
  if (keyType === undefined) throw new TesseraError('ERR_CSR_KEY', 'key must be P-256 or Ed25519');
  const expected = keyType === 'P-256' ? OID_ECDSA_WITH_SHA256 : OID_ED25519;
  const algorithm = request.signatureAlgorithm;
  if (algorithm.algorithm !== expected || (keyType === 'Ed25519' && algorithm.parameters))
    throw new TesseraError('ERR_CSR_INVALID', 'CSR signature algorithm does not match its key');
  const signed = request.certificationRequestInfoRaw;
  if (signed === undefined) throw new TesseraError('ERR_CSR_INVALID', 'CSR body is missing');
  let valid = false;
  try {
    valid = verify(digestFor(keyType), toBytes(signed), publicKey, toBytes(request.signature));
  } catch {
    valid = false;
  }
  if (!valid) throw new TesseraError('ERR_CSR_INVALID', 'CSR signature does not verify');
  return { publicKey, keyType };
}
