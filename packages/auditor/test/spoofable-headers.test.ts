/**
 * The spoofable identity headers are one list, `@tessera/core`'s SPOOFABLE_HEADERS: what
 * `@tessera/fastify` strips by default (its own test checks that its default is that very
 * array) and what the auditor believes a Tessera-registered service has stripped. These tests
 * fail if the auditor keeps a private copy that differs, in either direction.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SPOOFABLE_HEADERS } from '@tessera/core';
import { isInternalHeader } from '../src/rules/inbound.ts';
import { check, cleanUp } from './inbound-harness.ts';

after(cleanUp);

/** A Fastify service behind the Tessera plugin whose handler reads `header`. */
const underTessera = (header: string, options = '') => ({
  'src/app.ts': `import Fastify from 'fastify';
import { tessera } from '@tessera/fastify';
const app = Fastify();
await app.register(tessera, { service: 'orders', policy, authority: { url: 'https://authority' }${options} });
app.get('/orders', async (request) => ({ who: request.headers['${header}'] }));
`,
});

describe('spoofable identity headers: one list', () => {
  it('every header Tessera strips is one the auditor recognises as an identity claim', () => {
    for (const header of SPOOFABLE_HEADERS) assert.ok(isInternalHeader(header), header);
  });

  for (const header of SPOOFABLE_HEADERS) {
    it(`counts ${header} as removed where @tessera/fastify is registered`, () =>
      check({ name: header, files: underTessera(header), expect: { PH1: 'PASS' } }));
  }

  it('does not count an identity header Tessera leaves alone (x-remote-user) as removed', () =>
    check({
      name: 'x-remote-user under Tessera',
      files: underTessera('x-remote-user'),
      expect: { PH1: 'FAIL' },
      at: { PH1: { file: 'src/app.ts', line: "request.headers['x-remote-user']" } },
    }));

  it('follows a spoofableHeaders override instead of the default list', () =>
    check({
      name: 'x-user-id with an override that leaves it in',
      files: underTessera('x-user-id', ", spoofableHeaders: ['x-acme-user']"),
      expect: { PH1: 'FAIL' },
    }));
});

describe('x-authenticated-user', () => {
  const express = (line: string) => ({
    'src/app.ts': `import express from 'express';
const app = express();
app.get('/orders', (req, res) => {
  ${line}
  res.json({ user });
});
app.listen(3000);
`,
  });

  it('is an identity claim the auditor flags when a handler trusts it', () =>
    check({
      name: 'x-authenticated-user read as the user',
      files: express("const user = req.headers['x-authenticated-user'];"),
      expect: { PH1: 'FAIL' },
      at: { PH1: { file: 'src/app.ts', line: "req.headers['x-authenticated-user']" } },
    }));

  it('is not confused with a correlation header', () =>
    check({
      name: 'x-request-id read',
      files: express("const user = req.headers['x-request-id'];"),
      expect: { PH1: 'N/A' },
    }));
});
