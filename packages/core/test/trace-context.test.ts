import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatTraceparent,
  parseTraceparent,
  traceContextFromHeaders,
} from '../src/trace/trace-context.ts';

// The W3C Trace Context §3.2 example value, and variations of it.
const EXAMPLE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const ROWS: readonly [string, string | undefined, boolean][] = [
  ['the W3C example', EXAMPLE, true],
  ['not sampled', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', true],
  [
    'a future version with an extra field',
    'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what',
    true,
  ],
  ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', false],
  ['version 00 with an extra field', `${EXAMPLE}-x`, false],
  ['upper-case hex', EXAMPLE.toUpperCase(), false],
  ['all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', false],
  ['all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', false],
  ['short trace id', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', false],
  ['missing flags', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', false],
  ['whitespace', ` ${EXAMPLE}`, false],
  ['empty', '', false],
  ['absent', undefined, false],
  ['huge', `${EXAMPLE}${'a'.repeat(1000)}`, false],
];

describe('traceparent', () => {
  for (const [name, value, valid] of ROWS) {
    it(`${valid ? 'accepts' : 'ignores'} ${name}`, () => {
      assert.equal(parseTraceparent(value) !== undefined, valid);
    });
  }

  it('continues a valid trace with a new span and keeps tracestate and correlation id', () => {
    const context = traceContextFromHeaders({
      traceparent: EXAMPLE,
      tracestate: 'vendor=abc',
      'x-correlation-id': 'req-42',
    });
    assert.equal(context.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(context.parentSpanId, '00f067aa0ba902b7');
    assert.notEqual(context.spanId, '00f067aa0ba902b7');
    assert.equal(context.tracestate, 'vendor=abc');
    assert.equal(context.correlationId, 'req-42');
    assert.match(
      formatTraceparent(context),
      /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/,
    );
  });

  it('starts a new trace and correlation id when the inbound ones are invalid', () => {
    const context = traceContextFromHeaders({
      traceparent: 'garbage',
      tracestate: 'a=b',
      'x-correlation-id': 'bad id\r\nx',
    });
    assert.match(context.traceId, /^[0-9a-f]{32}$/);
    assert.equal(context.parentSpanId, undefined);
    assert.equal(
      context.tracestate,
      undefined,
      'tracestate without a valid traceparent is dropped',
    );
    assert.match(context.correlationId, /^[0-9a-f-]{36}$/);
  });
});
