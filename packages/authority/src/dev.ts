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
 * `tessera.local`, plain HTTP on loopback only. Nothing else needs to exist.
 */
/** Where a dev authority writes its signed audit chain head (`audit-log verify --checkpoint`). */
export const DEV_AUDIT_ANCHOR_FILE = 'audit-head.jws';

export async function prepareDevMode(options: {
  dataDir?: string;
  listen?: { host: string; port: number };
}): Promise<DevSetup> {
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const listen = options.listen ?? DEFAULT_LISTEN;
  if (!isLoopbackHost(listen.host)) {
    throw new TesseraError(
      'ERR_CONFIG_INSECURE',
      'listen: dev mode serves plain HTTP and only on a loopback address',
    );
  }
  await ensurePrivateDir(dataDir);
  const kekFile = join(dataDir, 'kek');
  const adminTokenFile = join(dataDir, 'admin.token');
  const createdKek = await ensureSecretFile(kekFile);
  const createdAdmin = await ensureSecretFile(adminTokenFile);
  const host = listen.host === '::1' ? '[::1]' : listen.host;
  const config = validateConfig(
    {
      issuer: `http://${host}:${listen.port}`,
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
