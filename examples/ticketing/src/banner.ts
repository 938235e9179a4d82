import { isAbsolute, relative } from 'node:path';
import type { DemoTransport } from './config.ts';

export interface BannerInput {
  readonly transport: DemoTransport;
  readonly authorityUrl: string;
  readonly gatewayUrl: string;
  readonly eventServiceUrl: string;
  readonly billingUrl: string;
  /** The user IdP's issuer. */
  readonly idpUrl: string;
  readonly adminTokenPath: string;
  /** The CA bundle (mTLS). */
  readonly bundlePath?: string | undefined;
  readonly keyDir: string;
  readonly logDir: string;
}

/** How the banner and the README get alice's access token into `$TOKEN`: its last line. */
export const TOKEN_COMMAND = 'TOKEN=$(npm run -s login -- alice | tail -n 1)';

/**
 * The curl commands for alice at the gateway: the chain acting for her, and the same route without
 * a user token. Over mTLS curl trusts the bundle and presents no certificate (users have none).
 */
export function suggestedUserCommands(
  input: BannerInput,
  cwd: string,
): { comment: string; command: string }[] {
  const curl =
    input.transport === 'mtls'
      ? `curl -s --cacert ${shown(input.bundlePath ?? '', cwd)}`
      : 'curl -s';
  return [
    {
      comment: 'the chain as alice: every hop says who acts for whom ("who"), one trace id',
      command: `${curl} -H "authorization: Bearer $TOKEN" -X POST ${input.gatewayUrl}/events -H 'content-type: application/json' -H 'x-correlation-id: demo-1' -d '{"name":"Tessera Live","priceCents":4500}'`,
    },
    {
      comment: 'no user token: 401',
      command: `${curl} -i ${input.gatewayUrl}/events/evt-1`,
    },
  ];
}

/**
 * The curl commands the plain-HTTP banner suggests, for the demo's actual URLs. With the default
 * ports they are, character for character, commands from the README's "The ticketing demo" (a
 * test checks).
 */
export function suggestedCommands(input: BannerInput): { comment: string; command: string }[] {
  return [
    ...suggestedUserCommands(input, ''),
    {
      comment: 'the audit\'s critical finding: "x-gateway-internal: true" gets nobody into billing',
      command: `curl -s -i -X POST ${input.billingUrl}/invoices -H 'x-gateway-internal: true' -H 'content-type: application/json' -d '{"eventId":"evt-1","amountCents":1}'`,
    },
  ];
}

/** Where the suggested `tessera svid get` writes the outside caller's SVID. */
export const SVID_DIR = '.tessera/svid';

/**
 * The commands the mTLS banner suggests for services: an SVID for event-service with the CLI, then
 * curl with it, and without it. With the default ports and data directory they are, character
 * for character, commands from the README's "Calling a service over mTLS" (a test checks, and
 * runs them against the demo).
 */
export function suggestedMtlsCommands(
  input: BannerInput,
  cwd: string,
): { comment: string; command: string }[] {
  const bundle = shown(input.bundlePath ?? '', cwd);
  const key = shown(`${input.keyDir}/event-service.key`, cwd);
  const cert = `--cert ${SVID_DIR}/svid.pem --key ${SVID_DIR}/svid.key --cacert ${bundle}`;
  return [
    {
      comment: `an X.509-SVID for event-service, with its registered key: svid.pem, svid.key (0600), bundle.pem`,
      command: `npm run -s tessera -- svid get --service event-service --key ${key} --out ${SVID_DIR}`,
    },
    {
      comment: "billing's /whoami: the caller is the service the certificate names",
      command: `curl -s ${cert} ${input.billingUrl}/whoami`,
    },
    {
      comment: 'no client certificate: the TLS handshake is refused, before any HTTP',
      command: `curl -sS --cacert ${bundle} ${input.billingUrl}/whoami`,
    },
  ];
}

/** `path` relative to `cwd` when it lies inside it (shorter to paste), else absolute. */
function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** What `npm start` prints once everything is up. */
export function banner(input: BannerInput, cwd: string): string {
  const mtls = input.transport === 'mtls';
  const rows: [string, string, string][] = [
    [
      'authority',
      input.authorityUrl,
      mtls
        ? "dev mode; the trust domain's CA: every SVID and token below"
        : 'dev mode; issues every service token below',
    ],
    [
      'api-gateway',
      input.gatewayUrl,
      "the edge, for users with the IdP's token: GET /events/:id, POST /events, GET /invoices/:id",
    ],
    ['event-service', input.eventServiceUrl, 'api-gateway acting for a user; calls billing'],
    [
      'billing',
      input.billingUrl,
      'POST /invoices: event-service, GET /invoices/:id: api-gateway, each acting for a user',
    ],
    ['user IdP', input.idpUrl, 'OpenID provider: alice (tenant acme), bob (tenant globex)'],
  ];
  const files = [
    mtls && input.bundlePath !== undefined
      ? `  CA bundle     ${shown(input.bundlePath, cwd)} (trust only this; every server presents its SVID)`
      : `  admin token   ${shown(input.adminTokenPath, cwd)}`,
    `  service keys  ${shown(input.keyDir, cwd)}/<service>.key (mode 0600, reused on restart)`,
    `  audit events  ${shown(input.logDir, cwd)}/<service>.log (one per request)`,
  ];
  const commands = (list: { comment: string; command: string }[]) =>
    list.flatMap(({ comment, command }) => [`  # ${comment}`, `  ${command}`, '']);
  const login = [
    'Log in as alice (tenant acme), then call the gateway as her:',
    '',
    `  # alice's access token from the IdP (a JWT for api-gateway, 300 s): the last line it prints`,
    `  ${TOKEN_COMMAND}`,
    '',
  ];
  const lines = mtls
    ? [
        'Tessera ticketing demo: every hop over mutual TLS on 127.0.0.1',
        '',
        ...rows.map(([name, url, what]) => `  ${name.padEnd(15)}${url.padEnd(26)}${what}`),
        '',
        ...files,
        '',
        ...login,
        ...commands(suggestedUserCommands(input, cwd)),
        'Behind the gateway every service requires a client certificate from the trust domain. Get one, then call:',
        '',
        ...commands(suggestedMtlsCommands(input, cwd)),
        'Plain HTTP with bearer tokens only: TESSERA_DEMO_TRANSPORT=http npm start. More in README.md, "The ticketing demo". Ctrl-C stops everything.',
      ]
    : [
        'Tessera ticketing demo: running on 127.0.0.1',
        '',
        ...rows.map(([name, url, what]) => `  ${name.padEnd(15)}${url.padEnd(25)}${what}`),
        '',
        ...files,
        '',
        ...login,
        ...commands(suggestedUserCommands(input, cwd)),
        'Every service also answers GET /whoami with its verified caller. Try:',
        '',
        ...commands(suggestedCommands(input).slice(suggestedUserCommands(input, cwd).length)),
        'The 403 and revocation walkthroughs are in README.md, "The ticketing demo". Ctrl-C stops everything.',
      ];
  return lines.join('\n');
}
