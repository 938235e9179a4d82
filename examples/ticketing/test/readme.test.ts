import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parsePolicy } from '@tessera/core';
import { fileURLToPath } from 'node:url';
import {
  banner,
  suggestedCommands,
  suggestedMtlsCommands,
  suggestedUserCommands,
  TOKEN_COMMAND,
} from '../src/banner.ts';
import { DEFAULT_PORTS } from '../src/config.ts';
import { POLICY_FILE } from '../src/main.ts';

const root = new URL('../../../', import.meta.url);
const REPO = fileURLToPath(root).replace(/\/$/, '');
const readme = readFileSync(new URL('README.md', root), 'utf8');
const policy = parsePolicy(readFileSync(POLICY_FILE, 'utf8'));

const SERVICE_ON_PORT = new Map<number, string>([
  [DEFAULT_PORTS.gateway, 'api-gateway'],
  [DEFAULT_PORTS.eventService, 'event-service'],
  [DEFAULT_PORTS.billing, 'billing'],
]);

/** The text of the `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.notEqual(start, -1, `README has "## ${title}"`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

/** Does a concrete path match a Fastify route pattern (`:param` is one segment)? */
function matches(pattern: string, path: string): boolean {
  const p = pattern.split('/');
  const s = path.split('/');
  return p.length === s.length && p.every((seg, i) => seg.startsWith(':') || seg === s[i]);
}

describe('README: the ticketing demo', () => {
  const demo = section('The ticketing demo');
  // Commands are shown as typed at a prompt: `$ curl ...`, output below.
  const curls = demo
    .split('\n')
    .filter((line) => line.startsWith('$ curl '))
    .map((line) => line.slice(2));

  it('follows "What `npm start` shows"', () => {
    const shows = readme.indexOf('\n## What `npm start` shows\n');
    const next = readme.indexOf('\n## ', shows + 1);
    assert.notEqual(shows, -1);
    assert.equal(next, readme.indexOf('\n## The ticketing demo\n'));
  });

  it('has curl commands for the chain, the 401, the 403 and the revocation', () => {
    assert.ok(curls.length >= 6, `found ${curls.length} curl commands`);
    assert.ok(curls.some((c) => c.includes("-H 'x-gateway-internal: true'")));
    assert.match(demo, /tessera token get --service event-service/);
    assert.match(demo, /tessera revoke --jti/);
    for (const status of ['401 Unauthorized', '403 Forbidden']) assert.ok(demo.includes(status));
    assert.ok(demo.includes('ERR_TOKEN_REVOKED'));
  });

  it('sends every curl command to the port of a service that has that route', () => {
    for (const command of curls) {
      const match = /https?:\/\/127\.0\.0\.1:(\d+)(\/[^\s'"]*)/.exec(command);
      assert.ok(match !== null, command);
      const service = SERVICE_ON_PORT.get(Number(match[1]));
      assert.ok(service !== undefined, `unknown port in: ${command}`);
      const method = /-X (\w+)/.exec(command)?.[1] ?? 'GET';
      const routes = policy.services.find((s) => s.name === service)?.routes ?? [];
      assert.ok(
        routes.some((r) => r.method === method && matches(r.path, match[2]!)),
        `${service} has no ${method} ${match[2]!}: ${command}`,
      );
    }
  });

  /** What the banner is given with the default ports, from the repository root. */
  const bannerInput = (transport: 'mtls' | 'http') => {
    const scheme = transport === 'mtls' ? 'https' : 'http';
    return {
      transport,
      authorityUrl: `${scheme}://127.0.0.1:${DEFAULT_PORTS.authority}`,
      gatewayUrl: `${scheme}://127.0.0.1:${DEFAULT_PORTS.gateway}`,
      eventServiceUrl: `${scheme}://127.0.0.1:${DEFAULT_PORTS.eventService}`,
      billingUrl: `${scheme}://127.0.0.1:${DEFAULT_PORTS.billing}`,
      idpUrl: `http://127.0.0.1:${DEFAULT_PORTS.idp}`,
      adminTokenPath: `${REPO}/.tessera/admin.token`,
      bundlePath: transport === 'mtls' ? `${REPO}/.tessera/bundle.pem` : undefined,
      keyDir: `${REPO}/.tessera/keys`,
      logDir: `${REPO}/.tessera/logs`,
    };
  };

  it('shows the commands the plain-HTTP banner suggests, character for character', () => {
    for (const { command } of suggestedCommands(bannerInput('http'))) {
      assert.ok(curls.includes(command), `missing: ${command}`);
    }
  });

  it('shows the commands the mTLS banner suggests, character for character', () => {
    const typed = demo
      .split('\n')
      .filter((line) => line.startsWith('$ '))
      .map((line) => line.slice(2));
    for (const { command } of suggestedMtlsCommands(bannerInput('mtls'), REPO)) {
      assert.ok(typed.includes(command), `missing: ${command}`);
    }
  });

  it('shows the login and the calls as alice that both banners suggest, character for character', () => {
    const users = readme.slice(
      readme.indexOf('\n### Users behind services\n'),
      readme.indexOf('\n### The plain-HTTP walkthrough\n'),
    );
    assert.ok(users.length > 100, 'README has "### Users behind services" before the walkthrough');
    const typed = (text: string) =>
      text
        .split('\n')
        .filter((line) => line.startsWith('$ '))
        .map((line) => line.slice(2));
    assert.ok(typed(users).includes(TOKEN_COMMAND), `missing: ${TOKEN_COMMAND}`);
    for (const { command } of suggestedUserCommands(bannerInput('mtls'), REPO)) {
      assert.ok(typed(users).includes(command), `missing: ${command}`);
    }
    assert.ok(typed(demo).filter((c) => c === TOKEN_COMMAND).length >= 2, 'both transports');
  });

  it('shows what `npm start` prints, as the mTLS banner prints it', () => {
    const shows = readme.slice(
      readme.indexOf('\n## What `npm start` shows\n'),
      readme.indexOf('\n## The ticketing demo\n'),
    );
    assert.ok(shows.includes(banner(bannerInput('mtls'), REPO)));
  });

  it('is what `npm start` runs; the core walkthrough stays as `npm run quickstart`', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.equal(
      pkg.scripts.start,
      'node --conditions=tessera-source --import tsx examples/ticketing/src/main.ts',
    );
    assert.equal(pkg.scripts.quickstart, 'npm run start -w @tessera/example-quickstart');
    assert.ok(readme.includes('npm run quickstart'));
  });
});
