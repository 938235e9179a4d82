import { createPrivateKey } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateSigningKey, signingKeyFromPrivateKey, type SigningKey } from '@tessera/core';

/** Where a service's private key lives: `<dataDir>/keys/<name>.key`, as `tessera service add` writes it. */
export function serviceKeyPath(dataDir: string, name: string): string {
  return join(dataDir, 'keys', `${name}.key`);
}

/**
 * The service's ES256 private key (PKCS#8 PEM, mode 0600): created on first start, reused on
 * every later one, so the public key registered with the authority stays the same and
 * re-registering is a no-op. `O_EXCL` means an existing key is never overwritten.
 */
export async function loadOrCreateServiceKey(dataDir: string, name: string): Promise<SigningKey> {
  const path = serviceKeyPath(dataDir, name);
  await mkdir(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  const key = generateSigningKey('ES256');
  try {
    const handle = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
      0o600,
    );
    try {
      await handle.writeFile(key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    } finally {
      await handle.close();
    }
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return signingKeyFromPrivateKey(createPrivateKey(await readFile(path, 'utf8')), 'ES256');
}
