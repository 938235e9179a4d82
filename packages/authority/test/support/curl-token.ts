import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * `curl --cacert BUNDLE --cert CERT --key KEY -d ...` to a token endpoint: the access token's
 * claims as curl received them (`resolve` maps a host name to 127.0.0.1 for the host-name check).
 */
export async function curlTokenClaims(options: {
  url: string;
  bundle: string;
  cert: string;
  key: string;
  form: Record<string, string>;
  resolve?: string;
}): Promise<Record<string, unknown>> {
  const { stdout } = await run(
    'curl',
    [
      '--silent',
      '--show-error',
      '--max-time',
      '20',
      ...(options.resolve !== undefined ? ['--resolve', options.resolve] : []),
      '--cacert',
      options.bundle,
      '--cert',
      options.cert,
      '--key',
      options.key,
      ...Object.entries(options.form).flatMap(([name, value]) => [
        '--data-urlencode',
        `${name}=${value}`,
      ]),
      options.url,
    ],
    { timeout: 30_000 },
  );
  const token = (JSON.parse(stdout) as { access_token: string }).access_token;
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** The certificate's SHA-256 fingerprint as openssl computes it, in `x5t#S256` form (base64url). */
export async function opensslThumbprint(certFile: string): Promise<string> {
  const { stdout } = await run(
    'openssl',
    ['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256'],
    { timeout: 10_000 },
  );
  const hex = /Fingerprint=([0-9A-F:]+)/.exec(stdout)?.[1]?.replaceAll(':', '');
  if (hex === undefined) throw new Error(`openssl printed no fingerprint: ${stdout}`);
  return Buffer.from(hex, 'hex').toString('base64url');
}
