import assert from 'node:assert/strict';
import { createHmac, sign } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  generateSigningKey,
  mintAccessToken,
  mintClientAssertion,
  systemClock,
  type SigningKey,
} from '@tessera/core';
import { eventually, ManualClock } from '@tessera/core/testing';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';

const TD = 'tessera.local';
const AUTHORITY_ID = `spiffe://${TD}/tessera-authority`;
const FEEDS = ['/v1/revocations', '/v1/revocations/stream'] as const;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWS with any header and claims, HMAC-signed with `secret` (or unsigned for `alg: none`). */
function craft(header: Record<string, unknown>, claims: Record<string, unknown>, secret = 'k') {
  const input = `${b64(header)}.${b64(claims)}`;
  if (header.alg === 'none') return `${input}.`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** GET with the given raw header lines (so duplicates go out as sent); resolves status, headers, body. */
function get(
  url: string,
  headers: [string, string][],
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: 'GET', headers: [['Host', new URL(url).host], ...headers].flat() },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
          // A stream that opened answers 200 and never ends by itself: enough to know.
          if (response.statusCode === 200) request.destroy();
        });
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
        });
        response.on('close', () => {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
        });
      },
    );
    request.setTimeout(5000, () => request.destroy(new Error('timeout')));
    request.on('error', reject);
    request.end();
  });
}

interface Material {
  authority: TestAuthority;
  reader: { key: SigningKey; clientId: string };
  signingKey: SigningKey;
  issuer: string;
}

function tokenFor(m: Material, overrides: Partial<Parameters<typeof mintAccessToken>[0]> = {}) {
  return mintAccessToken(
    {
      issuer: m.issuer,
      subject: m.reader.clientId,
      audience: AUTHORITY_ID,
      lifetimeSeconds: 300,
      ...overrides,
    },
    {
      key: overrides.issuer === 'forged' ? generateSigningKey() : m.signingKey,
      clock: systemClock,
    },
  ).token;
}

function assertionFor(
  m: Material,
  claims: Partial<Record<string, unknown>> = {},
  key?: SigningKey,
) {
  const now = Math.floor(Date.now() / 1000);
  const signer = key ?? m.reader.key;
  return craftSigned(
    { alg: 'ES256', typ: 'JWT', kid: signer.kid },
    {
      iss: m.reader.clientId,
      sub: m.reader.clientId,
      aud: m.issuer,
      iat: now,
      exp: now + 60,
      jti: crypto.randomUUID(),
      ...claims,
    },
    signer,
  );
}

/** A real ES256/EdDSA signature over claims `mintClientAssertion` would not write (attack rows). */
function craftSigned(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: SigningKey,
): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign(key.alg === 'ES256' ? 'sha256' : null, Buffer.from(input), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

/** One attack per row: what goes in `Authorization` (header lines) and the reason logged. */
interface AttackRow {
  readonly name: string;
  readonly headers: (m: Material) => [string, string][];
  readonly reason: string;
}

const bearer = (value: string): [string, string][] => [['Authorization', `Bearer ${value}`]];

const ATTACKS: readonly AttackRow[] = [
  { name: 'no credential', headers: () => [], reason: 'missing' },
  {
    name: 'a Basic credential',
    headers: () => [['Authorization', 'Basic YTpi']],
    reason: 'malformed',
  },
  { name: 'an empty bearer', headers: () => [['Authorization', 'Bearer ']], reason: 'malformed' },
  { name: 'a bearer that is not a JWS', headers: () => bearer('not-a-token'), reason: 'malformed' },
  {
    name: 'a JWS whose header is not JSON',
    headers: () => bearer('bm90LWpzb24.e30.c2ln'),
    reason: 'malformed',
  },
  {
    name: 'the admin token',
    headers: (m) => bearer(m.authority.adminToken),
    reason: 'malformed',
  },
  {
    name: 'two Authorization headers (a valid one second)',
    headers: (m) => [
      ['Authorization', 'Bearer x.y.z'],
      ['Authorization', `Bearer ${assertionFor(m)}`],
    ],
    reason: 'duplicate',
  },
  {
    name: 'two valid Authorization headers',
    headers: (m) => [
      ['Authorization', `Bearer ${assertionFor(m)}`],
      ['Authorization', `Bearer ${assertionFor(m)}`],
    ],
    reason: 'duplicate',
  },
  // Access tokens (typ at+jwt)
  {
    name: 'an access token for another audience',
    headers: (m) => bearer(tokenFor(m, { audience: `spiffe://${TD}/billing` })),
    reason: 'token_audience',
  },
  {
    name: 'an expired access token',
    headers: (m) =>
      bearer(
        mintAccessToken(
          {
            issuer: m.issuer,
            subject: m.reader.clientId,
            audience: AUTHORITY_ID,
            lifetimeSeconds: 60,
          },
          { key: m.signingKey, clock: { now: () => Date.now() - 120_000 } },
        ).token,
      ),
    reason: 'token_expired',
  },
  {
    name: 'an access token issued in the future',
    headers: (m) =>
      bearer(
        mintAccessToken(
          {
            issuer: m.issuer,
            subject: m.reader.clientId,
            audience: AUTHORITY_ID,
            lifetimeSeconds: 60,
          },
          { key: m.signingKey, clock: { now: () => Date.now() + 120_000 } },
        ).token,
      ),
    reason: 'token_not_yet_valid',
  },
  {
    name: 'an access token signed by a key the authority never had',
    headers: (m) => bearer(tokenFor(m, { issuer: 'forged' })),
    reason: 'token_invalid',
  },
  {
    name: 'an access token from another issuer (signed with the right key)',
    headers: (m) => bearer(tokenFor(m, { issuer: 'https://evil.example' })),
    reason: 'token_invalid',
  },
  {
    name: 'an HS256 access token',
    headers: (m) =>
      bearer(
        craft(
          { alg: 'HS256', typ: 'at+jwt', kid: m.signingKey.kid },
          {
            iss: m.issuer,
            sub: m.reader.clientId,
            client_id: m.reader.clientId,
            aud: AUTHORITY_ID,
          },
        ),
      ),
    reason: 'token_invalid',
  },
  {
    name: 'an alg:none access token',
    headers: (m) =>
      bearer(
        craft(
          { alg: 'none', typ: 'at+jwt' },
          {
            iss: m.issuer,
            sub: m.reader.clientId,
            client_id: m.reader.clientId,
            aud: AUTHORITY_ID,
          },
        ),
      ),
    reason: 'malformed',
  },
  {
    name: 'a delegated access token (act)',
    headers: (m) => bearer(tokenFor(m, { subject: 'user-42', actor: m.reader.clientId })),
    reason: 'token_delegated',
  },
  {
    name: 'an access token of an unregistered service',
    headers: (m) => bearer(tokenFor(m, { subject: `spiffe://${TD}/ghost` })),
    reason: 'client_unknown',
  },
  // Client assertions (any other typ)
  {
    name: 'an assertion for the token endpoint',
    headers: (m) => bearer(assertionFor(m, { aud: `${m.issuer}/oauth2/token` })),
    reason: 'assertion_audience',
  },
  {
    name: 'an assertion with aud as an array',
    headers: (m) => bearer(assertionFor(m, { aud: [m.issuer] })),
    reason: 'assertion_audience',
  },
  {
    name: 'an assertion for another issuer',
    headers: (m) => bearer(assertionFor(m, { aud: 'https://evil.example' })),
    reason: 'assertion_audience',
  },
  {
    name: 'an expired assertion',
    headers: (m) => {
      const now = Math.floor(Date.now() / 1000);
      return bearer(assertionFor(m, { iat: now - 120, exp: now - 60 }));
    },
    reason: 'assertion_invalid',
  },
  {
    name: 'an assertion signed by an unregistered key',
    headers: (m) => bearer(assertionFor(m, {}, generateSigningKey())),
    reason: 'assertion_invalid',
  },
  {
    name: 'an HS256 assertion',
    headers: (m) => {
      const now = Math.floor(Date.now() / 1000);
      return bearer(
        craft(
          { alg: 'HS256', typ: 'JWT', kid: m.reader.key.kid },
          {
            iss: m.reader.clientId,
            sub: m.reader.clientId,
            aud: m.issuer,
            exp: now + 60,
            jti: 'h',
          },
        ),
      );
    },
    reason: 'assertion_invalid',
  },
  {
    name: 'an alg:none assertion',
    headers: (m) => {
      const now = Math.floor(Date.now() / 1000);
      return bearer(
        craft(
          { alg: 'none', typ: 'JWT' },
          {
            iss: m.reader.clientId,
            sub: m.reader.clientId,
            aud: m.issuer,
            exp: now + 60,
            jti: 'n',
          },
        ),
      );
    },
    reason: 'malformed',
  },
  {
    name: 'an assertion without jti',
    headers: (m) => bearer(assertionFor(m, { jti: undefined })),
    reason: 'assertion_invalid',
  },
  {
    name: 'an assertion for an unknown client',
    headers: (m) =>
      bearer(assertionFor(m, { iss: `spiffe://${TD}/ghost`, sub: `spiffe://${TD}/ghost` })),
    reason: 'assertion_invalid',
  },
  {
    name: 'an access token relabelled as an assertion (typ JWT)',
    headers: (m) => {
      const [, payload, signature] = tokenFor(m).split('.');
      return bearer(
        `${b64({ alg: 'ES256', typ: 'JWT', kid: m.signingKey.kid })}.${payload}.${signature}`,
      );
    },
    reason: 'assertion_audience',
  },
];

describe('revocation feed authentication', () => {
  let m: Material;

  before(async () => {
    // Every row fails from 127.0.0.1: a budget that the table never exhausts (tested below).
    const authority = await startTestAuthority({
      config: { clientAuthFailures: { maxPerWindow: 1000 } },
    });
    const reader = await authority.register('reader', [], []);
    m = {
      authority,
      reader,
      signingKey: authority.running.keys.signingKey(),
      issuer: authority.running.context.settings.issuer,
    };
  });
  after(async () => {
    await m.authority.close();
  });

  function loggedReasons(): string[] {
    return m.authority.logLines
      .map((line) => JSON.parse(line) as { msg?: string; reason?: string })
      .filter((line) => line.msg === 'revocation feed: authentication failed')
      .map((line) => line.reason ?? '');
  }

  for (const feed of FEEDS) {
    for (const row of ATTACKS) {
      it(`${feed}: refuses ${row.name} with 401 (log: ${row.reason})`, async () => {
        const headers = row.headers(m);
        const before = loggedReasons().length;
        // A bad cursor too: the credential is checked before anything else about the request.
        const response = await get(`${m.authority.url}${feed}?since=not-a-number`, headers);
        assert.equal(response.status, 401, response.body);
        assert.equal(
          response.headers['www-authenticate'],
          row.reason === 'missing'
            ? 'Bearer realm="tessera"'
            : 'Bearer realm="tessera", error="invalid_token"',
        );
        assert.deepEqual(JSON.parse(response.body), {
          code: 'ERR_UNAUTHENTICATED',
          message: 'unauthorized',
        });
        assert.deepEqual(loggedReasons().slice(before), [row.reason]);
        for (const [, value] of headers) {
          const credential = value.replace(/^\w+ /, '');
          if (credential.length > 8) {
            assert.ok(
              !m.authority.logLines.some((line) => line.includes(credential)),
              'the credential never reaches the log',
            );
          }
        }
      });
    }
  }

  it('refuses a replayed assertion (the first use opens the feed)', async () => {
    const assertion = assertionFor(m);
    const first = await get(`${m.authority.url}/v1/revocations`, bearer(assertion));
    assert.equal(first.status, 200);
    for (const feed of FEEDS) {
      const again = await get(`${m.authority.url}${feed}`, bearer(assertion));
      assert.equal(again.status, 401);
    }
  });

  it('refuses an assertion replayed from the token endpoint', async () => {
    const assertion = m.authority.assertion(m.reader.key, m.reader.clientId);
    const token = await m.authority.form('/oauth2/token', {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      audience: AUTHORITY_ID,
    });
    assert.equal(token.status, 200);
    assert.equal((await get(`${m.authority.url}/v1/revocations`, bearer(assertion))).status, 401);
  });

  it('refuses a revoked access token and a disabled service', async () => {
    const doomed = await m.authority.register('doomed-reader', [], []);
    const token = mintAccessToken(
      { issuer: m.issuer, subject: doomed.clientId, audience: AUTHORITY_ID, lifetimeSeconds: 300 },
      { key: m.signingKey, clock: systemClock },
    );
    assert.equal((await get(`${m.authority.url}/v1/revocations`, bearer(token.token))).status, 200);
    const revoked = await m.authority.admin('POST', '/v1/admin/revocations', {
      jti: token.claims.jti,
      exp: token.claims.exp,
    });
    assert.equal(revoked.status, 201);
    assert.equal((await get(`${m.authority.url}/v1/revocations`, bearer(token.token))).status, 401);
    assert.equal(
      (await m.authority.admin('DELETE', '/v1/admin/services/doomed-reader')).status,
      204,
    );
    const assertion = mintClientAssertion(
      { clientId: doomed.clientId, audience: m.issuer },
      { key: doomed.key, clock: systemClock },
    );
    assert.equal((await get(`${m.authority.url}/v1/revocations`, bearer(assertion))).status, 401);
  });

  it('serves a client assertion and an access token for the authority from the token endpoint', async () => {
    const list = await get(`${m.authority.url}/v1/revocations?since=0`, bearer(assertionFor(m)));
    assert.equal(list.status, 200);
    assert.equal(list.headers['cache-control'], 'no-store');
    const issued = await m.authority.tokenRequest(m.reader.key, m.reader.clientId, {
      audience: 'tessera-authority',
    });
    assert.equal(issued.status, 200);
    const { access_token: token } = (await issued.json()) as { access_token: string };
    assert.equal((await get(`${m.authority.url}/v1/revocations`, bearer(token))).status, 200);
    const stream = await get(`${m.authority.url}/v1/revocations/stream`, bearer(token));
    assert.equal(stream.status, 200);
    assert.equal(stream.headers['content-type'], 'text/event-stream');
  });

  it('issues no scope with a token for the authority, and reserves its name', async () => {
    const scoped = await m.authority.tokenRequest(m.reader.key, m.reader.clientId, {
      audience: AUTHORITY_ID,
      scope: 'invoices:read',
    });
    assert.equal(scoped.status, 400);
    assert.equal(((await scoped.json()) as { error: string }).error, 'invalid_scope');
    const squat = await m.authority.admin('POST', '/v1/admin/services', {
      name: 'tessera-authority',
    });
    assert.equal(squat.status, 400);
    const join = await m.authority.admin('POST', '/v1/admin/join-tokens', {
      service: 'tessera-authority',
    });
    assert.equal(join.status, 400);
  });
});

/** An open event stream, read chunk by chunk. */
interface OpenStream {
  readonly status: number;
  /** Reads until `text` has arrived (true) or the stream ended or `ms` passed (false). */
  waitFor(text: string, ms?: number): Promise<boolean>;
  /** Resolves true once the authority ended the stream, false if it is still open after `ms`. */
  ended(ms?: number): Promise<boolean>;
  close(): void;
}

async function openStream(url: string, credential: string): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/revocations/stream`, {
    headers: { authorization: `Bearer ${credential}` },
    signal: controller.signal,
  });
  const reader = response.body!.getReader();
  let text = '';
  let done = false;
  // One read in flight at a time, kept across waits, so no chunk is ever dropped.
  let pending: Promise<{ done: boolean; value?: Uint8Array }> | undefined;
  const readFor = async (until: () => boolean, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!until() && !done && Date.now() < deadline) {
      pending ??= reader.read().catch(() => ({ done: true }));
      const chunk = await Promise.race([
        pending,
        new Promise<'idle'>((resolve) => {
          setTimeout(() => {
            resolve('idle');
          }, 100).unref();
        }),
      ]);
      if (chunk === 'idle') continue;
      pending = undefined;
      if (chunk.done) done = true;
      else text += Buffer.from(chunk.value ?? new Uint8Array()).toString('utf8');
    }
  };
  return {
    status: response.status,
    async waitFor(expected, ms = 3000) {
      await readFor(() => text.includes(expected), ms);
      return text.includes(expected);
    },
    async ended(ms = 3000) {
      await readFor(() => false, ms);
      return done;
    },
    close: () => {
      controller.abort();
    },
  };
}

describe('revocation stream limits', () => {
  const clock = new ManualClock(Date.now());
  let authority: TestAuthority;
  let issuer: string;

  before(async () => {
    authority = await startTestAuthority({
      clock,
      revocationFeed: { maxStreamsPerClient: 2, heartbeatMs: 50, maxStreamMs: 600_000 },
    });
    issuer = authority.running.context.settings.issuer;
  });
  after(async () => {
    await authority.close();
  });

  const assertion = (client: { key: SigningKey; clientId: string }) =>
    mintClientAssertion(
      { clientId: client.clientId, audience: issuer },
      { key: client.key, clock },
    );
  const tokenOf = (client: { clientId: string }, lifetimeSeconds = 300) =>
    mintAccessToken(
      { issuer, subject: client.clientId, audience: AUTHORITY_ID, lifetimeSeconds },
      { key: authority.running.keys.signingKey(), clock },
    );

  it('caps open streams per client (429 over the cap), and only for that client', async () => {
    const greedy = await authority.register('greedy', [], []);
    const other = await authority.register('other', [], []);
    const first = await openStream(authority.url, assertion(greedy));
    const second = await openStream(authority.url, assertion(greedy));
    assert.deepEqual([first.status, second.status], [200, 200]);
    const third = await get(`${authority.url}/v1/revocations/stream`, bearer(assertion(greedy)));
    assert.equal(third.status, 429);
    assert.deepEqual(JSON.parse(third.body), {
      code: 'ERR_RATE_LIMITED',
      message: 'too many requests',
    });
    const elsewhere = await openStream(authority.url, assertion(other));
    assert.equal(elsewhere.status, 200, 'another client is not affected');
    elsewhere.close();
    first.close();
    // The slot comes back once the authority has seen the subscriber go.
    await eventually(
      async () =>
        (await get(`${authority.url}/v1/revocations/stream`, bearer(assertion(greedy)))).status ===
        200,
      3000,
    );
    second.close();
  });

  it('sends heartbeats (SSE comment lines) on a quiet stream', async () => {
    const quiet = await authority.register('quiet', [], []);
    const stream = await openStream(authority.url, assertion(quiet));
    assert.equal(await stream.waitFor(': keep-alive\n\n'), true);
    stream.close();
  });

  it('ends a stream when the access token that opened it expires', async () => {
    const client = await authority.register('short-lived', [], []);
    const stream = await openStream(authority.url, tokenOf(client, 120).token);
    assert.equal(stream.status, 200);
    assert.equal(await stream.ended(300), false, 'open while the token is valid');
    clock.advance(121_000);
    assert.equal(await stream.ended(), true);
  });

  it('ends a stream when the assertion that opened it expires', async () => {
    const client = await authority.register('asserted', [], []);
    const stream = await openStream(authority.url, assertion(client));
    assert.equal(await stream.ended(300), false);
    clock.advance(61_000);
    assert.equal(await stream.ended(), true);
  });

  it('ends a stream at once when its service is disabled or its token revoked', async () => {
    const client = await authority.register('disabled-reader', [], []);
    const byService = await openStream(authority.url, tokenOf(client).token);
    assert.equal(await byService.ended(300), false);
    assert.equal(
      (await authority.admin('DELETE', '/v1/admin/services/disabled-reader')).status,
      204,
    );
    assert.equal(await byService.ended(), true);

    const other = await authority.register('revoked-reader', [], []);
    const token = tokenOf(other);
    const byToken = await openStream(authority.url, token.token);
    assert.equal(await byToken.ended(300), false);
    const revoked = await authority.admin('POST', '/v1/admin/revocations', {
      jti: token.claims.jti,
      exp: token.claims.exp,
    });
    assert.equal(revoked.status, 201);
    assert.equal(await byToken.ended(), true);
  });
});

describe('revocation stream lifetime', () => {
  it('ends every stream after maxStreamMs, whatever its credential says', async () => {
    const clock = new ManualClock(Date.now());
    const authority = await startTestAuthority({
      clock,
      revocationFeed: { heartbeatMs: 50, maxStreamMs: 30_000 },
    });
    try {
      const client = await authority.register('long-token', [], []);
      const token = mintAccessToken(
        {
          issuer: authority.running.context.settings.issuer,
          subject: client.clientId,
          audience: AUTHORITY_ID,
          lifetimeSeconds: 3600,
        },
        { key: authority.running.keys.signingKey(), clock },
      );
      const stream = await openStream(authority.url, token.token);
      assert.equal(await stream.ended(300), false);
      clock.advance(31_000);
      assert.equal(await stream.ended(), true);
    } finally {
      await authority.close();
    }
  });
});

describe('revocation feed failure budget', () => {
  it('counts refusals against the source, as the token endpoint does (429 once spent)', async () => {
    const authority = await startTestAuthority({
      config: { clientAuthFailures: { maxPerWindow: 3 } },
    });
    try {
      const reader = await authority.register('budgeted', [], []);
      for (let i = 0; i < 3; i++) {
        assert.equal((await get(`${authority.url}/v1/revocations`, bearer('x.y.z'))).status, 401);
      }
      const valid = await get(
        `${authority.url}/v1/revocations`,
        bearer(authority.assertion(reader.key, reader.clientId)),
      );
      assert.equal(valid.status, 429);
      assert.ok(Number(valid.headers['retry-after']) > 0);
      assert.equal((JSON.parse(valid.body) as { code: string }).code, 'ERR_RATE_LIMITED');
    } finally {
      await authority.close();
    }
  });
});
