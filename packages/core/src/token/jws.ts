import { sign, verify, type KeyObject } from 'node:crypto';
import { decodeBase64UrlStrict, encodeBase64Url } from '../encoding/base64url.ts';
import { TesseraError } from '../errors.ts';
import { signingAlgorithmOf, type SigningAlgorithm } from '../keys/algorithms.ts';
import type { KeyResolver } from '../keys/jwks.ts';
import type { VerificationKey } from '../keys/jwk.ts';

/**
 * Compact JWS (RFC 7515 §7.1) signing and verification for the two algorithms Tessera allows.
 *
 * Written on node:crypto directly rather than jose because jose 6 verifies through WebCrypto,
 * which is asynchronous and measured at 0.36–0.38x of a synchronous `crypto.verify` here; the
 * issue requires ≥ 0.8x (see `npm run bench -- --only core.verify`, which reports jose too).
 * The rules below follow RFC 8725 (JWT BCP) and are checked against Wycheproof's JWS vectors.
 */

/** A token longer than this is refused before any parsing (DoS guard; real tokens are < 1 KB). */
export const DEFAULT_MAX_TOKEN_BYTES = 8192;

/** Header parameters a Tessera token may carry; anything else is refused. */
const ALLOWED_HEADER = new Set(['alg', 'kid', 'typ']);

/**
 * Header parameters that let the token choose its own key or change how it is processed
 * (RFC 8725 §3.10, RFC 7515 §4.1.11, RFC 7797). Listed separately to give them a clear detail.
 */
export const FORBIDDEN_HEADER: ReadonlySet<string> = new Set([
  'jku',
  'x5u',
  'jwk',
  'x5c',
  'crit',
  'b64',
  'zip',
]);

export interface JwsHeader {
  readonly alg: SigningAlgorithm;
  readonly kid: string;
  readonly typ?: string;
}

export interface VerifiedJws {
  readonly header: JwsHeader;
  readonly payload: Buffer;
}

/** ECDSA P-256 signatures in JWS are the 64-byte r‖s form (RFC 7518 §3.4), never DER. */
const ES256_SIGNATURE_BYTES = 64;
const ED25519_SIGNATURE_BYTES = 64;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseJsonSegment(segment: string, what: string): Record<string, unknown> {
  const bytes = decodeBase64UrlStrict(segment, 'ERR_TOKEN_MALFORMED', what);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new TesseraError('ERR_TOKEN_MALFORMED', `${what} is not JSON`);
  }
  if (!isRecord(value))
    throw new TesseraError('ERR_TOKEN_MALFORMED', `${what} is not a JSON object`);
  return value;
}

/**
 * Splits a compact JWS into its three segments, refusing anything else. With `emptySignature`, an
 * empty third segment is let through for the caller to refuse as a bad signature once the header
 * has been checked (so an unsigned `alg: none` token reads as a refused algorithm).
 */
export function splitCompact(
  token: string,
  maxBytes: number,
  emptySignature = false,
): [string, string, string] {
  if (typeof token !== 'string' || token.length === 0)
    throw new TesseraError('ERR_TOKEN_MALFORMED', 'empty');
  if (token.length > maxBytes) throw new TesseraError('ERR_TOKEN_TOO_LARGE');
  const first = token.indexOf('.');
  const second = first === -1 ? -1 : token.indexOf('.', first + 1);
  if (second === -1 || token.includes('.', second + 1)) {
    throw new TesseraError('ERR_TOKEN_MALFORMED', 'not three segments');
  }
  const header = token.slice(0, first);
  const payload = token.slice(first + 1, second);
  const signature = token.slice(second + 1);
  if (header === '' || payload === '' || (signature === '' && !emptySignature)) {
    throw new TesseraError('ERR_TOKEN_MALFORMED', 'empty segment');
  }
  return [header, payload, signature];
}

/** Checks the protected header and returns it typed. */
export function checkHeader(
  raw: Record<string, unknown>,
  expectedTyp: readonly string[] | undefined,
): JwsHeader {
  for (const name of Object.keys(raw)) {
    if (FORBIDDEN_HEADER.has(name))
      throw new TesseraError('ERR_TOKEN_HEADER', `"${name}" is forbidden`);
    if (!ALLOWED_HEADER.has(name))
      throw new TesseraError('ERR_TOKEN_HEADER', 'unknown header parameter');
  }
  const { kid, typ } = raw;
  const alg = signingAlgorithmOf(raw.alg);
  if (alg === undefined) {
    throw new TesseraError('ERR_TOKEN_ALG', 'only ES256 and EdDSA (or Ed25519) are allowed');
  }
  if (expectedTyp !== undefined) {
    // RFC 7515 §4.1.9: media type names are case-insensitive and "application/" may be omitted.
    const normalised =
      typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : undefined;
    if (normalised === undefined || !expectedTyp.includes(normalised)) {
      throw new TesseraError('ERR_TOKEN_TYP');
    }
  } else if (typ !== undefined && typeof typ !== 'string') {
    throw new TesseraError('ERR_TOKEN_TYP');
  }
  if (kid === undefined) throw new TesseraError('ERR_TOKEN_KID_MISSING');
  if (typeof kid !== 'string' || kid === '' || kid.length > 256) {
    throw new TesseraError('ERR_TOKEN_KID_MISSING', '"kid" is not a non-empty string');
  }
  return typeof typ === 'string' ? { alg, kid, typ } : { alg, kid };
}

function signatureLength(alg: SigningAlgorithm): number {
  return alg === 'ES256' ? ES256_SIGNATURE_BYTES : ED25519_SIGNATURE_BYTES;
}

function signatureBytes(segment: string, alg: SigningAlgorithm): Buffer {
  const bytes = decodeBase64UrlStrict(segment, 'ERR_TOKEN_SIGNATURE', 'signature');
  if (bytes.length !== signatureLength(alg))
    throw new TesseraError('ERR_TOKEN_SIGNATURE', 'wrong signature length');
  return bytes;
}

/** The key for this header, refusing one whose algorithm differs from the header's (no alg confusion). */
function keyFor(header: JwsHeader, keys: KeyResolver): VerificationKey {
  const key = keys.get(header.kid);
  if (key === undefined) throw new TesseraError('ERR_TOKEN_KID_UNKNOWN');
  if (key.alg !== header.alg)
    throw new TesseraError('ERR_TOKEN_ALG', 'header alg differs from the key alg');
  return key;
}

/** The parts of a compact JWS whose signature is ready to be checked. */
export interface PreparedJws {
  readonly header: JwsHeader;
  readonly key: VerificationKey;
  readonly signingInput: Buffer;
  readonly signature: Buffer;
  /** Decoded before the signature check so the signing input is known to be pure ASCII. */
  readonly payload: Buffer;
}

/** Parses and checks everything but the signature itself. */
export function prepareCompactJws(
  token: string,
  keys: KeyResolver,
  options: { maxTokenBytes?: number; typ?: readonly string[] } = {},
): PreparedJws {
  const [headerSegment, payloadSegment, signatureSegment] = splitCompact(
    token,
    options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES,
  );
  const header = checkHeader(parseJsonSegment(headerSegment, 'header'), options.typ);
  const key = keyFor(header, keys);
  const signature = signatureBytes(signatureSegment, header.alg);
  const payload = decodeBase64UrlStrict(payloadSegment, 'ERR_TOKEN_MALFORMED', 'payload');
  const signingInput = Buffer.from(
    token.slice(0, headerSegment.length + 1 + payloadSegment.length),
    'latin1',
  );
  return { header, key, signingInput, signature, payload };
}

function digestFor(alg: SigningAlgorithm): string | null {
  return alg === 'ES256' ? 'sha256' : null;
}

/**
 * Verifies a raw JWS signature over `data`. The length is checked first: ES256 and EdDSA
 * signatures are exactly 64 bytes, and OpenSSL would otherwise be handed DER or padded forms.
 * This is the primitive the Wycheproof vectors exercise.
 */
export function verifyRawSignature(
  alg: SigningAlgorithm,
  key: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== signatureLength(alg)) return false;
  try {
    return verify(digestFor(alg), data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** Checks the signature synchronously; throws `ERR_TOKEN_SIGNATURE`. */
export function checkSignature(prepared: PreparedJws): void {
  const { key, signingInput, signature } = prepared;
  if (!verifyRawSignature(key.alg, key.key, signingInput, signature)) {
    throw new TesseraError('ERR_TOKEN_SIGNATURE');
  }
}

/**
 * Checks the signature on libuv's thread pool, so concurrent verifications use every core
 * instead of blocking the event loop.
 */
export function checkSignatureAsync(prepared: PreparedJws): Promise<void> {
  const { key, signingInput, signature } = prepared;
  return new Promise((resolve, reject) => {
    try {
      verify(
        digestFor(key.alg),
        signingInput,
        { key: key.key, dsaEncoding: 'ieee-p1363' },
        signature,
        (error, valid) => {
          if (error !== null || !valid) reject(new TesseraError('ERR_TOKEN_SIGNATURE'));
          else resolve();
        },
      );
    } catch {
      reject(new TesseraError('ERR_TOKEN_SIGNATURE'));
    }
  });
}

/**
 * Verifies a compact JWS against a key set: header rules, `kid` lookup, algorithm match,
 * signature. Returns the header and raw payload bytes; claims are the caller's business.
 */
export function verifyCompactJws(
  token: string,
  keys: KeyResolver,
  options: { maxTokenBytes?: number; typ?: readonly string[] } = {},
): VerifiedJws {
  const prepared = prepareCompactJws(token, keys, options);
  checkSignature(prepared);
  return { header: prepared.header, payload: prepared.payload };
}

/** Parses the JSON object payload of a verified JWS. */
export function parsePayloadObject(payload: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new TesseraError('ERR_TOKEN_MALFORMED', 'payload is not JSON');
  }
  if (!isRecord(value))
    throw new TesseraError('ERR_TOKEN_MALFORMED', 'payload is not a JSON object');
  return value;
}

/** Signs `header.payload` as a compact JWS. */
export function signCompactJws(
  header: Readonly<Record<string, unknown>>,
  payload: object,
  key: { readonly alg: SigningAlgorithm; readonly privateKey: KeyObject },
): string {
  return signWithEncodedHeader(encodeBase64Url(JSON.stringify(header)), payload, key);
}

/** Like {@link signCompactJws} with the header already encoded (minting reuses one per key). */
export function signWithEncodedHeader(
  encodedHeader: string,
  payload: object,
  key: { readonly alg: SigningAlgorithm; readonly privateKey: KeyObject },
): string {
  const signingInput = `${encodedHeader}.${encodeBase64Url(JSON.stringify(payload))}`;
  const signature = sign(digestFor(key.alg), Buffer.from(signingInput, 'latin1'), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${signingInput}.${signature.toString('base64url')}`;
}
