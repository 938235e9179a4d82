import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  createAuthorityLogger,
  openConfiguredStore,
  prepareDevMode,
  startAuthority,
  validateConfig,
  verifyStoreAuditChain,
  type AuthorityConfig,
} from '@tessera/authority';
import { CliError, type CliIo } from '../io.ts';

function parseListen(value: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new CliError(`--listen must be HOST:PORT, got "${value}"`);
  }
  const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

async function loadConfigFile(path: string): Promise<AuthorityConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`cannot read the config file ${path}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not JSON`);
  }
  return validateConfig(document, { dev: false });
}

/** `tessera authority start`: runs until SIGINT/SIGTERM, then shuts down cleanly. */
export async function authorityStart(
  options: { dev: boolean; config?: string; dataDir: string; listen?: string },
  io: CliIo,
): Promise<void> {
  const listen = options.listen === undefined ? undefined : parseListen(options.listen);
  let config: AuthorityConfig;
  if (options.dev) {
    if (options.config !== undefined) throw new CliError('--dev and --config are exclusive');
    const setup = await prepareDevMode({ dataDir: options.dataDir, ...(listen ? { listen } : {}) });
    config = setup.config;
    io.err(
      `dev mode: data in ${setup.dataDir}; admin token in ${setup.adminTokenPath} (mode 0600)`,
    );
  } else {
    if (options.config === undefined) throw new CliError('--config FILE is required without --dev');
    const loaded = await loadConfigFile(resolve(options.config));
    config =
      listen === undefined
        ? loaded
        : validateConfig({ ...loadedDocument(loaded), listen }, { dev: false });
  }
  const authority = await startAuthority(config, { logger: createAuthorityLogger() });
  io.err(`authority listening on ${authority.url} (issuer ${config.issuer})`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void authority.close().then(done, done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Rebuilds the file form of a validated config, to re-validate it with an override. */
function loadedDocument(config: AuthorityConfig): Record<string, unknown> {
  return {
    issuer: config.issuer,
    trustDomain: config.trustDomain,
    listen: config.listen,
    ...(config.tls ? { tls: config.tls } : {}),
    store: config.store,
    kekFile: config.kekFile,
    adminTokenFile: config.adminTokenFile,
    tokens: { lifetimeSeconds: config.tokenLifetimeSeconds },
    keys: {
      alg: config.keyAlg,
      rotationHours: config.rotationIntervalMs / 3_600_000,
      jwksMaxAgeSeconds: config.jwksMaxAgeSeconds,
    },
    bodyLimitBytes: config.bodyLimitBytes,
  };
}

/** `tessera audit-log verify`: exit 0 when the chain is intact, 1 naming the first bad record. */
export async function auditLogVerify(
  options: { config?: string; dataDir: string },
  io: CliIo,
): Promise<void> {
  const config =
    options.config !== undefined
      ? await loadConfigFile(resolve(options.config))
      : (await prepareDevMode({ dataDir: options.dataDir })).config;
  const store = await openConfiguredStore(config);
  try {
    const verdict = await verifyStoreAuditChain(store);
    if (verdict.ok) {
      io.out(`audit log intact: ${verdict.count} records`);
      return;
    }
    throw new CliError(`audit log broken at record ${verdict.seq}: ${verdict.reason}`);
  } finally {
    await store.close();
  }
}
