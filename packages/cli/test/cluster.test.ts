import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  generateSigningKey,
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  systemClock,
} from '@tessera/core';
import { freePort } from '../../authority/test/support/free-port.ts';

/**
 * `tessera authority start --workers 2`: two worker processes behind one port and one SQLite
 * store. Node's cluster hands new connections to the workers in turn, so a handful of fresh
 * connections reaches both; each check below would pass with one worker and fails when a
 * worker keeps acting on state another worker changed.
 */

const BIN = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const TRUST_DOMAIN = 'tessera.local';
const START_TIMEOUT_MS = 30_000;
/** Fresh connections per check: with two workers taking them in turn, each gets several. */
const CONNECTIONS = 4;
const noLinux = existsSync('/proc/self/task') ? false : 'needs Linux /proc to list the workers';

interface Authority {
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminToken: string;
  readonly output: () => string;
}

async function startCluster(dir: string): Promise<Authority> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(
    process.execPath,
    [
      BIN,
      'authority',
      'start',
      '--dev',
      '--data-dir',
      dir,
      '--listen',
      `127.0.0.1:${port}`,
      '--workers',
      '2',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!output.includes('authority listening on')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      assert.fail(`the cluster did not start:\n${output}`);
    }
    await delay(100);
  }
  const adminToken = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
  return { child, url: `http://127.0.0.1:${port}`, adminToken, output: () => output };
}

/** The workers' pids: the primary's children. */
async function workerPids(primary: ChildProcess): Promise<number[]> {
  const pid = String(primary.pid);
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return children.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** One request on a connection of its own (`agent: false`), so requests spread over the workers. */
async function onFreshConnection(
  url: string,
  request: {
    path: string;
    method: 'GET' | 'POST' | 'DELETE';
    headers?: Record<string, string>;
    body?: string;
  },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      new URL(request.path, url),
      { method: request.method, headers: request.headers ?? {}, agent: false, timeout: 10_000 },
      (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body });
        });
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${request.path}: no answer in 10 s`)));
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

function form(fields: Record<string, string>) {
  return {
    method: 'POST' as const,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  };
}

describe('authority cluster (--workers 2)', { skip: noLinux }, () => {
  let dir = '';
  let authority: Authority;
  let issuer = '';
  const client = { name: 'cluster-client', key: generateSigningKey() };

  const spiffe = (name: string) => `spiffe://${TRUST_DOMAIN}/${name}`;
  const assertion = () =>
    mintClientAssertion(
      { clientId: spiffe(client.name), audience: issuer },
      { key: client.key, clock: systemClock },
    );
  const admin = (method: 'POST' | 'DELETE', path: string, body?: unknown) =>
    onFreshConnection(authority.url, {
      path,
      method,
      headers: {
        authorization: `Bearer ${authority.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const tokenRequest = (clientAssertion = assertion()) =>
    onFreshConnection(authority.url, {
      path: '/oauth2/token',
      ...form({
        grant_type: 'client_credentials',
        audience: 'cluster-target',
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: clientAssertion,
      }),
    });
  const issueToken = async () => {
    const { status, body } = await tokenRequest();
    assert.equal(status, 200, body);
    return (JSON.parse(body) as { access_token: string }).access_token;
  };
  /** Introspects `token` over fresh connections: one answer per connection. */
  const introspectEverywhere = (token: string) =>
    Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        const { status, body } = await onFreshConnection(authority.url, {
          path: '/oauth2/introspect',
          ...form({
            token,
            client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
            client_assertion: assertion(),
          }),
        });
        assert.equal(status, 200, body);
        return (JSON.parse(body) as { active: boolean }).active;
      }),
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-cluster-'));
    authority = await startCluster(dir);
    issuer = authority.url;
    for (const [name, audiences, key] of [
      ['cluster-target', [], generateSigningKey()],
      [client.name, ['cluster-target'], client.key],
    ] as const) {
      const { status, body } = await admin('POST', '/v1/admin/services', {
        name,
        audiences,
        scopes: [],
        jwks: { keys: [key.publicJwk] },
      });
      assert.equal(status, 201, body);
    }
  });

  after(async () => {
    if (authority.child.exitCode === null) authority.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('serves from two worker processes behind one port', async () => {
    assert.equal((await workerPids(authority.child)).length, 2);
    const answers = await Promise.all(Array.from({ length: CONNECTIONS }, () => issueToken()));
    assert.equal(new Set(answers).size, CONNECTIONS);
  });

  it('refuses a replayed assertion whichever worker gets it', async () => {
    for (let i = 0; i < 4; i += 1) {
      const once = assertion();
      const statuses = (await Promise.all([tokenRequest(once), tokenRequest(once)])).map(
        (r) => r.status,
      );
      assert.deepEqual(statuses.sort(), [200, 401], `assertion ${i}`);
    }
  });

  it('answers /metrics for every worker, summed', async () => {
    const issued = async () => {
      const { body } = await onFreshConnection(authority.url, { path: '/metrics', method: 'GET' });
      const line = /^tessera_authority_tokens_issued_total\{[^}]*\} (\d+)$/m.exec(body);
      return Number(line?.[1]);
    };
    const before = await issued();
    await Promise.all(Array.from({ length: CONNECTIONS }, () => issueToken()));
    // Asked twice, on two connections: each worker answers for both.
    assert.deepEqual(
      [await issued(), await issued()],
      [before + CONNECTIONS, before + CONNECTIONS],
    );
  });

  it('makes a token revoked at one worker inactive at every worker before answering', async () => {
    const token = await issueToken();
    assert.deepEqual(await introspectEverywhere(token), Array(CONNECTIONS).fill(true));
    const revoked = await onFreshConnection(authority.url, {
      path: '/oauth2/revoke',
      ...form({
        token,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: assertion(),
      }),
    });
    assert.equal(revoked.status, 200, revoked.body);
    assert.deepEqual(await introspectEverywhere(token), Array(CONNECTIONS).fill(false));
  });

  it('stops trusting a key revoked with keys/rotate --revoke-previous on every worker at once', async () => {
    const token = await issueToken();
    const rotated = await admin('POST', '/v1/admin/keys/rotate', { revokePrevious: true });
    assert.equal(rotated.status, 200, rotated.body);
    assert.deepEqual(await introspectEverywhere(token), Array(CONNECTIONS).fill(false));
    // And the new key signs on every worker.
    const fresh = await Promise.all(Array.from({ length: CONNECTIONS }, () => issueToken()));
    assert.deepEqual(await introspectEverywhere(fresh[0] ?? ''), Array(CONNECTIONS).fill(true));
  });

  it('issues no token from any worker once the client is disabled', async () => {
    await Promise.all(Array.from({ length: CONNECTIONS }, () => issueToken()));
    const disabled = await admin('DELETE', `/v1/admin/services/${client.name}`);
    assert.equal(disabled.status, 204, disabled.body);
    const statuses = await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => (await tokenRequest()).status),
    );
    assert.deepEqual(statuses, Array(CONNECTIONS).fill(401));
  });

  it('stops every worker and exits 0 on SIGTERM', async () => {
    const workers = await workerPids(authority.child);
    const exited = once(authority.child, 'exit');
    authority.child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, authority.output());
    for (const pid of workers)
      assert.equal(existsSync(`/proc/${pid}`), false, `worker ${pid} outlived the primary`);
  });
});

describe('authority cluster, a worker dies', { skip: noLinux }, () => {
  it('stops the other workers and exits 1, naming the worker', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-cluster-'));
    const authority = await startCluster(dir);
    try {
      const [victim, survivor] = await workerPids(authority.child);
      assert.ok(victim !== undefined && survivor !== undefined);
      const exited = once(authority.child, 'exit');
      process.kill(victim, 'SIGKILL');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 1, authority.output());
      assert.match(authority.output(), /authority worker \d+ died \(signal SIGKILL\)/);
      assert.equal(existsSync(`/proc/${survivor}`), false, 'the other worker outlived the primary');
    } finally {
      if (authority.child.exitCode === null) authority.child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
