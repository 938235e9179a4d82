import { createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { decodeBase64UrlStrict } from '../encoding/base64url.ts';
import { TesseraError } from '../errors.ts';
import type { SigningAlgorithm } from './algorithms.ts';
import { jwkThumbprint } from './thumbprint.ts';

/** A public key that verifies signatures of exactly one algorithm. */
export interface VerificationKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly key: KeyObject;
}

/** A private signing key with its public half and published JWK. */
export interface SigningKey extends VerificationKey {
  readonly privateKey: KeyObject;
  /** The public JWK as published in a JWKS (`kid`, `alg`, `use: sig`). */
  readonly publicJwk: PublicJwk;
}

/** A public JWK of a type Tessera accepts. */
export interface PublicJwk {
  readonly kty: 'EC' | 'OKP';
  readonly crv: 'P-256' | 'Ed25519';
  readonly x: string;
  readonly y?: string;
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly use: 'sig';
}

/**
 * Members that carry private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1,
 * RFC 8037 §2). A JWKS that leaks any of them is refused outright, so a mis-published private key
 * is noticed instead of silently used.
 */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export const MAX_KID_LENGTH = 256;

/** Generates a new signing key (ES256 by default) whose `kid` is its RFC 7638 thumbprint. */
export function generateSigningKey(alg: SigningAlgorithm = 'ES256'): SigningKey {
  const { privateKey } =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519');
  return signingKeyFromPrivateKey(privateKey, alg);
}

/** Wraps an existing private key (for example one the authority decrypted from its store). */
export function signingKeyFromPrivateKey(privateKey: KeyObject, alg: SigningAlgorithm): SigningKey {
  if (privateKey.type !== 'private') throw new TesseraError('ERR_JWK_INVALID', 'not a private key');
  const publicKey = createPublicKey(privateKey);
  const publicJwk = exportPublicJwk(publicKey, alg);
  return Object.freeze({ kid: publicJwk.kid, alg, key: publicKey, privateKey, publicJwk });
}

/** Exports a public key as a JWK with `kid` = RFC 7638 thumbprint, `alg` and `use: sig`. */
export function exportPublicJwk(publicKey: KeyObject, alg: SigningAlgorithm): PublicJwk {
  assertKeyMatchesAlg(publicKey, alg);
  const raw = publicKey.export({ format: 'jwk' });
  const base =
    alg === 'ES256'
      ? { kty: 'EC' as const, crv: 'P-256' as const, x: String(raw.x), y: String(raw.y) }
      : { kty: 'OKP' as const, crv: 'Ed25519' as const, x: String(raw.x) };
  return Object.freeze({ ...base, kid: jwkThumbprint(base), alg, use: 'sig' as const });
}

function assertKeyMatchesAlg(key: KeyObject, alg: SigningAlgorithm): void {
  const ok =
    alg === 'ES256'
      ? key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
      : key.asymmetricKeyType === 'ed25519';
  if (!ok) throw new TesseraError('ERR_JWK_UNSUPPORTED', `key does not fit ${alg}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function coordinate(jwk: Record<string, unknown>, name: string, bytes: number): string {
  const value = jwk[name];
  if (typeof value !== 'string') throw new TesseraError('ERR_JWK_INVALID', `"${name}" is missing`);
  if (decodeBase64UrlStrict(value, 'ERR_JWK_INVALID', name).length !== bytes) {
    throw new TesseraError('ERR_JWK_INVALID', `"${name}" has the wrong length`);
  }
  return value;
}

/**
 * Imports one public JWK for signature verification. Strict: private members are refused
 * (`ERR_JWK_PRIVATE`), only P-256 (ES256) and Ed25519 (EdDSA) keys are accepted
 * (`ERR_JWK_UNSUPPORTED`), `use` must be `sig` and `key_ops` must allow `verify` when present,
 * an `alg` member must match the key type, and coordinates must be canonical and on the curve.
 * When the JWK has no `kid`, its RFC 7638 thumbprint is used.
 */
export function importPublicJwk(input: unknown): VerificationKey {
  if (!isRecord(input)) throw new TesseraError('ERR_JWK_INVALID', 'not a JSON object');
  for (const member of PRIVATE_MEMBERS) {
    if (member in input) throw new TesseraError('ERR_JWK_PRIVATE', `member "${member}" is present`);
  }
  const { kty, crv } = input;
  let alg: SigningAlgorithm;
  let members: JsonWebKey;
  if (kty === 'EC' && crv === 'P-256') {
    alg = 'ES256';
    members = { kty, crv, x: coordinate(input, 'x', 32), y: coordinate(input, 'y', 32) };
  } else if (kty === 'OKP' && crv === 'Ed25519') {
    alg = 'EdDSA';
    members = { kty, crv, x: coordinate(input, 'x', 32) };
  } else {
    throw new TesseraError(
      'ERR_JWK_UNSUPPORTED',
      'only EC P-256 and OKP Ed25519 keys are accepted',
    );
  }
  const declaredAlg = input.alg;
  // RFC 9864 names Ed25519 as the fully-specified spelling of EdDSA over this curve.
  if (
    declaredAlg !== undefined &&
    declaredAlg !== alg &&
    !(alg === 'EdDSA' && declaredAlg === 'Ed25519')
  ) {
    throw new TesseraError('ERR_JWK_INVALID', '"alg" does not match the key type');
  }
  const use = input.use;
  if (use !== undefined && use !== 'sig')
    throw new TesseraError('ERR_JWK_INVALID', '"use" is not "sig"');
  const keyOps = input.key_ops;
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) {
    throw new TesseraError('ERR_JWK_INVALID', '"key_ops" does not allow "verify"');
  }
  const kidMember = input.kid;
  if (
    kidMember !== undefined &&
    (typeof kidMember !== 'string' || kidMember === '' || kidMember.length > MAX_KID_LENGTH)
  ) {
    throw new TesseraError(
      'ERR_JWK_INVALID',
      '"kid" must be a non-empty string of at most 256 characters',
    );
  }
  let key: KeyObject;
  try {
    // OpenSSL refuses EC points that are not on the curve here.
    key = createPublicKey({ key: members, format: 'jwk' });
  } catch (cause) {
    throw new TesseraError('ERR_JWK_INVALID', 'key material is not a valid public key', { cause });
  }
  const kid = typeof kidMember === 'string' ? kidMember : jwkThumbprint(members);
  return Object.freeze({ kid, alg, key });
}
