import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { JWT_BEARER_ASSERTION_TYPE, type SigningKey } from '@tessera/core';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';
import { startStubIdp, type StubIdp } from './support/stub-idp.ts';

/**
 * Interoperability: a delegated token from a real two-hop token exchange (alice through gateway,
 * then event-service, to billing) verified by PyJWT, an independent implementation in another
 * language, against the authority's published JWKS (PyJWKClient over loopback). The script is
 * `support/pyjwt_verify.py`, run by Debian's /usr/bin/python3 with python3-jwt and
 * python3-cryptography. Outside CI, without them, the suite is skipped saying why; with
 * `CI=true` it fails (`.ci/run` installs them).
 */

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./support/pyjwt_verify.py', import.meta.url));
const PYTHON_TIMEOUT_MS = 20_000;
const TD = 'spiffe://tessera.local';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
/** What the authority signs with by default (`keys.alg`), the only algorithm PyJWT is given. */
const ALG = 'ES256';

const run = promisify(execFile);

/** Why PyJWT cannot be run here, or undefined when it can. */
async function pyjwtUnavailable(): Promise<string | undefined> {
  try {
    await run(PYTHON, ['-c', 'import jwt, cryptography'], { timeout: PYTHON_TIMEOUT_MS });
    return undefined;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n').slice(-2).join(' ') : '';
    return (
      `${PYTHON} cannot import jwt and cryptography (install the Debian packages ` +
      `python3-jwt and python3-cryptography): ${detail}`
    );
  }
}

const unavailable = await pyjwtUnavailable();
const inCi = process.env.CI === 'true';

type Verdict =
  | {
      ok: true;
      pyjwt: string;
      header: Record<string, unknown>;
      claims: Record<string, unknown>;
    }
  | { ok: false; pyjwt: string; error: string; detail: string };

/** Runs the PyJWT script on `token`; exit 0 is verified, 1 refused, anything else throws. */
function pyjwtVerify(
  token: string,
  expect: { jwksUri: string; issuer: string; audience: string; algorithm?: string },
): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      PYTHON,
      [SCRIPT, expect.jwksUri, expect.issuer, expect.audience, expect.algorithm ?? ALG],
      { timeout: PYTHON_TIMEOUT_MS, env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : error.code;
        if (code !== 0 && code !== 1) {
          reject(new Error(`pyjwt_verify.py failed (${String(code)}): ${stderr}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout) as Verdict);
        } catch {
          reject(new Error(`pyjwt_verify.py printed no JSON: ${stdout} ${stderr}`));
        }
      },
    );
    child.stdin?.end(token);
  });
}

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function parts(token: string): { header: string; payload: string; signature: string } {
  const [header = '', payload = '', signature = ''] = token.split('.');
  return { header, payload, signature };
}

function decodePart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Tampered variants of a valid delegated token, each with the PyJWT exception that refuses it. */
const TAMPERED: readonly {
  name: string;
  tamper: (token: string) => string;
  error: string;
}[] = [
  {
    name: 'the user in the payload changed, signature kept',
    tamper: (token) => {
      const { header, payload, signature } = parts(token);
      return `${header}.${b64json({ ...decodePart(payload), sub: 'mallory' })}.${signature}`;
    },
    error: 'InvalidSignatureError',
  },
  {
    name: 'an actor removed from the chain, signature kept',
    tamper: (token) => {
      const { header, payload, signature } = parts(token);
      const claims = decodePart(payload);
      return `${header}.${b64json({ ...claims, act: { sub: (claims.act as { sub: string }).sub } })}.${signature}`;
    },
    error: 'InvalidSignatureError',
  },
  {
    name: 'the tenant changed, signature kept',
    tamper: (token) => {
      const { header, payload, signature } = parts(token);
      return `${header}.${b64json({ ...decodePart(payload), tenant_id: 'globex' })}.${signature}`;
    },
    error: 'InvalidSignatureError',
  },
  {
    name: 'one bit of the signature flipped',
    tamper: (token) => {
      const { header, payload, signature } = parts(token);
      const bytes = Buffer.from(signature, 'base64url');
      bytes[10] = (bytes[10] ?? 0) ^ 0x01;
      return `${header}.${payload}.${bytes.toString('base64url')}`;
    },
    error: 'InvalidSignatureError',
  },
  {
    name: 'the header says alg none, signature dropped',
    tamper: (token) => {
      const { header, payload } = parts(token);
      return `${b64json({ ...decodePart(header), alg: 'none' })}.${payload}.`;
    },
    error: 'InvalidAlgorithmError',
  },
  {
    name: 'the header names a kid the JWKS does not publish',
    tamper: (token) => {
      const { header, payload, signature } = parts(token);
      return `${b64json({ ...decodePart(header), kid: 'not-a-published-kid' })}.${payload}.${signature}`;
    },
    error: 'PyJWKClientError',
  },
];

describe(
  'interoperability: a delegated token verified by PyJWT',
  {
    skip: unavailable !== undefined && !inCi ? unavailable : false,
  },
  () => {
    let idp: StubIdp;
    let authority: TestAuthority;
    let gateway: { key: SigningKey; clientId: string };
    let eventService: { key: SigningKey; clientId: string };
    let jwksUri: string;
    let issuer: string;
    /** alice → gateway → event-service → billing: `act` nested two deep. */
    let delegated: string;

    const exchange = async (
      client: { key: SigningKey; clientId: string },
      subjectToken: string,
      audience: string,
    ): Promise<string> => {
      const response = await authority.form('/oauth2/token', {
        grant_type: GRANT,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: authority.assertion(client.key, client.clientId),
        subject_token_type: ACCESS_TOKEN,
        subject_token: subjectToken,
        audience,
      });
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, 200, JSON.stringify(body));
      assert.equal(typeof body.access_token, 'string');
      return body.access_token as string;
    };

    before(async () => {
      // With CI=true a missing PyJWT fails the suite rather than skipping it.
      assert.equal(unavailable, undefined, `CI=true: ${unavailable ?? ''}`);
      idp = await startStubIdp('tessera-gateway');
      authority = await startTestAuthority({
        config: {
          users: {
            issuers: [
              {
                issuer: idp.issuer,
                audience: idp.audience,
                tenantClaim: 'org',
                clients: ['gateway'],
              },
            ],
          },
          tokenExchange: {
            mayAct: [
              { actor: 'gateway', audiences: ['event-service'] },
              { actor: 'event-service', audiences: ['billing'] },
            ],
          },
        },
      });
      await authority.register('billing', [], []);
      eventService = await authority.register('event-service', ['billing'], ['invoices:read']);
      gateway = await authority.register('gateway', ['event-service'], ['invoices:read']);
      const metadata = (await (
        await authority.request('/.well-known/oauth-authorization-server')
      ).json()) as { issuer: string; jwks_uri: string };
      issuer = metadata.issuer;
      jwksUri = metadata.jwks_uri;
      const userToken = await idp.sign({ sub: 'alice', org: 'acme', scope: 'invoices:read' });
      const first = await exchange(gateway, userToken, 'event-service');
      delegated = await exchange(eventService, first, 'billing');
    });
    after(async () => {
      if (unavailable !== undefined) return; // the suite failed before starting anything
      await authority.close();
      await idp.close();
    });

    it('verifies signature, alg, iss, aud and exp, and reads the user, tenant and act chain', async () => {
      const verdict = await pyjwtVerify(delegated, {
        jwksUri,
        issuer,
        audience: `${TD}/billing`,
      });
      assert.ok(verdict.ok, JSON.stringify(verdict));
      assert.match(verdict.pyjwt, /^2\./);
      assert.equal(verdict.header.alg, ALG);
      assert.equal(verdict.header.typ, 'at+jwt');
      const { claims } = verdict;
      assert.equal(claims.iss, issuer);
      assert.equal(claims.aud, `${TD}/billing`);
      assert.equal(typeof claims.exp, 'number');
      assert.ok((claims.exp as number) > Date.now() / 1000);
      assert.equal(claims.sub, 'alice');
      assert.equal(claims.user_iss, idp.issuer);
      assert.equal(claims.tenant_id, 'acme');
      assert.deepEqual(claims.act, { sub: `${TD}/event-service`, act: { sub: `${TD}/gateway` } });
      assert.equal(claims.client_id, `${TD}/event-service`);
      assert.equal(claims.scope, 'invoices:read');
    });

    for (const c of TAMPERED) {
      it(`refuses a tampered token: ${c.name}`, async () => {
        const verdict = await pyjwtVerify(c.tamper(delegated), {
          jwksUri,
          issuer,
          audience: `${TD}/billing`,
        });
        assert.equal(verdict.ok, false, JSON.stringify(verdict));
        assert.equal(verdict.error, c.error, JSON.stringify(verdict));
      });
    }

    const WRONG_EXPECTATIONS: readonly {
      name: string;
      expect: () => { issuer: string; audience: string; algorithm?: string };
      error: string;
    }[] = [
      {
        name: 'another audience (the token is for billing, not ledger)',
        expect: () => ({ issuer, audience: `${TD}/ledger` }),
        error: 'InvalidAudienceError',
      },
      {
        name: 'another issuer',
        expect: () => ({ issuer: 'http://127.0.0.1:1', audience: `${TD}/billing` }),
        error: 'InvalidIssuerError',
      },
      {
        name: 'only EdDSA allowed',
        expect: () => ({ issuer, audience: `${TD}/billing`, algorithm: 'EdDSA' }),
        error: 'InvalidAlgorithmError',
      },
    ];
    for (const c of WRONG_EXPECTATIONS) {
      it(`refuses the untampered token when the verifier expects ${c.name}`, async () => {
        const verdict = await pyjwtVerify(delegated, { jwksUri, ...c.expect() });
        assert.equal(verdict.ok, false, JSON.stringify(verdict));
        assert.equal(verdict.error, c.error, JSON.stringify(verdict));
      });
    }
  },
);
