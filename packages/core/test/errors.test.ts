import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  describeError,
  httpStatusFor,
  publicErrorBody,
  TESSERA_ERROR_CODES,
  TesseraError,
} from '../src/errors.ts';

describe('error codes', () => {
  it('docs/errors.md lists exactly the codes, statuses and meanings in errors.ts', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `(ERR_[A-Z0-9_]+)` *\| (\d{3}) *\| (.+?) *\|$/gm)].map(
      (m) => [m[1], Number(m[2]), m[3]],
    );
    assert.deepEqual(
      rows,
      TESSERA_ERROR_CODES.map((code) => [code, httpStatusFor(code), describeError(code)]),
    );
  });

  it('maps token and signature failures to 401 and policy denials to 403', () => {
    for (const code of TESSERA_ERROR_CODES) {
      if (/^ERR_(TOKEN|SIG|DIGEST)_/.test(code)) assert.equal(httpStatusFor(code), 401, code);
      if (code.startsWith('ERR_POLICY_') && code !== 'ERR_POLICY_INVALID')
        assert.equal(httpStatusFor(code), 403, code);
    }
  });

  it('puts only the code and a generic message on the wire', () => {
    const canary = 'eyJhbGciOiJFUzI1NiJ9.canary-secret';
    const error = new TesseraError('ERR_TOKEN_EXPIRED', `context ${canary}`);
    const body = JSON.stringify(publicErrorBody(error.code));
    assert.equal(body, '{"code":"ERR_TOKEN_EXPIRED","message":"unauthorized"}');
    assert.equal(publicErrorBody('ERR_POLICY_SCOPE').message, 'forbidden');
    assert.equal(publicErrorBody('ERR_CONFIG_INVALID').message, 'internal error');
  });

  it('carries code, status and detail', () => {
    const error = new TesseraError('ERR_TOKEN_AUDIENCE', 'expected billing');
    assert.equal(error.name, 'TesseraError');
    assert.equal(error.status, 401);
    assert.equal(error.detail, 'expected billing');
    assert.match(error.message, /^access token audience is not this service: expected billing$/);
  });
});
