import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateSigningKey, TesseraError } from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import { ClientCredentialsTokenSource, createServiceMap } from '@tessera/client';

/**
 * Review finding 3: the token source sent client assertions to whatever URL it was given and to
 * whatever `token_endpoint` the metadata named. Plain http is for loopback only (the rule is
 * `assertSecureUrl` in core), and the metadata must come from the issuer it claims (RFC 8414
 * §3.3) with its endpoints on that issuer's origin.
 */

const CLIENT = 'spiffe://tessera.local/event-service';
const AUDIENCE = 'spiffe://tessera.local/billing';
const ISSUER = 'https://authority.example';
const key = generateSigningKey();

function refusedWith(code: string, option: string) {
  return (error: unknown) =>
    error instanceof TesseraError &&
    error.code === code &&
    error.detail?.startsWith(`${option}: `) === true;
}

describe('ClientCredentialsTokenSource: the authority URL', () => {
  const URLS: readonly [url: string, code: string | undefined][] = [
    ['https://authority.example', undefined],
    ['http://127.0.0.1:7700', undefined],
    ['http://[::1]:7700', undefined],
    ['http://authority.internal:7700', 'ERR_CONFIG_INSECURE'],
    ['http://localhost:7700', 'ERR_CONFIG_INSECURE'],
    ['http://10.0.0.5:7700', 'ERR_CONFIG_INSECURE'],
    ['http://127.0.0.1.nip.io:7700', 'ERR_CONFIG_INSECURE'],
    ['http://0.0.0.0:7700', 'ERR_CONFIG_INSECURE'],
    ['ftp://127.0.0.1', 'ERR_CONFIG_INSECURE'],
    ['http://127.0.0.1@evil.example', 'ERR_CONFIG_INVALID'],
    ['https://user:pass@authority.example', 'ERR_CONFIG_INVALID'],
    ['authority.example', 'ERR_CONFIG_INVALID'],
  ];
  for (const [authorityUrl, code] of URLS) {
    it(`${code === undefined ? 'accepts' : `refuses (${code})`} authorityUrl ${authorityUrl}`, () => {
      const build = () => new ClientCredentialsTokenSource({ authorityUrl, clientId: CLIENT, key });
      if (code === undefined) assert.doesNotThrow(build);
      else assert.throws(build, refusedWith(code, 'authorityUrl'));
    });
  }

  it('refuses an insecure issuer option too', () => {
    assert.throws(
      () =>
        new ClientCredentialsTokenSource({
          authorityUrl: ISSUER,
          issuer: 'http://authority.example',
          clientId: CLIENT,
          key,
        }),
      refusedWith('ERR_CONFIG_INSECURE', 'issuer'),
    );
  });
});

/** A fake authority whose metadata document is the row's; records every URL asked for. */
function sourceWithMetadata(
  metadata: Record<string, unknown>,
  options: { authorityUrl?: string; issuer?: string } = {},
) {
  const requested: string[] = [];
  const fetchFake = ((input: string | URL | Request) => {
    const url = input instanceof Request ? input.url : input.toString();
    requested.push(url);
    if (url.endsWith('/.well-known/oauth-authorization-server')) {
      return Promise.resolve(Response.json(metadata));
    }
    return Promise.resolve(
      Response.json({ access_token: 'token', token_type: 'Bearer', expires_in: 300 }),
    );
  }) as typeof fetch;
  const source = new ClientCredentialsTokenSource({
    authorityUrl: options.authorityUrl ?? ISSUER,
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
    clientId: CLIENT,
    key,
    clock: new ManualClock(Date.UTC(2026, 0, 1)),
    fetch: fetchFake,
  });
  return { source, requested };
}

const GOOD = {
  issuer: ISSUER,
  token_endpoint: `${ISSUER}/oauth2/token`,
  jwks_uri: `${ISSUER}/.well-known/jwks.json`,
};

describe('ClientCredentialsTokenSource: the authority metadata', () => {
  const REFUSED: readonly [why: string, metadata: Record<string, unknown>][] = [
    ['another issuer', { ...GOOD, issuer: 'https://evil.example' }],
    ['the issuer with a trailing slash', { ...GOOD, issuer: `${ISSUER}/` }],
    ['the issuer in other case (compared as strings)', { ...GOOD, issuer: ISSUER.toUpperCase() }],
    ['the issuer over http', { ...GOOD, issuer: 'http://authority.example' }],
    ['no issuer', { token_endpoint: GOOD.token_endpoint }],
    ['an issuer that is not a string', { ...GOOD, issuer: [ISSUER] }],
    ['a token endpoint on another host', { ...GOOD, token_endpoint: 'https://evil.example/t' }],
    [
      'a token endpoint on another port',
      { ...GOOD, token_endpoint: 'https://authority.example:8443/oauth2/token' },
    ],
    [
      'a token endpoint over http',
      { ...GOOD, token_endpoint: 'http://authority.example/oauth2/token' },
    ],
    [
      'a token endpoint with a userinfo trick',
      { ...GOOD, token_endpoint: 'https://authority.example@evil.example/oauth2/token' },
    ],
    [
      'a token endpoint on a look-alike host',
      { ...GOOD, token_endpoint: 'https://authority.example.evil.example/oauth2/token' },
    ],
    ['a relative token endpoint', { ...GOOD, token_endpoint: '/oauth2/token' }],
    ['no token endpoint', { issuer: ISSUER, jwks_uri: GOOD.jwks_uri }],
    ['a jwks_uri on another host', { ...GOOD, jwks_uri: 'https://evil.example/jwks.json' }],
    ['a jwks_uri over http', { ...GOOD, jwks_uri: 'http://authority.example/jwks.json' }],
    ['a jwks_uri that is not a string', { ...GOOD, jwks_uri: 42 }],
  ];
  for (const [why, metadata] of REFUSED) {
    it(`refuses metadata with ${why}, before any assertion is sent`, async () => {
      const { source, requested } = sourceWithMetadata(metadata);
      await assert.rejects(source.getToken(AUDIENCE, []), (error: unknown) => {
        return error instanceof TesseraError && error.code === 'ERR_CONFIG_INVALID';
      });
      assert.deepEqual(requested, [`${ISSUER}/.well-known/oauth-authorization-server`]);
    });
  }

  const ACCEPTED: readonly [
    why: string,
    metadata: Record<string, unknown>,
    options: { authorityUrl?: string; issuer?: string },
  ][] = [
    ['every endpoint on the issuer origin', GOOD, {}],
    [
      'no jwks_uri (optional in RFC 8414)',
      { issuer: ISSUER, token_endpoint: GOOD.token_endpoint },
      {},
    ],
    ['an authority URL with a trailing slash', GOOD, { authorityUrl: `${ISSUER}/` }],
    [
      'a loopback authority over http',
      {
        issuer: 'http://127.0.0.1:7700',
        token_endpoint: 'http://127.0.0.1:7700/oauth2/token',
        jwks_uri: 'http://127.0.0.1:7700/.well-known/jwks.json',
      },
      { authorityUrl: 'http://127.0.0.1:7700' },
    ],
    [
      'an issuer given apart from the URL the metadata is fetched from',
      {
        issuer: 'https://tessera.example',
        token_endpoint: 'https://tessera.example/oauth2/token',
      },
      { issuer: 'https://tessera.example' },
    ],
  ];
  for (const [why, metadata, options] of ACCEPTED) {
    it(`accepts metadata with ${why}`, async () => {
      const { source, requested } = sourceWithMetadata(metadata, options);
      assert.equal(await source.getToken(AUDIENCE, []), 'token');
      assert.equal(requested[1], metadata.token_endpoint);
    });
  }
});

describe('createServiceMap: the same rule for upstreams', () => {
  const URLS: readonly [url: string, code: string | undefined][] = [
    ['https://billing.internal', undefined],
    ['http://127.0.0.1:7703', undefined],
    ['http://[::1]:7703', undefined],
    ['http://[::ffff:127.0.0.1]:7703', undefined],
    ['http://localhost:7703', 'ERR_CONFIG_INSECURE'],
    ['http://billing.internal:7703', 'ERR_CONFIG_INSECURE'],
    ['http://127.0.0.1.nip.io', 'ERR_CONFIG_INSECURE'],
    ['ftp://127.0.0.1', 'ERR_CONFIG_INSECURE'],
    ['http://127.0.0.1@billing.internal', 'ERR_CONFIG_INVALID'],
    ['nope', 'ERR_CONFIG_INVALID'],
  ];
  for (const [url, code] of URLS) {
    it(`${code === undefined ? 'accepts' : `refuses (${code})`} ${url}`, () => {
      const build = () => createServiceMap({ billing: { url } }, { trustDomain: 'tessera.local' });
      if (code === undefined) assert.equal(build().size, 1);
      else assert.throws(build, refusedWith(code, 'services.billing.url'));
    });
  }

  it('allowInsecureHttp waives only the https rule', () => {
    const map = (url: string) =>
      createServiceMap(
        { billing: { url } },
        { trustDomain: 'tessera.local', allowInsecureHttp: true },
      );
    assert.equal(map('http://billing.internal:7703').size, 1);
    assert.throws(
      () => map('ftp://billing.internal'),
      refusedWith('ERR_CONFIG_INVALID', 'services.billing.url'),
    );
    assert.throws(
      () => map('http://user:pass@billing.internal'),
      refusedWith('ERR_CONFIG_INVALID', 'services.billing.url'),
    );
  });
});
