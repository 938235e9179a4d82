import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readFile } from 'node:fs/promises';
import { TesseraError } from '@tessera/core';
import { MIN_SECRET_BYTES } from './config.ts';

/**
 * Reads a secret from a file, refusing (with the setting named) a missing file, a symlink, a
 * file other users can read, or a secret shorter than 32 bytes. Trailing whitespace is ignored.
 */
export async function readSecretFile(path: string, setting: string): Promise<Buffer> {
  let info;
  try {
    info = await lstat(path);
  } catch {
    throw new TesseraError('ERR_CONFIG_INVALID', `${setting}: cannot read ${path}`);
  }
  if (!info.isFile())
    throw new TesseraError('ERR_CONFIG_INSECURE', `${setting}: ${path} is not a regular file`);
  if ((info.mode & 0o077) !== 0) {
    throw new TesseraError(
      'ERR_CONFIG_INSECURE',
      `${setting}: ${path} is readable by other users (chmod 600)`,
    );
  }
  const bytes = Buffer.from((await readFile(path, 'utf8')).trim(), 'utf8');
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new TesseraError(
      'ERR_CONFIG_INSECURE',
      `${setting}: secret is shorter than ${MIN_SECRET_BYTES} bytes`,
    );
  }
  return bytes;
}

/** The KEK file holds 32 random bytes as base64url text. */
export async function readKekFile(path: string): Promise<Buffer> {
  const text = (await readSecretFile(path, 'kekFile')).toString('utf8');
  const kek = Buffer.from(text, 'base64url');
  if (kek.length !== 32 || kek.toString('base64url') !== text) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      'kekFile: must hold exactly 32 bytes as base64url',
    );
  }
  return kek;
}

/** Creates `path` with a fresh random secret (mode 0600) unless it exists. Returns true if created. */
export async function ensureSecretFile(path: string): Promise<boolean> {
  try {
    const handle = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
      0o600,
    );
    try {
      await handle.writeFile(`${randomBytes(32).toString('base64url')}\n`);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

export async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
}
