import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Confidence, FailOn } from '@tessera/auditor';
import {
  DEFAULT_ADMIN_TOKEN_FILE,
  DEFAULT_BUNDLE_FILE,
  defaultAuthorityUrl,
} from './authority-client.ts';
import type { AdminOptions } from './commands/admin.ts';
import type { AuthorityStartOptions } from './commands/authority.ts';
import type { AuditCommandOptions, AuditFormat } from './commands/audit.ts';
import type { ServiceAddOptions } from './commands/service.ts';
import type { SvidGetOptions } from './commands/svid.ts';
import type { TokenGetOptions } from './commands/token.ts';
import { CliError, processIo, type CliIo } from './io.ts';

/** Exit codes: 0 ok, 1 the command failed, 2 the command line was wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const collect = (value: string, previous: string[]) => [...previous, value];

const AUDIT_FORMATS = ['md', 'json', 'sarif'] as const satisfies readonly AuditFormat[];
const FAIL_ON_LEVELS = [
  'critical',
  'high',
  'medium',
  'low',
  'none',
] as const satisfies readonly FailOn[];
const CONFIDENCES = ['high', 'medium', 'low'] as const satisfies readonly Confidence[];

/** Commander argument parser: a whole number of seconds since the epoch (a JWT `exp`). */
function parseEpochSeconds(value: string): number {
  const seconds = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new InvalidArgumentError('expected the token exp: a positive whole number of seconds');
  }
  return seconds;
}

/** Commander argument parser: a positive whole number of seconds (at most 24 h). */
function parsePositiveInteger(value: string): number {
  const seconds = /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0 || seconds > 86_400) {
    throw new InvalidArgumentError('expected a whole number of seconds from 1 to 86400');
  }
  return seconds;
}

/**
 * Each action imports its command module when it runs, so `--help`, usage errors and the client
 * commands never load the authority (Fastify, SQLite, PostgreSQL drivers).
 */
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
      defaultAuthorityUrl(io.env),
      `$TESSERA_AUTHORITY, else https://127.0.0.1:7700 when ${DEFAULT_BUNDLE_FILE} exists, else http://127.0.0.1:7700`,
    );
  const caOption = () =>
    new Option(
      '--ca <file>',
      `CA bundle (PEM) an https authority's certificate must chain to (default: ${DEFAULT_BUNDLE_FILE} when it exists)`,
    );
  /** Admin over mTLS: an X.509-SVID whose SPIFFE ID is in the authority's `admin.spiffeIds`. */
  const adminCertOption = () =>
    new Option(
      '--cert <file>',
      "client certificate (PEM) for admin over mTLS: an SVID in the authority's admin.spiffeIds, instead of the admin token",
    );
  const adminKeyOption = () => new Option('--key <file>', 'private key (PEM) of --cert');
  const adminTokenOption = () =>
    new Option('--admin-token-file <file>', 'file holding the admin token').default(
      DEFAULT_ADMIN_TOKEN_FILE,
    );

  const authority = program.command('authority').description('run the token authority');
  authority
    .command('start')
    .description(
      'start the authority (--dev: SQLite in the data dir, generated secrets, loopback HTTP, or HTTPS with --tls)',
    )
    .option('--dev', 'development mode: no config file needed', false)
    .option(
      '--config <file>',
      'configuration file (JSON; relative paths in it are relative to the file); required without --dev',
    )
    .option('--data-dir <dir>', 'data directory for --dev (default: .tessera)')
    .option(
      '--admin-spiffe-id <id>',
      'a SPIFFE ID that is admin over mTLS with its SVID (repeatable; added to admin.spiffeIds)',
      collect,
      [],
    )
    .option(
      '--tls',
      "HTTPS with the authority's own SVID from its CA; with --dev the CA bundle goes to DATA_DIR/bundle.pem",
    )
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:7700)')
    .option(
      '--workers <n>',
      'authority processes sharing the port and the store (default 1, or the config file)',
    )
    .action((options: AuthorityStartOptions) =>
      run(async () => {
        const { authorityStart } = await import('./commands/authority.ts');
        await authorityStart(options, io);
      }),
    );

  const service = program.command('service').description('manage registered services');
  service
    .command('add <name>')
    .description('register a service (generates its key pair unless --public-key is given)')
    .option('--aud <name>', 'audience the service may request (repeatable)', collect, [])
    .option('--scope <scope>', 'scope the service may request (repeatable)', collect, [])
    .option(
      '--grant <aud=scopes>',
      'an audience with its own comma-separated scopes, e.g. billing=invoices:write (repeatable; instead of --aud/--scope, which grant every --scope for every --aud)',
      collect,
      [],
    )
    .option('--public-key <file>', 'PEM public key to register instead of generating a key pair')
    .option(
      '--bound-tokens',
      'as an audience, its tokens are always bound to the caller’s client certificate (RFC 8705)',
    )
    .addOption(
      new Option(
        '--auth-method <method>',
        'the one client authentication method it may use (default: either)',
      ).choices(['private_key_jwt', 'tls_client_auth']),
    )
    .option('--out <dir>', 'where to write the generated private key', '.tessera/keys')
    .addOption(authorityOption())
    .addOption(caOption())
    .addOption(adminTokenOption())
    .addOption(adminCertOption())
    .addOption(adminKeyOption())
    .action((name: string, options: ServiceAddOptions) =>
      run(async () => {
        const { serviceAdd } = await import('./commands/service.ts');
        await serviceAdd(name, options, io);
      }),
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
    .addOption(caOption())
    .action((options: TokenGetOptions) =>
      run(async () => {
        const { tokenGet } = await import('./commands/token.ts');
        await tokenGet(options, io);
      }),
    );
  token
    .command('inspect <token>')
    .description('decode a token, verify it against the JWKS and show its expiry')
    .addOption(authorityOption())
    .addOption(caOption())
    .action((value: string, options: { authority: string; ca?: string }) =>
      run(async () => {
        const { tokenInspect } = await import('./commands/token.ts');
        await tokenInspect(value, options, io);
      }),
    );

  program
    .command('revoke')
    .description(
      'revoke one token (--jti) or every token of a service issued until now (--service)',
    )
    .option('--jti <id>', 'token id to revoke')
    .option(
      '--exp <seconds>',
      'the token exp (epoch seconds), so the entry can be forgotten after it',
      parseEpochSeconds,
    )
    .option('--service <name>', 'service whose tokens to revoke')
    .addOption(authorityOption())
    .addOption(caOption())
    .addOption(adminTokenOption())
    .addOption(adminCertOption())
    .addOption(adminKeyOption())
    .action((options: AdminOptions & { jti?: string; exp?: number; service?: string }) =>
      run(async () => {
        const { revoke } = await import('./commands/admin.ts');
        await revoke(options, io);
      }),
    );

  program
    .command('svid')
    .description('X.509-SVIDs (workload certificates)')
    .command('get')
    .description(
      'get an X.509-SVID for a fresh key (private_key_jwt with --key); writes svid.pem, svid.key (0600) and bundle.pem',
    )
    .requiredOption('--service <name>', 'the service (name or SPIFFE ID)')
    .requiredOption('--key <file>', "the service's private key (PEM), to authenticate")
    .option('--out <dir>', 'where to write svid.pem, svid.key and bundle.pem', '.')
    .option(
      '--ttl <seconds>',
      'lifetime to ask for (default 1 h, at most 24 h)',
      parsePositiveInteger,
    )
    .option('--trust-domain <domain>', 'trust domain of service names', 'tessera.local')
    .addOption(authorityOption())
    .addOption(caOption())
    .action((options: SvidGetOptions) =>
      run(async () => {
        const { svidGet } = await import('./commands/svid.ts');
        await svidGet(options, io);
      }),
    );

  const ca = program.command('ca').description("the trust domain's certificate authority");
  ca.command('rotate')
    .description('publish the next CA now; it starts signing after one maximum SVID lifetime')
    .addOption(authorityOption())
    .addOption(caOption())
    .addOption(adminTokenOption())
    .addOption(adminCertOption())
    .addOption(adminKeyOption())
    .action((options: AdminOptions) =>
      run(async () => {
        const { caRotate } = await import('./commands/admin.ts');
        await caRotate(options, io);
      }),
    );
  ca.command('show')
    .description('show the CAs in the bundle and the CA schedule')
    .addOption(authorityOption())
    .addOption(caOption())
    .addOption(adminTokenOption())
    .addOption(adminCertOption())
    .addOption(adminKeyOption())
    .action((options: AdminOptions) =>
      run(async () => {
        const { caShow } = await import('./commands/admin.ts');
        await caShow(options, io);
      }),
    );

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
    .addOption(caOption())
    .addOption(adminTokenOption())
    .addOption(adminCertOption())
    .addOption(adminKeyOption())
    .action((options: AdminOptions & { revokePrevious: boolean }) =>
      run(async () => {
        const { keysRotate } = await import('./commands/admin.ts');
        await keysRotate(options, io);
      }),
    );

  program
    .command('audit-log')
    .description('the authority audit log')
    .command('verify')
    .description('walk the hash chain and name the first altered, removed or reordered record')
    .option('--config <file>', 'configuration file (JSON) of the authority')
    .option('--data-dir <dir>', 'data directory of a --dev authority (default: .tessera)')
    .option(
      '--checkpoint <file>',
      'a chain head the authority signed (audit.anchorFile; dev: .tessera/audit-head.jws): must be validly signed and present in the log',
    )
    .action((options: { config?: string; dataDir?: string; checkpoint?: string }) =>
      run(async () => {
        const { auditLogVerify } = await import('./commands/authority.ts');
        await auditLogVerify(options, io);
      }),
    );

  program
    .command('audit <path>')
    .description(
      "score a service's code against the service-to-service security checklist (Markdown, JSON or SARIF report); a monorepo gets one report per service and a summary",
    )
    .addOption(
      new Option('--format <format>', 'report format').choices(AUDIT_FORMATS).default('md'),
    )
    .option('--out <file>', 'write the report to this file (atomically) instead of stdout')
    .addOption(
      new Option(
        '--fail-on <severity>',
        "exit 1 when a check of this severity or above FAILs; PARTIAL and waived checks never do (default: the config's failOn, else none)",
      ).choices(FAIL_ON_LEVELS),
    )
    .addOption(
      new Option(
        '--min-confidence <level>',
        'hide findings less sure than this (high: the lines show it; medium: decided from an absence; low: needs review) from the report and from --fail-on; the report says how many',
      )
        .choices(CONFIDENCES)
        .default('low'),
    )
    .option(
      '--config <file>',
      'audit config (YAML or JSON: service, failOn, waivers); default: tessera-audit.yaml, .yml or .json in <path>',
    )
    .option(
      '--service <name>',
      'in a repository of several services (workspace packages with a server entry point), report only this one (name, package name or path)',
    )
    .action((target: string, options: AuditCommandOptions) =>
      run(async () => {
        const { audit } = await import('./commands/audit.ts');
        await audit(target, options, io);
      }),
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
  const { isTesseraError } = await import('@tessera/core');
  if (failure instanceof CliError) io.err(`tessera: ${failure.message}`);
  else if (isTesseraError(failure)) io.err(`tessera: ${failure.code}: ${failure.message}`);
  else
    io.err(
      `tessera: unexpected error: ${failure instanceof Error ? failure.message : 'a non-error value was thrown'}`,
    );
  return EXIT_FAILED;
}
