/**
 * README, "Calling a service over mTLS" and "Users behind services": their commands, taken from the
 * README text, run against the demo (mTLS, the default) with the real `tessera` CLI, the IdP's
 * login script, curl and openssl, from a directory whose `.tessera` is the demo's data directory,
 * as from the repository root. Only the ports differ (free ones instead of 7700–7704) and
 * `npm run -s tessera --` and `npm run -s login --` run the same entries directly.
 */
import assert from 'node:assert/strict';
import { exec } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '@tessera/authority/testing';
import { DEFAULT_PORTS, type DemoPorts } from '../src/config.ts';
import { startDemo, type RunningDemo } from '../src/main.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
const run = promisify(exec);

/** The subsection's text, from its heading to the next one. */
function subsection(title: string): string {
  const start = readme.indexOf(`\n### ${title}\n`);
  assert.notEqual(start, -1, `README has "### ${title}"`);
  return readme.slice(start, readme.indexOf('\n### ', start + 1));
}

interface Typed {
  readonly command: string;
  /** What the README shows below it, up to the next command or the end of the block. */
  readonly output: string;
}

/** The `$ command` lines of the subsection's shell blocks, each with the output shown. */
function typedCommands(text: string): Typed[] {
  const typed: Typed[] = [];
  for (const block of text.split('```sh\n').slice(1)) {
    const body = block.slice(0, block.indexOf('```'));
    for (const part of body.split(/^\$ /m).slice(1)) {
      const [command = '', ...output] = part.split('\n');
      typed.push({ command, output: output.join('\n').trim() });
    }
  }
  return typed;
}

const section = subsection('Calling a service over mTLS');
const typed = typedCommands(section);
const users = typedCommands(subsection('Users behind services'));
/** Commands quoted inline in the prose (`openssl verify …`, `openssl s_client …`). */
const quoted = [...section.matchAll(/`(openssl [^`]+)`/g)].map((m) => m[1]!);

function find(prefix: string, among: readonly Typed[] = typed): Typed {
  const found = among.find((t) => t.command.startsWith(prefix));
  assert.ok(found !== undefined, `README shows \`${prefix} …\``);
  return found;
}

/** `curl -i` output (CRLF headers, as curl prints them, or LF as the README shows): status, body. */
function response(text: string): { status: string; body: unknown } {
  const normal = text.replace(/\r\n/g, '\n');
  const blank = normal.indexOf('\n\n');
  return {
    status: normal.slice(0, normal.indexOf('\n')).trim(),
    body: JSON.parse(normal.slice(blank + 2)) as unknown,
  };
}

describe('README: calling a demo service over mTLS, run against the demo', () => {
  let cwd: string;
  let demo: RunningDemo;
  let ports: DemoPorts;

  /** Runs a README command as typed, with the demo's ports; never throws. */
  async function shell(
    command: string,
    env: Record<string, string> = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const node = `"${process.execPath}" --conditions=tessera-source --import "${import.meta.resolve('tsx')}"`;
    let line = command
      .replace(/^npm run -s tessera -- /, `${node} "${join(REPO, 'packages/cli/bin/tessera.js')}" `)
      .replaceAll('npm run -s login -- ', `${node} "${join(REPO, 'examples/idp/src/login.ts')}" `);
    for (const name of Object.keys(DEFAULT_PORTS) as (keyof DemoPorts)[]) {
      line = line.replaceAll(`127.0.0.1:${DEFAULT_PORTS[name]}`, `127.0.0.1:${ports[name]}`);
    }
    try {
      const { stdout, stderr } = await run(line, {
        cwd,
        env: {
          ...process.env,
          TESSERA_AUTHORITY: demo.authorityUrl,
          IDP_PORT: String(ports.idp),
          ...env,
        },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
    }
  }

  before(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'tessera-readme-mtls-'));
    ports = {
      authority: await freePort(),
      gateway: await freePort(),
      eventService: await freePort(),
      billing: await freePort(),
      idp: await freePort(),
    };
    demo = await startDemo({ dataDir: join(cwd, '.tessera'), ports, quiet: true });
    assert.equal(demo.transport, 'mtls', 'npm start runs mTLS by default');
    // Everything below uses the certificate this writes.
    const svid = await shell(find('npm run -s tessera -- svid get').command);
    assert.equal(svid.code, 0, svid.stderr);
  });
  after(async () => {
    await demo.close();
    await rm(cwd, { recursive: true, force: true });
  });

  it('svid get writes svid.pem, svid.key (mode 0600) and bundle.pem for event-service', async () => {
    const shown = JSON.parse(find('npm run -s tessera -- svid get').output.split('\n')[0]!) as {
      spiffe_id: string;
      svid: string;
      key: string;
      bundle: string;
    };
    assert.equal(shown.spiffe_id, 'spiffe://tessera.local/event-service');
    for (const file of [shown.svid, shown.key, shown.bundle]) await stat(join(cwd, file));
    assert.equal((await stat(join(cwd, shown.key))).mode & 0o777, 0o600);
  });

  it('the certificate names the SPIFFE ID and 127.0.0.1, exactly as shown', async () => {
    const { command, output } = find('openssl x509');
    const result = await shell(command);
    assert.equal(result.code, 0, result.stderr);
    // openssl ends the heading with a space; Markdown tools strip trailing spaces.
    const lines = (text: string) => text.trim().replace(/[ \t]+$/gm, '');
    assert.equal(lines(result.stdout), lines(output));
  });

  it("billing's /whoami names the service the certificate names", async () => {
    const { command, output } = find('curl -s --cert');
    assert.match(command, /\/whoami$/);
    const shown = JSON.parse(output) as { service: string; caller: Record<string, unknown> };
    const result = await shell(command);
    assert.equal(result.code, 0, result.stderr);
    const got = JSON.parse(result.stdout) as typeof shown;
    assert.equal(got.service, shown.service);
    assert.equal(got.caller.kind, shown.caller.kind);
    assert.equal(got.caller.spiffeId, shown.caller.spiffeId);
  });

  it("the certificate gets through the gateway's handshake, and no user behind it is a 403, as shown", async () => {
    const chain = typed.find((t) => t.command.includes('-X POST') && t.command.includes('--cert'));
    assert.ok(chain !== undefined, 'README shows the gateway called with a certificate');
    const result = await shell(chain.command);
    assert.equal(result.code, 0, result.stderr);
    const got = response(result.stdout);
    const shown = response(chain.output);
    assert.equal(got.status, 'HTTP/1.1 403 Forbidden');
    assert.deepEqual(got, shown);
  });

  it('without a client certificate the handshake is refused, as shown', async () => {
    const { command, output } = find('curl -sS --cacert');
    assert.doesNotMatch(command, /--cert /);
    const result = await shell(command);
    assert.equal(result.code, 56, 'curl: failure receiving network data');
    assert.match(output, /alert certificate required/);
    assert.match(result.stderr, /alert certificate required/);
  });

  it('openssl verify and openssl s_client accept the certificate', async () => {
    const verify = quoted.find((c) => c.startsWith('openssl verify'));
    const client = quoted.find((c) => c.startsWith('openssl s_client'));
    assert.ok(verify !== undefined && client !== undefined, 'README quotes both commands');
    const verified = await shell(verify);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /: OK$/m);
    const connected = await shell(`${client} -verify_return_error </dev/null`);
    assert.equal(connected.code, 0, connected.stderr);
    assert.match(connected.stdout, /Verify return code: 0 \(ok\)/);
  });

  describe('Users behind services', () => {
    /** A typed `NAME=$(npm run -s login -- user | tail -n 1)`, run: the token it keeps. */
    async function loginAs(variable: string): Promise<string> {
      const { command } = find(`${variable}=$(npm run -s login -- `, users);
      const result = await shell(`${command} && printf '%s' "$${variable}"`);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/);
      return result.stdout;
    }
    let alice: string;

    it('logs alice in, and the chain runs as her with every hop saying who acts for whom, as shown', async () => {
      alice = await loginAs('TOKEN');
      const chain = users.find(
        (t) => t.command.includes('$TOKEN') && t.command.includes('-X POST'),
      );
      assert.ok(chain !== undefined, 'README shows the chain as alice');
      assert.doesNotMatch(chain.command, /--cert /, 'a user presents no certificate');
      const result = await shell(chain.command, { TOKEN: alice });
      assert.equal(result.code, 0, result.stderr);
      interface Chain {
        invoice: { user: string; tenant: string };
        hops: { who: string; user: string; tenant: string; actors: string[]; traceId: string }[];
      }
      const got = JSON.parse(result.stdout) as Chain;
      const shown = JSON.parse(chain.output) as Chain;
      const people = (c: Chain) =>
        c.hops.map(({ who, user, tenant, actors }) => [who, user, tenant, actors]);
      assert.deepEqual(people(got), people(shown));
      assert.deepEqual(
        got.hops.map((h) => h.who),
        [
          'api-gateway: alice@acme (user token)',
          'event-service: alice@acme via api-gateway',
          'billing: alice@acme via event-service ← api-gateway',
        ],
      );
      assert.equal(new Set(got.hops.map((h) => h.traceId)).size, 1);
      assert.deepEqual([got.invoice.user, got.invoice.tenant], ['alice', 'acme']);
    });

    it('without a user token the gateway answers 401, as shown', async () => {
      const anonymous = users.find((t) => t.command.includes(' -i ') && !t.command.includes('$'));
      assert.ok(anonymous !== undefined, 'README shows the anonymous call');
      const result = await shell(anonymous.command);
      assert.equal(result.code, 0, result.stderr);
      const got = response(result.stdout);
      assert.equal(got.status, 'HTTP/1.1 401 Unauthorized');
      assert.deepEqual(got, response(anonymous.output));
    });

    it("alice reading bob's invoice gets 403, as shown", async () => {
      const bob = await loginAs('BOB');
      const create = users.find((t) => t.command.includes('$BOB'));
      assert.ok(create !== undefined, 'README shows bob creating an event');
      const created = await shell(create.command, { BOB: bob });
      assert.equal(created.code, 0, created.stderr);
      const { invoice } = JSON.parse(created.stdout) as { invoice: { id: string; tenant: string } };
      assert.equal(invoice.tenant, 'globex');
      const stolen = users.find(
        (t) => t.command.includes('$TOKEN') && t.command.includes('/invoices/'),
      );
      assert.ok(stolen !== undefined, "README shows alice asking for bob's invoice");
      assert.ok(
        stolen.command.endsWith(`/invoices/${invoice.id}`),
        "the README names bob's invoice",
      );
      const result = await shell(stolen.command, { TOKEN: alice });
      assert.equal(result.code, 0, result.stderr);
      const got = response(result.stdout);
      assert.equal(got.status, 'HTTP/1.1 403 Forbidden');
      assert.deepEqual(got, response(stolen.output));
    });
  });
});
