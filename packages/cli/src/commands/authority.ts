import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  configDocument,
  createAuthorityLogger,
  DEFAULT_DATA_DIR,
  isAuthorityWorker,
  MAX_WORKERS,
  runAuthorityWorker,
  startAuthorityCluster,
  openConfiguredStore,
  openSqliteStore,
  prepareDevMode,
  startAuthority,
  validateConfig,
  verifyStoreAuditChain,
  loadAuditAnchorKeys,
  verifyAnchoredAuditChain,
  type AuditChainFault,
  type AuthorityConfig,
} from '@tessera/authority';
import { isTesseraError } from '@tessera/core';
import { CliError, type CliIo } from '../io.ts';

/** Where `prepareDevMode` keeps the SQLite store inside the data directory. */
const DEV_DATABASE_FILE = 'tessera.db';

function parseListen(value: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new CliError(`--listen must be HOST:PORT, got "${value}"`);
  }
  const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

/**
 * Relative file paths in a config file are taken relative to the file itself, not to the working
 * directory, so `--config /etc/tessera/authority.json` reads the same secrets wherever it is run.
 */
function resolveConfigPaths(document: unknown, baseDir: string): unknown {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return document;
  const at = (value: unknown) =>
    typeof value === 'string' && value !== '' ? resolve(baseDir, value) : value;
  const nested = (value: unknown, keys: readonly string[]) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const key of keys) if (key in copy) copy[key] = at(copy[key]);
    return copy;
  };
  const file = { ...(document as Record<string, unknown>) };
  for (const key of ['kekFile', 'adminTokenFile']) if (key in file) file[key] = at(file[key]);
  if ('tls' in file) file.tls = nested(file.tls, ['certFile', 'keyFile', 'bundleFile']);
  if ('store' in file) file.store = nested(file.store, ['path', 'connectionStringFile']);
  if ('audit' in file) file.audit = nested(file.audit, ['anchorFile']);
  return file;
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
  return validateConfig(resolveConfigPaths(document, dirname(path)), { dev: false });
}

function parseWorkers(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const workers = Number(value);
  if (!/^\d+$/.test(value) || workers < 1 || workers > MAX_WORKERS) {
    throw new CliError(`--workers must be an integer from 1 to ${MAX_WORKERS}, got "${value}"`);
  }
  return workers;
}

export interface AuthorityStartOptions {
  readonly dev: boolean;
  readonly config?: string;
  readonly dataDir?: string;
  readonly listen?: string;
  readonly workers?: string;
  readonly tls?: boolean;
  /** `--admin-spiffe-id`, added to `admin.spiffeIds`. */
  readonly adminSpiffeId?: string[];
}

/**
 * `tessera authority start`: runs until SIGINT/SIGTERM, then shuts down cleanly. With more than
 * one worker this process is the cluster primary, and each worker runs this same command.
 */
export async function authorityStart(options: AuthorityStartOptions, io: CliIo): Promise<void> {
  if (isAuthorityWorker()) {
    // The primary validated everything and passed the config; this process only serves.
    await runAuthorityWorker({ logger: createAuthorityLogger() });
    return;
  }
  const listen = options.listen === undefined ? undefined : parseListen(options.listen);
  const workers = parseWorkers(options.workers);
  let config: AuthorityConfig;
  if (options.dev) {
    if (options.config !== undefined) throw new CliError('--dev and --config are exclusive');
    // The dev issuer is built from the listen address before binding: with port 0 it would name
    // a port nobody listens on, and every token's `iss` would be wrong.
    if (listen?.port === 0) throw new CliError('--listen needs a fixed port with --dev');
    const setup = await prepareDevMode({
      dataDir: options.dataDir ?? DEFAULT_DATA_DIR,
      ...(listen ? { listen } : {}),
      ...(options.tls === true ? { tls: true } : {}),
    });
    config = setup.config;
    io.err(
      `dev mode: data in ${setup.dataDir}; admin token in ${setup.adminTokenPath} (mode 0600)` +
        (config.tls?.bundleFile !== undefined ? `; CA bundle in ${config.tls.bundleFile}` : ''),
    );
  } else {
    if (options.config === undefined) throw new CliError('--config FILE is required without --dev');
    if (options.dataDir !== undefined) {
      throw new CliError(
        '--data-dir applies to --dev only; with --config the file names the store',
      );
    }
    config = await loadConfigFile(resolve(options.config));
  }
  // --tls with a config file that has no `tls` section: the authority's own SVID, nothing else.
  const addTls = options.tls === true && config.tls === undefined;
  const adminSpiffeIds = [...config.adminSpiffeIds, ...(options.adminSpiffeId ?? [])];
  if (listen !== undefined || workers !== undefined || addTls || options.adminSpiffeId?.length) {
    config = validateConfig(
      {
        ...configDocument(config),
        ...(listen !== undefined ? { listen } : {}),
        ...(workers !== undefined ? { workers } : {}),
        ...(addTls ? { tls: {} } : {}),
        ...(adminSpiffeIds.length > 0
          ? { admin: { spiffeIds: [...new Set(adminSpiffeIds)] } }
          : {}),
      },
      { dev: config.dev },
    );
  }
  const logger = createAuthorityLogger();
  const running =
    config.workers > 1
      ? await startAuthorityCluster(config, { workers: config.workers, logger })
      : await startAuthority(config, { logger });
  io.err(
    `authority listening on ${running.url} (issuer ${config.issuer}` +
      (config.workers > 1 ? `, ${config.workers} workers)` : ')'),
  );
  await new Promise<void>((done, fail) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      running.close().then(done, fail);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // A cluster also stops by itself when a worker dies: exit 1, for the supervisor to restart.
    if ('stopped' in running) {
      running.stopped.then(undefined, (error: unknown) => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        fail(error instanceof Error ? error : new Error(String(error)));
      });
    }
  });
}

async function assertDatabaseExists(path: string): Promise<void> {
  const isFile = await stat(path).then(
    (info) => info.isFile(),
    () => false,
  );
  // Opening a missing SQLite file would create an empty log, which then "verifies".
  if (!isFile) throw new CliError(`no audit log at ${path} (check --data-dir or --config)`);
}

/** A signed head is a few hundred bytes; anything much larger is not one. */
const MAX_CHECKPOINT_BYTES = 16 * 1024;

const CHECKPOINT_FAULTS: Partial<Record<AuditChainFault, string>> = {
  truncated: 'the log ends before the signed head: records were deleted from its end',
  'anchor-mismatch': 'the record at the signed head has another hash: the store was rewritten',
  'anchor-pruned': 'the signed head was pruned by retention and no checkpoint vouches for it',
};

async function readCheckpoint(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`cannot read the checkpoint file ${path}`);
  }
  if (Buffer.byteLength(text) > MAX_CHECKPOINT_BYTES) {
    throw new CliError(`${path} is not a signed audit head (too large)`);
  }
  return text;
}

/**
 * `tessera audit-log verify`: exit 0 when the chain is intact, 1 naming the first bad record.
 * With `--checkpoint FILE` (a head the authority signed and wrote outside the store), also
 * requires that head to be validly signed by one of the authority's keys (those the KEK
 * decrypts) and present in the chain with the same hash, which detects a store rewritten with
 * every hash recomputed, or cut short. Reads only: never creates a data directory, secrets or an
 * empty database.
 */
export async function auditLogVerify(
  options: { config?: string; dataDir?: string; checkpoint?: string },
  io: CliIo,
): Promise<void> {
  let store;
  let kekFile: string;
  let issuer: string | undefined;
  if (options.config !== undefined) {
    if (options.dataDir !== undefined) throw new CliError('--data-dir and --config are exclusive');
    const config = await loadConfigFile(resolve(options.config));
    if (config.store.kind === 'sqlite') await assertDatabaseExists(config.store.path);
    kekFile = config.kekFile;
    issuer = config.issuer;
    store = await openConfiguredStore(config);
  } else {
    const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
    const path = join(dataDir, DEV_DATABASE_FILE);
    await assertDatabaseExists(path);
    kekFile = join(dataDir, 'kek');
    store = await openSqliteStore({ path });
  }
  try {
    if (options.checkpoint === undefined) {
      const verdict = await verifyStoreAuditChain(store);
      if (verdict.ok) {
        io.out(`audit log intact: ${verdict.count} records`);
        return;
      }
      throw new CliError(`audit log broken at record ${verdict.seq}: ${verdict.reason}`);
    }
    const checkpoint = await readCheckpoint(resolve(options.checkpoint));
    const keys = await loadAuditAnchorKeys(store, kekFile);
    let result;
    try {
      result = await verifyAnchoredAuditChain(
        store,
        checkpoint,
        keys,
        issuer !== undefined ? { issuer } : {},
      );
    } catch (error) {
      if (!isTesseraError(error) || error.code !== 'ERR_AUDIT_CHECKPOINT_INVALID') throw error;
      throw new CliError(
        `checkpoint ${options.checkpoint} refused (${error.code}): ${error.detail ?? error.message}`,
      );
    }
    const { head, verdict } = result;
    if (!verdict.ok) {
      const why = CHECKPOINT_FAULTS[verdict.reason];
      throw new CliError(
        `audit log broken at record ${verdict.seq}: ${verdict.reason}` +
          (why === undefined ? '' : ` (${why}; checkpoint: record ${head.seq})`),
      );
    }
    io.out(
      `audit log intact: ${verdict.count} records; signed head at record ${head.seq} ` +
        `(${new Date(head.iat * 1000).toISOString()}, key ${head.kid}) matches`,
    );
  } finally {
    await store.close();
  }
}
