import { join } from 'node:path';
import { adminClient, type AdminOptions } from './admin.ts';
import { CliError, type CliIo } from '../io.ts';
import { ensurePrivateKeyFile, readPublicJwk } from '../keys.ts';

/** The authority's rule for service names; checked here too, before the name becomes a file name. */
const SERVICE_NAME = /^[A-Za-z0-9._-]{1,255}$/;

export interface ServiceAddOptions extends AdminOptions {
  readonly aud: string[];
  readonly scope: string[];
  /** `AUD=SCOPE,SCOPE`: scopes for that audience only. */
  readonly grant: string[];
  readonly publicKey?: string;
  readonly out: string;
  /** As an audience, its tokens are always certificate-bound. */
  readonly boundTokens?: boolean;
  readonly authMethod?: 'private_key_jwt' | 'tls_client_auth';
}

/** `--grant billing=invoices:write,invoices:read` as the admin API's `{ audience, scopes }`. */
function parseGrant(value: string): { audience: string; scopes: string[] } {
  const at = value.indexOf('=');
  const audience = at === -1 ? value : value.slice(0, at);
  if (audience === '') throw new CliError(`--grant ${value}: give AUDIENCE=SCOPE,SCOPE`);
  const scopes =
    at === -1
      ? []
      : value
          .slice(at + 1)
          .split(',')
          .filter((s) => s !== '');
  return { audience, scopes };
}

/**
 * `tessera service add NAME`: registers (or updates) a service with what it may ask for and its
 * public key. Scopes are granted per audience: `--grant AUD=SCOPE,SCOPE` (repeatable), or the
 * original `--aud`/`--scope`, which grant every `--scope` for every `--aud`. Without `--public-key`, generates a key pair and writes the private key (0600) to
 * `--out/NAME.key`, where the service will read it; an existing key file is reused.
 */
export async function serviceAdd(
  name: string,
  options: ServiceAddOptions,
  io: CliIo,
): Promise<void> {
  if (!SERVICE_NAME.test(name)) {
    throw new CliError('a service name is 1-255 letters, digits, ".", "_" or "-"');
  }
  const grants = options.grant.map(parseGrant);
  if (grants.length > 0 && (options.aud.length > 0 || options.scope.length > 0)) {
    throw new CliError('give --grant, or --aud and --scope, not both');
  }
  const client = await adminClient(options);
  let jwk;
  let keyPath: string | undefined;
  if (options.publicKey !== undefined) {
    jwk = await readPublicJwk(options.publicKey);
  } else {
    keyPath = join(options.out, `${name}.key`);
    const { key, created } = await ensurePrivateKeyFile(keyPath);
    jwk = key.publicJwk;
    io.err(`${created ? 'wrote' : 'reusing'} private key ${keyPath} (mode 0600)`);
  }
  const result = (await client.request('POST', '/v1/admin/services', {
    name,
    ...(grants.length > 0 ? { grants } : { audiences: options.aud, scopes: options.scope }),
    jwks: { keys: [jwk] },
    ...(options.boundTokens === true ? { bound_tokens: true } : {}),
    ...(options.authMethod !== undefined ? { token_endpoint_auth_method: options.authMethod } : {}),
  })) as { client_id: string };
  io.out(
    JSON.stringify({
      name,
      client_id: result.client_id,
      kid: jwk.kid,
      ...(keyPath ? { key: keyPath } : {}),
    }),
  );
}
