import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { TesseraErrorCode } from '../src/errors.ts';
import { createContentDigest, verifyContentDigest } from '../src/http-signature/index.ts';
import { assertRejectsWith, rfc9421 } from './support/http-signature-fixture.ts';

const BODY = rfc9421.content_digest.body;
// RFC 9530 §2 and Appendix D examples for the body {"hello": "world"}.
const SHA256 = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
const SHA512 = `sha-512=:${rfc9421.content_digest['sha-512']}:`;
const OTHER_SHA256 = createContentDigest('{"hello": "world!"}', 'sha-256');

void describe('createContentDigest', () => {
  void it('matches RFC 9530 for sha-256 and sha-512, from a string or bytes', () => {
    assert.equal(createContentDigest(BODY), SHA256);
    assert.equal(createContentDigest(BODY, 'sha-256'), SHA256);
    assert.equal(createContentDigest(Buffer.from(BODY), 'sha-512'), SHA512);
    assert.equal(createContentDigest(new Uint8Array(Buffer.from(BODY)), 'sha-512'), SHA512);
  });

  void it('an empty body has a digest too', () => {
    assert.equal(createContentDigest(''), 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:');
  });

  void it('refuses an unsupported algorithm', () => {
    assert.throws(
      () => createContentDigest(BODY, 'md5' as 'sha-256'),
      (error: unknown) =>
        error instanceof Error && 'code' in error && error.code === 'ERR_CONFIG_INVALID',
    );
  });
});

void describe('verifyContentDigest', () => {
  const accepted: readonly { readonly name: string; readonly field: string | readonly string[] }[] =
    [
      { name: 'sha-256', field: SHA256 },
      { name: 'sha-512', field: SHA512 },
      { name: 'both', field: `${SHA256}, ${SHA512}` },
      { name: 'both on two field lines', field: [SHA256, SHA512] },
      {
        name: 'unknown algorithms beside a good one are ignored (RFC 9530 §2)',
        field: `md5=:AAAA:, ${SHA256}, x=1`,
      },
      { name: 'unknown algorithm of any type', field: `unixsum=(1 2), ${SHA512}` },
      { name: 'surrounding whitespace', field: `  ${SHA256}  ` },
    ];
  for (const row of accepted) {
    void it(`accepts ${row.name}`, () => {
      verifyContentDigest(row.field, BODY);
    });
  }

  const refused: readonly {
    readonly name: string;
    readonly field: string | readonly string[] | undefined;
    readonly code: TesseraErrorCode;
  }[] = [
    { name: 'no field', field: undefined, code: 'ERR_DIGEST_MISSING' },
    { name: 'empty field', field: '', code: 'ERR_DIGEST_MISSING' },
    { name: 'no field lines', field: [], code: 'ERR_DIGEST_MISSING' },
    {
      name: 'only unknown algorithms',
      field: 'md5=:AAAAAAAAAAAAAAAAAAAAAA==:, sha=:AAAA:',
      code: 'ERR_DIGEST_MISSING',
    },
    { name: 'sha-256 of another body', field: OTHER_SHA256, code: 'ERR_DIGEST_MISMATCH' },
    {
      name: 'good sha-512, bad sha-256',
      field: `${SHA512}, ${OTHER_SHA256}`,
      code: 'ERR_DIGEST_MISMATCH',
    },
    {
      name: 'bad sha-256 hidden behind unknown ones',
      field: `md5=:AAAA:, ${OTHER_SHA256}`,
      code: 'ERR_DIGEST_MISMATCH',
    },
    {
      name: 'duplicate algorithm',
      field: `${SHA256}, ${OTHER_SHA256}`,
      code: 'ERR_DIGEST_MALFORMED',
    },
    {
      name: 'duplicate good algorithm',
      field: `${SHA256}, ${SHA256}`,
      code: 'ERR_DIGEST_MALFORMED',
    },
    {
      name: 'digest as a string',
      field: 'sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="',
      code: 'ERR_DIGEST_MALFORMED',
    },
    { name: 'digest as a token', field: 'sha-256=abc', code: 'ERR_DIGEST_MALFORMED' },
    {
      name: 'digest as an inner list',
      field: `sha-256=(${SHA256.slice(8)})`,
      code: 'ERR_DIGEST_MALFORMED',
    },
    { name: 'bare key', field: 'sha-256', code: 'ERR_DIGEST_MALFORMED' },
    {
      name: 'truncated digest',
      field: 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWx:',
      code: 'ERR_DIGEST_MALFORMED',
    },
    {
      name: 'sha-512 length under sha-256',
      field: SHA512.replace('sha-512', 'sha-256'),
      code: 'ERR_DIGEST_MALFORMED',
    },
    { name: 'missing padding', field: SHA256.replace('=:', ':'), code: 'ERR_DIGEST_MALFORMED' },
    {
      name: 'upper-case algorithm',
      field: SHA256.replace('sha-256', 'SHA-256'),
      code: 'ERR_DIGEST_MALFORMED',
    },
    {
      name: 'legacy Digest syntax',
      field: 'SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=',
      code: 'ERR_DIGEST_MALFORMED',
    },
    { name: 'trailing comma', field: `${SHA256},`, code: 'ERR_DIGEST_MALFORMED' },
    { name: 'non-ASCII', field: `${SHA256}, é=1`, code: 'ERR_DIGEST_MALFORMED' },
    { name: 'CR LF', field: `${SHA256}\r\n`, code: 'ERR_DIGEST_MALFORMED' },
    {
      name: 'over 4096 characters',
      field: `${SHA256}, x=:${'A'.repeat(4096)}:`,
      code: 'ERR_DIGEST_MALFORMED',
    },
  ];
  for (const row of refused) {
    void it(`refuses ${row.name} → ${row.code}`, async () => {
      await assertRejectsWith(() => {
        verifyContentDigest(row.field, BODY);
      }, row.code);
    });
  }
});
