import { TesseraError, type TesseraErrorCode } from '../errors.ts';

/**
 * The request as the signer sends it or the verifier received it. Header names may be in any
 * case; a field sent on several lines is an array, one element per line, in order.
 */
export interface SignableRequest {
  /** The method, case-sensitive (RFC 9110 §9.1): `GET`, `POST`. */
  readonly method: string;
  /** The absolute target URI (RFC 9110 §7.1): `https://billing.internal:8443/invoices?id=7`. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** The derived components of a request (RFC 9421 §2.2) Tessera can sign. */
export const DERIVED_COMPONENTS: readonly string[] = Object.freeze([
  '@method',
  '@target-uri',
  '@authority',
  '@scheme',
  '@request-target',
  '@path',
  '@query',
]);

// RFC 9421 §2.1: field names are lower-cased tokens (RFC 9110 §5.6.2 tchar).
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 §5.5 field-vchar and SP/HTAB. CR, LF and NUL would let a value inject a line into the
// signature base; obs-text is refused because the base is US-ASCII (RFC 9421 §2.5).
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
// A target URI in its wire form is ASCII without spaces or controls (RFC 3986 §2). The backslash
// is refused too: WHATWG URL reads it as "/" in http(s) URIs, so it would split the authority
// from the path differently than a server reading the request line does.
const URI_CHARS = /^[\x21-\x5b\x5d-\x7e]+$/;
// RFC 3986 §3.2.2 reg-name (ASCII letters, digits, ".", "-") or an IP literal, then a port.
const AUTHORITY = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/**
 * Why a component identifier cannot be used, or `undefined` when it can. Used on both sides so a
 * signer never produces what a verifier refuses.
 */
export function componentProblem(name: string): string | undefined {
  if (name === '@signature-params') return '"@signature-params" cannot be listed as a component';
  if (name.startsWith('@')) {
    return DERIVED_COMPONENTS.includes(name) ? undefined : 'derived component is not supported';
  }
  return FIELD_NAME.test(name) ? undefined : 'field name is not a lower-case token';
}

/** The parts of the target URI the derived components are built from. */
export interface TargetUri {
  /** Lower-case scheme (§2.2.4). */
  readonly scheme: string;
  /** Host, lower-cased, and port unless it is the scheme's default (§2.2.3, RFC 9110 §4.2.3). */
  readonly authority: string;
  /** The path as sent, never normalised; `/` when empty (§2.2.6). */
  readonly path: string;
  /** The query as sent, without `?`; `undefined` when there is none (§2.2.7). */
  readonly query: string | undefined;
}

/**
 * Splits an absolute `http` or `https` target URI. Path and query are taken from the string as
 * sent rather than from WHATWG URL, which resolves `/a/../admin` to `/admin`: a signature must
 * cover what the server routes on, not a normalised guess of it. Fragments and userinfo are
 * refused (RFC 9110 §4.2.4, §7.1: neither is part of a target URI).
 */
export function parseTargetUri(url: string, code: TesseraErrorCode): TargetUri {
  const bad = (reason: string): TesseraError => new TesseraError(code, `target URI ${reason}`);
  if (typeof url !== 'string' || !URI_CHARS.test(url)) {
    throw bad('has characters outside visible ASCII');
  }
  if (url.includes('#')) throw bad('has a fragment');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('is not an absolute URI');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw bad('is not http(s)');
  const afterScheme = url.indexOf('://');
  if (afterScheme === -1) throw bad('has no authority');
  const rest = url.slice(afterScheme + 3);
  const pathStart = rest.search(/[/?]/);
  // Checked on the raw text, so userinfo ("user@host") and anything URL would repair is refused.
  if (!AUTHORITY.test(pathStart === -1 ? rest : rest.slice(0, pathStart))) {
    throw bad('has a malformed authority');
  }
  const pathAndQuery = pathStart === -1 ? '' : rest.slice(pathStart);
  const queryStart = pathAndQuery.indexOf('?');
  const path = queryStart === -1 ? pathAndQuery : pathAndQuery.slice(0, queryStart);
  return {
    scheme: parsed.protocol.slice(0, -1),
    authority: parsed.host,
    path: path === '' ? '/' : path,
    query: queryStart === -1 ? undefined : pathAndQuery.slice(queryStart + 1),
  };
}

/**
 * The canonical value of a header field (RFC 9421 §2.1): every field line trimmed of leading
 * and trailing whitespace, lines joined with `", "`. `undefined` when the request lacks it.
 * A name present under two spellings (`Date` and `date`) is refused: which line comes first
 * would be a guess.
 */
export function fieldValue(
  headers: SignableRequest['headers'],
  name: string,
  code: TesseraErrorCode,
): string | undefined {
  let lines: string | readonly string[] | undefined;
  let found = false;
  for (const [key, value] of Object.entries(headers)) {
    // ASCII-only lower-casing: toLowerCase() maps the Kelvin sign U+212A to "k", which would
    // let a non-token name stand in for a signed field.
    if (value === undefined || key.replace(/[A-Z]/g, (c) => c.toLowerCase()) !== name) continue;
    if (found) throw new TesseraError(code, `field "${name}" appears under more than one spelling`);
    found = true;
    lines = value;
  }
  if (lines === undefined) return undefined;
  const list: readonly unknown[] = typeof lines === 'string' ? [lines] : lines;
  if (!Array.isArray(list)) throw new TesseraError(code, `field "${name}" is not a string`);
  if (list.length === 0) return undefined;
  return list
    .map((line) => {
      if (typeof line !== 'string' || !FIELD_VALUE.test(line)) {
        throw new TesseraError(code, `field "${name}" has characters outside visible ASCII`);
      }
      return line.replace(/^[\t ]+|[\t ]+$/g, '');
    })
    .join(', ');
}

/**
 * The value of component `name` for `request`, or `undefined` when the request has no such
 * field. `name` must have passed {@link componentProblem}; `code` is thrown for requests whose
 * method, target URI or field values cannot appear in a signature base.
 */
export function componentValue(
  request: SignableRequest,
  target: TargetUri,
  name: string,
  code: TesseraErrorCode,
): string | undefined {
  switch (name) {
    case '@method':
      if (typeof request.method !== 'string' || !METHOD.test(request.method)) {
        throw new TesseraError(code, 'method is not a token');
      }
      return request.method;
    case '@target-uri':
      return `${target.scheme}://${target.authority}${target.path}${target.query === undefined ? '' : `?${target.query}`}`;
    case '@authority':
      return target.authority;
    case '@scheme':
      return target.scheme;
    case '@request-target':
      return `${target.path}${target.query === undefined ? '' : `?${target.query}`}`;
    case '@path':
      return target.path;
    case '@query':
      // §2.2.7: an absent query is the lone "?".
      return `?${target.query ?? ''}`;
    default:
      return fieldValue(request.headers, name, code);
  }
}
