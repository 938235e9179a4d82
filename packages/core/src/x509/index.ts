export { pemEncode, pemDecodeAll } from './pem.ts';
export { type CertificateKeyType } from './asn1.ts';
export { issueCertificate, type CertificateTemplate, type CertificateProfile } from './issue.ts';
export {
  createCertificationRequest,
  parseCertificationRequest,
  type CertificationRequestKey,
  MAX_CSR_PEM_BYTES,
} from './csr.ts';
export { parseX509Svid, certificateThumbprint, type X509SvidInfo } from './svid.ts';
export {
  issueCertificateRevocationList,
  type RevocationListTemplate,
  type RevokedSerial,
} from './crl.ts';
export { expectPeerSpiffeId } from './peer-id.ts';
export { createLeafIssuer, type LeafIssuer, type LeafRequest } from './leaf-issuer.ts';
