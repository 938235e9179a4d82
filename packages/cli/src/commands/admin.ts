import { AuthorityClient, type AuthorityTlsOptions } from '../authority-client.ts';
import { CliError, type CliIo } from '../io.ts';

export interface AdminOptions extends AuthorityTlsOptions {
  readonly authority: string;
  readonly adminTokenFile: string;
}

/** An admin client from the command's options (admin token, or an admin SVID over mTLS). */
export function adminClient(options: AdminOptions): Promise<AuthorityClient> {
  return AuthorityClient.forAdmin(options.authority, options.adminTokenFile, {
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.cert !== undefined ? { cert: options.cert } : {}),
    ...(options.key !== undefined ? { key: options.key } : {}),
  });
}

/** `tessera revoke (--jti ID | --service NAME)`. */
export async function revoke(
  options: AdminOptions & { jti?: string; exp?: number; service?: string },
  io: CliIo,
): Promise<void> {
  if ((options.jti === undefined) === (options.service === undefined)) {
    throw new CliError('give exactly one of --jti or --service');
  }
  if (options.exp !== undefined && options.jti === undefined) {
    throw new CliError('--exp goes with --jti (a service revocation covers every lifetime)');
  }
  const client = await adminClient(options);
  const body =
    options.jti !== undefined
      ? { jti: options.jti, ...(options.exp !== undefined ? { exp: options.exp } : {}) }
      : { service: options.service };
  io.out(JSON.stringify(await client.request('POST', '/v1/admin/revocations', body)));
}

/** `tessera keys rotate [--revoke-previous]`. */
export async function keysRotate(
  options: AdminOptions & { revokePrevious?: boolean },
  io: CliIo,
): Promise<void> {
  const client = await adminClient(options);
  io.out(
    JSON.stringify(
      await client.request('POST', '/v1/admin/keys/rotate', {
        revokePrevious: options.revokePrevious === true,
      }),
    ),
  );
}

/** `tessera ca rotate`: publishes the next CA now; it signs once it has been published long enough. */
export async function caRotate(options: AdminOptions, io: CliIo): Promise<void> {
  const client = await adminClient(options);
  io.out(JSON.stringify(await client.request('POST', '/v1/admin/ca/rotate')));
}

/** `tessera ca show`: the CAs in the bundle (active, next, retired) and the CA schedule. */
export async function caShow(options: AdminOptions, io: CliIo): Promise<void> {
  const client = await adminClient(options);
  io.out(JSON.stringify(await client.request('GET', '/v1/admin/ca'), null, 2));
}
