import type { Clock } from '../clock.ts';
import { TesseraError, isTesseraError } from '../errors.ts';
import {
  SIGNATURE_ALGORITHMS,
  assertKeyFitsAlgorithm,
  isSignatureAlgorithm,
  signatureLength,
  verifyBytes,
  type SignatureAlgorithm,
  type SignatureKey,
} from './algorithms.ts';
import { createSignatureBase, type SignatureParameterName } from './base.ts';
import { componentProblem, fieldValue, type SignableRequest } from './components.ts';
import type { ReplayCache } from './replay-cache.ts';
import { parseDictionaryField, type InnerList, type Item } from './structured-field.ts';

export interface VerifyRequestSignatureOptions {
  /**
   * Resolves a `keyid` to its key, or `undefined` when unknown. The key fixes the algorithm.
   * A resolver that throws is reported as `ERR_SIG_KEY_UNKNOWN` with the error as `cause`.
   */
  readonly keys: (keyid: string) => SignatureKey | undefined | Promise<SignatureKey | undefined>;
  readonly clock: Clock;
  /**
   * The label of the signature to verify; other signatures in the fields are ignored. Without
   * it the fields must hold exactly one signature.
   */
  readonly label?: string;
  /**
   * Components the signature must cover. Default `@method`, `@authority`, `@path`, `@query`,
   * plus `content-digest` when the request has a body (`content-digest`, `transfer-encoding`
   * or a non-zero `content-length`), so a signature cannot be moved to another body.
   */
  readonly requiredComponents?: readonly string[];
  /** Tolerated clock difference with signers, in seconds: 0 to 30, default 10. */
  readonly maxSkewSeconds?: number;
  /** How long after `created` (beyond the skew) a signature is still accepted: 0 to 300 s, default 0. */
  readonly maxAgeSeconds?: number;
  /** Refuse signatures without `created`. Default true: without it, age cannot be checked. */
  readonly requireCreated?: boolean;
  /** Refuse signatures without `nonce`. Default: true when `replayCache` is set. */
  readonly requireNonce?: boolean;
  /** Where `(keyid, nonce)` pairs are remembered; a second use fails with `ERR_SIG_REPLAY`. */
  readonly replayCache?: ReplayCache;
  /** Algorithms keys may use. Default: all of {@link SIGNATURE_ALGORITHMS}. */
  readonly allowedAlgorithms?: readonly SignatureAlgorithm[];
}

/** A signature that verified: what it covers and who signed it. */
export interface VerifiedSignature {
  readonly label: string;
  readonly keyid: string;
  /** The key's algorithm (never taken from the message). */
  readonly alg: SignatureAlgorithm;
  /** The covered components, in signed order. */
  readonly components: readonly string[];
  /** Epoch seconds; absent only when `requireCreated` is false. */
  readonly created?: number;
  readonly expires?: number;
  readonly nonce?: string;
}

/** Verifies one request; rejects only with `TesseraError`. */
export type RequestSignatureVerifier = (request: SignableRequest) => Promise<VerifiedSignature>;

const DEFAULT_REQUIRED: readonly string[] = Object.freeze([
  '@method',
  '@authority',
  '@path',
  '@query',
]);
const DEFAULT_SKEW_SECONDS = 10;
const MAX_SKEW_SECONDS = 30;
const MAX_AGE_SECONDS = 300;
// Far above any honest Signature-Input/Signature; caps parsing work per request.
const MAX_FIELD_LENGTH = 8192;
const MAX_COMPONENTS = 64;
const LABEL = /^[a-z*][a-z0-9_\-.*]*$/;

interface Config {
  readonly keys: VerifyRequestSignatureOptions['keys'];
  readonly clock: Clock;
  readonly label: string | undefined;
  readonly requiredComponents: readonly string[] | undefined;
  readonly skewMs: number;
  readonly maxAgeMs: number;
  readonly requireCreated: boolean;
  readonly requireNonce: boolean;
  readonly replayCache: ReplayCache | undefined;
  readonly allowedAlgorithms: readonly SignatureAlgorithm[];
}

function invalidConfig(reason: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', reason);
}

function parseConfig(options: VerifyRequestSignatureOptions): Config {
  const o = options as Partial<Record<keyof VerifyRequestSignatureOptions, unknown>>;
  if (typeof o.keys !== 'function') throw invalidConfig('keys must be a function');
  if (typeof (o.clock as Clock | undefined)?.now !== 'function') {
    throw invalidConfig('clock is required');
  }
  if (o.label !== undefined && (typeof o.label !== 'string' || !LABEL.test(o.label))) {
    throw invalidConfig('label is not a structured-field key');
  }
  if (o.requiredComponents !== undefined) {
    if (!Array.isArray(o.requiredComponents) || o.requiredComponents.length === 0) {
      // A signature that must cover nothing could be lifted onto any request.
      throw invalidConfig('requiredComponents must be a non-empty array');
    }
    for (const name of o.requiredComponents as unknown[]) {
      const problem =
        typeof name === 'string' ? componentProblem(name) : 'component is not a string';
      if (problem !== undefined) throw invalidConfig(`requiredComponents: ${problem}`);
    }
  }
  const skew = o.maxSkewSeconds ?? DEFAULT_SKEW_SECONDS;
  if (typeof skew !== 'number' || !(skew >= 0 && skew <= MAX_SKEW_SECONDS)) {
    throw invalidConfig(`maxSkewSeconds must be between 0 and ${MAX_SKEW_SECONDS}`);
  }
  const maxAge = o.maxAgeSeconds ?? 0;
  if (typeof maxAge !== 'number' || !(maxAge >= 0 && maxAge <= MAX_AGE_SECONDS)) {
    throw invalidConfig(`maxAgeSeconds must be between 0 and ${MAX_AGE_SECONDS}`);
  }
  const requireCreated = o.requireCreated ?? true;
  if (typeof requireCreated !== 'boolean') throw invalidConfig('requireCreated must be a boolean');
  const replayCache = o.replayCache as ReplayCache | undefined;
  if (
    replayCache !== undefined &&
    typeof (replayCache as Partial<ReplayCache>).useOnce !== 'function'
  ) {
    throw invalidConfig('replayCache must implement useOnce');
  }
  const requireNonce = o.requireNonce ?? replayCache !== undefined;
  if (typeof requireNonce !== 'boolean') throw invalidConfig('requireNonce must be a boolean');
  // A nonce nobody remembers stops no replay; refuse the configuration rather than pretend.
  if (requireNonce && replayCache === undefined) {
    throw invalidConfig('requireNonce needs a replayCache');
  }
  const allowed = o.allowedAlgorithms ?? SIGNATURE_ALGORITHMS;
  if (!Array.isArray(allowed) || allowed.length === 0 || !allowed.every(isSignatureAlgorithm)) {
    throw invalidConfig('allowedAlgorithms must be a non-empty list of supported algorithms');
  }
  return Object.freeze({
    keys: o.keys as Config['keys'],
    clock: o.clock as Clock,
    label: o.label,
    requiredComponents:
      o.requiredComponents === undefined
        ? undefined
        : Object.freeze([...(o.requiredComponents as string[])]),
    skewMs: skew * 1000,
    maxAgeMs: maxAge * 1000,
    requireCreated,
    requireNonce,
    replayCache,
    allowedAlgorithms: Object.freeze([...allowed]),
  });
}

/**
 * Quotes a value taken from the request for an error detail, cut short: details go to logs,
 * and a field may carry kilobytes of attacker-chosen text.
 */
function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

function malformed(reason: string): TesseraError {
  return new TesseraError('ERR_SIG_MALFORMED', reason);
}

function readField(request: SignableRequest, name: string): string | undefined {
  const value = fieldValue(request.headers, name, 'ERR_SIG_MALFORMED');
  if (value === undefined || value === '') return undefined;
  if (value.length > MAX_FIELD_LENGTH) throw malformed(`${name} field is too long`);
  return value;
}

function selectSignature(
  request: SignableRequest,
  wantedLabel: string | undefined,
): { label: string; input: Item | InnerList; signature: Item | InnerList } {
  const inputField = readField(request, 'signature-input');
  const signatureField = readField(request, 'signature');
  if (inputField === undefined && signatureField === undefined) {
    throw new TesseraError('ERR_SIG_MISSING', 'no Signature-Input or Signature field');
  }
  if (inputField === undefined) {
    throw new TesseraError('ERR_SIG_MISSING', 'no Signature-Input field');
  }
  if (signatureField === undefined) throw new TesseraError('ERR_SIG_MISSING', 'no Signature field');
  const inputs = parseDictionaryField(inputField, 'ERR_SIG_MALFORMED', 'Signature-Input');
  const signatures = parseDictionaryField(signatureField, 'ERR_SIG_MALFORMED', 'Signature');
  let label = wantedLabel;
  if (label === undefined) {
    if (inputs.size !== 1 || signatures.size !== 1) {
      throw malformed('expected exactly one signature; configure a label to choose one');
    }
    label = [...inputs.keys()][0] ?? '';
  }
  const input = inputs.get(label);
  const signature = signatures.get(label);
  if (input === undefined && signature === undefined) {
    throw new TesseraError('ERR_SIG_MISSING', `no signature labelled ${quote(label)}`);
  }
  if (input === undefined || signature === undefined) {
    throw malformed(`label ${quote(label)} is not in both Signature-Input and Signature`);
  }
  return { label, input, signature };
}

interface ParsedInput {
  readonly components: readonly string[];
  readonly params: ReadonlyMap<SignatureParameterName, number | string>;
  readonly created: number | undefined;
  readonly expires: number | undefined;
  readonly nonce: string | undefined;
  readonly keyid: string | undefined;
  readonly alg: string | undefined;
}

// RFC 9421 §2 and §2.3: what a Signature-Input member may hold, checked item by item.
function parseSignatureInput(member: Item | InnerList): ParsedInput {
  if (member.kind !== 'inner-list') throw malformed('Signature-Input member is not an inner list');
  if (member.items.length > MAX_COMPONENTS) throw malformed('too many covered components');
  const components: string[] = [];
  for (const item of member.items) {
    if (item.value.type !== 'string') throw malformed('component identifier is not a string');
    const name = item.value.value;
    // §2.1: sf, key, bs, req, tr and name change what a component means; none is supported.
    if (item.params.size > 0) {
      throw malformed(`component ${quote(name)} has parameters; none are supported`);
    }
    const problem = componentProblem(name);
    if (problem !== undefined) throw malformed(problem);
    // §2: a repeated component would be signed twice and could be read differently each time.
    if (components.includes(name)) throw malformed(`component ${quote(name)} is listed twice`);
    components.push(name);
  }
  const params = new Map<SignatureParameterName, number | string>();
  const result: { -readonly [K in keyof ParsedInput]: ParsedInput[K] } = {
    components,
    params,
    created: undefined,
    expires: undefined,
    nonce: undefined,
    keyid: undefined,
    alg: undefined,
  };
  for (const [name, value] of member.params) {
    switch (name) {
      case 'created':
      case 'expires':
        if (value.type !== 'integer' || value.value < 0) {
          throw malformed(`${name} is not a non-negative integer`);
        }
        result[name] = value.value;
        params.set(name, value.value);
        break;
      case 'nonce':
      case 'keyid':
      case 'alg':
        if (value.type !== 'string' || value.value === '') {
          throw malformed(`${name} is not a non-empty string`);
        }
        result[name] = value.value;
        params.set(name, value.value);
        break;
      default:
        throw malformed('unsupported signature parameter');
    }
  }
  return result;
}

function hasBody(request: SignableRequest): boolean {
  const length = fieldValue(request.headers, 'content-length', 'ERR_SIG_MALFORMED');
  return (
    fieldValue(request.headers, 'content-digest', 'ERR_SIG_MALFORMED') !== undefined ||
    fieldValue(request.headers, 'transfer-encoding', 'ERR_SIG_MALFORMED') !== undefined ||
    (length !== undefined && length !== '0')
  );
}

async function resolveKey(config: Config, keyid: string): Promise<SignatureKey> {
  let key: SignatureKey | undefined;
  try {
    key = await config.keys(keyid);
  } catch (error) {
    if (isTesseraError(error)) throw error;
    throw new TesseraError('ERR_SIG_KEY_UNKNOWN', 'key lookup failed', { cause: error });
  }
  if (key === undefined) throw new TesseraError('ERR_SIG_KEY_UNKNOWN', `no key ${quote(keyid)}`);
  if (key.keyid !== keyid) {
    throw invalidConfig(`key lookup for ${quote(keyid)} returned key ${quote(key.keyid)}`);
  }
  assertKeyFitsAlgorithm(key, 'verify');
  return key;
}

async function rememberNonce(
  cache: ReplayCache,
  keyid: string,
  nonce: string,
  untilMs: number,
): Promise<void> {
  // JSON keeps the pair unambiguous: no (keyid, nonce) split can collide with another.
  const key = JSON.stringify([keyid, nonce]);
  let firstUse: boolean;
  try {
    firstUse = await cache.useOnce(key, untilMs);
  } catch (error) {
    if (isTesseraError(error)) throw error;
    // Fail closed: if the cache cannot answer, the nonce may have been seen.
    throw new TesseraError('ERR_SIG_REPLAY', 'replay cache failed', { cause: error });
  }
  if (!firstUse) {
    throw new TesseraError('ERR_SIG_REPLAY', `nonce already used with key ${quote(keyid)}`);
  }
}

async function verifyWithConfig(
  config: Config,
  request: SignableRequest,
): Promise<VerifiedSignature> {
  const shape: unknown = request;
  if (
    typeof shape !== 'object' ||
    shape === null ||
    !('headers' in shape) ||
    typeof shape.headers !== 'object' ||
    shape.headers === null
  ) {
    throw malformed('request has no headers');
  }
  const { label, input, signature } = selectSignature(request, config.label);
  const parsed = parseSignatureInput(input);
  if (signature.kind !== 'item' || signature.value.type !== 'bytes' || signature.params.size > 0) {
    throw malformed('Signature member is not a byte sequence');
  }

  // Policy checks that need no key come first, so a non-compliant signature costs no crypto.
  if (parsed.keyid === undefined) {
    throw new TesseraError('ERR_SIG_KEY_UNKNOWN', 'signature has no keyid');
  }
  if (parsed.created === undefined && config.requireCreated) {
    throw malformed('signature has no created');
  }
  if (parsed.nonce === undefined && config.requireNonce) {
    throw new TesseraError('ERR_SIG_NONCE_MISSING');
  }
  if (
    parsed.created !== undefined &&
    parsed.expires !== undefined &&
    parsed.expires < parsed.created
  ) {
    throw malformed('expires is before created');
  }
  if (parsed.alg !== undefined && !isSignatureAlgorithm(parsed.alg)) {
    throw new TesseraError('ERR_SIG_ALG', 'alg is not a supported algorithm');
  }
  const required = config.requiredComponents ?? [
    ...DEFAULT_REQUIRED,
    ...(hasBody(request) ? ['content-digest'] : []),
  ];
  for (const name of required) {
    if (!parsed.components.includes(name)) {
      throw new TesseraError('ERR_SIG_COMPONENTS', `"${name}" is not covered`);
    }
  }

  const key = await resolveKey(config, parsed.keyid);
  // The key decides the algorithm; a differing alg parameter is an attempt to choose another.
  if (parsed.alg !== undefined && parsed.alg !== key.alg) {
    throw new TesseraError('ERR_SIG_ALG', 'alg does not match the key');
  }
  if (!config.allowedAlgorithms.includes(key.alg)) {
    throw new TesseraError('ERR_SIG_ALG', `${key.alg} is not allowed`);
  }
  const signatureBytes = signature.value.value;
  if (signatureBytes.length !== signatureLength(key.alg)) {
    throw malformed(`signature length is wrong for ${key.alg}`);
  }
  const base = createSignatureBase(request, parsed, 'ERR_SIG_MALFORMED', 'ERR_SIG_INVALID');
  if (!verifyBytes(key.alg, key.key, base, signatureBytes)) {
    throw new TesseraError('ERR_SIG_INVALID');
  }

  // Time is judged only for authentic signatures, so the codes below describe a real signer.
  const nowMs = config.clock.now();
  let acceptableUntilMs = Infinity;
  if (parsed.created !== undefined) {
    const createdMs = parsed.created * 1000;
    if (createdMs > nowMs + config.skewMs) throw new TesseraError('ERR_SIG_CREATED_IN_FUTURE');
    acceptableUntilMs = createdMs + config.skewMs + config.maxAgeMs;
  }
  if (parsed.expires !== undefined) {
    // The skew applies here too: a verifier clock running ahead must not cut honest signatures short.
    acceptableUntilMs = Math.min(acceptableUntilMs, parsed.expires * 1000 + config.skewMs);
  }
  if (nowMs > acceptableUntilMs) throw new TesseraError('ERR_SIG_EXPIRED');

  if (parsed.nonce !== undefined && config.replayCache !== undefined) {
    // Without created or expires the signature never stops being acceptable, so neither can
    // its nonce be forgotten: refuse rather than fill the cache forever.
    if (acceptableUntilMs === Infinity) {
      throw malformed('a nonce needs created or expires to be tracked');
    }
    // The signature is accepted up to and including acceptableUntilMs; the cache key expires after.
    await rememberNonce(config.replayCache, parsed.keyid, parsed.nonce, acceptableUntilMs + 1);
  }

  return Object.freeze({
    label,
    keyid: parsed.keyid,
    alg: key.alg,
    components: Object.freeze([...parsed.components]),
    ...(parsed.created === undefined ? {} : { created: parsed.created }),
    ...(parsed.expires === undefined ? {} : { expires: parsed.expires }),
    ...(parsed.nonce === undefined ? {} : { nonce: parsed.nonce }),
  });
}

/**
 * Validates `options` once (throwing `ERR_CONFIG_INVALID`) and returns a verifier for RFC 9421
 * request signatures. The verifier rejects only with `TesseraError`:
 *
 * - `ERR_SIG_MISSING`: no signature (or none with the configured label);
 * - `ERR_SIG_MALFORMED`: unparsable fields, unknown or repeated components, unsupported
 *   parameters, wrong signature length, values that cannot be signed;
 * - `ERR_SIG_KEY_UNKNOWN`, `ERR_SIG_ALG`, `ERR_SIG_COMPONENTS`, `ERR_SIG_NONCE_MISSING`;
 * - `ERR_SIG_INVALID`: the signature does not match;
 * - `ERR_SIG_CREATED_IN_FUTURE`, `ERR_SIG_EXPIRED`, `ERR_SIG_REPLAY`.
 *
 * Covering `content-digest` binds the header only: check the body with `verifyContentDigest`.
 *
 * @example
 * ```ts
 * const verify = createRequestSignatureVerifier({ keys: (id) => keys.get(id), clock: systemClock, replayCache });
 * const { keyid } = await verify({ method: req.method, url: `https://${req.headers.host}${req.url}`, headers: req.headers });
 * ```
 */
export function createRequestSignatureVerifier(
  options: VerifyRequestSignatureOptions,
): RequestSignatureVerifier {
  const config = parseConfig(options);
  return (request) => verifyWithConfig(config, request);
}

/**
 * Verifies one request. Same as `createRequestSignatureVerifier(options)(request)`; prefer the
 * factory on a hot path so options are validated once.
 */
export async function verifyRequestSignature(
  request: SignableRequest,
  options: VerifyRequestSignatureOptions,
): Promise<VerifiedSignature> {
  return createRequestSignatureVerifier(options)(request);
}
