import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Paths redacted from every log line. Route code never logs these on purpose; this is the net
 * under it (a request or body logged whole by mistake still leaks nothing).
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'access_token',
  'token',
  'client_assertion',
  'assertion',
  'body.token',
  'body.client_assertion',
  'privateKey',
  'private_key',
  'kek',
  'adminToken',
  'err.config.headers.authorization',
];

export function createAuthorityLogger(
  options: { level?: string; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      name: 'tessera-authority',
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.destination,
  );
}
