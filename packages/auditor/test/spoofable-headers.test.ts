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
import { check, cleanUp, contextFor, decide } from './inbound-harness.ts';

after(cleanUp);

/**
 * A gateway behind the Tessera plugin that reads `header` and proxies upstream: PH1 judges
 * whether a header a client sent can reach a handler, so it passes exactly when the plugin
 * strips that header.
 */
const underTessera = (header: string, options = '') => ({
  'src/gateway.ts': `import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';
import { tessera } from '@tessera/fastify';
const app = Fastify();
await app.register(tessera, { service: 'edge', policy, authority: { url: 'https://authority' }${options} });
app.addHook('preHandler', async (request) => {
  request.log.info({ who: request.headers['${header}'] });
});
app.register(proxy, { upstream: 'https://orders.internal' });
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
      at: { PH1: { file: 'src/gateway.ts', line: "request.headers['x-remote-user']" } },
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
import jwt from 'jsonwebtoken';
const app = express();
app.use((req, res, next) => {
  try {
    jwt.verify(String(req.headers.authorization).slice(7), process.env.PUB ?? '', { algorithms: ['ES256'] });
    next();
  } catch {
    res.status(401).end();
  }
});
app.get('/orders', (req, res) => {
  ${line}
  res.json({ caller });
});
app.listen(3000);
`,
  });

  it('is an identity claim the auditor flags when a handler trusts it (SE8)', () =>
    check({
      name: 'x-authenticated-user read as the caller',
      files: express("const caller = req.headers['x-authenticated-user'];"),
      expect: { SE8: 'FAIL' },
      at: { SE8: { file: 'src/app.ts', line: "req.headers['x-authenticated-user']" } },
    }));

  it('is not confused with a correlation header', async () => {
    const ctx = await contextFor(express("const caller = req.headers['x-request-id'];"));
    assert.notEqual(decide(ctx, 'SE8').status, 'FAIL');
  });
});
