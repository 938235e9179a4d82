import { hostname } from 'node:os';

/**
 * The audit event, serialized by hand for `auditDestination`: one JSON line per request with
 * pino's framing (`level`, `time`, `pid`, `hostname`, then the event's fields, then `msg`), so the
 * file reads like the `auditLogger` one. Building the line from a precomputed prefix costs a
 * fraction of a logger call; every string that did not come from a constant goes through
 * {@link jsonString}.
 */

/** Where hand-serialized audit lines go: `auditFileDestination()`, a stream, any line sink. */
export interface AuditSink {
  write(line: string): unknown;
}

/** The fields of one audit event, in the order they are written. */
export interface AuditEvent {
  /** Who the request is for: the user when there is one, else the calling service. */
  readonly caller: string | null;
  /** The acting service of a delegated call (`act.sub`). */
  readonly actor: string | null;
  /** The end user of a delegated or user call. */
  readonly user: string | null;
  /** The caller's verified tenant (`tenant_id`, or the edge's configured claim). */
  readonly tenant: string | null;
  /** A delegated call's whole actor chain, nearest first. */
  readonly actors: readonly string[] | null;
  readonly jti: string | null;
  readonly route: string | null;
  readonly method: string;
  readonly decision: 'allow' | 'deny';
  readonly reason: string;
  readonly status: number;
  readonly durationMs: number;
  readonly correlationId: string;
  readonly traceId: string;
}

/** Printable ASCII other than `"` and `\`: such a string is its own JSON body. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * A JSON string literal for `value`. JSON.stringify escapes quotes, backslashes and control
 * characters and writes lone surrogates as `\u` escapes (well-formed JSON.stringify), so a
 * hostile route or subject cannot end the string or the line.
 */
export function jsonString(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}

function nullable(value: string | null): string {
  return value === null ? 'null' : jsonString(value);
}

function stringArray(values: readonly string[] | null): string {
  if (values === null) return 'null';
  let out = '';
  for (const value of values) out += (out === '' ? '' : ',') + jsonString(value);
  return `[${out}]`;
}

/** pino's `level` for `info`, and the message pino's callers would pass. */
const PREFIX_HEAD = '{"level":30,"time":';
const PREFIX_TAIL = `,"pid":${process.pid},"hostname":${jsonString(hostname())},"event":"tessera.request","caller":`;

/** One audit line, newline-terminated, `time` in epoch milliseconds. */
export function auditLine(time: number, event: AuditEvent): string {
  return (
    PREFIX_HEAD +
    String(time) +
    PREFIX_TAIL +
    nullable(event.caller) +
    ',"actor":' +
    nullable(event.actor) +
    ',"user":' +
    nullable(event.user) +
    ',"tenant":' +
    nullable(event.tenant) +
    ',"actors":' +
    stringArray(event.actors) +
    ',"jti":' +
    nullable(event.jti) +
    ',"route":' +
    nullable(event.route) +
    ',"method":' +
    jsonString(event.method) +
    ',"decision":"' +
    event.decision +
    '","reason":"' +
    event.reason +
    '","status":' +
    String(event.status) +
    ',"durationMs":' +
    String(event.durationMs) +
    ',"correlationId":' +
    jsonString(event.correlationId) +
    ',"traceId":' +
    jsonString(event.traceId) +
    ',"msg":"tessera request"}\n'
  );
}
