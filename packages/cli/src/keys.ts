import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  exportPublicJwk,
  generateSigningKey,
  signingKeyFromPrivateKey,
  type PublicJwk,
  type SigningAlgorithm,
  type SigningKey,
} from '@tessera/core';
import { CliError } from './io.ts';

function algorithmOf(key: KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'ES256';
  throw new CliError('only P-256 (ES256) and Ed25519 keys are supported');
}

/** Reads a PKCS#8 PEM private key written by `tessera service add`. */
export async function readSigningKey(path: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`cannot read the key file ${path}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new CliError(`${path} is not a PEM private key`);
  }
  return signingKeyFromPrivateKey(key, algorithmOf(key));
}

/** Reads a public key (PEM SPKI, or a private key whose public half is used) as a JWK. */
export async function readPublicJwk(path: string): Promise<PublicJwk> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`cannot read the public key file ${path}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new CliError(`${path} is not a PEM public key`);
  }
  return exportPublicJwk(key, algorithmOf(key));
}

/**
 * Generates a key pair and writes the private key (PKCS#8 PEM, mode 0600) to `path`, or reuses
 * the key already there, so re-running `service add` is idempotent.
 */
export async function ensurePrivateKeyFile(
  path: string,
): Promise<{ key: SigningKey; created: boolean }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
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
    return { key, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { key: await readSigningKey(path), created: false };
  }
}
