import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';

import { TesseraError, type TesseraErrorCode } from '../src/errors.ts';
import type { SignableRequest } from '../src/http-signature/components.ts';
import { signRequest, verifyRequestSignature } from '../src/http-signature/index.ts';
import {
  assertRejectsWith,
  CLIENT_COMPONENTS,
  invoiceRequest,
  keyResolver,
  newClock,
  NOW_S,
  rfcKeys,
} from './support/http-signature-fixture.ts';

// One valid Ed25519 signature; every row below breaks one thing about it.
const key = rfcKeys.ed25519;
const clock = newClock();
const valid = signRequest(invoiceRequest(), {
  key,
  components: CLIENT_COMPONENTS,
  clock,
  expiresIn: 10,
  nonce: 'nonce-1',
});
const INPUT = valid['signature-input'];
const SIG = valid.signature;
const LIST = INPUT.slice('sig1='.length, INPUT.indexOf(')') + 1);
const PARAMS = INPUT.slice(INPUT.indexOf(')') + 1);
const B64 = SIG.slice('sig1=:'.length, -1);
/** Another label's signature-input and signature, valid on their own. */
const input2 = INPUT.replace('sig1=', 'sig2=');
const sig2 = SIG.replace('sig1=', 'sig2=');
const withParams = (params: string): string => `sig1=${LIST}${params}`;
const withList = (list: string): string => `sig1=${list}${PARAMS}`;
const bytes = (n: number): string => `sig1=:${Buffer.alloc(n, 7).toString('base64')}:`;
// 64 bytes leave 4 unused bits in the last base64 character; setting one keeps the bytes.
const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Every 12-character run of the signature: a quote cut short would still show one. */
const SIGNATURE_PIECES = Array.from({ length: B64.length - 11 }, (_, i) => B64.slice(i, i + 12));
const PAD_BITS_SET = `${B64.slice(0, -3)}${BASE64_ALPHABET[BASE64_ALPHABET.indexOf(B64.at(-3)!) ^ 1]!}==`;

interface Row {
  readonly name: string;
  /** The Signature-Input field (`undefined` removes it). Default: the valid one. */
  readonly input?: string | readonly string[] | undefined;
  /** The Signature field (`undefined` removes it). Default: the valid one. */
  readonly signature?: string | readonly string[] | undefined;
  /** Other header changes. */
  readonly headers?: SignableRequest['headers'];
  readonly url?: string;
  readonly method?: string;
  readonly code: TesseraErrorCode;
}

const rows: readonly Row[] = [
  // Absent or empty
  { name: 'no signature fields', input: undefined, signature: undefined, code: 'ERR_SIG_MISSING' },
  { name: 'no Signature field', signature: undefined, code: 'ERR_SIG_MISSING' },
  { name: 'no Signature-Input field', input: undefined, code: 'ERR_SIG_MISSING' },
  { name: 'empty fields', input: '', signature: '', code: 'ERR_SIG_MISSING' },
  { name: 'fields with no lines', input: [], signature: [], code: 'ERR_SIG_MISSING' },

  // Structured-field syntax (RFC 8941)
  { name: 'not a dictionary', input: '("@method")', code: 'ERR_SIG_MALFORMED' },
  { name: 'member is a bare key', input: 'sig1', code: 'ERR_SIG_MALFORMED' },
  { name: 'member is an item', input: 'sig1="@method"', code: 'ERR_SIG_MALFORMED' },
  { name: 'upper-case label', input: INPUT.replace('sig1', 'Sig1'), code: 'ERR_SIG_MALFORMED' },
  { name: 'trailing comma', input: `${INPUT},`, code: 'ERR_SIG_MALFORMED' },
  { name: 'unterminated inner list', input: INPUT.replace(')', ''), code: 'ERR_SIG_MALFORMED' },
  { name: 'unterminated string', input: 'sig1=("@method', code: 'ERR_SIG_MALFORMED' },
  { name: 'bad escape in string', input: withList('("@me\\thod")'), code: 'ERR_SIG_MALFORMED' },
  {
    name: 'no space between items',
    input: withList('("@method""@path")'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'tab inside inner list',
    input: withList('("@method"\t"@path")'),
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'garbage after the dictionary', input: `${INPUT} x`, code: 'ERR_SIG_MALFORMED' },
  {
    name: 'integer over 15 digits',
    input: withParams(';created=1234567890123456'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'non-ASCII in the field',
    input: INPUT.replace('nonce-1', 'nonce-é'),
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'CR LF in the field', input: `${INPUT}\r\nx-injected: 1`, code: 'ERR_SIG_MALFORMED' },
  { name: 'NUL in the field', input: `${INPUT}\0`, code: 'ERR_SIG_MALFORMED' },
  {
    name: 'field longer than 8192',
    input: `${INPUT}, ${'a'.repeat(8200)}=?1`,
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'RFC 9651 date parameter',
    input: withParams(`;created=@${NOW_S};keyid="${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'RFC 9651 display string',
    input: withParams(`;created=${NOW_S};keyid=%"${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },

  // Labels
  {
    name: 'duplicated label in Signature-Input',
    input: `${INPUT}, ${INPUT}`,
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'duplicated label in Signature', signature: `${SIG}, ${SIG}`, code: 'ERR_SIG_MALFORMED' },
  {
    name: 'duplicated label over two field lines',
    input: [INPUT, INPUT],
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'labels differ', signature: sig2, code: 'ERR_SIG_MALFORMED' },
  {
    name: 'two signatures, no label configured',
    input: `${INPUT}, ${input2}`,
    signature: `${SIG}, ${sig2}`,
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'two inputs, one signature', input: `${INPUT}, ${input2}`, code: 'ERR_SIG_MALFORMED' },

  // Covered components (RFC 9421 §2)
  { name: 'component is a token', input: withList('(method "@path")'), code: 'ERR_SIG_MALFORMED' },
  { name: 'component is an integer', input: withList('(1 "@path")'), code: 'ERR_SIG_MALFORMED' },
  {
    name: 'component is a byte sequence',
    input: withList('(:AAAA: "@path")'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'component is an inner list',
    input: withList('(("@method") "@path")'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'unknown derived component',
    input: withList('("@method" "@host")'),
    code: 'ERR_SIG_MALFORMED',
  },
  { name: '@status on a request', input: withList('("@status")'), code: 'ERR_SIG_MALFORMED' },
  {
    name: '@query-param (unsupported)',
    input: withList('("@query-param";name="id")'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: '@signature-params covered',
    input: withList('("@method" "@signature-params")'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'upper-case field name',
    input: withList('("@method" "Content-Type")'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'field name with a space',
    input: withList('("@method" "content type")'),
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'empty component name', input: withList('("")'), code: 'ERR_SIG_MALFORMED' },
  {
    name: 'component repeated',
    input: withList('("@method" "@path" "@method")'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'component parameter sf',
    input: withList('("@method" "content-type";sf)'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'component parameter key',
    input: withList('("@method" "content-digest";key="sha-256")'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'component parameter req',
    input: withList('("@method";req)'),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: '65 components',
    input: withList(`(${Array.from({ length: 65 }, (_, i) => `"x-${i}"`).join(' ')})`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'components reordered',
    input: withList(LIST.replace('"@method" "@authority"', '"@authority" "@method"')),
    code: 'ERR_SIG_INVALID',
  },
  {
    name: 'component dropped',
    input: withList(LIST.replace(' "content-type"', '')),
    code: 'ERR_SIG_INVALID',
  },
  {
    name: 'covered field absent from the request',
    input: withList(LIST.replace(')', ' "x-absent")')),
    code: 'ERR_SIG_INVALID',
  },
  {
    name: 'required component not covered',
    input: withList('("@method" "@authority" "@path" "content-digest")'),
    code: 'ERR_SIG_COMPONENTS',
  },

  // Signature parameters (RFC 9421 §2.3)
  {
    name: 'created as a string',
    input: withParams(`;created="${NOW_S}";keyid="${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'created as a decimal',
    input: withParams(`;created=${NOW_S}.0;keyid="${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'created negative',
    input: withParams(`;created=-1;keyid="${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'created as a boolean',
    input: withParams(`;created;keyid="${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'created missing',
    input: withParams(`;keyid="${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'created twice',
    input: withParams(`;created=${NOW_S};created=${NOW_S};keyid="${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'expires as a token',
    input: withParams(`;created=${NOW_S};expires=never;keyid="${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'expires before created',
    input: withParams(`;created=${NOW_S};expires=${NOW_S - 1};keyid="${key.keyid}"`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'keyid as a token',
    input: withParams(`;created=${NOW_S};keyid=test-key-ed25519`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'keyid as bytes',
    input: withParams(`;created=${NOW_S};keyid=:dGVzdA==:`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'keyid empty',
    input: withParams(`;created=${NOW_S};keyid=""`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'keyid twice',
    input: withParams(`;created=${NOW_S};keyid="${key.keyid}";keyid="other"`),
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'keyid missing', input: withParams(`;created=${NOW_S}`), code: 'ERR_SIG_KEY_UNKNOWN' },
  {
    name: 'keyid unknown',
    input: withParams(`;created=${NOW_S};keyid="test-key-rsa"`),
    code: 'ERR_SIG_KEY_UNKNOWN',
  },
  {
    name: 'nonce as an integer',
    input: withParams(`;created=${NOW_S};keyid="${key.keyid}";nonce=1`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'nonce empty',
    input: withParams(`;created=${NOW_S};keyid="${key.keyid}";nonce=""`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'alg as a token',
    input: withParams(`;created=${NOW_S};keyid="${key.keyid}";alg=ed25519`),
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'alg unknown',
    input: withParams(`;created=${NOW_S};keyid="${key.keyid}";alg="rsa-v1_5-sha256"`),
    code: 'ERR_SIG_ALG',
  },
  {
    name: 'alg of another algorithm',
    input: withParams(`;created=${NOW_S};keyid="${key.keyid}";alg="hmac-sha256"`),
    code: 'ERR_SIG_ALG',
  },
  {
    name: 'alg "none"',
    input: withParams(`;created=${NOW_S};keyid="${key.keyid}";alg="none"`),
    code: 'ERR_SIG_ALG',
  },
  {
    name: 'unsupported parameter tag',
    input: withParams(`${PARAMS};tag="x"`),
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'unknown parameter', input: withParams(`${PARAMS};x=1`), code: 'ERR_SIG_MALFORMED' },
  {
    name: 'parameters reordered',
    input: withParams(
      PARAMS.split(';')
        .slice(1)
        .reverse()
        .map((p) => `;${p}`)
        .join(''),
    ),
    code: 'ERR_SIG_INVALID',
  },
  {
    name: 'parameter on the signature params dropped (nonce)',
    input: withParams(PARAMS.replace(';nonce="nonce-1"', '')),
    code: 'ERR_SIG_INVALID',
  },
  {
    name: 'created changed',
    input: INPUT.replace(`created=${NOW_S}`, `created=${NOW_S - 1}`),
    code: 'ERR_SIG_INVALID',
  },

  // Signature values (RFC 9421 §4.2)
  { name: 'signature is a string', signature: `sig1="${B64}"`, code: 'ERR_SIG_MALFORMED' },
  { name: 'signature is a token', signature: 'sig1=abc', code: 'ERR_SIG_MALFORMED' },
  { name: 'signature is an inner list', signature: `sig1=(:${B64}:)`, code: 'ERR_SIG_MALFORMED' },
  { name: 'signature is a boolean', signature: 'sig1', code: 'ERR_SIG_MALFORMED' },
  {
    name: 'signature has parameters',
    signature: `${SIG};alg="ed25519"`,
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'signature unterminated', signature: SIG.slice(0, -1), code: 'ERR_SIG_MALFORMED' },
  {
    name: 'signature without padding',
    signature: `sig1=:${B64.replace(/=+$/, '')}:`,
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'signature with non-zero pad bits',
    signature: `sig1=:${PAD_BITS_SET}:`,
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'signature in base64url',
    signature: `sig1=:${Buffer.from(B64, 'base64').toString('base64url')}:`,
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'signature with a space inside',
    signature: `sig1=:${B64.slice(0, 8)} ${B64.slice(8)}:`,
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'signature empty', signature: 'sig1=::', code: 'ERR_SIG_MALFORMED' },
  { name: 'signature 63 bytes', signature: bytes(63), code: 'ERR_SIG_MALFORMED' },
  { name: 'signature 65 bytes', signature: bytes(65), code: 'ERR_SIG_MALFORMED' },
  { name: 'signature 32 bytes (an HMAC tag)', signature: bytes(32), code: 'ERR_SIG_MALFORMED' },
  {
    name: 'signature 64 zero bytes',
    signature: `sig1=:${Buffer.alloc(64).toString('base64')}:`,
    code: 'ERR_SIG_INVALID',
  },
  { name: 'signature 64 wrong bytes', signature: bytes(64), code: 'ERR_SIG_INVALID' },

  // The request itself
  {
    name: 'covered field with CR LF',
    headers: { 'content-type': 'application/json\r\nx-evil: 1' },
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'covered field with LF',
    headers: { 'content-type': 'application/json\nx' },
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'covered field with non-ASCII',
    headers: { 'content-type': 'application/jsön' },
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'covered field with NUL',
    headers: { 'content-type': 'application/json\0' },
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'covered field under two spellings',
    headers: { 'Content-Type': 'text/plain' },
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'covered field not a string',
    headers: { 'content-type': 42 as unknown as string },
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'covered field line not a string',
    headers: { 'content-type': [null] as unknown as string[] },
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'target URI with a fragment',
    url: 'https://billing.tessera.local:8443/invoices?customer=42&draft=true#x',
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'target URI with userinfo',
    url: 'https://u:p@billing.tessera.local:8443/invoices?customer=42&draft=true',
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'target URI with a backslash',
    url: 'https://billing.tessera.local:8443\\invoices?customer=42&draft=true',
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'target URI with a space',
    url: 'https://billing.tessera.local:8443/in voices?customer=42&draft=true',
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'target URI with non-ASCII',
    url: 'https://billing.tessera.local:8443/invöices?customer=42&draft=true',
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'target URI relative',
    url: '/invoices?customer=42&draft=true',
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'target URI not http(s)',
    url: 'ftp://billing.tessera.local:8443/invoices?customer=42&draft=true',
    code: 'ERR_SIG_MALFORMED',
  },
  {
    name: 'target URI with a percent-encoded host',
    url: 'https://bil%6Cing.tessera.local:8443/invoices?customer=42&draft=true',
    code: 'ERR_SIG_MALFORMED',
  },
  { name: 'method with a space', method: 'POST /admin', code: 'ERR_SIG_MALFORMED' },
  { name: 'method empty', method: '', code: 'ERR_SIG_MALFORMED' },
];

void describe('malformed and hostile signatures are refused with a specific code', () => {
  const options = { keys: keyResolver(key), clock };

  void it('the unmodified request verifies (the rows below each change one thing)', async () => {
    await verifyRequestSignature(invoiceRequest(valid), options);
  });

  for (const row of rows) {
    void it(`${row.name} → ${row.code}`, async () => {
      await assertRejectsWith(
        () => verifyRequestSignature(requestFor(row), options),
        row.code,
        row.name,
      );
    });
  }

  const shapes: readonly { readonly name: string; readonly request: unknown }[] = [
    { name: 'null request', request: null },
    { name: 'request without headers', request: { method: 'GET', url: 'https://a.example/' } },
    { name: 'headers null', request: { method: 'GET', url: 'https://a.example/', headers: null } },
    { name: 'url not a string', request: { ...invoiceRequest(valid), url: 42 } },
    { name: 'method not a string', request: { ...invoiceRequest(valid), method: ['POST'] } },
  ];
  for (const shape of shapes) {
    void it(`${shape.name} → ERR_SIG_MALFORMED`, async () => {
      await assertRejectsWith(
        () => verifyRequestSignature(shape.request as SignableRequest, options),
        'ERR_SIG_MALFORMED',
        shape.name,
      );
    });
  }

  // Details go to logs: an error that quoted the fields would put a usable signature there.
  void it('error details never carry the signature', async () => {
    for (const row of rows) {
      await assert.rejects(verifyRequestSignature(requestFor(row), options), (error: unknown) => {
        assert.ok(error instanceof TesseraError, row.name);
        assert.equal(error.code, row.code, row.name);
        const logged = inspect(error, { depth: 8 });
        const leaked = SIGNATURE_PIECES.find((piece) => logged.includes(piece));
        assert.equal(leaked, undefined, `${row.name}: ${logged}`);
        return true;
      });
    }
  });
});

/** The request a row describes: the valid one with that row's change. */
function requestFor(row: Row): SignableRequest {
  const headers: Record<string, string | readonly string[] | undefined> = {
    'signature-input': 'input' in row ? row.input : INPUT,
    signature: 'signature' in row ? row.signature : SIG,
    ...row.headers,
  };
  const base = invoiceRequest(headers);
  return { ...base, url: row.url ?? base.url, method: row.method ?? base.method };
}
