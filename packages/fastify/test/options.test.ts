import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicy, TesseraError } from '@tessera/core';
import Fastify from 'fastify';
import { tessera, type TesseraPluginOptions } from '@tessera/fastify';

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  billing:
    routes:
      - { method: GET, path: /whoami, allow: any-authenticated }
`);

/**
 * Registers the plugin and stops before `ready()`: registration is where options are checked,
 * and nothing is fetched until the app is ready.
 */
async function register(options: Partial<TesseraPluginOptions>): Promise<void> {
  const app = Fastify();
  try {
    await app.register(tessera, { service: 'billing', policy, ...options });
  } finally {
    await app.close();
  }
}

function refusedWith(code: string, option: string) {
  return (error: unknown) =>
    error instanceof TesseraError &&
    error.code === code &&
    error.detail?.startsWith(`@tessera/fastify: ${option}: `) === true;
}

/**
 * Review finding 3: the plugin fetched keys and revocations from any `authority.url`, plain http
 * to anywhere included, so whoever sat on the path could hand it their own signing keys. The
 * plugin fetches no RFC 8414 metadata: the JWKS and the revocation feed are derived from
 * `authority.url` itself, on its origin, so checking that URL covers every fetch.
 */
describe('@tessera/fastify: authority.url', () => {
  const URLS: readonly [url: string, code: string | undefined][] = [
    ['https://authority.example', undefined],
    ['https://authority.example:8443/', undefined],
    ['http://127.0.0.1:7700', undefined],
    ['http://[::1]:7700', undefined],
    ['http://authority.internal:7700', 'ERR_CONFIG_INSECURE'],
    ['http://localhost:7700', 'ERR_CONFIG_INSECURE'],
    ['http://10.0.0.5:7700', 'ERR_CONFIG_INSECURE'],
    ['http://127.0.0.1.nip.io:7700', 'ERR_CONFIG_INSECURE'],
    ['http://[::]:7700', 'ERR_CONFIG_INSECURE'],
    ['ws://127.0.0.1:7700', 'ERR_CONFIG_INSECURE'],
    ['http://127.0.0.1@evil.example', 'ERR_CONFIG_INVALID'],
    ['https://user:pass@authority.example', 'ERR_CONFIG_INVALID'],
    ['127.0.0.1:7700', 'ERR_CONFIG_INVALID'],
  ];
  for (const [url, code] of URLS) {
    it(`${code === undefined ? 'accepts' : `refuses (${code})`} ${url}`, async () => {
      const authority = { url, credentials: () => 'a-token-for-the-authority' };
      if (code === undefined) await register({ authority });
      else await assert.rejects(register({ authority }), refusedWith(code, 'authority.url'));
    });
  }

  it('refuses an authority without a url', async () => {
    await assert.rejects(
      register({ authority: {} as never }),
      refusedWith('ERR_CONFIG_INVALID', 'authority.url'),
    );
  });
});
