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

/**
 * The curl commands the banner suggests, for the demo's actual URLs. With the default ports they
 * are, character for character, commands from the README's "The ticketing demo" (a test checks).
 */
export function suggestedCommands(input: BannerInput): { comment: string; command: string }[] {
  return [
    {
      comment: 'the chain: api-gateway → event-service → billing, one trace id at every hop',
      command: `curl -s -X POST ${input.gatewayUrl}/events -H 'content-type: application/json' -H 'x-correlation-id: demo-1' -d '{"name":"Tessera Live","priceCents":4500}'`,
    },
    {
      comment: 'read it back through the gateway',
      command: `curl -s ${input.gatewayUrl}/events/evt-1`,
    },
    {
      comment: 'the audit\'s critical finding: "x-gateway-internal: true" gets nobody into billing',
      command: `curl -s -i -X POST ${input.billingUrl}/invoices -H 'x-gateway-internal: true' -H 'content-type: application/json' -d '{"eventId":"evt-1","amountCents":1}'`,
    },
  ];
}

/** The command the banner suggests for a user token (README's "Logging in as a user"). */
export const LOGIN_COMMAND = 'npm run login -- alice';

/** Where the suggested `tessera svid get` writes the outside caller's SVID. */
export const SVID_DIR = '.tessera/svid';

/**
 * The commands the mTLS banner suggests: an SVID for event-service with the CLI, then curl with
 * it, and without it. With the default ports and data directory they are, character for
 * character, commands from the README's "Calling a service over mTLS" (a test checks, and runs
 * them against the demo).
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
      comment: 'the chain: api-gateway → event-service → billing, mTLS and a token at every hop',
      command: `curl -s ${cert} -X POST ${input.gatewayUrl}/events -H 'content-type: application/json' -d '{"name":"Tessera Live","priceCents":4500}'`,
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
      'the edge: public GET /events/:id, POST /events, GET /invoices/:id',
    ],
    ['event-service', input.eventServiceUrl, 'called by api-gateway; calls billing'],
    [
      'billing',
      input.billingUrl,
      'POST /invoices: event-service only; GET /invoices/:id: api-gateway only',
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
  const login = [
    `  # a user's access token (JWT for api-gateway, 300 s) from the IdP, on the last line`,
    `  ${LOGIN_COMMAND}`,
    '',
  ];
  const commands = (list: { comment: string; command: string }[]) =>
    list.flatMap(({ comment, command }) => [`  # ${comment}`, `  ${command}`, '']);
  const lines = mtls
    ? [
        'Tessera ticketing demo: every hop over mutual TLS on 127.0.0.1',
        '',
        ...rows.map(([name, url, what]) => `  ${name.padEnd(15)}${url.padEnd(26)}${what}`),
        '',
        ...files,
        '',
        ...login,
        'Every service requires a client certificate from the trust domain. Get one, then call:',
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
        'Try (every service also answers GET /whoami with its verified caller):',
        '',
        ...commands(suggestedCommands(input)),
        'The 403 and revocation walkthroughs are in README.md, "The ticketing demo". Ctrl-C stops everything.',
      ];
  return lines.join('\n');
}
