import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditLine, jsonString } from '../src/audit-event.ts';
import { buildApp, EVENTS, GATEWAY, token } from './support/app.ts';

/** The audit line's schema: every field, in order, with the types it may take. */
const SCHEMA: readonly (readonly [string, readonly string[]])[] = [
  ['level', ['number']],
  ['time', ['number']],
  ['pid', ['number']],
  ['hostname', ['string']],
  ['event', ['string']],
  ['caller', ['string', 'null']],
  ['actor', ['string', 'null']],
  ['user', ['string', 'null']],
  ['tenant', ['string', 'null']],
  ['actors', ['object', 'null']],
  ['jti', ['string', 'null']],
  ['route', ['string', 'null']],
  ['method', ['string']],
  ['decision', ['string']],
  ['reason', ['string']],
  ['status', ['number']],
  ['durationMs', ['number']],
  ['correlationId', ['string']],
  ['traceId', ['string']],
  ['msg', ['string']],
];

/** False for strings with a lone surrogate, which no JSON round trip preserves. */
function wellFormed(value: string): boolean {
  return !/\p{Surrogate}/u.test(value);
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

function parseAgainstSchema(line: string): Record<string, unknown> {
  assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line');
  const record = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(
    Object.keys(record),
    SCHEMA.map(([name]) => name),
  );
  for (const [name, types] of SCHEMA) assert.ok(types.includes(typeOf(record[name])), name);
  assert.equal(record.event, 'tessera.request');
  assert.equal(record.msg, 'tessera request');
  assert.ok(record.decision === 'allow' || record.decision === 'deny');
  return record;
}

/** Strings an attacker or an unlucky developer could put in a route, a subject or a jti. */
const HOSTILE: readonly string[] = [
  'plain',
  'quote " inside',
  'back\\slash and \\" both',
  'newline \n and return \r',
  'controls \u0000\u0001\u001f\u007f',
  'unicode ünï 😀 \u2028\u2029',
  'lone surrogate \ud800 end',
  '","decision":"allow',
  '</script>',
];

describe('@tessera/fastify: hand-serialized audit lines', () => {
  for (const value of HOSTILE) {
    it(`jsonString round-trips ${JSON.stringify(value)}`, () => {
      const literal = jsonString(value);
      // A lone surrogate cannot survive any JSON round trip; JSON.stringify's escape is the spec.
      assert.equal(literal, JSON.stringify(value));
      assert.equal(JSON.parse(literal), wellFormed(value) ? value : JSON.parse(literal));
    });
  }

  it('every hostile value in every string field still gives one valid line of the schema', () => {
    for (const value of HOSTILE) {
      const line = auditLine(1_700_000_000_000, {
        caller: value,
        actor: value,
        user: value,
        tenant: value,
        actors: [value, value],
        jti: value,
        route: value,
        method: value,
        decision: 'deny',
        reason: 'ERR_POLICY_CALLER',
        status: 403,
        durationMs: 0.25,
        correlationId: value,
        traceId: value,
      });
      const record = parseAgainstSchema(line);
      if (wellFormed(value)) {
        for (const field of [
          'caller',
          'actor',
          'user',
          'tenant',
          'jti',
          'route',
          'method',
          'correlationId',
        ]) {
          assert.equal(record[field], value, field);
        }
        assert.deepEqual(record.actors, [value, value]);
      }
      assert.equal(record.decision, 'deny');
    }
  });

  it('writes one line per request through the plugin, hostile routes, jti, user and correlation ids included', async () => {
    const lines: string[] = [];
    const routes = ['/q"uote/:id', '/back\\slash', '/ünï/😀', '/esc\u001b[31m'];
    const { app, audit } = await buildApp(
      { auditDestination: { write: (line: string) => lines.push(line) } },
      (instance) => {
        for (const route of routes) instance.get(route, () => ({ ok: true }));
      },
    );
    const requests = [
      ...routes.map((route) => ({
        url: encodeURI(route.replace(':id', '1')),
        headers: { authorization: `Bearer ${token(EVENTS, [], { jti: 'j"\\\n\u0001ü' })}` },
      })),
      {
        url: '/whoami',
        headers: {
          authorization: `Bearer ${token('user "mallory"\\\n😀', [], { actor: GATEWAY })}`,
          'x-correlation-id': 'corr"\\\u0001',
        },
      },
      { url: '/whoami', headers: { 'x-correlation-id': 'fine-123' } },
      { url: '/healthz', headers: {} },
    ];
    for (const request of requests) await app.inject({ method: 'GET', ...request });
    assert.equal(lines.length, requests.length, 'exactly one line per request');
    assert.equal(audit.length, 0, 'nothing through the request logger');
    const records = lines.map(parseAgainstSchema);
    assert.deepEqual(
      records.slice(0, routes.length).map((record) => record.route),
      routes,
      'the hostile route patterns, intact',
    );
    assert.equal(records[0]?.jti, 'j"\\\n\u0001ü');
    assert.equal(records[0].caller, EVENTS);
    const delegated = records[routes.length];
    assert.equal(delegated?.caller, 'user "mallory"\\\n😀');
    assert.equal(delegated.actor, GATEWAY);
    assert.equal(delegated.user, 'user "mallory"\\\n😀');
    assert.deepEqual(delegated.actors, [GATEWAY]);
    assert.equal(records[0].user, null);
    assert.equal(records[0].actors, null);
    assert.notEqual(
      delegated.correlationId,
      'corr"\\\u0001',
      'an invalid correlation id is replaced',
    );
    assert.equal(records[routes.length + 1]?.correlationId, 'fine-123');
    assert.equal(records[routes.length + 1]?.reason, 'ERR_CREDENTIALS_MISSING');
    assert.equal(records.at(-1)?.reason, 'public');
    await app.close();
  });

  it('has the same event fields as the logger path', async () => {
    const lines: string[] = [];
    const fast = await buildApp({
      auditDestination: { write: (line: string) => lines.push(line) },
    });
    const slow = await buildApp();
    const request = {
      method: 'GET' as const,
      url: '/whoami',
      headers: { authorization: `Bearer ${token(EVENTS, [])}`, 'x-correlation-id': 'c-1' },
    };
    await fast.app.inject(request);
    await slow.app.inject(request);
    const mine = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    const pinos = slow.audit[0] ?? {};
    // pino adds the request id binding of `request.log`; everything else is the same.
    assert.deepEqual(
      Object.keys(mine).sort(),
      Object.keys(pinos)
        .filter((field) => field !== 'reqId')
        .sort(),
    );
    for (const field of [
      'event',
      'caller',
      'actor',
      'user',
      'tenant',
      'actors',
      'route',
      'method',
      'decision',
      'reason',
      'status',
      'correlationId',
      'msg',
      'level',
    ]) {
      assert.deepEqual(mine[field], pinos[field], field);
    }
    await fast.app.close();
    await slow.app.close();
  });

  it('auditDestination: false writes no events; with auditLogger it is refused', async () => {
    const { app, audit } = await buildApp({ auditDestination: false });
    await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(audit.length, 0);
    await app.close();
    await assert.rejects(
      buildApp({ auditDestination: { write: () => true }, auditLogger: app.log }),
      /at most one of auditLogger and auditDestination/,
    );
  });
});
