import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createVerifier,
  generateSigningKey,
  parseJwks,
  systemClock,
  TesseraError,
} from '@tessera/core';
import { verifyStoreAuditChain } from '../src/audit/chain.ts';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';
import { postgresSkipReason, startTestPostgres, type TestPostgres } from './support/postgres.ts';

const BILLING = 'spiffe://tessera.local/billing';
const EVENTS = 'spiffe://tessera.local/event-service';

/** The whole HTTP contract, run once per store: SQLite (embedded default) and PostgreSQL. */
const STORES = [
  { name: 'SQLite', skip: undefined, postgres: false },
  { name: 'PostgreSQL', skip: postgresSkipReason(), postgres: true },
] as const;

for (const variant of STORES) {
  describe(
    `authority over HTTP (dev mode, ${variant.name})`,
    { skip: variant.skip ?? false },
    () => {
      let authority: TestAuthority;
      let postgres: TestPostgres | undefined;
      let events: Awaited<ReturnType<TestAuthority['register']>>;
      let billing: Awaited<ReturnType<TestAuthority['register']>>;
      const issuedTokens: string[] = [];

      before(async () => {
        postgres = variant.postgres ? await startTestPostgres() : undefined;
        authority = await startTestAuthority(
          postgres ? { postgres: postgres.connectionString } : {},
        );
        billing = await authority.register('billing', [], []);
        events = await authority.register(
          'event-service',
          ['billing'],
          ['invoices:write', 'invoices:read'],
        );
      });
      after(async () => {
        await authority.close();
        await postgres?.stop();
      });

      async function getToken(scope = 'invoices:write'): Promise<string> {
        const response = await authority.tokenRequest(events.key, events.clientId, {
          audience: 'billing',
          scope,
        });
        assert.equal(response.status, 200);
        const body = (await response.json()) as { access_token: string };
        issuedTokens.push(body.access_token);
        return body.access_token;
      }

      async function verifierForBilling() {
        const jwks = await (await fetch(`${authority.url}/.well-known/jwks.json`)).json();
        return createVerifier({
          issuer: authority.url,
          audience: BILLING,
          keys: parseJwks(jwks),
          clock: systemClock,
          cache: false,
        });
      }

      it('publishes RFC 8414 metadata whose issuer is the exact origin', async () => {
        const response = await fetch(`${authority.url}/.well-known/oauth-authorization-server`);
        const metadata = (await response.json()) as Record<string, unknown>;
        assert.equal(metadata.issuer, authority.url);
        assert.equal(metadata.token_endpoint, `${authority.url}/oauth2/token`);
        assert.deepEqual(metadata.token_endpoint_auth_methods_supported, ['private_key_jwt']);
        assert.deepEqual(metadata.grant_types_supported, [
          'client_credentials',
          'urn:ietf:params:oauth:grant-type:token-exchange',
        ]);
      });

      it('publishes the active and the next key with a bounded cache lifetime', async () => {
        const response = await fetch(`${authority.url}/.well-known/jwks.json`);
        assert.match(response.headers.get('cache-control') ?? '', /^public, max-age=\d+$/);
        const maxAge = Number(
          /max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '')?.[1],
        );
        assert.ok(maxAge <= 300);
        const jwks = (await response.json()) as { keys: unknown[] };
        assert.equal(jwks.keys.length, 2);
        assert.equal(
          parseJwks(jwks).size,
          2,
          'public keys only: parseJwks refuses private members',
        );
      });

      it('issues an audience-bound RFC 9068 token that billing verifies locally', async () => {
        const response = await authority.tokenRequest(events.key, events.clientId, {
          audience: 'billing',
          scope: 'invoices:write',
        });
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('cache-control'), 'no-store');
        const body = (await response.json()) as {
          access_token: string;
          token_type: string;
          expires_in: number;
          scope: string;
        };
        assert.equal(body.token_type, 'Bearer');
        assert.equal(body.expires_in, 300);
        assert.equal(body.scope, 'invoices:write');
        const caller = (await verifierForBilling()).verify(body.access_token);
        assert.equal(caller.kind, 'service');
        assert.equal(caller.spiffeId, EVENTS);
        assert.deepEqual(caller.scopes, ['invoices:write']);
        issuedTokens.push(body.access_token);
      });

      it('accepts the audience as a SPIFFE ID too', async () => {
        const response = await authority.tokenRequest(events.key, events.clientId, {
          audience: BILLING,
        });
        assert.equal(response.status, 200);
      });

      const REFUSALS: readonly [string, Record<string, string>, number, string][] = [
        [
          'a scope the registry does not grant',
          { audience: 'billing', scope: 'invoices:write admin' },
          400,
          'invalid_scope',
        ],
        [
          'an audience the registry does not grant',
          { audience: 'event-service' },
          400,
          'invalid_target',
        ],
        ['an unregistered audience', { audience: 'nobody' }, 400, 'invalid_target'],
        ['no audience', {}, 400, 'invalid_request'],
        [
          'another grant type',
          { audience: 'billing', grant_type: 'password' },
          400,
          'unsupported_grant_type',
        ],
      ];
      for (const [name, extra, status, error] of REFUSALS) {
        it(`refuses ${name} with ${error} rather than a smaller token`, async () => {
          const response = await authority.tokenRequest(events.key, events.clientId, extra);
          assert.equal(response.status, status);
          assert.equal(((await response.json()) as { error: string }).error, error);
        });
      }

      it('refuses a replayed client assertion with 401 invalid_client and WWW-Authenticate', async () => {
        const assertion = authority.assertion(events.key, events.clientId);
        const fields = {
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
          audience: 'billing',
        };
        assert.equal((await authority.form('/oauth2/token', fields)).status, 200);
        const replay = await authority.form('/oauth2/token', fields);
        assert.equal(replay.status, 401);
        assert.match(replay.headers.get('www-authenticate') ?? '', /^Bearer /);
        const body = (await replay.json()) as Record<string, unknown>;
        assert.equal(body.error, 'invalid_client');
        assert.ok(
          !JSON.stringify(body).includes(assertion.split('.')[2] ?? '#'),
          'no echo of the assertion',
        );
      });

      it('refuses a request without client authentication', async () => {
        const response = await authority.form('/oauth2/token', {
          grant_type: 'client_credentials',
          audience: 'billing',
        });
        assert.equal(response.status, 401);
      });

      it('refuses repeated parameters with invalid_request', async () => {
        const body = `grant_type=client_credentials&audience=billing&audience=event-service&client_assertion_type=x&client_assertion=y`;
        const response = await fetch(`${authority.url}/oauth2/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        assert.equal(response.status, 400);
        assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
      });

      it('refuses bodies over 64 KB and wrong content types without a 5xx', async () => {
        const big = await fetch(`${authority.url}/oauth2/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `grant_type=client_credentials&pad=${'a'.repeat(70 * 1024)}`,
        });
        assert.equal(big.status, 413);
        const json = await fetch(`${authority.url}/oauth2/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"grant_type":"client_credentials"}',
        });
        assert.ok(json.status >= 400 && json.status < 500);
        const text = await json.text();
        assert.ok(!text.includes('at '), 'no stack trace');
      });

      it('reads OAuth parameters only from a form body, not text/plain', async () => {
        const body = new URLSearchParams({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: authority.assertion(events.key, events.clientId),
          audience: 'billing',
        }).toString();
        const response = await fetch(`${authority.url}/oauth2/token`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body,
        });
        assert.equal(response.status, 400);
        assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
      });

      it('checks the admin credential before parsing the body', async () => {
        const response = await fetch(`${authority.url}/v1/admin/services`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' },
          body: '{not json',
        });
        assert.equal(response.status, 401);
        assert.deepEqual(await response.json(), {
          code: 'ERR_UNAUTHENTICATED',
          message: 'unauthorized',
        });
        const missing = await fetch(`${authority.url}/v1/admin/services`);
        assert.equal(missing.status, 401);
      });

      /** Introspects as billing, the tokens' audience: nobody else learns that one is active. */
      async function introspectToken(token: string): Promise<{ active: boolean; sub?: string }> {
        const response = await authority.form('/oauth2/introspect', {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: authority.assertion(billing.key, billing.clientId),
          token,
        });
        assert.equal(response.status, 200);
        return (await response.json()) as { active: boolean; sub?: string };
      }

      it('revokes a token (RFC 7009) so introspection (RFC 7662) reports it inactive', async () => {
        const token = await getToken();
        const introspect = () => introspectToken(token);
        assert.deepEqual(
          { active: (await introspect()).active, sub: (await introspect()).sub },
          { active: true, sub: EVENTS },
        );
        const revoked = await authority.form('/oauth2/revoke', {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: authority.assertion(events.key, events.clientId),
          token,
        });
        assert.equal(revoked.status, 200);
        assert.deepEqual(await introspect(), { active: false });
      });

      it('answers 200 when revoking an unknown token', async () => {
        const response = await authority.form('/oauth2/revoke', {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: authority.assertion(events.key, events.clientId),
          token: 'not-a-token',
        });
        assert.equal(response.status, 200);
      });

      it('streams revocations over SSE within a second', async () => {
        const controller = new AbortController();
        const response = await fetch(`${authority.url}/v1/revocations/stream`, {
          headers: {
            authorization: `Bearer ${authority.assertion(events.key, events.clientId)}`,
          },
          signal: controller.signal,
        });
        assert.equal(response.headers.get('content-type'), 'text/event-stream');
        const reader = response.body!.getReader();
        const started = Date.now();
        const revoke = await authority.admin('POST', '/v1/admin/revocations', {
          jti: 'sse-probe',
          exp: Math.floor(Date.now() / 1000) + 60,
        });
        assert.equal(revoke.status, 201);
        let text = '';
        const deadline = Date.now() + 5000;
        while (!text.includes('"sse-probe"') && Date.now() < deadline) {
          const chunk = (await reader.read()) as { done: boolean; value?: Uint8Array };
          if (chunk.done) break;
          text += Buffer.from(chunk.value ?? new Uint8Array()).toString('utf8');
        }
        controller.abort();
        assert.ok(text.includes('"sse-probe"'), 'the revocation arrived on the stream');
        assert.ok(Date.now() - started < 5000);
        const list = (await (
          await fetch(`${authority.url}/v1/revocations?since=0`, {
            headers: {
              authorization: `Bearer ${authority.assertion(events.key, events.clientId)}`,
            },
          })
        ).json()) as {
          revocations: { value: string }[];
        };
        assert.ok(list.revocations.some((r) => r.value === 'sse-probe'));
      });

      it('exchanges a join token exactly once', async () => {
        await authority.register('worker', [], []);
        const created = await authority.admin('POST', '/v1/admin/join-tokens', {
          service: 'worker',
          ttlSeconds: 600,
        });
        assert.equal(created.status, 201);
        const { token } = (await created.json()) as { token: string };
        const key = generateSigningKey();
        const join = () =>
          fetch(`${authority.url}/v1/attest/join`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ token, jwks: { keys: [key.publicJwk] } }),
          });
        assert.equal((await join()).status, 200);
        assert.equal((await join()).status, 401);
      });

      it('disabling a service refuses its authentication and revokes its tokens', async () => {
        const doomed = await authority.register('doomed', ['billing'], []);
        const before = await authority.tokenRequest(doomed.key, doomed.clientId, {
          audience: 'billing',
        });
        assert.equal(before.status, 200);
        const { access_token: token } = (await before.json()) as { access_token: string };
        assert.equal((await authority.admin('DELETE', '/v1/admin/services/doomed')).status, 204);
        const afterwards = await authority.tokenRequest(doomed.key, doomed.clientId, {
          audience: 'billing',
        });
        assert.equal(afterwards.status, 401);
        assert.deepEqual(await introspectToken(token), { active: false });
      });

      it('rotates keys: old tokens keep verifying, and --revoke-previous cuts them off', async () => {
        const token = await getToken();
        const rotated = await authority.admin('POST', '/v1/admin/keys/rotate', {});
        assert.equal(rotated.status, 200);
        assert.equal(
          (await verifierForBilling()).verify(token).spiffeId,
          EVENTS,
          'retired key still published',
        );
        const fresh = await getToken();
        // Introspected once, so the authority remembers having read it.
        assert.equal((await introspectToken(fresh)).active, true);
        const emergency = await authority.admin('POST', '/v1/admin/keys/rotate', {
          revokePrevious: true,
        });
        assert.equal(emergency.status, 200);
        assert.deepEqual(await introspectToken(fresh), { active: false }, 'withdrawn key');
        const verifier = await verifierForBilling();
        assert.throws(
          () => verifier.verify(fresh),
          (error: unknown) =>
            error instanceof TesseraError && error.code === 'ERR_TOKEN_KID_UNKNOWN',
        );
      });

      it('reports ready and exports metrics', async () => {
        assert.equal((await fetch(`${authority.url}/healthz`)).status, 200);
        assert.equal((await fetch(`${authority.url}/readyz`)).status, 200);
        const metrics = await (await fetch(`${authority.url}/metrics`)).text();
        assert.match(
          metrics,
          /tessera_authority_tokens_issued_total\{grant_type="client_credentials"\} \d+/,
        );
        assert.match(
          metrics,
          /tessera_authority_failures_total\{endpoint="token",reason="replayed"\} 1/,
        );
      });

      it('keeps an intact audit chain that never contains a token', async () => {
        // Failed client authentications are written per interval, aggregated by source.
        await authority.running.context.unauthenticated.flush();
        const verdict = await verifyStoreAuditChain(authority.running.context.store);
        assert.equal(verdict.ok, true);
        const records = await authority.running.context.store.listAudit(0, 10_000);
        assert.ok(records.some((r) => r.type === 'token.issued'));
        assert.ok(records.some((r) => r.type === 'client_auth.failed'));
        for (const type of [
          'service.registered',
          'service.disabled',
          'revocation.added',
          'key.rotated',
          'key.scheduled_change',
          'join_token.created',
          'service.joined',
        ]) {
          assert.ok(
            records.some((r) => r.type === type),
            `audit log has ${type}`,
          );
        }
        const everything = JSON.stringify(records) + authority.logLines.join('\n');
        for (const token of issuedTokens) {
          assert.ok(
            !everything.includes(token.split('.')[2] ?? '#'),
            'a token signature reached the audit log or logs',
          );
        }
      });
    },
  );
}
