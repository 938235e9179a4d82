import { verify } from 'node:crypto';
import { decodeBase64UrlStrict } from '../encoding/base64url.ts';
import { TesseraError } from '../errors.ts';
import type { KeyResolver } from '../keys/jwks.ts';
import {
  signatureLengthFor,
  userTokenAlgorithmOf,
  verifyArgumentsFor,
  type UserTokenAlgorithm,
} from '../keys/user-algorithms.ts';
import type { UserVerificationKey } from '../keys/user-jwks.ts';
import { FORBIDDEN_HEADER, parseJsonSegment, splitCompact } from './jws.ts';

/**
 * Compact JWS verification for end-user tokens of an external OpenID provider, synchronous on
 * node:crypto like Tessera's own tokens (jws.ts), over the wider algorithm set of
 * {@link UserTokenAlgorithm}. The RFC 8725 rules stay: the algorithm is allowlisted and must fit
 * the key (type, curve, RSA size, and the JWK's own `alg`), the key comes from the provider's set
 * by `kid` only, and header parameters that pick a key or change processing are refused. Other
 * header parameters are ignored, as RFC 7515 §4 says (Entra ID sends `x5t`, some send `cty`).
 */

export interface UserJwsHeader {
  readonly alg: UserTokenAlgorithm;
  readonly kid: string;
  readonly typ?: string;
}

/** A user token whose signature is ready to be checked. */
export interface PreparedUserJws {
  readonly header: UserJwsHeader;
  readonly key: UserVerificationKey;
  readonly signingInput: Buffer;
  readonly signature: Buffer;
  readonly payload: Buffer;
}

function checkUserHeader(
  raw: Record<string, unknown>,
  allowed: ReadonlySet<UserTokenAlgorithm>,
): UserJwsHeader {
  for (const name of Object.keys(raw)) {
    if (FORBIDDEN_HEADER.has(name))
      throw new TesseraError('ERR_TOKEN_HEADER', `"${name}" is forbidden`);
  }
  const alg = userTokenAlgorithmOf(raw.alg);
  if (alg === undefined || !allowed.has(alg)) throw new TesseraError('ERR_TOKEN_ALG');
  const { kid, typ } = raw;
  if (typ !== undefined && typeof typ !== 'string') throw new TesseraError('ERR_TOKEN_TYP');
  if (kid === undefined) throw new TesseraError('ERR_TOKEN_KID_MISSING');
  if (typeof kid !== 'string' || kid === '' || kid.length > 256) {
    throw new TesseraError('ERR_TOKEN_KID_MISSING', '"kid" is not a non-empty string');
  }
  return typeof typ === 'string' ? { alg, kid, typ } : { alg, kid };
}

/**
 * Parses and checks everything but the signature itself, in this order: size, shape, header
 * (forbidden parameters, then `alg` in `allowed`, then `kid`), the key by `kid`, the key's fit
 * for `alg`, the signature's length. An empty signature is `ERR_TOKEN_SIGNATURE`, after the
 * algorithm: an unsigned `alg: none` token is refused for its algorithm.
 */
export function prepareUserJws(
  token: string,
  keys: KeyResolver<UserVerificationKey>,
  options: { readonly maxTokenBytes: number; readonly algorithms: ReadonlySet<UserTokenAlgorithm> },
): PreparedUserJws {
  const [headerSegment, payloadSegment, signatureSegment] = splitCompact(
    token,
    options.maxTokenBytes,
    true,
  );
  const header = checkUserHeader(parseJsonSegment(headerSegment, 'header'), options.algorithms);
  const key = keys.get(header.kid);
  if (key === undefined) throw new TesseraError('ERR_TOKEN_KID_UNKNOWN');
  if (key.alg !== undefined && key.alg !== header.alg)
    throw new TesseraError('ERR_TOKEN_ALG', 'header alg differs from the key alg');
  const length = signatureLengthFor(header.alg, key.key);
  if (length === undefined)
    throw new TesseraError('ERR_TOKEN_ALG', 'the key does not fit the header alg');
  const signature = decodeBase64UrlStrict(signatureSegment, 'ERR_TOKEN_SIGNATURE', 'signature');
  if (signature.length !== length)
    throw new TesseraError('ERR_TOKEN_SIGNATURE', 'wrong signature length');
  const payload = decodeBase64UrlStrict(payloadSegment, 'ERR_TOKEN_MALFORMED', 'payload');
  const signingInput = Buffer.from(
    token.slice(0, headerSegment.length + 1 + payloadSegment.length),
    'latin1',
  );
  return { header, key, signingInput, signature, payload };
}

/** Checks the signature synchronously; throws `ERR_TOKEN_SIGNATURE`. */
export function checkUserSignature(prepared: PreparedUserJws): void {
  const { header, key, signingInput, signature } = prepared;
  const args = verifyArgumentsFor(header.alg, key.key);
  let valid: boolean;
  try {
    valid = verify(args.digest, signingInput, args.key, signature);
  } catch {
    valid = false;
  }
  if (!valid) throw new TesseraError('ERR_TOKEN_SIGNATURE');
}
