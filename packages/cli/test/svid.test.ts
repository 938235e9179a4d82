import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import { parseX509Svid } from '@tessera/core';
import { TESSERA_FROM_SOURCE } from './support/bin.ts';

/**
 * `tessera svid get`, `tessera ca show` and `tessera ca rotate` as child processes against a real
 * dev-mode authority on 127.0.0.1, one command at a time (each loads through tsx: seconds of CPU).
 */

const COMMAND_TIMEOUT_MS = 30_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function tessera(args: readonly string[], cwd: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.TESSERA_AUTHORITY;
  const child = spawn(process.execPath, [...TESSERA_FROM_SOURCE, ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: COMMAND_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

function assertExit(run: Run, code: number): void {
  assert.equal(
    run.code,
    code,
    `exit ${String(run.code)}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`,
  );
}

describe('tessera svid get / ca show / ca rotate', () => {
  let authority: TestAuthority;
  let cwd: string;
  let keyFile: string;
  let adminTokenFile: string;

  before(async () => {
    authority = await startTestAuthority();
    cwd = await mkdtemp(join(tmpdir(), 'tessera-cli-svid-'));
    const { key } = await authority.register('billing', [], []);
    keyFile = join(cwd, 'billing.key');
    await writeFile(keyFile, key.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    adminTokenFile = join(authority.dataDir, 'admin.token');
  });
  after(async () => {
    await authority.close();
    await rm(cwd, { recursive: true, force: true });
  });

  it('writes svid.pem, svid.key (0600) and bundle.pem that openssl verifies', async () => {
    const out = join(cwd, 'out');
    const run = await tessera(
      [
        'svid',
        'get',
        '--service',
        'billing',
        '--key',
        keyFile,
        '--out',
        out,
        '--authority',
        authority.url,
      ],
      cwd,
    );
    assertExit(run, 0);
    const printed = JSON.parse(run.stdout) as { spiffe_id: string; serial: string; key: string };
    assert.equal(printed.spiffe_id, 'spiffe://tessera.local/billing');
    assert.equal((await stat(join(out, 'svid.key'))).mode & 0o777, 0o600);
    const svid = await readFile(join(out, 'svid.pem'), 'utf8');
    const certificate = new X509Certificate(svid);
    const key = await readFile(join(out, 'svid.key'), 'utf8');
    assert.match(key, /-----BEGIN PRIVATE KEY-----/);
    assert.equal(parseX509Svid(new Uint8Array(certificate.raw)).serialNumber, printed.serial);
    const verified = execFileSync(
      'openssl',
      ['verify', '-CAfile', join(out, 'bundle.pem'), join(out, 'svid.pem')],
      { encoding: 'utf8' },
    );
    assert.match(verified, /: OK/);
    // The key never reaches stdout or stderr.
    assert.ok(!run.stdout.includes('PRIVATE KEY') && !run.stderr.includes('PRIVATE KEY'));
  });

  it('`ca rotate` publishes a next CA, which `ca show` lists', async () => {
    const rotated = await tessera(
      ['ca', 'rotate', '--authority', authority.url, '--admin-token-file', adminTokenFile],
      cwd,
    );
    assertExit(rotated, 0);
    const { next } = JSON.parse(rotated.stdout) as { next: { role: string; id: string } };
    assert.equal(next.role, 'next');
    const shown = await tessera(
      ['ca', 'show', '--authority', authority.url, '--admin-token-file', adminTokenFile],
      cwd,
    );
    assertExit(shown, 0);
    const { cas } = JSON.parse(shown.stdout) as { cas: { role: string; id: string }[] };
    assert.deepEqual(
      cas.map((ca) => ca.role),
      ['active', 'next'],
    );
    assert.equal(cas[1]?.id, next.id);
  });
});
