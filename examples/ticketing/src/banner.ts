import { isAbsolute, relative } from 'node:path';

export interface BannerInput {
  readonly authorityUrl: string;
  readonly gatewayUrl: string;
  readonly eventServiceUrl: string;
  readonly billingUrl: string;
  readonly adminTokenPath: string;
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

/** `path` relative to `cwd` when it lies inside it (shorter to paste), else absolute. */
function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** What `npm start` prints once everything is up. */
export function banner(input: BannerInput, cwd: string): string {
  const rows: [string, string, string][] = [
    ['authority', input.authorityUrl, 'dev mode; issues every service token below'],
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
  ];
  const lines = [
    'Tessera ticketing demo: running on 127.0.0.1',
    '',
    ...rows.map(([name, url, what]) => `  ${name.padEnd(15)}${url.padEnd(25)}${what}`),
    '',
    `  admin token   ${shown(input.adminTokenPath, cwd)}`,
    `  service keys  ${shown(input.keyDir, cwd)}/<service>.key (mode 0600, reused on restart)`,
    `  audit events  ${shown(input.logDir, cwd)}/<service>.log (one per request)`,
    '',
    'Try (every service also answers GET /whoami with its verified caller):',
    '',
    ...suggestedCommands(input).flatMap(({ comment, command }) => [
      `  # ${comment}`,
      `  ${command}`,
      '',
    ]),
    'The 403 and revocation walkthroughs are in README.md, "The ticketing demo". Ctrl-C stops everything.',
  ];
  return lines.join('\n');
}
