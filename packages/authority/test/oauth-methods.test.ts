import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';

/**
 * Finding 13 of the security review: the OAuth endpoints answered anything but POST with a 404
 * in Tessera's own format, so a client learnt neither that the endpoint exists nor how to call
 * it. RFC 9110 §15.5.6: 405 with `Allow`; RFC 6749 §5.2: the body is an OAuth error.
 */
const PATHS = ['/oauth2/token', '/oauth2/revoke', '/oauth2/introspect'] as const;

/** Methods Fastify routes (GET, HEAD, ...) and ones it does not know (PROPFIND), with or without a body. */
const METHODS: readonly { method: string; body?: { type: string; text: string } }[] = [
  { method: 'GET' },
  { method: 'HEAD' },
  { method: 'OPTIONS' },
  { method: 'DELETE' },
  { method: 'TRACE' },
  { method: 'QUERY' },
  { method: 'PROPFIND' },
  {
    method: 'PUT',
    body: { type: 'application/x-www-form-urlencoded', text: 'grant_type=client_credentials' },
  },
  { method: 'PATCH', body: { type: 'application/json', text: '{not json' } },
  { method: 'DELETE', body: { type: 'text/plain', text: 'token=abc' } },
  { method: 'PUT', body: { type: 'application/x-www-form-urlencoded', text: 'a=1&a=2' } },
];

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Over a real socket with node:http, which (unlike fetch) sends TRACE and unregistered methods. */
function send(
  base: string,
  method: string,
  path: string,
  body?: { type: string; text: string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${base}${path}`,
      {
        method,
        // An explicit length: node:http frames no body for DELETE/OPTIONS unless told.
        headers:
          body === undefined
            ? {}
            : { 'content-type': body.type, 'content-length': Buffer.byteLength(body.text) },
        agent: false,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text });
        });
      },
    );
    request.setTimeout(5000, () => request.destroy(new Error('timeout')));
    request.on('error', reject);
    request.end(body?.text);
  });
}

describe('OAuth endpoints answer other methods with 405 and an RFC 6749 error', () => {
  let authority: TestAuthority;
  before(async () => {
    authority = await startTestAuthority();
  });
  after(async () => {
    await authority.close();
  });

  for (const path of PATHS) {
    for (const { method, body } of METHODS) {
      const what = body === undefined ? '' : ` with a ${body.type} body`;
      it(`${method} ${path}${what}: 405, Allow: POST, invalid_request`, async () => {
        const response = await send(authority.url, method, path, body);
        assert.equal(response.status, 405);
        assert.equal(response.headers.allow, 'POST');
        assert.equal(response.headers['cache-control'], 'no-store');
        if (method === 'HEAD') {
          assert.equal(response.body, '');
          return;
        }
        assert.match(String(response.headers['content-type']), /^application\/json/);
        const parsed = JSON.parse(response.body) as Record<string, unknown>;
        assert.deepEqual(Object.keys(parsed).sort(), ['error', 'error_description']);
        assert.equal(parsed.error, 'invalid_request');
        assert.equal(typeof parsed.error_description, 'string');
      });
    }
    it(`${path} with a query string is the same endpoint: 405 for GET`, async () => {
      const response = await send(authority.url, 'GET', `${path}?grant_type=client_credentials`);
      assert.equal(response.status, 405);
    });
  }

  it('POST still reaches the endpoint (an unauthenticated token request is invalid_client)', async () => {
    const response = await send(authority.url, 'POST', '/oauth2/token', {
      type: 'application/x-www-form-urlencoded',
      text: 'grant_type=client_credentials&audience=billing',
    });
    assert.equal(response.status, 401);
    assert.equal((JSON.parse(response.body) as { error: string }).error, 'invalid_client');
  });

  it('other paths keep their 404', async () => {
    for (const path of ['/oauth2/token/', '/oauth2/authorize', '/OAUTH2/TOKEN']) {
      const response = await send(authority.url, 'GET', path);
      assert.equal(response.status, 404, path);
    }
  });
});
