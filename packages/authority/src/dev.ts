import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isLoopbackHost, TesseraError } from '@tessera/core';
import { validateConfig, type AuthorityConfig } from './config.ts';
import { ensurePrivateDir, ensureSecretFile } from './secret-files.ts';

export const DEV_TRUST_DOMAIN = 'tessera.local';
export const DEFAULT_DATA_DIR = '.tessera';
export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 7700 } as const;

export interface DevSetup {
  readonly config: AuthorityConfig;
  readonly dataDir: string;
  readonly adminTokenPath: string;
  readonly createdSecrets: boolean;
}

/**
 * `tessera authority start --dev`: SQLite in `DATA_DIR/tessera.db`, a key-encryption key and an
 * admin token generated into `DATA_DIR` (mode 0600) on first start, trust domain
 * `tessera.local`, loopback only: plain HTTP, or HTTPS with `tls` (`--dev --tls`). Nothing else
 * needs to exist.
 */
/** Where a dev authority writes its signed audit chain head (`audit-log verify --checkpoint`). */
export const DEV_AUDIT_ANCHOR_FILE = 'audit-head.jws';

/** Where a dev authority with TLS writes its CA bundle, for clients, the CLI, curl and openssl. */
export const DEV_BUNDLE_FILE = 'bundle.pem';

export async function prepareDevMode(options: {
  dataDir?: string;
  listen?: { host: string; port: number };
  /** HTTPS on loopback with the authority's own SVID; the CA bundle goes to `DATA_DIR/bundle.pem`. */
  tls?: boolean;
}): Promise<DevSetup> {
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const listen = options.listen ?? DEFAULT_LISTEN;
  if (!isLoopbackHost(listen.host)) {
    throw new TesseraError(
      'ERR_CONFIG_INSECURE',
      'listen: dev mode serves only on a loopback address',
    );
  }
  await ensurePrivateDir(dataDir);
  const kekFile = join(dataDir, 'kek');
  const adminTokenFile = join(dataDir, 'admin.token');
  const createdKek = await ensureSecretFile(kekFile);
  const createdAdmin = await ensureSecretFile(adminTokenFile);
  const host = listen.host === '::1' ? '[::1]' : listen.host;
  const bundleFile = join(dataDir, DEV_BUNDLE_FILE);
  // The bundle's presence tells the CLI the dev authority speaks HTTPS: a plain-HTTP start
  // removes the one a TLS start left.
  if (options.tls !== true) await rm(bundleFile, { force: true });
  const config = validateConfig(
    {
      issuer: `${options.tls === true ? 'https' : 'http'}://${host}:${listen.port}`,
      ...(options.tls === true ? { tls: { bundleFile } } : {}),
      trustDomain: DEV_TRUST_DOMAIN,
      listen,
      store: { kind: 'sqlite', path: join(dataDir, 'tessera.db') },
      kekFile,
      adminTokenFile,
      audit: { anchorFile: join(dataDir, DEV_AUDIT_ANCHOR_FILE) },
    },
    { dev: true },
  );
  return {
    config,
    dataDir,
    adminTokenPath: adminTokenFile,
    createdSecrets: createdKek || createdAdmin,
  };
}
