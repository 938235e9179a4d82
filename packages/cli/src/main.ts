import { isTesseraError } from '@tessera/core';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_ADMIN_TOKEN_FILE, DEFAULT_AUTHORITY_URL } from './authority-client.ts';
import { keysRotate, revoke } from './commands/admin.ts';
import { auditLogVerify, authorityStart } from './commands/authority.ts';
import { serviceAdd } from './commands/service.ts';
import { tokenGet, tokenInspect } from './commands/token.ts';
import { CliError, processIo, type CliIo } from './io.ts';

/** Exit codes: 0 ok, 1 the command failed, 2 the command line was wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const collect = (value: string, previous: string[]) => [...previous, value];

function buildProgram(io: CliIo, run: (action: () => Promise<void>) => Promise<void>): Command {
  const program = new Command('tessera')
    .description('Zero-trust service-to-service authentication: authority, tokens, revocation')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => {
        io.out(s.trimEnd());
      },
      writeErr: (s) => {
        io.err(s.trimEnd());
      },
    })
    .showHelpAfterError();

  const authorityOption = () =>
    new Option('--authority <url>', 'authority base URL').default(
      io.env.TESSERA_AUTHORITY ?? DEFAULT_AUTHORITY_URL,
    );
  const adminTokenOption = () =>
    new Option('--admin-token-file <file>', 'file holding the admin token').default(
      DEFAULT_ADMIN_TOKEN_FILE,
    );

  const authority = program.command('authority').description('run the token authority');
  authority
    .command('start')
    .description(
      'start the authority (--dev: SQLite in the data dir, generated secrets, loopback HTTP)',
    )
    .option('--dev', 'development mode: no config file needed', false)
    .option('--config <file>', 'configuration file (JSON); required without --dev')
    .option('--data-dir <dir>', 'data directory for --dev', '.tessera')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:7700)')
    .action((options: { dev: boolean; config?: string; dataDir: string; listen?: string }) =>
      run(() => authorityStart(options, io)),
    );

  const service = program.command('service').description('manage registered services');
  service
    .command('add <name>')
    .description('register a service (generates its key pair unless --public-key is given)')
    .option('--aud <name>', 'audience the service may request (repeatable)', collect, [])
    .option('--scope <scope>', 'scope the service may request (repeatable)', collect, [])
    .option('--public-key <file>', 'PEM public key to register instead of generating a key pair')
    .option('--out <dir>', 'where to write the generated private key', '.tessera/keys')
    .addOption(authorityOption())
    .addOption(adminTokenOption())
    .action((name: string, options: Parameters<typeof serviceAdd>[1]) =>
      run(() => serviceAdd(name, options, io)),
    );

  const token = program.command('token').description('get and inspect access tokens');
  token
    .command('get')
    .description('get an access token with private_key_jwt client credentials (prints the token)')
    .requiredOption('--service <name>', 'the calling service (name or SPIFFE ID)')
    .requiredOption('--key <file>', "the service's private key (PEM)")
    .requiredOption('--aud <name>', 'the target service (name or SPIFFE ID)')
    .option('--scope <scope>', 'scope to request (repeatable)', collect, [])
    .option('--trust-domain <domain>', 'trust domain of service names', 'tessera.local')
    .addOption(authorityOption())
    .action((options: Parameters<typeof tokenGet>[0]) => run(() => tokenGet(options, io)));
  token
    .command('inspect <token>')
    .description('decode a token, verify it against the JWKS and show its expiry')
    .addOption(authorityOption())
    .action((value: string, options: { authority: string }) =>
      run(() => tokenInspect(value, options, io)),
    );

  program
    .command('revoke')
    .description(
      'revoke one token (--jti) or every token of a service issued until now (--service)',
    )
    .option('--jti <id>', 'token id to revoke')
    .option('--exp <seconds>', 'the token expiry, so the entry can be forgotten after it')
    .option('--service <name>', 'service whose tokens to revoke')
    .addOption(authorityOption())
    .addOption(adminTokenOption())
    .action((options: Parameters<typeof revoke>[0]) => run(() => revoke(options, io)));

  program
    .command('keys')
    .description('signing keys')
    .command('rotate')
    .description('rotate the signing key now')
    .option(
      '--revoke-previous',
      'emergency: tokens signed by the old key stop verifying at once',
      false,
    )
    .addOption(authorityOption())
    .addOption(adminTokenOption())
    .action((options: Parameters<typeof keysRotate>[0]) => run(() => keysRotate(options, io)));

  program
    .command('audit-log')
    .description('the authority audit log')
    .command('verify')
    .description('walk the hash chain and name the first altered, removed or reordered record')
    .option('--config <file>', 'configuration file (JSON)')
    .option('--data-dir <dir>', 'data directory of a --dev authority', '.tessera')
    .action((options: { config?: string; dataDir: string }) =>
      run(() => auditLogVerify(options, io)),
    );

  return program;
}

/** Runs the CLI with `argv` (without node and script). Resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let failure: unknown;
  const run = async (action: () => Promise<void>) => {
    try {
      await action();
    } catch (error) {
      failure = error;
    }
  };
  try {
    await buildProgram(io, run).parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; everything else commander raises is a usage error.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    failure = error;
  }
  if (failure === undefined) return EXIT_OK;
  if (failure instanceof CliError) io.err(`tessera: ${failure.message}`);
  else if (isTesseraError(failure)) io.err(`tessera: ${failure.code}: ${failure.message}`);
  else
    io.err(
      `tessera: unexpected error: ${failure instanceof Error ? failure.message : 'a non-error value was thrown'}`,
    );
  return EXIT_FAILED;
}
