import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { parseX509Svid } from '@tessera/core';
import { Agent, fetch as undiciFetch } from 'undici';
import { CliError } from './io.ts';

export const DEFAULT_AUTHORITY_URL = 'http://127.0.0.1:7700';
/** A dev authority started with `--tls` on the default address. */
export const DEFAULT_TLS_AUTHORITY_URL = 'https://127.0.0.1:7700';
export const DEFAULT_ADMIN_TOKEN_FILE = '.tessera/admin.token';
/** Where a dev authority with TLS writes its CA bundle (and removes it when it runs plain HTTP). */
export const DEFAULT_BUNDLE_FILE = '.tessera/bundle.pem';

/**
 * The authority to talk to when no `--authority` is given: `TESSERA_AUTHORITY`, else the dev
 * address, over HTTPS when the dev data directory holds a CA bundle (the dev authority writes
 * one only while it serves TLS).
 */
export function defaultAuthorityUrl(env: Readonly<Record<string, string | undefined>>): string {
  return (
    env.TESSERA_AUTHORITY ??
    (existsSync(DEFAULT_BUNDLE_FILE) ? DEFAULT_TLS_AUTHORITY_URL : DEFAULT_AUTHORITY_URL)
  );
}

/** How the CLI reaches an HTTPS authority: the CA bundle, and a client certificate for mTLS. */
export interface AuthorityTlsOptions {
  /** CA bundle file; default `.tessera/bundle.pem` when it exists, else the system's CAs. */
  readonly ca?: string;
  /** Client certificate chain and key files (PEM), for admin over mTLS. */
  readonly cert?: string;
  readonly key?: string;
}

/**
 * The authority presents its own X.509-SVID: it is checked by its SPIFFE ID
 * (`spiffe://<td>/tessera-authority`; the bundle's CA is constrained to the trust domain), so a
 * valid certificate of any other workload is refused. A certificate that is no SVID (an
 * operator's `tls.certFile`) gets the ordinary host-name check.
 */
export function checkAuthorityIdentity(
  host: string,
  certificate: PeerCertificate,
): Error | undefined {
  let path: string;
  try {
    path = parseX509Svid(certificate.raw).spiffeId.path;
  } catch {
    return checkServerIdentity(host, certificate);
  }
  return path === '/tessera-authority'
    ? undefined
    : new Error('the server certificate is not the authority’s SPIFFE ID');
}

async function readPemFile(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new CliError(`cannot read ${path} (see ${option})`);
  }
}

/** An undici agent for an https authority, or undefined for plain HTTP. */
async function tlsAgent(baseUrl: string, tls: AuthorityTlsOptions): Promise<Agent | undefined> {
  if (new URL(baseUrl).protocol !== 'https:') {
    if (tls.cert !== undefined) throw new CliError('--cert needs an https:// authority');
    return undefined;
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new CliError('--cert and --key go together');
  }
  const caFile = tls.ca ?? (existsSync(DEFAULT_BUNDLE_FILE) ? DEFAULT_BUNDLE_FILE : undefined);
  return new Agent({
    connect: {
      ...(caFile !== undefined ? { ca: await readPemFile(caFile, '--ca') } : {}),
      ...(tls.cert !== undefined ? { cert: await readPemFile(tls.cert, '--cert') } : {}),
      ...(tls.key !== undefined ? { key: await readPemFile(tls.key, '--key') } : {}),
      checkServerIdentity: checkAuthorityIdentity,
      minVersion: 'TLSv1.2',
    },
  });
}

/** Calls the authority's HTTP API. Tokens and secrets never appear in the errors it raises. */
export class AuthorityClient {
  readonly #agent: Agent | undefined;

  private constructor(
    readonly baseUrl: string,
    private readonly adminToken: string | undefined,
    agent: Agent | undefined,
  ) {
    this.#agent = agent;
  }

  /** A client without admin credentials (token endpoint, metadata, JWKS). */
  static async connect(baseUrl: string, tls: AuthorityTlsOptions = {}): Promise<AuthorityClient> {
    return new AuthorityClient(baseUrl, undefined, await tlsAgent(baseUrl, tls));
  }

  /**
   * An admin client: the admin token from its file, or, with `--cert`/`--key`, an admin SVID over
   * mTLS (then the token file is used only when it exists).
   */
  static async forAdmin(
    baseUrl: string,
    adminTokenFile: string,
    tls: AuthorityTlsOptions = {},
  ): Promise<AuthorityClient> {
    const agent = await tlsAgent(baseUrl, tls);
    let token: string | undefined;
    try {
      token = (await readFile(adminTokenFile, 'utf8')).trim();
    } catch {
      if (tls.cert === undefined) {
        throw new CliError(
          `cannot read the admin token file ${adminTokenFile} (see --admin-token-file, or --cert/--key)`,
        );
      }
    }
    return new AuthorityClient(baseUrl, token, agent);
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
    form?: Record<string, string>,
  ): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.adminToken !== undefined) headers.authorization = `Bearer ${this.adminToken}`;
    let payload: string | undefined;
    if (form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(form).toString();
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await undiciFetch(new URL(path, this.baseUrl), {
        method,
        headers,
        ...(payload !== undefined ? { body: payload } : {}),
        ...(this.#agent !== undefined ? { dispatcher: this.#agent } : {}),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } }).cause;
      const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
      throw new CliError(
        `cannot reach the authority at ${this.baseUrl}${code} (is it running? see --authority and --ca)`,
      );
    }
    const text = await response.text();
    let json: unknown = undefined;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const record = (json ?? {}) as Record<string, unknown>;
      const what =
        typeof record.error === 'string'
          ? record.error
          : typeof record.code === 'string'
            ? record.code
            : 'error';
      throw new CliError(`authority answered ${response.status} (${what}) to ${method} ${path}`);
    }
    return json;
  }
}
