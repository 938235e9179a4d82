import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync, randomUUID } from 'node:crypto';
import type { Caller } from '../token/caller.ts';

/**
 * W3C Trace Context (traceparent/tracestate) and the `x-correlation-id` header, carried from an
 * inbound request to every outbound call it makes. The seed audits found neither propagated;
 * here the Fastify plugin opens a context per request and the client interceptors read it.
 */
export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** This hop's span id: 16 lower-case hex digits, not all zero. */
  readonly spanId: string;
  /** The caller's span id, when the request carried a valid `traceparent`. */
  readonly parentSpanId?: string;
  /** `00` or `01` (sampled). */
  readonly flags: string;
  /** Passed through unchanged when it is well-formed. */
  readonly tracestate?: string;
  readonly correlationId: string;
}

/** What an inbound request makes available to the code that handles it. */
export interface RequestContext {
  readonly trace: TraceContext;
  /** The verified caller, once authenticated. */
  caller?: Caller;
  /**
   * The bearer token `caller` was verified from, when it came from one (not for a certificate
   * caller without a token). It is there only to be exchanged (RFC 8693, the client's
   * `delegate()`): never forward it, log it or send it anywhere but the authority.
   */
  token?: string;
}

/**
 * The per-request context, opened by `@tessera/fastify` and read by `@tessera/client`. The
 * plugin opens it only once something has called {@link useRequestContext} (the client's `trace`
 * interceptor does, when it is created), unless told to always.
 */
export const requestContext = new AsyncLocalStorage<RequestContext>();

let requestContextInUse = false;

/**
 * Asks request plugins to open {@link requestContext} for every request from now on. Call it at
 * start-up if your own code reads `requestContext.getStore()`; `@tessera/client`'s `trace()` calls
 * it for you. It exists because on Node 20 an AsyncLocalStorage in use gives every promise an
 * async hook: about 4 µs of a protected request in our benchmark, which a service that makes no
 * outbound calls should not pay.
 */
export function useRequestContext(): void {
  requestContextInUse = true;
}

/** True once {@link useRequestContext} has been called in this process. */
export function requestContextWanted(): boolean {
  return requestContextInUse;
}

const TRACEPARENT_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// Future versions may append fields after a dash (W3C Trace Context §3.2.4).
const TRACEPARENT_FUTURE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** tracestate: at most 32 list members (§3.3.1.1); a generous byte cap keeps headers small. */
const TRACESTATE = /^[\x20-\x7e]{1,512}$/;
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface ParsedTraceparent {
  readonly traceId: string;
  readonly parentSpanId: string;
  readonly flags: string;
}

/** Parses a `traceparent` value, or returns undefined for anything invalid (which is then ignored). */
export function parseTraceparent(value: string | undefined): ParsedTraceparent | undefined {
  if (value === undefined || value.length > 512) return undefined;
  let fields: readonly (string | undefined)[];
  const current = TRACEPARENT_00.exec(value);
  if (current !== null) {
    fields = current.slice(1, 4);
  } else {
    const future = TRACEPARENT_FUTURE.exec(value);
    // Version ff is forbidden; an unknown version is read as 00 from its first four fields.
    if (future === null || future[1] === 'ff' || future[1] === '00') return undefined;
    fields = future.slice(2, 5);
  }
  const [traceId, parentSpanId, flags] = fields;
  if (traceId === undefined || parentSpanId === undefined || flags === undefined) return undefined;
  if (traceId === ZERO_TRACE || parentSpanId === ZERO_SPAN) return undefined;
  return { traceId, parentSpanId, flags };
}

export function formatTraceparent(
  trace: Pick<TraceContext, 'traceId' | 'spanId' | 'flags'>,
): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.flags}`;
}

// Trace and span ids are needed on every request; one randomFillSync per 4 KiB instead of a
// randomBytes call per id took them out of the request profile (ids are not secrets, but
// W3C Trace Context §3.2.2.3 asks for randomness, which this keeps).
const POOL = Buffer.alloc(4096);
let poolOffset = POOL.length;

function randomHex(bytes: number, zero: string): string {
  for (;;) {
    if (poolOffset + bytes > POOL.length) {
      randomFillSync(POOL);
      poolOffset = 0;
    }
    const hex = POOL.toString('hex', poolOffset, poolOffset + bytes);
    poolOffset += bytes;
    if (hex !== zero) return hex;
  }
}

export function newSpanId(): string {
  return randomHex(8, ZERO_SPAN);
}

/**
 * The trace context for an inbound request: continues the caller's trace when its
 * `traceparent` is valid (a new span id for this hop), starts a new one otherwise; keeps a
 * well-formed `x-correlation-id` or mints one.
 */
export function traceContextFromHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): TraceContext {
  // On every request: no closures or spreads, and one object shape per outcome.
  const traceparent = headers.traceparent;
  const correlation = headers['x-correlation-id'];
  const correlationId =
    typeof correlation === 'string' && CORRELATION_ID.test(correlation)
      ? correlation
      : randomUUID();
  const parent = typeof traceparent === 'string' ? parseTraceparent(traceparent) : undefined;
  if (parent === undefined) {
    // Both ids from one read of the pool: one hex encoding instead of two on every new trace.
    const ids = randomHex(24, '');
    let traceId = ids.slice(0, 32);
    let spanId = ids.slice(32);
    if (traceId === ZERO_TRACE) traceId = randomHex(16, ZERO_TRACE);
    if (spanId === ZERO_SPAN) spanId = newSpanId();
    return { traceId, spanId, flags: '01', correlationId };
  }
  const tracestate = headers.tracestate;
  const context: {
    -readonly [K in keyof TraceContext]: TraceContext[K];
  } = {
    traceId: parent.traceId,
    spanId: newSpanId(),
    parentSpanId: parent.parentSpanId,
    flags: parent.flags,
    correlationId,
  };
  if (typeof tracestate === 'string' && TRACESTATE.test(tracestate))
    context.tracestate = tracestate;
  return context;
}
