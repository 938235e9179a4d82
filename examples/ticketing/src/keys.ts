import { createPrivateKey, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
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

/**
 * Replaces the service's key file with `key` (after a rotation), atomically: the PEM goes to a
 * new file in the same directory (mode 0600, `O_EXCL`), is flushed to disk, then renamed over
 * the old one. A reader (a restart, `tessera svid get --key`) sees the old key or the new one,
 * never a partial file.
 */
export async function writeServiceKey(
  dataDir: string,
  name: string,
  key: SigningKey,
): Promise<void> {
  const path = serviceKeyPath(dataDir, name);
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(
    temporary,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    0o600,
  );
  try {
    try {
      await handle.writeFile(key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
