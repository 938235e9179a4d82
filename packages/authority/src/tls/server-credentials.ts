import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { TesseraError, type Clock } from '@tessera/core';
import type { FastifyBaseLogger } from 'fastify';
import type { AuthorityTlsConfig } from '../config.ts';
import { authoritySpiffeId } from '../revocation/subscriber-auth.ts';

/** What the server needs from the authority's CA: its own SVID, and the bundle clients chain to. */
export interface ServerSvidIssuer {
  issueSvid(request: {
    spiffeId: string;
    publicKey: KeyObject;
    lifetimeSeconds?: number;
    hosts?: readonly string[];
  }):
    | Promise<{ chainPem: string; serialNumber: string; expiresAt: number }>
    | { chainPem: string; serialNumber: string; expiresAt: number };
  bundlePem(): Promise<string> | string;
}

/** The TLS server's certificate, key and trusted client CAs, as `setSecureContext` takes them. */
export interface ServerCredentials {
  readonly cert: string;
  readonly key: string;
  /** The CA bundle: client certificates must chain to it. */
  readonly ca: string;
  /** Serial of the authority's own SVID (absent with operator files). */
  readonly serialNumber?: string;
  /** Seconds; absent with operator files. */
  readonly expiresAt?: number;
}

/** TLS settings every secure context of the authority shares. */
export const TLS_SERVER_OPTIONS = Object.freeze({
  // Client certificates are asked for and verified against `ca`, but a connection without one (or
  // with a bad one) is still accepted: each endpoint decides, and answers 401 with a reason.
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
} as const);

/** `0.0.0.0` and `::` are where the server listens, never a name a client connects to. */
function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** The SANs of the authority's own SVID: listen host, issuer host and `tls.hosts`, once each. */
export function serverHosts(
  listenHost: string,
  issuer: string,
  extra: readonly string[],
): readonly string[] {
  const issuerHost = new URL(issuer).hostname.replace(/^\[(.*)\]$/, '$1');
  const hosts = [listenHost, issuerHost, ...extra].filter((h) => !isUnspecified(h));
  return [...new Set(hosts.map((h) => (isIP(h) === 0 ? h.toLowerCase() : h)))];
}

/**
 * The authority's server credentials over time. Its own X.509-SVID
 * (`spiffe://<td>/tessera-authority`, with the listen and issuer hosts as IP/DNS SANs) from its CA
 * on a fresh P-256 key, renewed once half its lifetime has passed; or the operator's files, re-read
 * each time. The CA bundle is re-read too, and written to `bundleFile` when it changes.
 * `refresh()` answers new credentials when anything changed, for `server.setSecureContext`.
 */
export class ServerCredentialSource {
  readonly #config: AuthorityTlsConfig;
  readonly #hosts: readonly string[];
  readonly #spiffeId: string;
  readonly #issuer: ServerSvidIssuer;
  readonly #clock: Clock;
  readonly #logger: FastifyBaseLogger;
  #current: ServerCredentials | undefined;
  #renewAt = 0;

  constructor(
    config: AuthorityTlsConfig,
    identity: { trustDomain: string; hosts: readonly string[] },
    deps: { issuer: ServerSvidIssuer; clock: Clock; logger: FastifyBaseLogger },
  ) {
    this.#config = config;
    this.#hosts = identity.hosts;
    this.#spiffeId = authoritySpiffeId(identity.trustDomain);
    this.#issuer = deps.issuer;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
  }

  /** The credentials in use (after the first `refresh()`). */
  get current(): ServerCredentials {
    if (this.#current === undefined) throw new Error('ServerCredentialSource: refresh() first');
    return this.#current;
  }

  /**
   * Renews what is due and re-reads the bundle (and operator files). Resolves to the new
   * credentials when they differ from the current ones, else undefined.
   */
  async refresh(): Promise<ServerCredentials | undefined> {
    const ca = await this.#issuer.bundlePem();
    const previous = this.#current;
    let next: ServerCredentials;
    if (this.#config.certFile !== undefined && this.#config.keyFile !== undefined) {
      next = {
        cert: await readPem(this.#config.certFile, 'tls.certFile'),
        key: await readPem(this.#config.keyFile, 'tls.keyFile'),
        ca,
      };
    } else if (previous === undefined || this.#clock.now() >= this.#renewAt) {
      next = { ...(await this.#issueOwn()), ca };
    } else {
      next = { ...previous, ca };
    }
    if (ca !== previous?.ca && this.#config.bundleFile !== undefined) {
      await writeFileAtomically(this.#config.bundleFile, ca);
    }
    if (previous?.cert === next.cert && previous.key === next.key && previous.ca === next.ca) {
      return undefined;
    }
    this.#current = next;
    return next;
  }

  async #issueOwn(): Promise<Omit<ServerCredentials, 'ca'>> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issuedAt = this.#clock.now();
    const svid = await this.#issuer.issueSvid({
      spiffeId: this.#spiffeId,
      publicKey,
      hosts: this.#hosts,
    });
    // Half its lifetime: a failed renewal is retried on every tick for the other half.
    this.#renewAt = issuedAt + Math.max(0, svid.expiresAt * 1000 - issuedAt) / 2;
    this.#logger.info(
      { serial: svid.serialNumber, expiresAt: svid.expiresAt, hosts: this.#hosts },
      'authority server certificate issued',
    );
    return {
      cert: svid.chainPem,
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      serialNumber: svid.serialNumber,
      expiresAt: svid.expiresAt,
    };
  }
}

/** Options for `https` / `setSecureContext` from credentials. */
export function secureContextOptions(credentials: ServerCredentials): SecureContextOptions {
  return {
    cert: credentials.cert,
    key: credentials.key,
    ca: credentials.ca,
    minVersion: TLS_SERVER_OPTIONS.minVersion,
  };
}

async function readPem(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new TesseraError('ERR_CONFIG_INVALID', `${setting}: cannot read the file`);
  }
}

/** Readers never see half a bundle: write beside it, then rename over it. */
async function writeFileAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o644 });
  await rename(temporary, path);
}
