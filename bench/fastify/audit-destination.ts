import { pino } from 'pino';

/**
 * The audit events' file destination for every benchmark app: asynchronous, written about ten
 * events (4 KiB) at a time, as the README recommends for a file. Unbuffered (`minLength: 0`),
 * each event or small group of events is its own write through libuv's thread pool, which on
 * this machine cost about 5 µs more per request (`fastify.protected`, server CPU time per
 * request, three runs each).
 */
export function auditDestination(file: string): ReturnType<typeof pino.destination> {
  return pino.destination({ dest: file, sync: false, minLength: 4096 });
}
