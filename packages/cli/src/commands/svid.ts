import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createCertificationRequest,
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  parseX509Svid,
  serviceSpiffeId,
  systemClock,
} from '@tessera/core';
import { AuthorityClient } from '../authority-client.ts';
import { CliError, type CliIo } from '../io.ts';
import { readSigningKey } from '../keys.ts';

export interface SvidGetOptions {
  readonly service: string;
  readonly key: string;
  readonly out: string;
  readonly ttl?: number;
  readonly authority: string;
  readonly ca?: string;
  readonly trustDomain: string;
}

/** Written beside its final name, then renamed over it: a reader never sees half a file. */
async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode });
  // `mode` applies only to a new file; a temporary left by a crash keeps the right one too.
  await chmod(temporary, mode);
  await rename(temporary, path);
}

/**
 * `tessera svid get`: makes a fresh P-256 key in memory, sends a CSR for it to
 * `POST /v1/svid/x509` authenticated by `private_key_jwt` with the service's key, and writes
 * `svid.pem` (the chain), `svid.key` (mode 0600) and `bundle.pem` to `--out`.
 */
export async function svidGet(options: SvidGetOptions, io: CliIo): Promise<void> {
  const signingKey = await readSigningKey(options.key);
  const client = await AuthorityClient.connect(
    options.authority,
    options.ca !== undefined ? { ca: options.ca } : {},
  );
  const { issuer } = (await client.request('GET', '/.well-known/oauth-authorization-server')) as {
    issuer: string;
  };
  const clientId = options.service.startsWith('spiffe://')
    ? options.service
    : serviceSpiffeId(options.trustDomain, options.service);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const response = (await client.request('POST', '/v1/svid/x509', undefined, {
    csr: createCertificationRequest(privateKey),
    client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
    client_assertion: mintClientAssertion(
      { clientId, audience: issuer },
      { key: signingKey, clock: systemClock },
    ),
    ...(options.ttl !== undefined ? { ttl: String(options.ttl) } : {}),
  })) as { svid?: unknown; bundle?: unknown; expires_at?: unknown };
  if (typeof response.svid !== 'string' || typeof response.bundle !== 'string') {
    throw new CliError('the authority answered without an SVID');
  }
  const leaf = new X509Certificate(response.svid);
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CliError('the SVID the authority sent is not for the key this command made');
  }
  const info = parseX509Svid(new Uint8Array(leaf.raw));
  await mkdir(options.out, { recursive: true, mode: 0o700 });
  const files = {
    svid: join(options.out, 'svid.pem'),
    key: join(options.out, 'svid.key'),
    bundle: join(options.out, 'bundle.pem'),
  };
  // The key first: a certificate is never on disk without its key.
  await writeAtomically(
    files.key,
    privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    0o600,
  );
  await writeAtomically(files.svid, response.svid, 0o644);
  await writeAtomically(files.bundle, response.bundle, 0o644);
  io.err(
    `X.509-SVID for ${info.spiffeId.uri}, serial ${info.serialNumber}, expires ${new Date(info.notAfter * 1000).toISOString()}`,
  );
  io.out(
    JSON.stringify({
      spiffe_id: info.spiffeId.uri,
      serial: info.serialNumber,
      expires_at: info.notAfter,
      ...files,
    }),
  );
}
