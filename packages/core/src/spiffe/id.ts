import { TesseraError } from '../errors.ts';

/**
 * A parsed SPIFFE ID (SPIFFE ID standard, §2): `spiffe://<trust-domain><path>`.
 *
 * Parsing is strict: anything the standard does not allow is rejected, never normalised, so two
 * IDs are the same identity exactly when their strings are equal.
 */
export interface SpiffeId {
  readonly trustDomain: string;
  /** Empty for the trust domain itself, otherwise `/seg(/seg)*`. */
  readonly path: string;
  /** The canonical string form, identical to the parsed input. */
  readonly uri: string;
}

const PREFIX = 'spiffe://';
/** The standard caps the whole URI at 2048 bytes and the trust domain at 255 characters. */
export const MAX_SPIFFE_ID_LENGTH = 2048;
export const MAX_TRUST_DOMAIN_LENGTH = 255;

// §2.1: trust domain characters are lower-case letters, digits, dot, dash and underscore.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
// §2.2: path segment characters are letters, digits, dot, dash and underscore.
const SEGMENT = /^[a-zA-Z0-9._-]+$/;

function invalid(reason: string): TesseraError {
  return new TesseraError('ERR_SPIFFE_ID_INVALID', reason);
}

/** Validates a trust domain name on its own (`tessera.local`). Throws `ERR_SPIFFE_ID_INVALID`. */
export function assertTrustDomain(trustDomain: string): void {
  // Callers may hand us untyped config; without this a number would pass the regex via coercion
  // and null would escape as a TypeError.
  if (typeof trustDomain !== 'string') throw invalid('trust domain is not a string');
  if (trustDomain.length === 0) throw invalid('trust domain is empty');
  if (trustDomain.length > MAX_TRUST_DOMAIN_LENGTH) throw invalid('trust domain is too long');
  if (!TRUST_DOMAIN.test(trustDomain))
    throw invalid('trust domain has characters outside [a-z0-9._-]');
}

function assertSegment(segment: string): void {
  if (segment === '') throw invalid('path has an empty segment');
  if (segment === '.' || segment === '..') throw invalid('path has a relative segment');
  if (!SEGMENT.test(segment)) throw invalid('path has characters outside [a-zA-Z0-9._-]');
}

function assertPath(path: string): void {
  if (path === '') return;
  if (!path.startsWith('/')) throw invalid('path must start with "/"');
  for (const segment of path.slice(1).split('/')) assertSegment(segment);
}

/**
 * Parses a SPIFFE ID. Throws `TesseraError` with code `ERR_SPIFFE_ID_INVALID` on anything the
 * standard forbids: other or upper-case schemes, upper-case trust domains, ports, userinfo,
 * query, fragment, percent-encoding, empty/`.`/`..` segments, trailing slashes, over-long input.
 *
 * @example
 * ```ts
 * const id = parseSpiffeId('spiffe://tessera.local/billing');
 * id.trustDomain; // 'tessera.local'
 * id.path;        // '/billing'
 * ```
 */
export function parseSpiffeId(input: string): SpiffeId {
  if (typeof input !== 'string') throw invalid('not a string');
  if (input.length > MAX_SPIFFE_ID_LENGTH) throw invalid('longer than 2048 bytes');
  if (!input.startsWith(PREFIX)) throw invalid('scheme must be "spiffe://"');
  const rest = input.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  assertTrustDomain(trustDomain);
  assertPath(path);
  return Object.freeze({ trustDomain, path, uri: input });
}

/** Like {@link parseSpiffeId} but also requires a non-empty path (a workload, not a trust domain). */
export function parseWorkloadId(input: string, trustDomain?: string): SpiffeId {
  const id = parseSpiffeId(input);
  if (id.path === '') throw invalid('a workload ID needs a path');
  if (trustDomain !== undefined && id.trustDomain !== trustDomain) {
    throw invalid('trust domain is not the expected one');
  }
  return id;
}

/** True when `input` is a valid SPIFFE ID. */
export function isSpiffeId(input: unknown): input is string {
  if (typeof input !== 'string') return false;
  try {
    parseSpiffeId(input);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds and validates a SPIFFE ID from a trust domain and path segments.
 *
 * @example
 * ```ts
 * formatSpiffeId('tessera.local', ['billing']); // 'spiffe://tessera.local/billing'
 * ```
 */
export function formatSpiffeId(trustDomain: string, segments: readonly string[]): string {
  // Each part is checked on its own before joining: parsing only the joined string would accept
  // a segment 'a/b' (or a trust domain 'td/a') as extra path segments, silently minting a
  // different identity than the caller named.
  assertTrustDomain(trustDomain);
  if (!Array.isArray(segments)) throw invalid('path segments are not an array');
  for (const segment of segments as readonly unknown[]) {
    if (typeof segment !== 'string') throw invalid('path segment is not a string');
    assertSegment(segment);
  }
  return parseSpiffeId(`${PREFIX}${trustDomain}${segments.map((s) => `/${s}`).join('')}`).uri;
}

/** The SPIFFE ID Tessera gives the service `name` in `trustDomain`. */
export function serviceSpiffeId(trustDomain: string, name: string): string {
  return formatSpiffeId(trustDomain, [name]);
}
