/**
 * The handshake load of the `tls.handshake.*` benchmarks, run as its own process (pinned to a CPU
 * other than the server's): `concurrency` loops, each opening a new TLS connection (never resuming
 * a session: no `session` is given), waiting for the server's first byte (so the server has
 * finished the handshake, client certificate included) and closing it.
 */
import { connect, createSecureContext, type SecureContext } from 'node:tls';
import { serveParent } from '../authority/child-process.ts';
import type { HandshakeLoadRequest, HandshakeResult, TlsMaterial, TlsVariant } from './messages.ts';

const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Built once per round: parsing PEM per connection would be measured as handshake time. */
function clientContext(variant: TlsVariant, material: TlsMaterial): SecureContext {
  return createSecureContext({
    ca: material.ca,
    minVersion: 'TLSv1.2',
    ...(variant === 'mtls' ? { cert: material.clientCert, key: material.clientKey } : {}),
  });
}

function handshake(port: number, secureContext: SecureContext): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      secureContext,
      // The server's SVID names its SPIFFE ID, not a host name.
      checkServerIdentity: () => undefined,
    });
    const timer = setTimeout(() => {
      socket.destroy(new Error('handshake timed out'));
    }, HANDSHAKE_TIMEOUT_MS);
    socket.once('data', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function runRound(
  request: Extract<HandshakeLoadRequest, { type: 'handshakes' }>,
): Promise<HandshakeResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const context = clientContext(request.variant, request.material);
  const windowEnd = performance.now() + request.durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < windowEnd) {
      const start = performance.now();
      try {
        await handshake(request.port, context);
        const end = performance.now();
        if (end <= windowEnd) latencies.push(end - start);
      } catch (error) {
        errors++;
        firstError ??= String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: request.concurrency }, loop));
  return { completed: latencies.length, latencies, errors, firstError };
}

serveParent<HandshakeLoadRequest>(
  { pid: process.pid },
  async (request) => (request.type === 'handshakes' ? runRound(request) : undefined),
  (request) => request.type === 'close',
);
