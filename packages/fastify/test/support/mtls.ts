import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import type { PeerCertificate } from 'node:tls';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { issueCertificate, pemEncode } from '@tessera/core';
import type { TestCa, TestCertificate } from '@tessera/core/testing';

/** A server certificate for `localhost` (so curl's host name check passes) with the service's URI SAN. */
export function serverCertificate(ca: TestCa, spiffeId: string): TestCertificate {
  const now = Math.floor(Date.now() / 1000);
  const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const der = issueCertificate({
    serialNumber: new Uint8Array(randomBytes(16)),
    subject: { organization: 'Tessera test' },
    publicKey: privateKey,
    notBefore: now - 60,
    notAfter: now + 3600,
    profile: { kind: 'leaf', uris: [spiffeId], dnsNames: ['localhost'] },
    issuer: { privateKey: ca.privateKey, certificate: ca.der },
  });
  return {
    der,
    certPem: pemEncode('CERTIFICATE', der),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    privateKey,
  };
}

/** PEM files in a temporary directory, for outside tools. */
export class PemFiles {
  readonly dir = mkdtempSync(join(tmpdir(), 'tessera-mtls-'));
  #count = 0;

  write(text: string): string {
    const path = join(this.dir, `${String(this.#count++)}.pem`);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  /** `{ cert, key }` paths of a certificate and its key. */
  pair(certificate: TestCertificate): { cert: string; key: string } {
    return { cert: this.write(certificate.certPem), key: this.write(certificate.keyPem) };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ToolResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(command: string, args: readonly string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { timeout: 15_000 }, (error, stdout, stderr) => {
      const code = (error as { code?: unknown } | null)?.code;
      resolve({ exitCode: typeof code === 'number' ? code : error ? 1 : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

export interface CurlResult {
  readonly exitCode: number;
  readonly status: number;
  readonly body: string;
}

/**
 * `curl --cacert bundle [--cert --key] https://localhost:PORT/path` (resolved to 127.0.0.1): the
 * HTTP status, or `exitCode` ≠ 0 when the TLS handshake failed.
 */
export async function curl(
  port: number,
  path: string,
  options: {
    cacert: string;
    client?: { cert: string; key: string };
    headers?: readonly string[];
    method?: string;
  },
): Promise<CurlResult> {
  const args = [
    '-s',
    '--max-time',
    '10',
    '--resolve',
    `localhost:${String(port)}:127.0.0.1`,
    '--cacert',
    options.cacert,
    '-w',
    '\n%{http_code}',
    '-X',
    options.method ?? 'GET',
  ];
  if (options.client !== undefined)
    args.push('--cert', options.client.cert, '--key', options.client.key);
  for (const header of options.headers ?? []) args.push('-H', header);
  args.push(`https://localhost:${String(port)}${path}`);
  const result = await run('curl', args);
  const cut = result.stdout.lastIndexOf('\n');
  return {
    exitCode: result.exitCode,
    status: Number(result.stdout.slice(cut + 1)),
    body: result.stdout.slice(0, Math.max(cut, 0)),
  };
}

/**
 * One keep-alive TLS connection (maxSockets 1) presenting `client`, for per-connection checks.
 * The server is checked by host name (`localhost`), or by its SPIFFE ID when `serverId` is given.
 */
export function keepAliveAgent(ca: string, client?: TestCertificate, serverId?: string): Agent {
  return new Agent({
    keepAlive: true,
    maxSockets: 1,
    ca,
    servername: 'localhost',
    ...(serverId === undefined
      ? {}
      : {
          checkServerIdentity: (_host: string, certificate: PeerCertificate) =>
            certificate.subjectaltname === `URI:${serverId}`
              ? undefined
              : new Error(`server is not ${serverId}`),
        }),
    ...(client === undefined ? {} : { cert: client.certPem, key: client.keyPem }),
  });
}

export interface HttpsAnswer {
  readonly status: number;
  readonly body: string;
  /** The local port of the connection used: equal ports on one agent mean one connection. */
  readonly localPort: number | undefined;
}

export function get(
  agent: Agent,
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { agent, host: '127.0.0.1', port, path, headers, timeout: 10_000 },
      (res) => {
        const localPort = res.socket.localPort;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body, localPort });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
