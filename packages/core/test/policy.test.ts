import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { Value } from '@sinclair/typebox/value';

import { TESSERA_ERROR_CODES, TesseraError } from '../src/errors.ts';
import {
  admitsUsers,
  compilePolicy,
  evaluate,
  isPublicRoute,
  MAX_POLICY_BYTES,
  MAX_POLICY_NESTING,
  parsePolicy,
  POLICY_DENY_CODES,
  policySchema,
  routesOf,
} from '../src/policy/index.ts';
import type { Policy, PolicyDecision, PolicyDenyCode, PolicyFormat } from '../src/policy/index.ts';
import type { Caller, DelegatedCaller, ServiceCaller, UserCaller } from '../src/token/caller.ts';
import { fuzzSeed, mulberry32, mutate } from '../src/testing/fuzz.ts';

type Obj = Record<string, unknown>;

const TD = 'tessera.local';
const idOf = (name: string): string => `spiffe://${TD}/${name}`;

/** The reference policy, as a plain object. Each invalid row below breaks one thing in a copy. */
const BASE = {
  version: 1,
  trustDomain: TD,
  services: {
    'api-gateway': {},
    'event-service': {
      routes: [
        {
          method: 'GET',
          path: '/events/:id',
          allow: [{ service: 'api-gateway', scopes: ['events:read'] }],
        },
        {
          method: 'POST',
          path: '/events',
          allow: [{ service: 'api-gateway', scopes: ['events:write'], delegated: 'required' }],
        },
        {
          method: 'DELETE',
          path: '/events/:id',
          allow: [
            {
              service: 'api-gateway',
              scopes: ['events:write', 'events:admin'],
              delegated: 'forbidden',
            },
          ],
        },
        { method: 'GET', path: '/static/*', public: true },
      ],
    },
    billing: {
      routes: [
        {
          method: 'POST',
          path: '/invoices',
          allow: [{ service: idOf('event-service'), scopes: ['invoices:write'] }],
        },
        { method: 'GET', path: '/healthz', public: true },
        { method: 'GET', path: '/whoami', allow: 'any-authenticated' },
        { method: 'HEAD', path: '/healthz', public: true },
      ],
    },
  },
};

/** BASE written as a reader would write it: block style, flow entries, a comment. */
const BASE_YAML = `
version: 1
trustDomain: tessera.local
services:
  api-gateway: {} # a pure client
  event-service:
    routes:
      - { method: GET, path: /events/:id, allow: [{ service: api-gateway, scopes: [events:read] }] }
      - method: POST
        path: /events
        allow:
          - { service: api-gateway, scopes: [events:write], delegated: required }
      - method: DELETE
        path: /events/:id
        allow:
          - service: api-gateway
            scopes: [events:write, events:admin]
            delegated: forbidden
      - { method: GET, path: /static/*, public: true }
  billing:
    routes:
      - { method: POST, path: /invoices, allow: [{ service: "spiffe://tessera.local/event-service", scopes: [invoices:write] }] }
      - { method: GET, path: /healthz, public: true }
      - { method: GET, path: /whoami, allow: any-authenticated }
      - { method: HEAD, path: /healthz, public: true }
`;

const copy = (): Obj => JSON.parse(JSON.stringify(BASE)) as Obj;
const services = (doc: Obj): Obj => doc.services as Obj;
const service = (doc: Obj, name: string): Obj => services(doc)[name] as Obj;
const routes = (doc: Obj, name: string): unknown[] => service(doc, name).routes as unknown[];
const route = (doc: Obj, name: string, index: number): Obj => routes(doc, name)[index] as Obj;
const entry = (doc: Obj, name: string, index: number): Obj =>
  (route(doc, name, index).allow as Obj[])[0]!;

/** Runs `fn`, requires it to throw a TesseraError with ERR_POLICY_INVALID, and returns it. */
function expectInvalid(fn: () => unknown): TesseraError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof TesseraError, `expected a TesseraError, got ${String(thrown)}`);
  assert.equal(thrown.code, 'ERR_POLICY_INVALID');
  return thrown;
}

// Each row breaks one rule of an otherwise valid document; the detail must point at the problem.
// prettier-ignore
const INVALID_DOCUMENTS: readonly (readonly [name: string, pointer: string, edit: (doc: Obj) => void])[] = [
  ['version missing', '/version', (d) => { delete d.version; }],
  ['version 2', '/version', (d) => { d.version = 2; }],
  ['version as a string', '/version', (d) => { d.version = '1'; }],
  ['trustDomain missing', '/trustDomain', (d) => { delete d.trustDomain; }],
  ['trustDomain upper-case', '/trustDomain', (d) => { d.trustDomain = 'Tessera.local'; }],
  ['trustDomain with a port', '/trustDomain', (d) => { d.trustDomain = 'tessera.local:8443'; }],
  ['unknown top-level key', '/default', (d) => { d.default = 'allow'; }],
  ['services empty', '/services', (d) => { d.services = {}; }],
  ['services as a list', '/services', (d) => { d.services = [BASE.services.billing]; }],
  ['service name with a slash', '/services/bill~1ing', (d) => { services(d)['bill/ing'] = {}; }],
  ['service name ..', '/services/..', (d) => { services(d)['..'] = {}; }],
  ['service name empty', '/services/', (d) => { services(d)[''] = {}; }],
  ['service null', '/services/billing', (d) => { services(d).billing = null; }],
  ['misspelt routes key', '/services/billing/route', (d) => { service(d, 'billing').route = []; }],
  ['routes as a map', '/services/billing/routes', (d) => { service(d, 'billing').routes = { '/healthz': 'public' }; }],
  ['route as a string', '/services/billing/routes/0', (d) => { routes(d, 'billing')[0] = 'GET /healthz'; }],
  ['unknown key in a route', '/services/billing/routes/1/scope', (d) => { route(d, 'billing', 1).scope = 'x'; }],
  ['method lower-case', '/services/billing/routes/1/method', (d) => { route(d, 'billing', 1).method = 'get'; }],
  ['method TRACE', '/services/billing/routes/1/method', (d) => { route(d, 'billing', 1).method = 'TRACE'; }],
  ['method list', '/services/billing/routes/1/method', (d) => { route(d, 'billing', 1).method = ['GET', 'HEAD']; }],
  ['path without leading slash', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = 'healthz'; }],
  ['path empty', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = ''; }],
  ['path trailing slash', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/healthz/'; }],
  ['path empty segment', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/a//healthz'; }],
  ['path .. segment', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/a/../healthz'; }],
  ['path . segment', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/./healthz'; }],
  ['path with a query', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/healthz?full=1'; }],
  ['path with a fragment', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/healthz#x'; }],
  ['path percent-encoded', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/health%7Az'; }],
  ['path with a space', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/health z'; }],
  ['path with a newline', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/healthz\n'; }],
  ['path with wildcard mid-way', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/a/*/b'; }],
  ['path with regex parameter', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/a/:id(^\\d+)'; }],
  ['path with two parameters in a segment', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/a/:from-:to'; }],
  ['path repeating a parameter', '/services/billing/routes/1/path', (d) => { route(d, 'billing', 1).path = '/a/:id/b/:id'; }],
  ['route both public and allow', '/services/billing/routes/1', (d) => { route(d, 'billing', 1).allow = 'any-authenticated'; }],
  ['route neither public nor allow', '/services/billing/routes/1', (d) => { delete route(d, 'billing', 1).public; }],
  ['public: false', '/services/billing/routes/1/public', (d) => { route(d, 'billing', 1).public = false; }],
  ['public as a string', '/services/billing/routes/1/public', (d) => { route(d, 'billing', 1).public = 'true'; }],
  ['allow empty list', '/services/billing/routes/0/allow', (d) => { route(d, 'billing', 0).allow = []; }],
  ['allow unknown keyword', '/services/billing/routes/2/allow', (d) => { route(d, 'billing', 2).allow = 'anyone'; }],
  ['allow entry names an undeclared service', '/services/billing/routes/0/allow/0/service', (d) => { entry(d, 'billing', 0).service = 'event-servce'; }],
  ['allow entry names a SPIFFE ID in another trust domain', '/services/billing/routes/0/allow/0/service', (d) => { entry(d, 'billing', 0).service = 'spiffe://evil.example/event-service'; }],
  ['allow entry SPIFFE ID with an extra segment', '/services/billing/routes/0/allow/0/service', (d) => { entry(d, 'billing', 0).service = `${idOf('event-service')}/admin`; }],
  ['allow entry SPIFFE ID upper-case scheme', '/services/billing/routes/0/allow/0/service', (d) => { entry(d, 'billing', 0).service = 'SPIFFE://tessera.local/event-service'; }],
  ['allow entry service empty', '/services/billing/routes/0/allow/0/service', (d) => { entry(d, 'billing', 0).service = ''; }],
  ['allow entry with empty scopes', '/services/billing/routes/0/allow/0/scopes', (d) => { entry(d, 'billing', 0).scopes = []; }],
  ['scope with a space', '/services/billing/routes/0/allow/0/scopes/0', (d) => { entry(d, 'billing', 0).scopes = ['invoices:write admin']; }],
  ['scope with a double quote', '/services/billing/routes/0/allow/0/scopes/0', (d) => { entry(d, 'billing', 0).scopes = ['a"b']; }],
  ['scope with a backslash', '/services/billing/routes/0/allow/0/scopes/0', (d) => { entry(d, 'billing', 0).scopes = ['a\\b']; }],
  ['scope not a string', '/services/billing/routes/0/allow/0/scopes/0', (d) => { entry(d, 'billing', 0).scopes = [7]; }],
  ['scope as a space-separated string', '/services/billing/routes/0/allow/0/scopes', (d) => { entry(d, 'billing', 0).scopes = 'a b'; }],
  ['scope listed twice', '/services/billing/routes/0/allow/0/scopes', (d) => { entry(d, 'billing', 0).scopes = ['a', 'a']; }],
  ['delegated: yes', '/services/billing/routes/0/allow/0/delegated', (d) => { entry(d, 'billing', 0).delegated = 'yes'; }],
  ['delegated: true', '/services/billing/routes/0/allow/0/delegated', (d) => { entry(d, 'billing', 0).delegated = true; }],
  ['unknown key in an allow entry', '/services/billing/routes/0/allow/0/user', (d) => { entry(d, 'billing', 0).user = 'alice'; }],
  ['same caller twice, by name and by SPIFFE ID', '/services/billing/routes/0/allow/1/service', (d) => { (route(d, 'billing', 0).allow as Obj[]).push({ service: 'event-service', scopes: ['x'] }); }],
  ['same method and route twice', '/services/billing/routes/4', (d) => { routes(d, 'billing').push({ method: 'GET', path: '/healthz', public: true }); }],
  ['same route with another parameter name', '/services/event-service/routes/4', (d) => { routes(d, 'event-service').push({ method: 'GET', path: '/events/:eventId', public: true }); }],
];

// Text the decoders must reject before a document exists.
// prettier-ignore
const INVALID_TEXTS: readonly (readonly [name: string, format: PolicyFormat, text: string])[] = [
  ['YAML syntax error', 'yaml', 'version: 1\n  trustDomain: tessera.local\n'],
  ['YAML unterminated flow', 'yaml', 'version: 1\nservices: { billing: {\n'],
  ['YAML duplicate key', 'yaml', 'version: 1\nversion: 1\ntrustDomain: tessera.local\nservices: { billing: {} }\n'],
  ['YAML duplicate key spelt 1 and "1"', 'yaml', 'version: 1\ntrustDomain: tessera.local\nservices:\n  1: {}\n  "1": {}\n'],
  ['YAML duplicate route key inside a flow map', 'yaml', 'version: 1\ntrustDomain: t\nservices:\n  b:\n    routes: [{ method: GET, path: /x, public: true, public: true }]\n'],
  ['YAML custom tag', 'yaml', 'version: 1\ntrustDomain: tessera.local\nservices: { billing: !service {} }\n'],
  ['YAML !!binary tag', 'yaml', 'version: 1\ntrustDomain: !!binary dGVzc2VyYQ==\nservices: { billing: {} }\n'],
  ['YAML !!set tag', 'yaml', 'version: 1\ntrustDomain: tessera.local\nservices: !!set { billing }\n'],
  ['YAML explicit !!str tag', 'yaml', 'version: 1\ntrustDomain: !!str tessera.local\nservices: { billing: {} }\n'],
  ['YAML verbatim tag', 'yaml', 'version: 1\ntrustDomain: !<tag:yaml.org,2002:str> tessera.local\nservices: { billing: {} }\n'],
  ['YAML tag on the document root', 'yaml', `--- !!map\n${BASE_YAML}`],
  ['YAML unknown directive', 'yaml', `%TESSERA strict\n---\n${BASE_YAML}`],
  ['YAML unsupported version directive', 'yaml', `%YAML 2.0\n---\n${BASE_YAML}`],
  ['YAML %TAG directive', 'yaml', '%TAG !t! tag:tessera.local,2025:\n---\nversion: 1\ntrustDomain: !t!td tessera.local\nservices: { billing: {} }\n'],
  ['YAML merge key', 'yaml', 'version: 1\ntrustDomain: t\nservices:\n  a: {}\n  b:\n    routes:\n      - &r { method: GET, path: /x, public: true }\n      - { <<: *r, method: HEAD }\n'],
  ['YAML complex key', 'yaml', 'version: 1\ntrustDomain: t\nservices:\n  ? [billing]\n  : {}\n'],
  ['YAML alias as a key', 'yaml', 'version: 1\ntrustDomain: &n billing\nservices:\n  *n : {}\n'],
  ['YAML second document', 'yaml', 'version: 1\ntrustDomain: t\nservices: { a: {} }\n---\nversion: 1\n'],
  ['YAML empty text', 'yaml', ''],
  ['YAML only a comment', 'yaml', '# nothing here\n'],
  ['YAML null root', 'yaml', 'null\n'],
  ['YAML scalar root', 'yaml', 'allow everything\n'],
  ['YAML list root', 'yaml', '- version: 1\n'],
  ['YAML with a NUL byte in a scalar', 'yaml', BASE_YAML.replace('trustDomain: tessera.local', 'trustDomain: tessera\0.local')],
  ['JSON syntax error', 'json', '{"version": 1,'],
  ['JSON trailing comma', 'json', '{"version": 1, "trustDomain": "t", "services": {"a": {}},}'],
  ['JSON single quotes', 'json', "{'version': 1}"],
  ['JSON with a comment', 'json', '{"version": 1 /* v1 */, "trustDomain": "t", "services": {"a": {}}}'],
  ['JSON duplicate key at the root', 'json', '{"version": 1, "trustDomain": "t", "services": {"a": {}}, "version": 1}'],
  ['JSON duplicate key in a route', 'json', '{"version":1,"trustDomain":"t","services":{"a":{"routes":[{"method":"GET","path":"/x","public":true,"public":true}]}}}'],
  ['JSON duplicate key spelt with an escape', 'json', '{"version":1,"trustDomain":"t","services":{"a":{},"\\u0061":{}}}'],
  ['JSON YAML text', 'json', BASE_YAML],
  ['JSON null root', 'json', 'null'],
  ['JSON number root', 'json', '1'],
  ['JSON string root', 'json', '"version: 1"'],
  ['JSON array root', 'json', '[]'],
  ['JSON empty text', 'json', ''],
  ['JSON with a BOM', 'json', `\uFEFF${JSON.stringify(BASE)}`],
];

describe('policy: invalid documents', () => {
  for (const [name, pointer, edit] of INVALID_DOCUMENTS) {
    test(`rejects ${name} at ${pointer}`, () => {
      const doc = copy();
      edit(doc);
      const error = expectInvalid(() => compilePolicy(doc));
      assert.ok(
        error.detail?.startsWith(`${pointer}: `),
        `detail ${String(error.detail)} does not start with ${pointer}`,
      );
      // The same document must fail the same way through both text formats.
      assert.equal(
        expectInvalid(() => parsePolicy(JSON.stringify(doc), 'json')).detail,
        error.detail,
      );
      assert.equal(
        expectInvalid(() => parsePolicy(JSON.stringify(doc), 'yaml')).detail,
        error.detail,
      );
    });
  }

  for (const [name, format, text] of INVALID_TEXTS) {
    test(`rejects ${name}`, () => {
      expectInvalid(() => parsePolicy(text, format));
    });
  }

  test('the unedited base document is valid, so every row above fails for its own edit', () => {
    assert.doesNotThrow(() => compilePolicy(copy()));
    assert.doesNotThrow(() => parsePolicy(BASE_YAML));
  });

  test('a pointer escapes "~" and "/" in keys (RFC 6901)', () => {
    const doc = copy();
    services(doc)['a~/b'] = {};
    assert.match(expectInvalid(() => compilePolicy(doc)).detail ?? '', /^\/services\/a~0~1b: /);
  });

  test('a YAML syntax error is located by line and column, and says nothing of the text', () => {
    const error = expectInvalid(() => parsePolicy('version: 1\ntrustDomain: [secret-ish\n'));
    assert.match(error.detail ?? '', /^line \d+, column \d+: YAML [A-Z_]+$/);
  });

  test('a JSON syntax error does not quote the text', () => {
    const error = expectInvalid(() => parsePolicy('{"canary-8b1f": }', 'json'));
    assert.doesNotMatch(error.message, /canary-8b1f/);
  });

  test('an unknown format is rejected', () => {
    expectInvalid(() => parsePolicy(JSON.stringify(BASE), 'toml' as PolicyFormat));
  });
});

describe('policy: hostile and garbage input', () => {
  const NOT_TEXT: readonly unknown[] = [
    undefined,
    null,
    42,
    true,
    {},
    [],
    BASE,
    Symbol('policy'),
    10n,
    new TextEncoder().encode(BASE_YAML),
    new String(BASE_YAML),
    { toString: () => BASE_YAML },
  ];
  for (const [index, value] of NOT_TEXT.entries()) {
    test(`parsePolicy rejects non-text input #${index}`, () => {
      expectInvalid(() => parsePolicy(value as string));
      expectInvalid(() => parsePolicy(value as string, 'json'));
    });
  }

  const throwing = new Proxy(
    {},
    {
      get() {
        throw new Error('boom');
      },
      ownKeys() {
        throw new Error('boom');
      },
    },
  );
  const cyclic: Obj = copy();
  service(cyclic, 'billing').routes = [cyclic];
  const NOT_DOCUMENTS: readonly (readonly [name: string, value: unknown])[] = [
    ['undefined', undefined],
    ['null', null],
    ['a number', 1],
    ['a string', BASE_YAML],
    ['a boolean', true],
    ['a bigint', 1n],
    ['a symbol', Symbol('doc')],
    ['a function', () => BASE],
    ['an array', [BASE]],
    ['an empty object', {}],
    ['a Map', new Map(Object.entries(BASE))],
    ['a Date', new Date(0)],
    ['a proxy that throws', throwing],
    [
      'an object with a throwing getter',
      {
        ...BASE,
        get trustDomain(): string {
          throw new Error('boom');
        },
      },
    ],
    ['a cyclic object', cyclic],
  ];
  for (const [name, value] of NOT_DOCUMENTS) {
    test(`compilePolicy rejects ${name}`, () => {
      expectInvalid(() => compilePolicy(value));
    });
  }

  // Hang guards, not speed targets: a test-level timeout catches a parser that blows up, without
  // asserting wall-clock figures on a shared machine (speed lives in benchmarks).
  const HANG_GUARD = { timeout: 30_000 };

  test('text over MAX_POLICY_BYTES is rejected before parsing', HANG_GUARD, () => {
    const huge = `# ${'x'.repeat(64 * 1024 * 1024)}\n${BASE_YAML}`;
    assert.match(expectInvalid(() => parsePolicy(huge)).detail ?? '', /exceeds/);
    assert.match(expectInvalid(() => parsePolicy(huge, 'json')).detail ?? '', /exceeds/);
  });

  test('the size limit counts UTF-8 bytes, not UTF-16 code units', () => {
    // 400,000 euro signs are 1.2 MB of UTF-8 in fewer than MAX_POLICY_BYTES code units.
    const text = `# ${'€'.repeat(400_000)}\n${BASE_YAML}`;
    assert.ok(text.length < MAX_POLICY_BYTES);
    assert.match(expectInvalid(() => parsePolicy(text)).detail ?? '', /exceeds/);
  });

  test('a document just under the size limit still loads', () => {
    const text = `${BASE_YAML}# ${'x'.repeat(MAX_POLICY_BYTES - BASE_YAML.length - 3)}\n`;
    assert.equal(new TextEncoder().encode(text).length, MAX_POLICY_BYTES);
    assert.doesNotThrow(() => parsePolicy(text));
  });

  test('a YAML "billion laughs" alias bomb is rejected', HANG_GUARD, () => {
    const lol = [
      'version: 1',
      'trustDomain: t',
      'x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
    ];
    for (let level = 1; level <= 9; level += 1) {
      lol.push(
        `x${level}: &a${level} [${Array(9)
          .fill(`*a${level - 1}`)
          .join(', ')}]`,
      );
    }
    lol.push('services: { a: { routes: *a9 } }');
    assert.match(expectInvalid(() => parsePolicy(lol.join('\n'))).detail ?? '', /alias/);
  });

  // prettier-ignore
  const NESTING_BOMBS: readonly (readonly [name: string, format: PolicyFormat, text: string])[] = [
    ['a megabyte of unclosed YAML brackets', 'yaml', '['.repeat(1_000_000)],
    ['deep balanced YAML flow maps', 'yaml', `${'{a: '.repeat(100_000)}1${'}'.repeat(100_000)}`],
    ['stray closers before deep YAML brackets', 'yaml', `${']'.repeat(100_000)}${'['.repeat(100_000)}`],
    ['deep JSON arrays', 'json', `${'['.repeat(500_000)}${']'.repeat(500_000)}`],
    ['deep JSON objects', 'json', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`],
  ];
  for (const [name, format, text] of NESTING_BOMBS) {
    test(`rejects ${name}`, HANG_GUARD, () => {
      const error = expectInvalid(() => parsePolicy(text, format));
      assert.match(error.detail ?? '', new RegExp(`deeper than ${MAX_POLICY_NESTING}`));
    });
  }

  test('deep YAML block nesting is rejected, not thrown as a RangeError', () => {
    expectInvalid(() => parsePolicy(`${'- '.repeat(50_000)}x\n`));
  });

  test('brackets inside quoted scalars do not count towards the nesting limit', () => {
    // RFC 6749 scope tokens may contain "[" and "{".
    const scope = `x${'[{'.repeat(MAX_POLICY_NESTING)}`;
    const doc = copy();
    entry(doc, 'billing', 0).scopes = [scope];
    const yaml = BASE_YAML.replace('scopes: [invoices:write]', `scopes: ['${scope}']`);
    for (const policy of [parsePolicy(yaml), parsePolicy(JSON.stringify(doc), 'json')]) {
      const rule = routesOf(policy, 'billing')?.[0];
      assert.ok(rule?.access === 'callers');
      assert.deepEqual(rule.allow[0]?.scopes, [scope]);
    }
  });

  test('random bytes are rejected as ERR_POLICY_INVALID, in both formats', () => {
    const random = mulberry32(fuzzSeed(0x9e11c1, process.env.FUZZ_SEED));
    for (let round = 0; round < 300; round += 1) {
      const length = Math.floor(random() * 512);
      const text = String.fromCharCode(...Array.from({ length }, () => Math.floor(random() * 256)));
      expectInvalid(() => parsePolicy(text));
      expectInvalid(() => parsePolicy(text, 'json'));
    }
  });

  test('mutated documents either load or fail with ERR_POLICY_INVALID, nothing else', () => {
    const seed = fuzzSeed(0x5eed, process.env.FUZZ_SEED);
    const random = mulberry32(seed);
    const json = JSON.stringify(BASE);
    let rejected = 0;
    for (let round = 0; round < 1000; round += 1) {
      const [format, source] =
        round % 2 === 0 ? (['yaml', BASE_YAML] as const) : (['json', json] as const);
      let text = source;
      for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits -= 1) {
        text = mutate(text, random, format === 'yaml' ? '\n' : ',');
      }
      try {
        parsePolicy(text, format);
      } catch (error) {
        assert.ok(error instanceof TesseraError, `seed ${seed}, round ${round}: ${String(error)}`);
        assert.equal(error.code, 'ERR_POLICY_INVALID', `seed ${seed}, round ${round}`);
        rejected += 1;
      }
    }
    assert.ok(rejected > 500, 'the mutator barely changed anything');
  });
});

const serviceCaller = (spiffeId: string, scopes: readonly string[]): ServiceCaller => ({
  kind: 'service',
  spiffeId,
  scopes,
  jti: 'jti-1',
  issuer: 'https://authority.tessera.local',
  issuedAt: 1_700_000_000,
  expiresAt: 1_700_000_300,
});
const delegatedCaller = (spiffeId: string, scopes: readonly string[]): DelegatedCaller => ({
  ...serviceCaller(spiffeId, scopes),
  kind: 'delegated',
  user: 'alice',
  tenant: 'acme',
  actors: [spiffeId],
});

const GATEWAY_SCOPES = ['events:read', 'events:write', 'events:admin'];
const gateway = serviceCaller(idOf('api-gateway'), GATEWAY_SCOPES);
const gatewayForUser = delegatedCaller(idOf('api-gateway'), GATEWAY_SCOPES);
const events = serviceCaller(idOf('event-service'), ['invoices:write']);
const eventsForUser = delegatedCaller(idOf('event-service'), ['invoices:write']);

type Expected = 'allow' | 'allow-public' | PolicyDenyCode;

// prettier-ignore
const DECISIONS: readonly (readonly [name: string, caller: Caller | null, service: string, method: string, route: string, expected: Expected])[] = [
  // Allowed
  ['public route, no caller', null, 'billing', 'GET', '/healthz', 'allow-public'],
  ['public route, any caller', events, 'billing', 'GET', '/healthz', 'allow-public'],
  ['public HEAD listed on its own', null, 'billing', 'HEAD', '/healthz', 'allow-public'],
  ['public wildcard route', null, 'event-service', 'GET', '/static/*', 'allow-public'],
  ['any-authenticated, service caller', gateway, 'billing', 'GET', '/whoami', 'allow'],
  ['any-authenticated, delegated caller', gatewayForUser, 'billing', 'GET', '/whoami', 'allow'],
  ['any-authenticated, caller without scopes', serviceCaller(idOf('stranger'), []), 'billing', 'GET', '/whoami', 'allow'],
  ['listed caller with the scope', gateway, 'event-service', 'GET', '/events/:id', 'allow'],
  ['delegated caller where delegation is allowed by default', gatewayForUser, 'event-service', 'GET', '/events/:id', 'allow'],
  ['delegated caller where delegation is required', gatewayForUser, 'event-service', 'POST', '/events', 'allow'],
  ['service caller where delegation is forbidden, all scopes', gateway, 'event-service', 'DELETE', '/events/:id', 'allow'],
  ['caller listed by SPIFFE ID', events, 'billing', 'POST', '/invoices', 'allow'],
  ['caller listed by SPIFFE ID, acting for a user', eventsForUser, 'billing', 'POST', '/invoices', 'allow'],
  ['service addressed by SPIFFE ID', events, idOf('billing'), 'POST', '/invoices', 'allow'],
  // Unknown service: checked first, whoever asks
  ['undeclared service', gateway, 'payments', 'GET', '/healthz', 'ERR_POLICY_UNKNOWN_SERVICE'],
  ['undeclared service, no caller', null, 'payments', 'GET', '/healthz', 'ERR_POLICY_UNKNOWN_SERVICE'],
  ['service name in another case', null, 'Billing', 'GET', '/healthz', 'ERR_POLICY_UNKNOWN_SERVICE'],
  ['service by SPIFFE ID of another trust domain', null, 'spiffe://other.example/billing', 'GET', '/healthz', 'ERR_POLICY_UNKNOWN_SERVICE'],
  ['empty service name', null, '', 'GET', '/healthz', 'ERR_POLICY_UNKNOWN_SERVICE'],
  ['prototype key as service name', null, '__proto__', 'GET', '/healthz', 'ERR_POLICY_UNKNOWN_SERVICE'],
  // No rule: deny by default
  ['declared client with no routes', gateway, 'api-gateway', 'GET', '/whoami', 'ERR_POLICY_NO_RULE'],
  ['route not in the policy', gateway, 'billing', 'GET', '/admin', 'ERR_POLICY_NO_RULE'],
  ['known path, other method', events, 'billing', 'GET', '/invoices', 'ERR_POLICY_NO_RULE'],
  ['HEAD is not implied by GET', gateway, 'billing', 'HEAD', '/whoami', 'ERR_POLICY_NO_RULE'],
  ['lower-case method', null, 'billing', 'get', '/healthz', 'ERR_POLICY_NO_RULE'],
  ['raw URL instead of the route pattern', gateway, 'event-service', 'GET', '/events/42', 'ERR_POLICY_NO_RULE'],
  ['pattern with another parameter name', gateway, 'event-service', 'GET', '/events/:eventId', 'ERR_POLICY_NO_RULE'],
  ['pattern with a trailing slash', null, 'billing', 'GET', '/healthz/', 'ERR_POLICY_NO_RULE'],
  ['pattern in another case', null, 'billing', 'GET', '/HEALTHZ', 'ERR_POLICY_NO_RULE'],
  ['wildcard pattern does not cover a concrete path', null, 'event-service', 'GET', '/static/app.js', 'ERR_POLICY_NO_RULE'],
  ['method and path run together', null, 'billing', 'GET /healthz', '', 'ERR_POLICY_NO_RULE'],
  // Caller
  ['no caller on an allow-list route', null, 'billing', 'POST', '/invoices', 'ERR_POLICY_CALLER'],
  ['no caller on an any-authenticated route', null, 'billing', 'GET', '/whoami', 'ERR_POLICY_CALLER'],
  ['caller not listed', gateway, 'billing', 'POST', '/invoices', 'ERR_POLICY_CALLER'],
  ['caller not listed, holding the scope', serviceCaller(idOf('api-gateway'), ['invoices:write']), 'billing', 'POST', '/invoices', 'ERR_POLICY_CALLER'],
  ['same name in another trust domain', serviceCaller('spiffe://evil.example/event-service', ['invoices:write']), 'billing', 'POST', '/invoices', 'ERR_POLICY_CALLER'],
  ['caller ID with a trailing slash', serviceCaller(`${idOf('event-service')}/`, ['invoices:write']), 'billing', 'POST', '/invoices', 'ERR_POLICY_CALLER'],
  ['caller ID with an extra segment', serviceCaller(`${idOf('event-service')}/x`, ['invoices:write']), 'billing', 'POST', '/invoices', 'ERR_POLICY_CALLER'],
  ['caller ID in another case', serviceCaller(idOf('Event-Service'), ['invoices:write']), 'billing', 'POST', '/invoices', 'ERR_POLICY_CALLER'],
  ['caller given by bare name', serviceCaller('event-service', ['invoices:write']), 'billing', 'POST', '/invoices', 'ERR_POLICY_CALLER'],
  ['delegated caller matched on the acting service, not the user', { ...delegatedCaller(idOf('api-gateway'), ['invoices:write']), user: idOf('event-service') }, 'billing', 'POST', '/invoices', 'ERR_POLICY_CALLER'],
  ['caller checked before delegation', eventsForUser, 'event-service', 'POST', '/events', 'ERR_POLICY_CALLER'],
  // Delegation
  ['service caller where delegation is required', gateway, 'event-service', 'POST', '/events', 'ERR_POLICY_DELEGATION'],
  ['delegated caller where delegation is forbidden', gatewayForUser, 'event-service', 'DELETE', '/events/:id', 'ERR_POLICY_DELEGATION'],
  ['delegation checked before scopes', delegatedCaller(idOf('api-gateway'), []), 'event-service', 'DELETE', '/events/:id', 'ERR_POLICY_DELEGATION'],
  // Scopes
  ['no scopes', serviceCaller(idOf('api-gateway'), []), 'event-service', 'GET', '/events/:id', 'ERR_POLICY_SCOPE'],
  ['only one of two required scopes', serviceCaller(idOf('api-gateway'), ['events:write']), 'event-service', 'DELETE', '/events/:id', 'ERR_POLICY_SCOPE'],
  ['only the other of two required scopes', serviceCaller(idOf('api-gateway'), ['events:admin']), 'event-service', 'DELETE', '/events/:id', 'ERR_POLICY_SCOPE'],
  ['scope in another case', serviceCaller(idOf('api-gateway'), ['Events:read']), 'event-service', 'GET', '/events/:id', 'ERR_POLICY_SCOPE'],
  ['scope prefix', serviceCaller(idOf('api-gateway'), ['events:rea']), 'event-service', 'GET', '/events/:id', 'ERR_POLICY_SCOPE'],
  ['scopes joined into one string', serviceCaller(idOf('api-gateway'), ['events:read events:write']), 'event-service', 'GET', '/events/:id', 'ERR_POLICY_SCOPE'],
  ['scope for another route', serviceCaller(idOf('api-gateway'), ['events:write']), 'event-service', 'GET', '/events/:id', 'ERR_POLICY_SCOPE'],
  ['delegated caller lacking the scope', delegatedCaller(idOf('api-gateway'), ['events:read']), 'event-service', 'POST', '/events', 'ERR_POLICY_SCOPE'],
];

/**
 * Users behind services: a policy whose routes say who must be behind a call (`user`), admit end
 * users of the edge's OpenID issuer (`{ users: true }`) and hold callers to a tenant (`tenant`).
 */
const EDGE_YAML = `
version: 1
trustDomain: tessera.local
services:
  api-gateway:
    routes:
      - { method: GET, path: /me, user: required, allow: [{ users: true }] }
      - { method: GET, path: /tenants/:tenantId/invoices/:id, user: required, tenant: { param: tenantId }, allow: [{ users: true, scopes: [invoices:read] }] }
      - { method: GET, path: /internal, allow: [{ service: event-service, scopes: [x] }] }
      - { method: GET, path: /mixed, allow: [{ users: true }, { service: event-service, scopes: [x] }] }
  event-service:
    routes:
      - { method: GET, path: /events/:id, user: required, allow: [{ service: api-gateway, scopes: [events:read] }] }
      - { method: POST, path: /jobs, user: forbidden, allow: [{ service: api-gateway, scopes: [events:read] }] }
      - { method: GET, path: /acme-only, tenant: { in: [acme] }, allow: [{ service: api-gateway, scopes: [events:read] }] }
      - { method: GET, path: /whoami, allow: any-authenticated }
      - { method: GET, path: /whoami/user, user: required, allow: any-authenticated }
`;

const userCaller = (tenant: string | undefined, scopes: readonly string[] = []): UserCaller => ({
  kind: 'user',
  user: 'alice',
  scopes,
  jti: '',
  issuer: 'http://127.0.0.1:7704',
  issuedAt: 1_700_000_000,
  expiresAt: 1_700_000_300,
  ...(tenant === undefined ? {} : { tenant }),
});
const alice = userCaller('acme', ['invoices:read']);
const aliceNoTenant = userCaller(undefined, ['invoices:read']);
const gatewayForAlice = delegatedCaller(idOf('api-gateway'), ['events:read']);
const gatewayForBob: DelegatedCaller = { ...gatewayForAlice, user: 'bob', tenant: 'globex' };
const gatewayAlone = serviceCaller(idOf('api-gateway'), ['events:read']);
const eventsAlone = serviceCaller(idOf('event-service'), ['x']);
const acmeParams = { tenantId: 'acme', id: 'inv-1' };
const globexParams = { tenantId: 'globex', id: 'inv-1' };

// policy route × caller → decision. prettier-ignore keeps one row per line.
// prettier-ignore
const EDGE_DECISIONS: readonly (readonly [name: string, caller: Caller | null, service: string, method: string, route: string, expected: Expected, params?: Readonly<Record<string, string>>])[] = [
  ['user route, user caller', alice, 'api-gateway', 'GET', '/me', 'allow'],
  ['user route, no caller', null, 'api-gateway', 'GET', '/me', 'ERR_POLICY_CALLER'],
  ['user route, service caller (a service token where a user is required)', eventsAlone, 'api-gateway', 'GET', '/me', 'ERR_POLICY_DELEGATION'],
  ['user route, delegated caller not listed', delegatedCaller(idOf('event-service'), ['x']), 'api-gateway', 'GET', '/me', 'ERR_POLICY_CALLER'],
  ['tenant by path parameter, same tenant', alice, 'api-gateway', 'GET', '/tenants/:tenantId/invoices/:id', 'allow', acmeParams],
  ['tenant by path parameter, another tenant (alice reads globex)', alice, 'api-gateway', 'GET', '/tenants/:tenantId/invoices/:id', 'ERR_POLICY_TENANT', globexParams],
  ['tenant by path parameter, caller without a tenant', aliceNoTenant, 'api-gateway', 'GET', '/tenants/:tenantId/invoices/:id', 'ERR_POLICY_TENANT', acmeParams],
  ['tenant by path parameter, no params given', alice, 'api-gateway', 'GET', '/tenants/:tenantId/invoices/:id', 'ERR_POLICY_TENANT'],
  ['tenant by path parameter, user lacking the scope', userCaller('acme'), 'api-gateway', 'GET', '/tenants/:tenantId/invoices/:id', 'ERR_POLICY_SCOPE', acmeParams],
  ['service-only allow list, user caller', alice, 'api-gateway', 'GET', '/internal', 'ERR_POLICY_CALLER'],
  ['mixed route, user caller', alice, 'api-gateway', 'GET', '/mixed', 'allow'],
  ['mixed route, listed service', eventsAlone, 'api-gateway', 'GET', '/mixed', 'allow'],
  ['user-required service route, delegated caller', gatewayForAlice, 'event-service', 'GET', '/events/:id', 'allow'],
  ['user-required service route, the same service as itself', gatewayAlone, 'event-service', 'GET', '/events/:id', 'ERR_POLICY_DELEGATION'],
  ['user-required service route, user caller without users entry', alice, 'event-service', 'GET', '/events/:id', 'ERR_POLICY_CALLER'],
  ['service-only route, service caller', gatewayAlone, 'event-service', 'POST', '/jobs', 'allow'],
  ['service-only route, delegated caller', gatewayForAlice, 'event-service', 'POST', '/jobs', 'ERR_POLICY_DELEGATION'],
  ['service-only route, user caller', alice, 'event-service', 'POST', '/jobs', 'ERR_POLICY_DELEGATION'],
  ['tenant list, listed tenant', gatewayForAlice, 'event-service', 'GET', '/acme-only', 'allow'],
  ['tenant list, other tenant', gatewayForBob, 'event-service', 'GET', '/acme-only', 'ERR_POLICY_TENANT'],
  ['tenant list, service caller without tenant', gatewayAlone, 'event-service', 'GET', '/acme-only', 'ERR_POLICY_TENANT'],
  ['any-authenticated, service caller', gatewayAlone, 'event-service', 'GET', '/whoami', 'allow'],
  ['any-authenticated, delegated caller', gatewayForAlice, 'event-service', 'GET', '/whoami', 'allow'],
  ['any-authenticated admits workloads only, not end users', alice, 'event-service', 'GET', '/whoami', 'ERR_POLICY_CALLER'],
  ['any-authenticated with user required, delegated caller', gatewayForBob, 'event-service', 'GET', '/whoami/user', 'allow'],
  ['any-authenticated with user required, service caller', gatewayAlone, 'event-service', 'GET', '/whoami/user', 'ERR_POLICY_DELEGATION'],
];

describe('policy: users behind services', () => {
  const policy = parsePolicy(EDGE_YAML);
  for (const [name, caller, target, method, route, expected, params] of EDGE_DECISIONS) {
    test(`${expected === 'allow' ? 'allows' : 'denies'}: ${name}`, () => {
      assert.equal(
        outcome(evaluate(policy, caller, target, method, route, params), method, route),
        expected,
      );
    });
  }

  test('admitsUsers marks only routes with a users entry', () => {
    assert.equal(admitsUsers(policy, 'api-gateway', 'GET', '/me'), true);
    assert.equal(admitsUsers(policy, 'api-gateway', 'GET', '/mixed'), true);
    assert.equal(admitsUsers(policy, 'api-gateway', 'GET', '/internal'), false);
    assert.equal(admitsUsers(policy, 'event-service', 'GET', '/whoami'), false);
    assert.equal(admitsUsers(policy, 'api-gateway', 'GET', '/nope'), false);
    assert.equal(admitsUsers(policy, 'nope', 'GET', '/me'), false);
  });

  test('a document without user or tenant keys compiles to user: allowed and no tenant', () => {
    for (const service of compilePolicy(BASE).services) {
      for (const rule of service.routes) {
        assert.equal(rule.user, 'allowed');
        assert.equal(rule.tenant, undefined);
      }
    }
  });

  // prettier-ignore
  const INVALID_EDGE: readonly (readonly [name: string, route: string, pointer: string])[] = [
    ['user: maybe', '{ method: GET, path: /x, user: maybe, allow: [{ users: true }] }', '/services/api-gateway/routes/0/user'],
    ['users: false', '{ method: GET, path: /x, allow: [{ users: false }] }', '/services/api-gateway/routes/0/allow/0/users'],
    ['users entry with an unknown key', '{ method: GET, path: /x, allow: [{ users: true, tenant: acme }] }', '/services/api-gateway/routes/0/allow/0/tenant'],
    ['users entry with empty scopes', '{ method: GET, path: /x, allow: [{ users: true, scopes: [] }] }', '/services/api-gateway/routes/0/allow/0/scopes'],
    ['users listed twice', '{ method: GET, path: /x, allow: [{ users: true }, { users: true }] }', '/services/api-gateway/routes/0/allow/1'],
    ['users admitted where users are forbidden', '{ method: GET, path: /x, user: forbidden, allow: [{ users: true }] }', '/services/api-gateway/routes/0/allow/0'],
    ['tenant param not in the path', '{ method: GET, path: /x/:id, tenant: { param: tenantId }, allow: [{ users: true }] }', '/services/api-gateway/routes/0/tenant/param'],
    ['tenant param naming a static segment', '{ method: GET, path: /tenantId, tenant: { param: tenantId }, allow: [{ users: true }] }', '/services/api-gateway/routes/0/tenant/param'],
    ['tenant with both param and in', '{ method: GET, path: /t/:t, tenant: { param: t, in: [a] }, allow: [{ users: true }] }', '/services/api-gateway/routes/0/tenant/in'],
    ['tenant list empty', '{ method: GET, path: /x, tenant: { in: [] }, allow: [{ users: true }] }', '/services/api-gateway/routes/0/tenant/in'],
    ['tenant as a bare string', '{ method: GET, path: /x, tenant: acme, allow: [{ users: true }] }', '/services/api-gateway/routes/0/tenant'],
    ['public route with a user rule', '{ method: GET, path: /x, public: true, user: required }', '/services/api-gateway/routes/0'],
    ['public route with a tenant rule', '{ method: GET, path: /x, public: true, tenant: { in: [a] } }', '/services/api-gateway/routes/0'],
  ];
  for (const [name, route, pointer] of INVALID_EDGE) {
    test(`rejects ${name} at ${pointer}`, () => {
      const text = `version: 1\ntrustDomain: tessera.local\nservices:\n  api-gateway:\n    routes:\n      - ${route}\n`;
      const error = expectInvalid(() => parsePolicy(text));
      assert.ok(error.detail?.startsWith(`${pointer}: `), `detail ${String(error.detail)}`);
    });
  }
});

const IDENTITY_YAML = `
version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  event-service: {}
  billing:
    routes:
      # Listed callers with no scopes: admitted on their verified identity alone.
      - { method: GET, path: /whoami, allow: [{ service: event-service }, { service: api-gateway, delegated: forbidden }] }
      - { method: POST, path: /invoices, allow: [{ service: event-service, scopes: [invoices:write] }] }
`;

/** A caller authenticated by its X.509-SVID alone, as the Fastify plugin's mTLS mode makes it. */
const certificateCaller = (name: string): ServiceCaller => ({
  ...serviceCaller(idOf(name), []),
  jti: '',
  issuer: `spiffe://${TD}`,
});

// prettier-ignore
const IDENTITY_DECISIONS: readonly (readonly [name: string, caller: Caller | null, route: string, expected: Expected])[] = [
  ['listed caller with a certificate only (no scopes)', certificateCaller('event-service'), '/whoami', 'allow'],
  ['listed caller with a token for other routes', events, '/whoami', 'allow'],
  ['listed caller acting for a user', eventsForUser, '/whoami', 'allow'],
  ['second listed caller, as itself', gateway, '/whoami', 'allow'],
  ['unlisted caller with a certificate only', certificateCaller('stranger'), '/whoami', 'ERR_POLICY_CALLER'],
  ['unlisted caller holding scopes', serviceCaller(idOf('stranger'), ['invoices:write']), '/whoami', 'ERR_POLICY_CALLER'],
  ['same name in another trust domain', serviceCaller('spiffe://evil.example/event-service', []), '/whoami', 'ERR_POLICY_CALLER'],
  ['no caller', null, '/whoami', 'ERR_POLICY_CALLER'],
  ['end user at the edge (no users entry)', userCaller('acme'), '/whoami', 'ERR_POLICY_CALLER'],
  ['delegation still checked without scopes', gatewayForUser, '/whoami', 'ERR_POLICY_DELEGATION'],
  ['a scope-less entry does not relax a route with scopes', certificateCaller('event-service'), '/invoices', 'ERR_POLICY_SCOPE'],
];

describe('policy: allow entries without scopes (identity only)', () => {
  const policy = parsePolicy(IDENTITY_YAML);
  for (const [name, caller, route, expected] of IDENTITY_DECISIONS) {
    const method = route === '/invoices' ? 'POST' : 'GET';
    test(`${expected === 'allow' ? 'allows' : 'denies'}: ${name}`, () => {
      assert.equal(
        outcome(evaluate(policy, caller, 'billing', method, route), method, route),
        expected,
      );
    });
  }

  test('compiles to an entry with no scopes', () => {
    const rule = routesOf(policy, 'billing')?.find((r) => r.path === '/whoami');
    assert.ok(rule?.access === 'callers');
    assert.deepEqual(
      rule.allow.map((e) => [e.service, e.scopes, e.delegated]),
      [
        ['event-service', [], 'allowed'],
        ['api-gateway', [], 'forbidden'],
      ],
    );
  });

  test('an empty scope list is still refused: omit the key to mean no scopes', () => {
    const text = IDENTITY_YAML.replace(
      '{ service: event-service }',
      '{ service: event-service, scopes: [] }',
    );
    const error = expectInvalid(() => parsePolicy(text));
    assert.ok(
      error.detail?.startsWith('/services/billing/routes/0/allow/0/scopes: '),
      error.detail,
    );
  });
});

/** The decision as one table value; an allow must also name the rule for this method and route. */
function outcome(decision: PolicyDecision, method: string, route: string): Expected {
  if (!decision.allow) {
    assert.deepEqual(Object.keys(decision), ['allow', 'code']);
    return decision.code;
  }
  assert.equal(decision.rule.method, method);
  assert.equal(decision.rule.path, route);
  return decision.public ? 'allow-public' : 'allow';
}

describe('policy: evaluate', () => {
  const FORMS: readonly (readonly [name: string, load: () => Policy])[] = [
    ['object', () => compilePolicy(BASE)],
    ['YAML', () => parsePolicy(BASE_YAML)],
    ['JSON', () => parsePolicy(JSON.stringify(BASE), 'json')],
    ['JSON read as YAML', () => parsePolicy(JSON.stringify(BASE, null, 2))],
  ];
  const policies = FORMS.map(([name, load]) => [name, load()] as const);

  for (const [name, caller, target, method, route, expected] of DECISIONS) {
    test(`${expected === 'allow' || expected === 'allow-public' ? 'allows' : 'denies'}: ${name}`, () => {
      for (const [form, policy] of policies) {
        const decision = evaluate(policy, caller, target, method, route);
        assert.equal(outcome(decision, method, route), expected, `as ${form}`);
        assert.equal(isPublicRoute(policy, target, method, route), expected === 'allow-public');
      }
    });
  }

  test('every deny code is reached by some row', () => {
    const reached = new Set([...DECISIONS, ...EDGE_DECISIONS].map((row) => row[5]));
    for (const code of POLICY_DENY_CODES) assert.ok(reached.has(code), code);
  });

  test('YAML, JSON and object forms compile to the same policy', () => {
    const [first, ...rest] = policies;
    for (const [form, policy] of rest) assert.deepEqual(policy, first?.[1], form);
  });

  test('an allow decision names the matching rule, for the audit event', () => {
    const decision = evaluate(policies[0]![1], events, 'billing', 'POST', '/invoices');
    assert.ok(decision.allow);
    assert.deepEqual(decision.rule, {
      service: 'billing',
      method: 'POST',
      path: '/invoices',
      user: 'allowed',
      access: 'callers',
      allow: [
        {
          service: 'event-service',
          spiffeId: idOf('event-service'),
          scopes: ['invoices:write'],
          delegated: 'allowed',
        },
      ],
    });
  });

  test('a caller of an unknown kind fails both delegation modes that care', () => {
    const policy = policies[0]![1];
    const odd = { ...gateway, kind: 'robot' } as unknown as Caller;
    const decide = (method: string, route: string): Expected =>
      outcome(evaluate(policy, odd, 'event-service', method, route), method, route);
    assert.equal(decide('GET', '/events/:id'), 'allow');
    assert.equal(decide('POST', '/events'), 'ERR_POLICY_DELEGATION');
    assert.equal(decide('DELETE', '/events/:id'), 'ERR_POLICY_DELEGATION');
  });
});

describe('policy: compiled form', () => {
  test('routesOf lists the rules of a service by name or SPIFFE ID', () => {
    const policy = compilePolicy(BASE);
    const paths = routesOf(policy, 'billing')?.map(
      (rule) => `${rule.method} ${rule.path} ${rule.access}`,
    );
    assert.deepEqual(paths, [
      'POST /invoices callers',
      'GET /healthz public',
      'GET /whoami any-authenticated',
      'HEAD /healthz public',
    ]);
    assert.deepEqual(routesOf(policy, idOf('billing')), routesOf(policy, 'billing'));
    assert.deepEqual(routesOf(policy, 'api-gateway'), []);
    assert.equal(routesOf(policy, 'payments'), undefined);
  });

  test('the policy lists its services and their SPIFFE IDs', () => {
    const policy = compilePolicy(BASE);
    assert.equal(policy.trustDomain, TD);
    assert.deepEqual(
      policy.services.map((s) => [s.name, s.spiffeId]),
      ['api-gateway', 'event-service', 'billing'].map((name) => [name, idOf(name)]),
    );
  });

  test('the policy is deeply frozen', () => {
    const policy = compilePolicy(BASE);
    const seen: unknown[] = [];
    const walk = (value: unknown): void => {
      if (typeof value !== 'object' || value === null) return;
      seen.push(value);
      assert.ok(Object.isFrozen(value), JSON.stringify(value));
      for (const child of Object.values(value)) walk(child);
    };
    walk(policy);
    assert.ok(seen.length > 20);
    assert.throws(() => {
      (policy.services as unknown[]).push(null);
    }, TypeError);
  });

  test('editing the source document after compiling changes nothing', () => {
    const doc = copy();
    const policy = compilePolicy(doc);
    entry(doc, 'billing', 0).service = 'api-gateway';
    (entry(doc, 'event-service', 0).scopes as string[]).length = 0;
    route(doc, 'billing', 2).allow = [{ service: 'api-gateway', scopes: ['x'] }];
    const decide = (caller: Caller, target: string, method: string, path: string): Expected =>
      outcome(evaluate(policy, caller, target, method, path), method, path);
    assert.equal(decide(events, 'billing', 'POST', '/invoices'), 'allow');
    assert.equal(decide(gateway, 'billing', 'POST', '/invoices'), 'ERR_POLICY_CALLER');
    const noScopes = serviceCaller(idOf('api-gateway'), []);
    assert.equal(decide(noScopes, 'event-service', 'GET', '/events/:id'), 'ERR_POLICY_SCOPE');
    assert.equal(decide(events, 'billing', 'GET', '/whoami'), 'allow');
  });

  test('a look-alike object is not a policy', () => {
    const real = compilePolicy(BASE);
    const forged = { ...real } as Policy;
    for (const call of [
      () => evaluate(forged, events, 'billing', 'POST', '/invoices'),
      () => isPublicRoute(forged, 'billing', 'GET', '/healthz'),
      () => routesOf(forged, 'billing'),
    ]) {
      expectInvalid(call);
    }
  });

  test('policySchema accepts the base document and publishes as closed JSON Schema', () => {
    assert.equal(Value.Check(policySchema, BASE), true);
    const published = JSON.parse(JSON.stringify(policySchema)) as Obj;
    assert.equal(published.type, 'object');
    assert.equal(published.additionalProperties, false);
    assert.deepEqual(published.required, ['version', 'trustDomain', 'services']);
    // Every object in the schema is closed: unknown keys are errors, never ignored.
    const open: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (typeof node !== 'object' || node === null) return;
      const schema = node as Obj;
      if (schema.type === 'object' && schema.additionalProperties !== false) open.push(at);
      for (const [key, child] of Object.entries(schema)) walk(child, `${at}/${key}`);
    };
    walk(published, '');
    assert.deepEqual(open, []);
  });

  test('deny codes are Tessera error codes', () => {
    for (const code of POLICY_DENY_CODES) assert.ok(TESSERA_ERROR_CODES.includes(code), code);
  });

  test('the example in docs/policy.md loads and behaves as documented', () => {
    const markdown = readFileSync(new URL('../docs/policy.md', import.meta.url), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(markdown)?.[1];
    assert.ok(example !== undefined, 'no yaml example in docs/policy.md');
    const policy = parsePolicy(example);
    const decide = (
      caller: Caller | null,
      target: string,
      method: string,
      path: string,
    ): Expected => outcome(evaluate(policy, caller, target, method, path), method, path);
    assert.equal(isPublicRoute(policy, 'billing', 'GET', '/healthz'), true);
    assert.equal(decide(events, 'billing', 'POST', '/invoices'), 'allow');
    assert.equal(decide(gateway, 'event-service', 'POST', '/events'), 'ERR_POLICY_DELEGATION');
    assert.equal(decide(gatewayForUser, 'event-service', 'POST', '/events'), 'allow');
    assert.equal(decide(null, 'billing', 'GET', '/whoami'), 'ERR_POLICY_CALLER');
  });

  test('the users-behind-services example in docs/policy.md loads and behaves as documented', () => {
    const markdown = readFileSync(new URL('../docs/policy.md', import.meta.url), 'utf8');
    const example = [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)][1]?.[1];
    assert.ok(example !== undefined, 'no second yaml example in docs/policy.md');
    const policy = parsePolicy(example);
    const decide = (
      caller: Caller,
      target: string,
      method: string,
      path: string,
      params?: Record<string, string>,
    ): Expected => outcome(evaluate(policy, caller, target, method, path, params), method, path);
    const invoice = '/tenants/:tenantId/invoices/:id';
    assert.equal(decide(alice, 'api-gateway', 'GET', '/me'), 'allow');
    assert.equal(
      decide(alice, 'api-gateway', 'GET', invoice, { tenantId: 'acme', id: '1' }),
      'allow',
    );
    assert.equal(
      decide(alice, 'api-gateway', 'GET', invoice, { tenantId: 'globex', id: '1' }),
      'ERR_POLICY_TENANT',
    );
    const forAlice = delegatedCaller(idOf('event-service'), ['invoices:read', 'invoices:write']);
    const asItself = serviceCaller(idOf('event-service'), ['invoices:read', 'invoices:write']);
    assert.equal(decide(forAlice, 'billing', 'GET', '/invoices/:id'), 'allow');
    assert.equal(decide(asItself, 'billing', 'GET', '/invoices/:id'), 'ERR_POLICY_DELEGATION');
    assert.equal(decide(asItself, 'billing', 'POST', '/reconcile'), 'allow');
    assert.equal(decide(forAlice, 'billing', 'POST', '/reconcile'), 'ERR_POLICY_DELEGATION');
  });
});
