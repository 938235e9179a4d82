import { createServer } from 'node:net';

/**
 * A loopback port that is free right now, for servers whose URL (an issuer, a connection string)
 * must be known before they listen. Another process could take it in between; on this machine's
 * test runs that has not been seen.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}
