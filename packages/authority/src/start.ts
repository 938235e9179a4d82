import { Server as TlsServer } from 'node:tls';
import { systemClock, TesseraError, type Clock } from '@tessera/core';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { readFile } from 'node:fs/promises';
import { createPrivateKey } from 'node:crypto';
import { anchorAuditHead } from './audit/anchor.ts';
import {
  CertificateAuthority,
  type CaChanges,
  type OperatorRoot,
} from './ca/certificate-authority.ts';
import { createAuthorityContext } from './authority.ts';
import {
  ClientAuthenticationError,
  type AuthorityContext,
  type AuthorityPeers,
} from './context.ts';
import type { AuthorityConfig } from './config.ts';
import { isClientAuthError, verifyClientAssertion } from './client-auth/private-key-jwt.ts';
import { parseKek, type KeyEncryptionKey } from './keys/kek.ts';
import { KeyManager, type KeyChanges } from './keys/manager.ts';
import { readKekFile, readOwnerOnlyFile, readSecretFile } from './secret-files.ts';
import { buildAuthorityServer } from './server.ts';
import { ServiceCache } from './service-cache.ts';
import { openPostgresStore } from './store/postgres.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { Store } from './store/types.ts';
import {
  secureContextOptions,
  ServerCredentialSource,
  serverHosts,
  type ServerCredentials,
  type ServerSvidIssuer,
} from './tls/server-credentials.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** How often the server certificate's renewal and the CA bundle are checked. */
const TLS_REFRESH_INTERVAL_MS = 30_000;

/** Opens the store the config names (running migrations). */
export async function openConfiguredStore(
  config: AuthorityConfig,
  clock: Clock = systemClock,
): Promise<Store> {
  if (config.store.kind === 'sqlite') return openSqliteStore({ path: config.store.path, clock });
  // It holds the database password: the same owner-only, no-symlink rule as the other secrets.
  const connectionString = (
    await readOwnerOnlyFile(config.store.connectionStringFile, 'store.connectionStringFile')
  ).trim();
  if (connectionString === '') {
    throw new TesseraError('ERR_CONFIG_INVALID', 'store.connectionStringFile: the file is empty');
  }
  return openPostgresStore({ connectionString, clock });
}

/** Scheduled key changes (creation, activation, retirement) go to the audit log like manual ones. */
async function auditKeyChanges(
  context: Pick<AuthorityContext, 'logger' | 'audit'>,
  changes: KeyChanges,
): Promise<void> {
  const changed = Object.values(changes).some((kids: readonly string[]) => kids.length > 0);
  if (!changed) return;
  context.logger.info({ changes }, 'signing keys changed');
  await context.audit({ type: 'key.scheduled_change', actor: 'system', data: { ...changes } });
}

/** Scheduled CA changes (creation, activation, retirement) go to the audit log. */
async function auditCaChanges(
  context: Pick<AuthorityContext, 'logger' | 'audit'>,
  changes: CaChanges,
): Promise<void> {
  const changed = Object.values(changes).some((ids: readonly string[]) => ids.length > 0);
  if (!changed) return;
  context.logger.info({ changes }, 'certificate authorities changed');
  await context.audit({ type: 'ca.scheduled_change', actor: 'system', data: { ...changes } });
}

/** The operator's CA from `ca.certFile` / `ca.keyFile` (the key file owner-only, like every secret). */
async function readOperatorRoot(config: AuthorityConfig): Promise<OperatorRoot | undefined> {
  const { certFile, keyFile } = config.ca;
  if (certFile === undefined || keyFile === undefined) return undefined;
  let privateKey;
  try {
    privateKey = createPrivateKey(await readOwnerOnlyFile(keyFile, 'ca.keyFile'));
  } catch (error) {
    if (error instanceof TesseraError) throw error;
    throw new TesseraError('ERR_CONFIG_INVALID', 'ca.keyFile: not a PEM private key');
  }
  return { certificatePem: await readFile(certFile, 'utf8'), privateKey };
}

function certificateAuthority(
  config: AuthorityConfig,
  store: Store,
  kek: KeyEncryptionKey,
  clock: Clock,
  operatorRoot: OperatorRoot | undefined,
): CertificateAuthority {
  return new CertificateAuthority(
    { store, kek, clock },
    {
      trustDomain: config.trustDomain,
      caLifetimeSeconds: config.ca.lifetimeSeconds,
      rotateEverySeconds: config.ca.rotateEverySeconds,
      prepublishSeconds: config.ca.prepublishSeconds,
      defaultSvidLifetimeSeconds: config.ca.svidLifetimeSeconds,
      maxSvidLifetimeSeconds: config.ca.maxSvidLifetimeSeconds,
      ...(operatorRoot !== undefined ? { operatorRoot } : {}),
    },
  );
}

/** Most `pruneAudit` batches one retention pass runs (10,000 records each). */
const MAX_PRUNE_BATCHES = 100;

/**
 * `audit.retentionDays`: prunes records older than that behind a checkpoint record (see
 * `Store.pruneAudit`), so `verify` still checks the chain from the checkpoint on.
 */
async function applyAuditRetention(
  store: Store,
  config: AuthorityConfig,
  clock: Clock,
  logger: FastifyBaseLogger,
): Promise<void> {
  const days = config.audit.retentionDays;
  if (days === undefined) return;
  const now = clock.now();
  for (let batch = 0; batch < MAX_PRUNE_BATCHES; batch += 1) {
    const checkpoint = await store.pruneAudit(now - days * 86_400_000, now);
    if (checkpoint === undefined) return;
    logger.info({ checkpoint: checkpoint.seq, ...checkpoint.data }, 'audit log pruned');
  }
}

function keyManager(config: AuthorityConfig, store: Store, kek: KeyEncryptionKey, clock: Clock) {
  return new KeyManager(
    { store, kek, clock },
    {
      alg: config.keyAlg,
      rotationIntervalMs: config.rotationIntervalMs,
      jwksMaxAgeSeconds: config.jwksMaxAgeSeconds,
    },
  );
}

/**
 * Everything about the store an authority needs before it serves, done once: secrets checked,
 * schema migrated, signing keys created or brought up to date (and audited). `startAuthority`
 * does this itself; a cluster primary does it before starting workers, so they never race.
 */
export async function initialiseAuthorityStore(
  config: AuthorityConfig,
  deps: { readonly logger: FastifyBaseLogger; readonly clock?: Clock },
): Promise<void> {
  const clock = deps.clock ?? systemClock;
  const kek = parseKek(await readKekFile(config.kekFile), 'kekFile');
  await readSecretFile(config.adminTokenFile, 'adminTokenFile');
  const operatorRoot = await readOperatorRoot(config);
  const store = await openConfiguredStore(config, clock);
  try {
    const changes = await keyManager(config, store, kek, clock).init();
    const auditing = {
      logger: deps.logger,
      audit: async (entry: Parameters<AuthorityContext['audit']>[0]) => {
        await store.appendAudit({ ...entry, atMs: clock.now() });
      },
    };
    await auditKeyChanges(auditing, changes);
    const ca = certificateAuthority(config, store, kek, clock, operatorRoot);
    await auditCaChanges(auditing, await ca.init());
  } finally {
    await store.close();
  }
}

export interface RunningAuthority {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly context: AuthorityContext;
  readonly keys: KeyManager;
  /**
   * The trust domain's CA. `ca.issueSvid({ spiffeId, publicKey, hosts })` issues the authority's
   * own server certificate (`spiffe://<td>/tessera-authority`).
   */
  readonly ca: CertificateAuthority;
  /**
   * Re-reads what other instances may have changed in the store (registry, revocations, signing
   * keys) now, instead of at the next poll. A cluster worker runs it when another one changed
   * something.
   */
  refresh(): Promise<void>;
  /**
   * Signs the audit chain head now and records it in the store and the anchor file (otherwise
   * every `audit.anchorIntervalSeconds` and at `close()`).
   */
  anchorAudit(): Promise<void>;
  /**
   * With `tls`: renews the server certificate if half its lifetime has passed, re-reads the CA
   * bundle (and operator files) and swaps the secure context for new connections (otherwise every
   * 30 s).
   */
  refreshTls(): Promise<void>;
  /** The server's current TLS credentials (undefined without `tls`). */
  readonly serverCredentials: ServerCredentials | undefined;
  /** Prunes the audit log by `audit.retentionDays` now (otherwise every minute). */
  applyAuditRetention(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts an authority from a validated config: opens the store, loads the KEK and admin token
 * (refusing insecure files), initialises signing keys, and serves HTTP (HTTPS when `tls` is
 * set). Background work: key schedule every 30 s, revocations from other instances every
 * second, expired rows purged every minute. All timers stop on `close()`.
 */
export async function startAuthority(
  config: AuthorityConfig,
  deps: {
    readonly logger: FastifyBaseLogger;
    readonly clock?: Clock;
    /** The other instances of a cluster (see `startAuthorityCluster`). */
    readonly peers?: AuthorityPeers;
    /** Issues the server's own SVID and serves the CA bundle (with `tls`). */
    readonly serverSvidIssuer?: ServerSvidIssuer;
  },
): Promise<RunningAuthority> {
  const clock = deps.clock ?? systemClock;
  const kek = parseKek(await readKekFile(config.kekFile), 'kekFile');
  const adminToken = await readSecretFile(config.adminTokenFile, 'adminTokenFile');
  const store = await openConfiguredStore(config, clock);
  const keys = keyManager(config, store, kek, clock);
  const initialChanges = await keys.init();
  const ca = certificateAuthority(config, store, kek, clock, await readOperatorRoot(config));
  const initialCaChanges = await ca.init();
  const services = new ServiceCache(store, clock);
  const context = createAuthorityContext({
    settings: {
      issuer: config.issuer,
      trustDomain: config.trustDomain,
      tokenLifetimeSeconds: config.tokenLifetimeSeconds,
      bodyLimitBytes: config.bodyLimitBytes,
      revocationFeed: config.revocationFeed,
      adminSpiffeIds: config.adminSpiffeIds,
      tls: config.tls !== undefined,
      userIssuers: config.userIssuers,
      tokenExchange: config.tokenExchange,
    },
    store,
    services,
    keys,
    ca,
    clock,
    logger: deps.logger,
    adminToken,
    ...(deps.peers !== undefined ? { peers: deps.peers } : {}),
    failureLimit: config.clientAuthFailures,
    aggregation: { maxKeys: config.audit.aggregationMaxKeys },
    authenticateClient: async (parameters) => {
      if (parameters.get('client_assertion_type') !== JWT_BEARER) {
        throw new ClientAuthenticationError('unsupported_client_auth');
      }
      const assertion = parameters.get('client_assertion');
      if (assertion === undefined) throw new ClientAuthenticationError('malformed');
      try {
        const clientId = parameters.get('client_id');
        const { service, kid } = await verifyClientAssertion(assertion, {
          issuer: config.issuer,
          store: {
            getService: (name) => services.get(name),
            rememberAssertion: (key, exp) => store.rememberAssertion(key, exp),
          },
          clock,
          ...(clientId !== undefined ? { clientIdFromRequest: clientId } : {}),
        });
        return { service, kid };
      } catch (error) {
        if (isClientAuthError(error)) throw new ClientAuthenticationError(error.reason);
        throw error;
      }
    },
  });
  await context.revocations.poll();
  await auditKeyChanges(context, initialChanges);
  await auditCaChanges(context, initialCaChanges);
  let tlsSource: ServerCredentialSource | undefined;
  if (config.tls !== undefined) {
    tlsSource = new ServerCredentialSource(
      config.tls,
      {
        trustDomain: config.trustDomain,
        hosts: serverHosts(config.listen.host, config.issuer, config.tls.hosts),
      },
      { issuer: deps.serverSvidIssuer ?? ca, clock, logger: deps.logger },
    );
    try {
      await tlsSource.refresh();
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  const app = buildAuthorityServer(context, tlsSource?.current);
  /** Renews the server certificate when due and follows bundle changes, without a restart. */
  const refreshTls = async () => {
    const next = await tlsSource?.refresh();
    const server: unknown = app.server;
    if (next !== undefined && server instanceof TlsServer) {
      server.setSecureContext(secureContextOptions(next));
    }
  };
  const anchorAudit = () =>
    anchorAuditHead({
      store,
      signingKey: () => keys.signingKey(),
      clock,
      issuer: config.issuer,
      ...(config.audit.anchorFile !== undefined ? { file: config.audit.anchorFile } : {}),
    });
  const timers = [
    setInterval(
      () =>
        void keys
          .tick()
          .then((changes) => auditKeyChanges(context, changes))
          .catch((err: unknown) => {
            deps.logger.error({ err }, 'key schedule failed');
          }),
      30_000,
    ),
    setInterval(
      () =>
        void refreshTls().catch((err: unknown) => {
          deps.logger.error({ err }, 'renewing the server certificate failed');
        }),
      TLS_REFRESH_INTERVAL_MS,
    ),
    setInterval(
      () =>
        void ca
          .tick()
          .then((changes) => auditCaChanges(context, changes))
          .catch((err: unknown) => {
            deps.logger.error({ err }, 'CA schedule failed');
          }),
      30_000,
    ),
    setInterval(
      () =>
        void context.revocations.poll().catch((err: unknown) => {
          deps.logger.error({ err }, 'revocation poll failed');
        }),
      1000,
    ),
    setInterval(
      () =>
        void store
          .purgeExpired(clock.now())
          .then(() => applyAuditRetention(store, config, clock, deps.logger))
          .catch((err: unknown) => {
            deps.logger.error({ err }, 'purge failed');
          }),
      60_000,
    ),
    setInterval(
      () =>
        void context.unauthenticated.flush().catch((err: unknown) => {
          deps.logger.error({ err }, 'audit of failed client authentication failed');
        }),
      config.audit.aggregationIntervalMs,
    ),
    setInterval(
      () =>
        void anchorAudit().catch((err: unknown) => {
          deps.logger.error({ err }, 'signing the audit chain head failed');
        }),
      config.audit.anchorIntervalMs,
    ),
  ];
  for (const timer of timers) timer.unref();
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (error) {
    for (const timer of timers) clearInterval(timer);
    await store.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return {
    url: `${config.tls ? 'https' : 'http'}://${host}:${port}`,
    app,
    context,
    keys,
    ca,
    async refresh() {
      services.clear();
      await context.revocations.poll();
      await auditKeyChanges(context, await keys.tick());
      await auditCaChanges(context, await ca.tick());
    },
    async close() {
      for (const timer of timers) clearInterval(timer);
      await app.close();
      try {
        // The interval cut short by shutdown still gets its rows, and the head is signed last.
        await context.unauthenticated.flush();
        await anchorAudit();
      } finally {
        await store.close();
      }
    },
    async anchorAudit() {
      await anchorAudit();
    },
    refreshTls,
    get serverCredentials() {
      return tlsSource?.current;
    },
    applyAuditRetention() {
      return applyAuditRetention(store, config, clock, deps.logger);
    },
  };
}
