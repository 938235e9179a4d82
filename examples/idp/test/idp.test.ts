import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '@tessera/authority/testing';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import {
  ACCESS_TOKEN_TTL_SECONDS,
  IDP_AUDIENCE,
  LOGIN_CLIENT_ID,
  LOGIN_REDIRECT_URI,
  startIdp,
  TENANT_CLAIM,
  USER_SCOPES,
  type RunningIdp,
} from '../src/idp.ts';
import { authorize, exchangeCode, login, LoginError, pkcePair } from '../src/login.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const TIMEOUT = { signal: AbortSignal.timeout(10_000) };

function b64json(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe("the demo's user IdP (oidc-provider) and npm run login", { timeout: 60_000 }, () => {
  let idp: RunningIdp;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  const verify = (token: string) =>
    jwtVerify(token, jwks, {
      issuer: idp.issuer,
      audience: IDP_AUDIENCE,
      algorithms: ['ES256'],
      typ: 'at+jwt',
    });

  before(async () => {
    idp = await startIdp({ port: await freePort() });
    jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`), { timeoutDuration: 5000 });
  });
  after(() => idp.close());

  it('serves OpenID discovery on loopback: issuer, S256 PKCE, ES256, its JWKS', async () => {
    assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${idp.issuer}/.well-known/openid-configuration`, TIMEOUT);
    assert.equal(response.status, 200);
    const metadata = (await response.json()) as Record<string, unknown>;
    assert.equal(metadata.issuer, idp.issuer);
    assert.equal(metadata.jwks_uri, `${idp.issuer}/jwks`);
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(metadata.id_token_signing_alg_values_supported, ['ES256']);
    assert.ok((metadata.claims_supported as string[]).includes(TENANT_CLAIM));
  });

  it('publishes one ES256 public key (P-256, no private part) in its JWKS', async () => {
    const response = await fetch(`${idp.issuer}/jwks`, TIMEOUT);
    assert.equal(response.status, 200);
    const { keys } = (await response.json()) as { keys: Record<string, unknown>[] };
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.kty, 'EC');
    assert.equal(keys[0]!.crv, 'P-256');
    assert.equal(keys[0]!.alg, 'ES256');
    assert.equal(keys[0]!.d, undefined);
  });

  for (const [user, tenant] of [
    ['alice', 'acme'],
    ['bob', 'globex'],
  ] as const) {
    it(`logs ${user} in: a JWT access token that jose verifies, tenant ${tenant}`, async () => {
      const tokens = await login(idp.issuer, user);
      assert.equal(tokens.token_type, 'Bearer');
      assert.equal(tokens.expires_in, ACCESS_TOKEN_TTL_SECONDS);
      const { payload, protectedHeader } = await verify(tokens.access_token);
      assert.equal(protectedHeader.alg, 'ES256');
      assert.equal(protectedHeader.typ, 'at+jwt');
      assert.equal(payload.iss, idp.issuer);
      assert.equal(payload.aud, IDP_AUDIENCE);
      assert.equal(payload.sub, user);
      assert.equal(payload[TENANT_CLAIM], tenant);
      assert.equal(payload.client_id, LOGIN_CLIENT_ID);
      assert.equal(payload.exp! - payload.iat!, ACCESS_TOKEN_TTL_SECONDS);
      // Every scope the chain behind the gateway needs: token exchange only narrows.
      assert.deepEqual(String(payload.scope).split(' ').sort(), [
        'events:read',
        'events:write',
        'invoices:read',
        'invoices:write',
      ]);
      assert.deepEqual([...USER_SCOPES].sort(), String(payload.scope).split(' ').sort());
    });
  }

  it('refuses an unknown user, and the wrong case of a known one', async () => {
    for (const user of ['mallory', 'Alice', '', 'alice ', '__proto__', 'constructor']) {
      await assert.rejects(
        () => login(idp.issuer, user),
        (error: unknown) => error instanceof LoginError && error.message.includes('unknown user'),
        JSON.stringify(user),
      );
    }
  });

  it('rejects tokens that are not exactly what it signed (jose against its JWKS)', async () => {
    const { access_token: token } = await login(idp.issuer, 'alice');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as object;
    const attacks: [string, string][] = [
      [
        'tenant switched',
        `${header}.${b64json({ ...claims, [TENANT_CLAIM]: 'globex' })}.${signature}`,
      ],
      ['user switched', `${header}.${b64json({ ...claims, sub: 'bob' })}.${signature}`],
      ['alg none', `${b64json({ ...decodeProtectedHeader(token), alg: 'none' })}.${payload}.`],
      ['signature cut', `${header}.${payload}.`],
    ];
    for (const [name, forged] of attacks) {
      await assert.rejects(() => verify(forged), name);
    }
    const genuine = await verify(token);
    assert.equal(genuine.payload.sub, 'alice');
  });

  describe('PKCE is required', () => {
    it('refuses a code exchange without the verifier, or with the wrong one', async () => {
      for (const verifier of [undefined, pkcePair().verifier]) {
        const { challenge } = pkcePair();
        const code = await authorize(idp.issuer, 'alice', challenge);
        const response = await exchangeCode(idp.issuer, code, verifier);
        assert.equal(response.status, 400, String(verifier));
        const body = (await response.json()) as { error: string; access_token?: string };
        assert.equal(body.access_token, undefined);
        assert.match(body.error, /^invalid_(grant|request)$/);
      }
    });

    it('refuses an authorization request without a code challenge', async () => {
      const url = new URL(`${idp.issuer}/auth`);
      url.search = new URLSearchParams({
        client_id: LOGIN_CLIENT_ID,
        response_type: 'code',
        redirect_uri: LOGIN_REDIRECT_URI,
        scope: 'openid',
        state: 'x',
      }).toString();
      const response = await fetch(url, { redirect: 'manual', ...TIMEOUT });
      assert.equal(response.status, 303);
      const location = new URL(response.headers.get('location')!);
      assert.equal(`${location.origin}${location.pathname}`, LOGIN_REDIRECT_URI);
      assert.equal(location.searchParams.get('error'), 'invalid_request');
      assert.equal(location.searchParams.get('code'), null);
    });
  });

  describe('npm run login (the script the README shows)', () => {
    const run = (user: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          'npm',
          ['run', 'login', '--', user],
          {
            cwd: REPO,
            env: { ...process.env, IDP_PORT: new URL(idp.issuer).port },
            timeout: 30_000,
          },
          (error, stdout, stderr) => {
            resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr });
          },
        );
      });

    it("prints alice's access token on the last line", async () => {
      const { code, stdout, stderr } = await run('alice');
      assert.equal(code, 0, stderr);
      const last = stdout.trimEnd().split('\n').at(-1)!;
      const { payload } = await verify(last);
      assert.equal(payload.sub, 'alice');
      assert.equal(payload[TENANT_CLAIM], 'acme');
    });

    it('exits non-zero with a clear error for an unknown user', async () => {
      const { code, stdout, stderr } = await run('mallory');
      assert.notEqual(code, 0);
      assert.match(stderr, /unknown user "mallory": the demo's users are alice, bob/);
      assert.doesNotMatch(stdout, /eyJ/);
    });
  });
});
