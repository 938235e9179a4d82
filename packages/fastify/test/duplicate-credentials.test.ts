import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TesseraErrorCode } from '@tessera/core';
import type { FastifyInstance } from 'fastify';
import { buildApp, EVENTS, token } from './support/app.ts';

const valid = token(EVENTS, ['invoices:write']);
const other = token(EVENTS, ['invoices:write']);

interface Row {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** Header lines in order, repeated names included (what goes on the wire). */
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: string;
  readonly status: number;
  readonly code?: TesseraErrorCode;
}

const json = ['content-type', 'application/json'] as const;
const form = ['content-type', 'application/x-www-form-urlencoded'] as const;

/** Every way of presenting a second credential next to a bearer header, and two controls. */
const ROWS: readonly Row[] = [
  {
    name: 'one bearer token (control)',
    method: 'GET',
    path: '/whoami',
    headers: [['authorization', `Bearer ${valid}`]],
    status: 200,
  },
  {
    name: 'the same bearer token twice',
    method: 'GET',
    path: '/whoami',
    headers: [
      ['authorization', `Bearer ${valid}`],
      ['authorization', `Bearer ${valid}`],
    ],
    status: 400,
    code: 'ERR_CREDENTIALS_DUPLICATE',
  },
  {
    name: 'two different bearer tokens',
    method: 'GET',
    path: '/whoami',
    headers: [
      ['authorization', `Bearer ${valid}`],
      ['authorization', `Bearer ${other}`],
    ],
    status: 400,
    code: 'ERR_CREDENTIALS_DUPLICATE',
  },
  {
    name: 'a bearer token, then Basic',
    method: 'GET',
    path: '/whoami',
    headers: [
      ['Authorization', `Bearer ${valid}`],
      ['AUTHORIZATION', 'Basic ZXZlbnQ6c2VjcmV0'],
    ],
    status: 400,
    code: 'ERR_CREDENTIALS_DUPLICATE',
  },
  {
    name: 'an empty Authorization, then a bearer token',
    method: 'GET',
    path: '/whoami',
    headers: [
      ['authorization', ''],
      ['authorization', `Bearer ${valid}`],
    ],
    status: 400,
    code: 'ERR_CREDENTIALS_DUPLICATE',
  },
  {
    name: 'a bearer token and access_token in the query',
    method: 'GET',
    path: `/whoami?access_token=${other}`,
    headers: [['authorization', `Bearer ${valid}`]],
    status: 401,
    code: 'ERR_CREDENTIALS_LOCATION',
  },
  {
    name: 'a bearer token and a percent-encoded access_token in the query',
    method: 'GET',
    path: `/whoami?x=1&%61ccess%5Ftoken=${other}`,
    headers: [['authorization', `Bearer ${valid}`]],
    status: 401,
    code: 'ERR_CREDENTIALS_LOCATION',
  },
  {
    name: 'a bearer token and a credential cookie',
    method: 'GET',
    path: '/whoami',
    headers: [
      ['authorization', `Bearer ${valid}`],
      ['cookie', `theme=dark; token=${other}`],
    ],
    status: 401,
    code: 'ERR_CREDENTIALS_LOCATION',
  },
  {
    name: 'a bearer token and access_token in a form body (RFC 6750 §2.2)',
    method: 'POST',
    path: '/invoices',
    headers: [['authorization', `Bearer ${valid}`], form],
    body: `amount=1&access_token=${other}`,
    status: 400,
    code: 'ERR_CREDENTIALS_DUPLICATE',
  },
  {
    name: 'a JSON body with an access_token field (not a credential form; control)',
    method: 'POST',
    path: '/invoices',
    headers: [['authorization', `Bearer ${valid}`], json],
    body: JSON.stringify({ access_token: 'stored-value' }),
    status: 200,
  },
];

function formParser(app: FastifyInstance): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );
}

function check(row: Row, status: number, body: string, challenge: string | undefined): void {
  assert.equal(status, row.status, body);
  if (row.code !== undefined) {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    assert.equal(parsed.code, row.code);
    assert.deepEqual(Object.keys(parsed).sort(), ['code', 'message']);
    assert.match(
      String(challenge),
      row.status === 400 ? /error="invalid_request"/ : /error="invalid_token"/,
    );
  }
}

describe('@tessera/fastify: duplicate credentials are refused, never "first one wins"', () => {
  let app: FastifyInstance;
  let audit: Record<string, unknown>[];
  before(async () => {
    ({ app, audit } = await buildApp({ rateLimit: false }, formParser));
    await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app.close();
  });

  for (const row of ROWS) {
    it(`inject: ${row.status} for ${row.name}`, async () => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of row.headers) {
        const key = name.toLowerCase();
        const seen = headers[key];
        headers[key] = seen === undefined ? value : [...[seen].flat(), value];
      }
      const before = audit.length;
      const response = await app.inject({
        method: row.method,
        url: row.path,
        headers,
        ...(row.body !== undefined ? { payload: row.body } : {}),
      });
      check(
        row,
        response.statusCode,
        response.body,
        response.headers['www-authenticate'] as string,
      );
      assert.equal(audit.length - before, 1, 'exactly one audit event');
    });

    it(`real socket: ${row.status} for ${row.name}`, async () => {
      const address = app.server.address();
      assert.ok(typeof address === 'object' && address !== null);
      const lines = [`${row.method} ${row.path} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close'];
      for (const [name, value] of row.headers) lines.push(`${name}: ${value}`);
      if (row.body !== undefined) lines.push(`content-length: ${Buffer.byteLength(row.body)}`);
      const request = `${lines.join('\r\n')}\r\n\r\n${row.body ?? ''}`;
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(address.port, '127.0.0.1', () => {
          socket.end(request);
        });
        let data = '';
        socket.setEncoding('utf8');
        socket.setTimeout(5000, () => socket.destroy(new Error('timed out')));
        socket.on('data', (chunk: string) => {
          data += chunk;
        });
        socket.on('end', () => {
          resolve(data);
        });
        socket.on('error', reject);
      });
      const [head = '', body = ''] = raw.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      const challenge = /^www-authenticate: (.*)$/im.exec(head)?.[1];
      check(row, status, body, challenge);
    });
  }
});
