import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { TesseraError } from '@tessera/core';
import { MIN_SECRET_BYTES } from './config.ts';

/**
 * Reads a file only its owner may read: refuses (with the setting named) a missing file, a
 * symlink, anything but a regular file, or a file group or other users can read or write.
 *
 * The file is opened with `O_NOFOLLOW` and checked through its descriptor, so the checks and the
 * read are about the same file: checking the path with `lstat` and reading it after would let a
 * symlink swapped in between be followed.
 */
export async function readOwnerOnlyFile(path: string, setting: string): Promise<string> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new TesseraError(
        'ERR_CONFIG_INSECURE',
        `${setting}: ${path} is a symbolic link (name the file itself)`,
      );
    }
    throw new TesseraError('ERR_CONFIG_INVALID', `${setting}: cannot read ${path}`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new TesseraError('ERR_CONFIG_INSECURE', `${setting}: ${path} is not a regular file`);
    }
    if ((info.mode & 0o077) !== 0) {
      throw new TesseraError(
        'ERR_CONFIG_INSECURE',
        `${setting}: ${path} is readable by other users (chmod 600)`,
      );
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Reads a secret from an owner-only file ({@link readOwnerOnlyFile}), refusing a secret shorter
 * than 32 bytes. Trailing whitespace is ignored.
 */
export async function readSecretFile(path: string, setting: string): Promise<Buffer> {
  const bytes = Buffer.from((await readOwnerOnlyFile(path, setting)).trim(), 'utf8');
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
