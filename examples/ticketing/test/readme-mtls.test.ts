/**
 * README, "Calling a service over mTLS": its commands, taken from the README text, run against the
 * demo (mTLS, the default) with the real `tessera` CLI, curl and openssl, from a directory whose
 * `.tessera` is the demo's data directory, as from the repository root. Only the ports differ
 * (free ones instead of 7700–7703) and `npm run -s tessera --` runs the same CLI entry directly.
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
/** Commands quoted inline in the prose (`openssl verify …`, `openssl s_client …`). */
const quoted = [...section.matchAll(/`(openssl [^`]+)`/g)].map((m) => m[1]!);

function find(prefix: string): Typed {
  const found = typed.find((t) => t.command.startsWith(prefix));
  assert.ok(found !== undefined, `README shows \`${prefix} …\``);
  return found;
}

describe('README: calling a demo service over mTLS, run against the demo', () => {
  let cwd: string;
  let demo: RunningDemo;
  let ports: DemoPorts;

  /** Runs a README command as typed, with the demo's ports; never throws. */
  async function shell(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
    let line = command.replace(
      /^npm run -s tessera -- /,
      `"${process.execPath}" --conditions=tessera-source --import "${import.meta.resolve('tsx')}" "${join(REPO, 'packages/cli/bin/tessera.js')}" `,
    );
    for (const name of Object.keys(DEFAULT_PORTS) as (keyof DemoPorts)[]) {
      line = line.replaceAll(`127.0.0.1:${DEFAULT_PORTS[name]}`, `127.0.0.1:${ports[name]}`);
    }
    try {
      const { stdout, stderr } = await run(line, {
        cwd,
        env: { ...process.env, TESSERA_AUTHORITY: demo.authorityUrl },
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

  it('the chain runs through the gateway over mTLS', async () => {
    const chain = typed.find((t) => t.command.includes('-X POST') && t.command.includes('--cert'));
    assert.ok(chain !== undefined, 'README shows the chain with a certificate');
    const result = await shell(chain.command);
    assert.equal(result.code, 0, result.stderr);
    const got = JSON.parse(result.stdout) as {
      invoice: { createdBy: string };
      hops: { service: string }[];
    };
    assert.deepEqual(
      got.hops.map((h) => h.service),
      ['api-gateway', 'event-service', 'billing'],
    );
    assert.equal(got.invoice.createdBy, 'spiffe://tessera.local/event-service');
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
});
