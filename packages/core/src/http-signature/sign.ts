import { randomBytes } from 'node:crypto';
import { serializeItem } from 'structured-headers';
import type { Clock } from '../clock.ts';
import { TesseraError } from '../errors.ts';
import { assertKeyFitsAlgorithm, signBytes, type SignatureKey } from './algorithms.ts';
import {
  createSignatureBase,
  serializeSignatureParameters,
  type SignatureParameterName,
  type SignatureParameters,
} from './base.ts';
import { componentProblem, type SignableRequest } from './components.ts';

export interface SignRequestOptions {
  /** The signature's label in both fields. Default `sig1`. */
  readonly label?: string;
  /** The signing key; its `keyid` goes into the `keyid` parameter. */
  readonly key: SignatureKey;
  /** Component identifiers to cover, in order: `@method`, `@path`, `content-digest`, … */
  readonly components: readonly string[];
  /** Source of `created`. */
  readonly clock: Clock;
  /** Adds `expires` = `created` + this many seconds (a positive integer). */
  readonly expiresIn?: number;
  /** Adds a `nonce` for replay detection; see {@link generateNonce}. */
  readonly nonce?: string;
  /** Adds `alg`. Off by default: the verifier takes the algorithm from its key, not the message. */
  readonly includeAlg?: boolean;
}

/**
 * The two fields to add to the request: lower-case names, values ready to send. A `Record`, so
 * it can be passed wherever header maps are.
 */
export type SignatureFields = Readonly<Record<'signature-input' | 'signature', string>>;

const LABEL = /^[a-z*][a-z0-9_\-.*]*$/;
const SF_STRING_CONTENT = /^[\x20-\x7e]+$/;

function invalid(reason: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', reason);
}

/** 128 random bits as base64url: enough that nonces of honest signers never collide. */
export function generateNonce(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Signs `request` per RFC 9421 §3.1 and returns the `Signature-Input` and `Signature` member for
 * `label`. When the request already carries signatures, append these values to its fields
 * (`, `-separated) rather than replacing them.
 *
 * Throws `ERR_CONFIG_INVALID` for bad options (unknown or repeated components, a covered field
 * the request lacks, a key that does not fit its algorithm) and `ERR_SIG_MALFORMED` for a
 * request that cannot be signed (target URI or field values outside visible ASCII).
 *
 * @example
 * ```ts
 * const fields = signRequest(
 *   { method: 'POST', url: 'https://billing.internal/invoices', headers: { 'content-digest': digest } },
 *   { key, clock, components: ['@method', '@authority', '@path', '@query', 'content-digest'], nonce: generateNonce(), expiresIn: 10 },
 * );
 * headers['signature-input'] = fields['signature-input'];
 * headers.signature = fields.signature;
 * ```
 */
export function signRequest(
  request: SignableRequest,
  options: SignRequestOptions,
): SignatureFields {
  const label = options.label ?? 'sig1';
  if (typeof label !== 'string' || !LABEL.test(label)) {
    throw invalid('label is not a structured-field key');
  }
  const { key } = options;
  if (
    typeof key !== 'object' ||
    typeof key.keyid !== 'string' ||
    !SF_STRING_CONTENT.test(key.keyid)
  ) {
    throw invalid('keyid must be a non-empty visible ASCII string');
  }
  assertKeyFitsAlgorithm(key, 'sign');
  const listed: unknown = options.components;
  if (!Array.isArray(listed)) throw invalid('components must be an array');
  const components: string[] = [];
  for (const name of listed as unknown[]) {
    if (typeof name !== 'string') throw invalid('component is not a string');
    const problem = componentProblem(name);
    if (problem !== undefined) throw invalid(problem);
    if (components.includes(name)) throw invalid(`component "${name}" is listed twice`);
    components.push(name);
  }
  const nowMs = options.clock.now();
  if (!Number.isFinite(nowMs) || nowMs < 0) throw invalid('clock returned an invalid time');
  const created = Math.floor(nowMs / 1000);

  const params = new Map<SignatureParameterName, number | string>([['created', created]]);
  if (options.expiresIn !== undefined) {
    if (!Number.isSafeInteger(options.expiresIn) || options.expiresIn <= 0) {
      throw invalid('expiresIn must be a positive integer of seconds');
    }
    params.set('expires', created + options.expiresIn);
  }
  params.set('keyid', key.keyid);
  if (options.nonce !== undefined) {
    if (typeof options.nonce !== 'string' || !SF_STRING_CONTENT.test(options.nonce)) {
      throw invalid('nonce must be a non-empty visible ASCII string');
    }
    params.set('nonce', options.nonce);
  }
  if (options.includeAlg === true) params.set('alg', key.alg);

  const parameters: SignatureParameters = { components, params };
  const base = createSignatureBase(request, parameters, 'ERR_SIG_MALFORMED', 'ERR_CONFIG_INVALID');
  const signature = signBytes(key.alg, key.key, base);
  return Object.freeze({
    'signature-input': `${label}=${serializeSignatureParameters(parameters)}`,
    signature: `${label}=${serializeItem(signature)}`,
  });
}
