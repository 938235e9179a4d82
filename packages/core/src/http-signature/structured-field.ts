import { TesseraError, type TesseraErrorCode } from '../errors.ts';

/**
 * A strict parser for the RFC 8941 Dictionary fields this module reads (`Signature-Input`,
 * `Signature`, `Content-Digest`). Serialising is left to `structured-headers`; parsing is not,
 * because that library follows RFC 8941 where it is too lenient for a signature verifier:
 *
 * - duplicate dictionary keys and parameters silently overwrite (§4.2.2, §4.2.3.2). Two
 *   `sig1=` members let a proxy check one signature while the application acts on the other;
 *   here any duplicate is an error.
 * - byte sequences accept missing padding and non-zero pad bits (§4.2.7), so one signature has
 *   many encodings; here only canonical, padded base64 is accepted.
 * - integers and decimals both become JS numbers, so `created=1.0` could not be told from
 *   `created=1`; here every bare item keeps its type.
 *
 * Everything else follows the §4.2 algorithms step by step. The parser is a single forward
 * scan with no backtracking, so its cost is linear in the input.
 */

export type BareItem =
  | { readonly type: 'integer'; readonly value: number }
  | { readonly type: 'decimal'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'token'; readonly value: string }
  | { readonly type: 'bytes'; readonly value: Buffer }
  | { readonly type: 'boolean'; readonly value: boolean };

/** Parameters in wire order; keys are unique. */
export type Parameters = ReadonlyMap<string, BareItem>;

export interface Item {
  readonly kind: 'item';
  readonly value: BareItem;
  readonly params: Parameters;
}

export interface InnerList {
  readonly kind: 'inner-list';
  readonly items: readonly Item[];
  readonly params: Parameters;
}

/** Members in wire order; keys are unique. */
export type Dictionary = ReadonlyMap<string, Item | InnerList>;

const DIGIT = /^[0-9]$/;
const LCALPHA_OR_STAR = /^[a-z*]$/;
const KEY_CHAR = /^[a-z0-9_\-.*]$/;
const ALPHA_OR_STAR = /^[A-Za-z*]$/;
// RFC 8941 §3.3.4: tchar (RFC 9110 §5.6.2) plus ":" and "/".
const TOKEN_CHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z:/]$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

class Parser {
  readonly #input: string;
  readonly #code: TesseraErrorCode;
  readonly #field: string;
  #pos = 0;

  constructor(input: string, code: TesseraErrorCode, field: string) {
    this.#input = input;
    this.#code = code;
    this.#field = field;
  }

  // Details name the field and the offset only: the input may carry a signature.
  fail(reason: string): never {
    throw new TesseraError(this.#code, `${this.#field}: ${reason} at offset ${this.#pos}`);
  }

  peek(): string | undefined {
    return this.#input[this.#pos];
  }

  next(): string | undefined {
    return this.#input[this.#pos++];
  }

  eof(): boolean {
    return this.#pos >= this.#input.length;
  }

  skipSP(): void {
    while (this.peek() === ' ') this.#pos++;
  }

  skipOWS(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.#pos++;
  }

  // §4.2 top level, for a Dictionary.
  parseDictionaryField(): Dictionary {
    this.skipSP();
    const dictionary = new Map<string, Item | InnerList>();
    while (!this.eof()) {
      const key = this.parseKey();
      if (dictionary.has(key)) this.fail('duplicate dictionary key');
      let member: Item | InnerList;
      if (this.peek() === '=') {
        this.#pos++;
        member = this.parseItemOrInnerList();
      } else {
        member = {
          kind: 'item',
          value: { type: 'boolean', value: true },
          params: this.parseParameters(),
        };
      }
      dictionary.set(key, member);
      this.skipOWS();
      if (this.eof()) break;
      if (this.next() !== ',') this.fail('expected ","');
      this.skipOWS();
      if (this.eof()) this.fail('trailing comma');
    }
    this.skipSP();
    if (!this.eof()) this.fail('unexpected trailing characters');
    return dictionary;
  }

  parseItemOrInnerList(): Item | InnerList {
    return this.peek() === '(' ? this.parseInnerList() : this.parseItem();
  }

  // §4.2.1.2
  parseInnerList(): InnerList {
    this.#pos++;
    const items: Item[] = [];
    while (!this.eof()) {
      this.skipSP();
      if (this.peek() === ')') {
        this.#pos++;
        return { kind: 'inner-list', items, params: this.parseParameters() };
      }
      items.push(this.parseItem());
      const next = this.peek();
      if (next !== ' ' && next !== ')') this.fail('expected " " or ")" in inner list');
    }
    return this.fail('unterminated inner list');
  }

  // §4.2.3
  parseItem(): Item {
    const value = this.parseBareItem();
    return { kind: 'item', value, params: this.parseParameters() };
  }

  // §4.2.3.1; Dates and Display Strings (RFC 9651) are not used by these fields and fail here.
  parseBareItem(): BareItem {
    const c = this.peek();
    if (c === undefined) return this.fail('expected an item');
    if (c === '-' || DIGIT.test(c)) return this.parseNumber();
    if (c === '"') return this.parseString();
    if (ALPHA_OR_STAR.test(c)) return this.parseToken();
    if (c === ':') return this.parseByteSequence();
    if (c === '?') return this.parseBoolean();
    return this.fail('unexpected character');
  }

  // §4.2.3.2
  parseParameters(): Parameters {
    const params = new Map<string, BareItem>();
    while (this.peek() === ';') {
      this.#pos++;
      this.skipSP();
      const key = this.parseKey();
      if (params.has(key)) this.fail('duplicate parameter');
      let value: BareItem = { type: 'boolean', value: true };
      if (this.peek() === '=') {
        this.#pos++;
        value = this.parseBareItem();
      }
      params.set(key, value);
    }
    return params;
  }

  // §4.2.3.3
  parseKey(): string {
    const first = this.peek();
    if (first === undefined || !LCALPHA_OR_STAR.test(first)) this.fail('expected a key');
    let key = '';
    for (let c = this.peek(); c !== undefined && KEY_CHAR.test(c); c = this.peek()) {
      key += c;
      this.#pos++;
    }
    return key;
  }

  // §4.2.4
  parseNumber(): BareItem {
    let decimal = false;
    let sign = 1;
    let digits = '';
    if (this.peek() === '-') {
      sign = -1;
      this.#pos++;
    }
    const first = this.peek();
    if (first === undefined || !DIGIT.test(first)) this.fail('expected a digit');
    for (let c = this.peek(); c !== undefined; c = this.peek()) {
      if (DIGIT.test(c)) {
        digits += c;
      } else if (!decimal && c === '.') {
        if (digits.length > 12) this.fail('decimal has too many integer digits');
        digits += c;
        decimal = true;
      } else {
        break;
      }
      this.#pos++;
      if (!decimal && digits.length > 15) this.fail('integer has more than 15 digits');
      if (decimal && digits.length > 16) this.fail('decimal has too many digits');
    }
    if (!decimal) return { type: 'integer', value: sign * Number.parseInt(digits, 10) };
    const fraction = digits.length - digits.indexOf('.') - 1;
    if (fraction === 0) this.fail('decimal ends with "."');
    if (fraction > 3) this.fail('decimal has more than 3 fractional digits');
    return { type: 'decimal', value: sign * Number.parseFloat(digits) };
  }

  // §4.2.5
  parseString(): BareItem {
    this.#pos++;
    let value = '';
    for (let c = this.next(); c !== undefined; c = this.next()) {
      if (c === '\\') {
        const escaped = this.next();
        if (escaped !== '\\' && escaped !== '"') this.fail('bad escape in string');
        value += escaped;
      } else if (c === '"') {
        return { type: 'string', value };
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) this.fail('string has a character outside visible ASCII');
        value += c;
      }
    }
    return this.fail('unterminated string');
  }

  // §4.2.6
  parseToken(): BareItem {
    let value = '';
    for (let c = this.peek(); c !== undefined && TOKEN_CHAR.test(c); c = this.peek()) {
      value += c;
      this.#pos++;
    }
    return { type: 'token', value };
  }

  // §4.2.7, canonical encodings only (see the module comment).
  parseByteSequence(): BareItem {
    this.#pos++;
    const end = this.#input.indexOf(':', this.#pos);
    if (end === -1) this.fail('unterminated byte sequence');
    const encoded = this.#input.slice(this.#pos, end);
    if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) this.fail('byte sequence is not base64');
    const value = Buffer.from(encoded, 'base64');
    if (value.toString('base64') !== encoded) this.fail('byte sequence is not canonical base64');
    this.#pos = end + 1;
    return { type: 'bytes', value };
  }

  // §4.2.8
  parseBoolean(): BareItem {
    this.#pos++;
    const c = this.next();
    if (c === '1') return { type: 'boolean', value: true };
    if (c === '0') return { type: 'boolean', value: false };
    return this.fail('expected "?0" or "?1"');
  }
}

/**
 * Parses a Dictionary field value (already combined from its field lines) per RFC 8941 §4.2,
 * strictly as described above. Every failure is a `TesseraError` with `code`; `field` names the
 * header in the error detail.
 */
export function parseDictionaryField(
  input: string,
  code: TesseraErrorCode,
  field: string,
): Dictionary {
  return new Parser(input, code, field).parseDictionaryField();
}
