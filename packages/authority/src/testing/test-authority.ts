import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import {
  generateSigningKey,
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  systemClock,
  type Clock,
  type SigningKey,
} from '@tessera/core';
import {
  configDocument,
  validateConfig,
  type AuthorityConfig,
  type AuthorityConfigFile,
} from '../config.ts';
import { DEV_BUNDLE_FILE, prepareDevMode } from '../dev.ts';
import type { ServerSvidIssuer } from '../tls/server-credentials.ts';
import { requestOverTls } from './tls-request.ts';
import { createAuthorityLogger } from '../logger.ts';
import { startAuthority, type RunningAuthority } from '../start.ts';
import { freePort } from './free-port.ts';

export interface TestAuthority {
  readonly running: RunningAuthority;
  readonly url: string;
  readonly adminToken: string;
  readonly dataDir: string;
  readonly logLines: string[];
  /** With `tls`: the authority's SPIFFE ID, which its server certificate carries. */
  readonly spiffeId: string;
  /** With `tls`: the CA bundle (PEM) as the authority last wrote it to `DATA_DIR/bundle.pem`. */
  bundlePem(): Promise<string>;
  /**
   * A request to the authority; with `tls`, over HTTPS trusting the bundle and checking the
   * server's SPIFFE ID, presenting `cert`/`key` when given (mTLS).
   */
  request(
    path: string,
    options?: {
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      cert?: string;
      key?: string;
    },
  ): Promise<Response>;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  form(path: string, form: Record<string, string>): Promise<Response>;
  /** Registers a service with a fresh key; returns its key and SPIFFE ID. */
  register(
    name: string,
    audiences: string[],
    scopes: string[],
  ): Promise<{ key: SigningKey; clientId: string }>;
  assertion(key: SigningKey, clientId: string): string;
  tokenRequest(key: SigningKey, clientId: string, extra: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/**
 * A real dev-mode authority on 127.0.0.1 in a temporary directory, for integration tests of a
 * service against the real token endpoint, JWKS and revocation feed: SQLite by default, or the
 * PostgreSQL database at `postgres` (a connection string). `close()` stops it and deletes the
 * directory.
 *
 * @example
 * ```ts
 * const authority = await startTestAuthority();
 * await authority.register('billing', [], []);
 * const caller = await authority.register('event-service', ['billing'], ['invoices:write']);
 * const response = await authority.tokenRequest(caller.key, caller.clientId, { audience: 'billing' });
 * await authority.close();
 * ```
 */
export async function startTestAuthority(
  options: {
    postgres?: string;
    clock?: Clock;
    revocationFeed?: Partial<AuthorityConfig['revocationFeed']>;
    /** Settings merged over the dev config (top-level keys replace). */
    config?: Partial<AuthorityConfigFile>;
    /** HTTPS as `--dev --tls` serves it (issuer `https://127.0.0.1:PORT`). */
    tls?: boolean;
    /** Issues the server's SVID and serves the bundle (with `tls`). */
    serverSvidIssuer?: ServerSvidIssuer;
  } = {},
): Promise<TestAuthority> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-authority-'));
  const port = await freePort();
  const dev = await prepareDevMode({
    dataDir,
    listen: { host: '127.0.0.1', port },
    ...(options.tls === true ? { tls: true } : {}),
  });
  const { adminTokenPath } = dev;
  let config = dev.config;
  if (options.postgres !== undefined) {
    const connectionStringFile = join(dataDir, 'postgres.url');
    await writeFile(connectionStringFile, options.postgres, { mode: 0o600 });
    config = { ...config, store: { kind: 'postgres', connectionStringFile } };
  }
  if (options.config !== undefined) {
    config = validateConfig({ ...configDocument(config), ...options.config }, { dev: true });
  }
  const clock = options.clock ?? systemClock;
  const logLines: string[] = [];
  // The production logger (with its redaction), writing into memory for assertions.
  const logger = createAuthorityLogger({
    level: 'info',
    destination: { write: (line: string) => void logLines.push(line) },
  });
  if (options.revocationFeed !== undefined) {
    config = { ...config, revocationFeed: { ...config.revocationFeed, ...options.revocationFeed } };
  }
  const running = await startAuthority(config, {
    logger,
    clock,
    ...(options.serverSvidIssuer !== undefined
      ? { serverSvidIssuer: options.serverSvidIssuer }
      : {}),
  });
  const adminToken = (await readFile(adminTokenPath, 'utf8')).trim();
  const url = running.url;
  const spiffeId = `spiffe://${config.trustDomain}/tessera-authority`;
  const bundlePem = () => readFile(join(dataDir, DEV_BUNDLE_FILE), 'utf8');
  const request: TestAuthority['request'] = async (path, init = {}) => {
    if (config.tls === undefined) {
      return fetch(`${url}${path}`, {
        method: init.method ?? 'GET',
        headers: init.headers ?? {},
        ...(init.body !== undefined ? { body: init.body } : {}),
      });
    }
    return requestOverTls(`${url}${path}`, {
      ...init,
      ca: await bundlePem(),
      serverSpiffeId: spiffeId,
    });
  };
  const admin = (method: string, path: string, body?: unknown) =>
    request(path, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const form = (path: string, fields: Record<string, string>) =>
    request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  const assertion = (key: SigningKey, clientId: string) =>
    mintClientAssertion({ clientId, audience: config.issuer }, { key, clock });
  return {
    running,
    url,
    adminToken,
    dataDir,
    logLines,
    spiffeId,
    bundlePem,
    request,
    admin,
    form,
    assertion,
    async register(name, audiences, scopes) {
      const key = generateSigningKey();
      const response = await admin('POST', '/v1/admin/services', {
        name,
        audiences,
        scopes,
        jwks: { keys: [key.publicJwk] },
      });
      if (response.status !== 201 && response.status !== 200)
        throw new Error(`register ${name}: ${response.status}`);
      return { key, clientId: `spiffe://tessera.local/${name}` };
    },
    tokenRequest(key, clientId, extra) {
      return form('/oauth2/token', {
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: assertion(key, clientId),
        ...extra,
      });
    },
    async close() {
      await running.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
