/**
 * Helpers every analysis uses exist once: the path test (test code and test data are not the
 * service) and the name a call is made by. Their copies had drifted (one counted `fixtures/`
 * as test data, the other did not); these tests pin the one behaviour and fail if a module
 * grows its own copy again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ts from 'typescript';
import * as inboundAst from '../src/analysis/inbound/ast.ts';
import * as outboundExpressions from '../src/analysis/outbound/expressions.ts';
import { calleeName } from '../src/ast/syntax.ts';
import { isLoopbackHost, staysOnHost } from '../src/analysis/outbound/urls.ts';
import { isTestPath } from '../src/project/paths.ts';

const TEST_PATHS: readonly (readonly [string, boolean])[] = [
  ['test/app.ts', true],
  ['src/__tests__/auth.ts', true],
  ['src/__mocks__/jwks.ts', true],
  ['packages/api/spec/routes.js', true],
  ['e2e/login.ts', true],
  ['src/mocks/handlers.ts', true],
  ['src/orders.test.ts', true],
  ['src/orders.spec.mjs', true],
  ['src/orders.e2e.cts', true],
  // Test data: a sample app or config that a test reads is not the service.
  ['fixtures/open-app/server.ts', true],
  ['data/fixtures/config.yaml', true],
  ['src/__fixtures__/token.json', true],
  ['packages/api/fixture/keys.yaml', true],
  // Python test files (pytest's discovery names) and its shared fixtures module.
  ['app/tests/test_orders.py', true],
  ['test_orders.py', true],
  ['app/orders_test.py', true],
  ['conftest.py', true],
  // Production code whose names merely contain the words.
  ['src/routes/testimonials.ts', false],
  ['src/contest.ts', false],
  ['src/latest/app.ts', false],
  ['src/specification.ts', false],
  ['src/fixtures.ts', false],
  ['src/fixture-loader.ts', false],
  ['app/attestation.py', false],
  ['app/test_client_factory/__init__.py', false],
  ['src/server.ts', false],
];

describe('isTestPath', () => {
  for (const [path, expected] of TEST_PATHS) {
    it(`${expected ? 'is' : 'is not'} test code or data: ${path}`, () => {
      assert.equal(isTestPath(path), expected);
    });
  }
});

function firstCall(code: string): ts.CallExpression | ts.NewExpression {
  const file = ts.createSourceFile('x.ts', code, ts.ScriptTarget.Latest, true);
  let found: ts.CallExpression | ts.NewExpression | undefined;
  const visit = (node: ts.Node): void => {
    if (found === undefined && (ts.isCallExpression(node) || ts.isNewExpression(node))) {
      found = node;
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  assert.ok(found !== undefined, code);
  return found;
}

const CALLEES: readonly (readonly [string, string | undefined])[] = [
  ['verify(token);', 'verify'],
  ['jwt.verify(token, key);', 'verify'],
  ['this.client.http.get(url);', 'get'],
  ["app['use'](auth);", 'use'],
  ['(await load()).start();', 'start'],
  ['(client as Http).post(url);', 'post'],
  ['new CircuitBreaker(call);', 'CircuitBreaker'],
  ['handlers[name](req);', undefined],
  ['(() => 1)();', undefined],
];

describe('calleeName', () => {
  for (const [code, expected] of CALLEES) {
    it(`names ${code} ${expected ?? '(nothing)'}`, () => {
      assert.equal(calleeName(firstCall(code)), expected);
    });
  }

  it('is the same function wherever the analyses import it from', () => {
    assert.equal(inboundAst.calleeName, calleeName);
    assert.equal(outboundExpressions.calleeName, calleeName);
  });
});

/** [host, loopback (the machine itself), stays on the host as an HTTP destination] */
const HOSTS: readonly (readonly [string, boolean, boolean])[] = [
  ['localhost', true, true],
  ['api.localhost', true, true],
  ['127.0.0.1', true, true],
  ['127.4.5.6', true, true],
  ['[::1]', true, true],
  ['::1', true, true],
  // A listen address of 0.0.0.0 is every interface: not loopback, though as a destination it
  // is this machine.
  ['0.0.0.0', false, true],
  ['169.254.169.254', false, true],
  ['host.docker.internal', false, true],
  ['orders', false, false],
  ['10.0.0.5', false, false],
  ['localhost.example.com', false, false],
  ['128.0.0.1', false, false],
];

describe('isLoopbackHost and staysOnHost', () => {
  for (const [host, loopback, staysOn] of HOSTS) {
    it(`${host}: loopback ${String(loopback)}, stays on the host ${String(staysOn)}`, () => {
      assert.equal(isLoopbackHost(host), loopback);
      assert.equal(staysOnHost(host), staysOn);
    });
  }
});
