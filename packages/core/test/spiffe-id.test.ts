import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { TesseraError } from '../src/errors.ts';
import {
  assertTrustDomain,
  formatSpiffeId,
  isSpiffeId,
  MAX_SPIFFE_ID_LENGTH,
  MAX_TRUST_DOMAIN_LENGTH,
  parseSpiffeId,
  parseWorkloadId,
  serviceSpiffeId,
} from '../src/spiffe/id.ts';

type Expected = readonly [trustDomain: string, path: string] | 'invalid';

// Boundary inputs are built rather than written out so the table rows stay one line each.
const TD = 'spiffe://example.org'; // 20 characters
/** `TD` plus one long segment, `n` characters in total. */
const ofLength = (n: number): string => `${TD}/${'a'.repeat(n - TD.length - 1)}`;
const TD_255 = 'a'.repeat(MAX_TRUST_DOMAIN_LENGTH);
const TD_256 = 'a'.repeat(MAX_TRUST_DOMAIN_LENGTH + 1);
const ID_2048 = ofLength(MAX_SPIFFE_ID_LENGTH);
const ID_2049 = ofLength(MAX_SPIFFE_ID_LENGTH + 1);
// The limit covers the whole URI, not a single segment: 20 + 507 * 4 = 2048.
const SEGS_2048 = `${TD}${'/abc'.repeat(507)}`;
const SEGS_2049 = `${TD}${'/abc'.repeat(506)}/abcd`;
// The longest trust domain and the longest URI at once: 9 + 255 + 1 + 1783 = 2048.
const BIG_TD_2048 = `spiffe://${TD_255}/${'b'.repeat(1783)}`;

/** Values that are not strings; none may be coerced, and none may escape as a TypeError. */
const NON_STRINGS: readonly unknown[] = [
  undefined,
  null,
  42,
  0,
  true,
  Symbol('spiffe://example.org/x'),
  10n,
  {},
  ['spiffe://example.org/x'],
  new String('spiffe://example.org/x'),
  { toString: () => 'spiffe://example.org/x' },
  {
    [Symbol.toPrimitive]: () => {
      throw new Error('coerced');
    },
  },
  () => 'spiffe://example.org/x',
];

// prettier-ignore
const PARSE_ROWS: readonly (readonly [input: unknown, expected: Expected])[] = [
  // Valid
  ['spiffe://example.org', ['example.org', '']],
  ['spiffe://example.org/billing', ['example.org', '/billing']],
  ['spiffe://example.org/ns/prod/sa/billing', ['example.org', '/ns/prod/sa/billing']],
  ['spiffe://example.org/Billing/API', ['example.org', '/Billing/API']],
  ['spiffe://a', ['a', '']],
  ['spiffe://trust_domain-1.example', ['trust_domain-1.example', '']],
  ['spiffe://example.org/a.b_c-D9', ['example.org', '/a.b_c-D9']],
  ['spiffe://example.org/...', ['example.org', '/...']],
  ['spiffe://example.org/.hidden/..x', ['example.org', '/.hidden/..x']],
  ['spiffe://192.168.0.1/x', ['192.168.0.1', '/x']],
  ['spiffe://example.org/9eebccd2-12bf-40a6-b262-65fe0487d453', ['example.org', '/9eebccd2-12bf-40a6-b262-65fe0487d453']],
  [`spiffe://${TD_255}`, [TD_255, '']],
  [ID_2048, ['example.org', ID_2048.slice(TD.length)]],
  [SEGS_2048, ['example.org', SEGS_2048.slice(TD.length)]],
  [BIG_TD_2048, [TD_255, BIG_TD_2048.slice(9 + 255)]],
  // Scheme
  ['', 'invalid'],
  ['SPIFFE://example.org/x', 'invalid'],
  ['Spiffe://example.org/x', 'invalid'],
  ['http://example.org/x', 'invalid'],
  ['https://example.org/x', 'invalid'],
  ['spiffe:/example.org/x', 'invalid'],
  ['spiffe:example.org/x', 'invalid'],
  ['spiffe//example.org/x', 'invalid'],
  ['//example.org/x', 'invalid'],
  ['example.org/x', 'invalid'],
  ['spiffe://spiffe://example.org/x', 'invalid'],
  // Trust domain
  ['spiffe://', 'invalid'],
  ['spiffe:///x', 'invalid'],
  ['spiffe://Example.org/x', 'invalid'],
  ['spiffe://EXAMPLE.ORG', 'invalid'],
  ['spiffe://example.org:8080/x', 'invalid'],
  ['spiffe://example.org:/x', 'invalid'],
  ['spiffe://example.org:8080', 'invalid'],
  ['spiffe://user@example.org/x', 'invalid'],
  ['spiffe://user:pass@example.org/x', 'invalid'],
  ['spiffe://@example.org', 'invalid'],
  ['spiffe://[::1]/x', 'invalid'],
  ['spiffe://example%2Eorg/x', 'invalid'],
  [`spiffe://${TD_256}`, 'invalid'],
  [`spiffe://${TD_256}/x`, 'invalid'],
  // Query, fragment, percent-encoding
  ['spiffe://example.org/x?query=1', 'invalid'],
  ['spiffe://example.org?x', 'invalid'],
  ['spiffe://example.org/x?', 'invalid'],
  ['spiffe://example.org/x#frag', 'invalid'],
  ['spiffe://example.org#frag', 'invalid'],
  ['spiffe://example.org/x%20y', 'invalid'],
  ['spiffe://example.org/%2e%2e', 'invalid'],
  ['spiffe://example.org/a%2Fb', 'invalid'],
  // Path shape
  ['spiffe://example.org/', 'invalid'],
  ['spiffe://example.org/x/', 'invalid'],
  ['spiffe://example.org//x', 'invalid'],
  ['spiffe://example.org/x//y', 'invalid'],
  ['spiffe://example.org/.', 'invalid'],
  ['spiffe://example.org/..', 'invalid'],
  ['spiffe://example.org/a/./b', 'invalid'],
  ['spiffe://example.org/a/../b', 'invalid'],
  ['spiffe://example.org/x\\y', 'invalid'],
  ['spiffe://example.org/pa:th', 'invalid'],
  ['spiffe://example.org/pa@th', 'invalid'],
  ['spiffe://example.org/a;b=c', 'invalid'],
  ['spiffe://example.org/*', 'invalid'],
  // Whitespace, control characters, unicode
  [' spiffe://example.org/x', 'invalid'],
  ['spiffe://example.org/x ', 'invalid'],
  ['spiffe://example.org/x\n', 'invalid'],
  ['spiffe://example.org\n/x', 'invalid'],
  ['spiffe://example.org/a b', 'invalid'],
  ['spiffe://example.org/x\t', 'invalid'],
  ['spiffe://exa mple.org/x', 'invalid'],
  ['spiffe://example.org/x\0', 'invalid'],
  ['spiffe://example.org\0/x', 'invalid'],
  ['spiffe://\0', 'invalid'],
  ['spiffe://exämple.org/x', 'invalid'],
  ['spiffe://example.org/café', 'invalid'],
  ['spiffe://example.org/\u212A', 'invalid'],
  ['spiffe://example.org/\uFF58', 'invalid'],
  ['spiffe://example.org/\uD83D', 'invalid'],
  ['spiffe://example.org/x\u200B', 'invalid'],
  // Length
  [ID_2049, 'invalid'],
  [SEGS_2049, 'invalid'],
  [`spiffe://${'a'.repeat(1_000_000)}`, 'invalid'],
  // Not a string at all
  ...NON_STRINGS.map((value) => [value, 'invalid'] as const),
];

// prettier-ignore
const WORKLOAD_ROWS: readonly (readonly [input: string, trustDomain: string | undefined, expected: Expected])[] = [
  ['spiffe://example.org/x', undefined, ['example.org', '/x']],
  ['spiffe://example.org/x', 'example.org', ['example.org', '/x']],
  ['spiffe://example.org/ns/a/sa/b', 'example.org', ['example.org', '/ns/a/sa/b']],
  ['spiffe://example.org', undefined, 'invalid'],
  ['spiffe://example.org', 'example.org', 'invalid'],
  ['spiffe://example.org/', 'example.org', 'invalid'],
  ['spiffe://other.org/x', 'example.org', 'invalid'],
  ['spiffe://example.org/x', 'Example.org', 'invalid'],
  ['spiffe://example.org.evil/x', 'example.org', 'invalid'],
  ['spiffe://evil.example.org/x', 'example.org', 'invalid'],
  ['spiffe://example.org/x', '', 'invalid'],
  ['SPIFFE://example.org/x', 'example.org', 'invalid'],
];

// Expected is the built URI or 'invalid' (no URI can be that string, so it needs no union type).
// prettier-ignore
const FORMAT_ROWS: readonly (readonly [trustDomain: unknown, segments: unknown, expected: string])[] = [
  ['example.org', [], 'spiffe://example.org'],
  ['example.org', ['billing'], 'spiffe://example.org/billing'],
  ['example.org', ['ns', 'prod', 'sa', 'Api'], 'spiffe://example.org/ns/prod/sa/Api'],
  [TD_255, ['x'], `spiffe://${TD_255}/x`],
  ['example.org', ['a/b'], 'invalid'],
  ['example.org', ['/a'], 'invalid'],
  ['example.org/a', [], 'invalid'],
  ['example.org/a', ['b'], 'invalid'],
  ['spiffe://example.org', ['x'], 'invalid'],
  ['Example.org', ['x'], 'invalid'],
  ['', ['x'], 'invalid'],
  ['example.org:443', ['x'], 'invalid'],
  [TD_256, [], 'invalid'],
  ['example.org', [''], 'invalid'],
  ['example.org', ['a', ''], 'invalid'],
  ['example.org', ['.'], 'invalid'],
  ['example.org', ['..'], 'invalid'],
  ['example.org', ['a?b'], 'invalid'],
  ['example.org', ['a#b'], 'invalid'],
  ['example.org', ['a%2Fb'], 'invalid'],
  ['example.org', ['a'.repeat(MAX_SPIFFE_ID_LENGTH)], 'invalid'],
  ['example.org', 'billing', 'invalid'],
  ['example.org', [null], 'invalid'],
  ['example.org', [undefined], 'invalid'],
  ['example.org', [42], 'invalid'],
  ...NON_STRINGS.map((value) => [value, ['x'], 'invalid'] as const),
  ...NON_STRINGS.map((value) => ['example.org', value, 'invalid'] as const),
];

// prettier-ignore
const SERVICE_ROWS: readonly (readonly [trustDomain: unknown, name: unknown, expected: string])[] = [
  ['example.org', 'billing', 'spiffe://example.org/billing'],
  ['example.org', 'Billing-API_v2.1', 'spiffe://example.org/Billing-API_v2.1'],
  ['example.org', 'a/b', 'invalid'],
  ['example.org', '../admin', 'invalid'],
  ['Example.org', 'billing', 'invalid'],
  ['example.org', '', 'invalid'],
  ['example.org', '..', 'invalid'],
  ['example.org', 'billing ', 'invalid'],
  ['example.org', 'billing?x', 'invalid'],
  ...NON_STRINGS.map((value) => ['example.org', value, 'invalid'] as const),
  ...NON_STRINGS.map((value) => [value, 'billing', 'invalid'] as const),
];

// prettier-ignore
const TRUST_DOMAIN_ROWS: readonly (readonly [trustDomain: unknown, valid: boolean])[] = [
  ['example.org', true],
  [TD_255, true],
  [TD_256, false],
  ['', false],
  ['Example.org', false],
  ['example.org:443', false],
  ['example.org/x', false],
  ['spiffe://example.org', false],
  ...NON_STRINGS.map((value) => [value, false] as const),
];

/** A readable, bounded test name for any input, including NUL bytes and megabyte strings. */
function label(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 60
      ? `${JSON.stringify(value.slice(0, 60))}… (${value.length} chars)`
      : JSON.stringify(value);
  }
  if (value === undefined) return '<undefined>';
  let shown: string;
  if (typeof value === 'symbol' || typeof value === 'bigint' || typeof value === 'function') {
    shown = `<${typeof value}>`;
  } else {
    try {
      shown = `<${Array.isArray(value) ? 'array' : typeof value}> ${JSON.stringify(value)}`;
    } catch {
      shown = `<${typeof value}>`;
    }
  }
  return shown.length > 70 ? `${shown.slice(0, 70)}… (${shown.length} chars)` : shown;
}

/** Asserts `fn` throws exactly a TesseraError with ERR_SPIFFE_ID_INVALID, nothing else. */
function assertInvalid(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TesseraError, `expected TesseraError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_SPIFFE_ID_INVALID');
    assert.equal(err.status, 400);
    return true;
  });
}

const segmentsOf = (path: string): string[] => (path === '' ? [] : path.slice(1).split('/'));

void describe('parseSpiffeId', () => {
  void test('the table is large enough to mean something', () => {
    assert.ok(PARSE_ROWS.length >= 45);
  });

  void test('boundary inputs have the lengths their names claim', () => {
    assert.equal(TD.length, 20);
    assert.equal(ID_2048.length, 2048);
    assert.equal(ID_2049.length, 2049);
    assert.equal(SEGS_2048.length, 2048);
    assert.equal(SEGS_2049.length, 2049);
    assert.equal(BIG_TD_2048.length, 2048);
  });

  for (const [input, expected] of PARSE_ROWS) {
    const want = expected === 'invalid' ? 'invalid' : `${label(expected[0])} ${label(expected[1])}`;
    void test(`${label(input)} → ${want}`, () => {
      if (expected === 'invalid') {
        assertInvalid(() => parseSpiffeId(input as string));
        assert.equal(isSpiffeId(input), false);
        return;
      }
      const [trustDomain, path] = expected;
      const id = parseSpiffeId(input as string);
      assert.deepEqual({ ...id }, { trustDomain, path, uri: input });
      assert.ok(Object.isFrozen(id));
      assert.equal(isSpiffeId(input), true);
      // Parsing never normalises, so formatting the parts must give back the exact input.
      assert.equal(formatSpiffeId(trustDomain, segmentsOf(path)), input);
    });
  }
});

void describe('parseWorkloadId', () => {
  for (const [input, trustDomain, expected] of WORKLOAD_ROWS) {
    void test(`${label(input)} in ${label(trustDomain)} → ${expected === 'invalid' ? 'invalid' : 'valid'}`, () => {
      if (expected === 'invalid') {
        assertInvalid(() => parseWorkloadId(input, trustDomain));
        return;
      }
      const id = parseWorkloadId(input, trustDomain);
      assert.deepEqual([id.trustDomain, id.path], expected);
    });
  }

  void test('every malformed input is rejected as it is by parseSpiffeId', () => {
    for (const [input, expected] of PARSE_ROWS) {
      if (expected === 'invalid') assertInvalid(() => parseWorkloadId(input as string));
    }
  });

  void test('a non-string expected trust domain never matches', () => {
    // undefined is the documented "any trust domain", so it is the one non-string left out.
    for (const value of NON_STRINGS.filter((v) => v !== undefined)) {
      assertInvalid(() => parseWorkloadId('spiffe://example.org/x', value as string));
    }
  });
});

void describe('formatSpiffeId', () => {
  for (const [trustDomain, segments, expected] of FORMAT_ROWS) {
    void test(`${label(trustDomain)}, ${label(segments)} → ${label(expected)}`, () => {
      const format = (): string => formatSpiffeId(trustDomain as string, segments as string[]);
      if (expected === 'invalid') {
        assertInvalid(format);
        return;
      }
      assert.equal(format(), expected);
      const id = parseSpiffeId(expected);
      assert.equal(id.trustDomain, trustDomain);
      assert.deepEqual(segmentsOf(id.path), segments);
    });
  }
});

void describe('serviceSpiffeId', () => {
  for (const [trustDomain, name, expected] of SERVICE_ROWS) {
    void test(`${label(trustDomain)}, ${label(name)} → ${label(expected)}`, () => {
      const build = (): string => serviceSpiffeId(trustDomain as string, name as string);
      if (expected === 'invalid') {
        assertInvalid(build);
        return;
      }
      assert.equal(build(), expected);
      const id = parseWorkloadId(expected, trustDomain as string);
      assert.equal(id.path, `/${name as string}`);
    });
  }
});

void describe('assertTrustDomain', () => {
  for (const [trustDomain, valid] of TRUST_DOMAIN_ROWS) {
    void test(`${label(trustDomain)} → ${valid ? 'valid' : 'invalid'}`, () => {
      const check = (): void => {
        assertTrustDomain(trustDomain as string);
      };
      if (valid) check();
      else assertInvalid(check);
    });
  }
});
