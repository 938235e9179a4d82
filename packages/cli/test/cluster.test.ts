import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  generateSigningKey,
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  systemClock,
  type SigningKey,
} from '@tessera/core';
import { eventually } from '@tessera/core/testing';
import { freePort } from '@tessera/authority/testing';
import { TESSERA_FROM_SOURCE } from './support/bin.ts';

/**
 * `tessera authority start --workers 2`: two worker processes behind one port and one SQLite
 * store. Node's cluster gives each new connection to one worker, and `/healthz` names it
 * (`x-tessera-worker`), so the tests keep one connection open to each worker and choose which
 * worker gets each request. Each check below makes a change through one worker and looks at the
 * other: it fails when a worker keeps acting on state another worker changed.
 */

const TRUST_DOMAIN = 'tessera.local';
const WORKERS = 2;
/** Each worker loads the authority through tsx: on a loaded 2-core machine that took over 30 s. */
const START_TIMEOUT_MS = 60_000;
/** Connections opened to find every worker: Node's scheduler hands them out in turn. */
const MAX_CONNECTIONS = 20;
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
      ...TESSERA_FROM_SOURCE,
      'authority',
      'start',
      '--dev',
      '--data-dir',
      dir,
      '--listen',
      `127.0.0.1:${port}`,
      '--workers',
      String(WORKERS),
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  try {
    await eventually(
      () => {
        if (child.exitCode !== null) throw new Error(`exited with ${String(child.exitCode)}`);
        return output.includes('authority listening on');
      },
      START_TIMEOUT_MS,
      { intervalMs: 100 },
    );
  } catch (error) {
    child.kill('SIGKILL');
    assert.fail(`the cluster did not start (${(error as Error).message}):\n${output}`);
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

interface Request {
  readonly path: string;
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Whether the request went on a connection that had carried one before. */
  readonly reusedSocket: boolean;
}

function send(url: string, agent: Agent, request: Request): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      new URL(request.path, url),
      { method: request.method, headers: request.headers ?? {}, agent, timeout: 10_000 },
      (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body,
            reusedSocket: outgoing.reusedSocket,
          });
        });
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${request.path}: no answer in 10 s`)));
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

/** One kept-alive connection, and the worker at its other end. */
interface Worker {
  readonly pid: number;
  /** Sends on this worker's connection; fails if the request would have gone on another. */
  send(request: Request): Promise<Answer>;
  close(): void;
}

/** Opens connections until one reaches each worker; each is named by its `/healthz` answer. */
async function connectToEachWorker(url: string, pids: readonly number[]): Promise<Worker[]> {
  const workers = new Map<number, Worker>();
  for (let opened = 0; opened < MAX_CONNECTIONS && workers.size < pids.length; opened++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const health = await send(url, agent, { path: '/healthz', method: 'GET' });
    assert.equal(health.status, 200, health.body);
    const pid = Number(health.headers['x-tessera-worker']);
    assert.ok(pids.includes(pid), `/healthz named ${String(pid)}, not one of ${pids.join(', ')}`);
    if (workers.has(pid)) {
      agent.destroy();
      continue;
    }
    workers.set(pid, {
      pid,
      async send(request) {
        const answer = await send(url, agent, request);
        assert.ok(answer.reusedSocket, `worker ${String(pid)}'s connection was closed`);
        return answer;
      },
      close() {
        agent.destroy();
      },
    });
  }
  assert.deepEqual(
    [...workers.keys()].sort(),
    [...pids].sort(),
    `${String(MAX_CONNECTIONS)} connections did not reach every worker`,
  );
  return [...workers.values()];
}

/** A revocation stream on a connection that `/healthz` says reached worker `pid`. */
async function streamAtWorker(
  url: string,
  pid: number,
  authorization: () => string,
): Promise<{ text: () => string; close: () => void }> {
  for (let opened = 0; opened < MAX_CONNECTIONS; opened++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const health = await send(url, agent, { path: '/healthz', method: 'GET' });
    if (Number(health.headers['x-tessera-worker']) !== pid) {
      agent.destroy();
      continue;
    }
    let text = '';
    const opening = new Promise<void>((resolve, reject) => {
      const request = httpRequest(
        new URL('/v1/revocations/stream', url),
        { agent, headers: { authorization: `Bearer ${authorization()}` } },
        (response) => {
          assert.equal(response.statusCode, 200);
          response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          resolve();
        },
      );
      request.on('error', reject);
      request.end();
    });
    await opening;
    return {
      text: () => text,
      close: () => {
        agent.destroy();
      },
    };
  }
  throw new Error(`no connection reached worker ${String(pid)}`);
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
  let workers: Worker[] = [];
  const client = { name: 'cluster-client', key: generateSigningKey() };
  // Introspection is asked by the token's audience: the one party always entitled to the answer.
  const target = { name: 'cluster-target', key: generateSigningKey() };

  const spiffe = (name: string) => `spiffe://${TRUST_DOMAIN}/${name}`;
  const assertion = (party: { name: string; key: SigningKey } = client) =>
    mintClientAssertion(
      { clientId: spiffe(party.name), audience: issuer },
      { key: party.key, clock: systemClock },
    );
  const admin = (worker: Worker, method: 'POST' | 'DELETE', path: string, body?: unknown) =>
    worker.send({
      path,
      method,
      headers: {
        authorization: `Bearer ${authority.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const tokenRequest = (worker: Worker, clientAssertion = assertion()) =>
    worker.send({
      path: '/oauth2/token',
      ...form({
        grant_type: 'client_credentials',
        audience: target.name,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: clientAssertion,
      }),
    });
  const issueToken = async (worker: Worker) => {
    const { status, body } = await tokenRequest(worker);
    assert.equal(status, 200, body);
    return (JSON.parse(body) as { access_token: string }).access_token;
  };
  const active = async (worker: Worker, token: string) => {
    const { status, body } = await worker.send({
      path: '/oauth2/introspect',
      ...form({
        token,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: assertion(target),
      }),
    });
    assert.equal(status, 200, body);
    return (JSON.parse(body) as { active: boolean }).active;
  };
  /** `token`'s introspection by each worker, in `workers` order. */
  const activeAt = (token: string) => Promise.all(workers.map((w) => active(w, token)));
  const everywhere = <T>(value: T): T[] => Array<T>(WORKERS).fill(value);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-cluster-'));
    authority = await startCluster(dir);
    issuer = authority.url;
    workers = await connectToEachWorker(authority.url, await workerPids(authority.child));
    for (const [party, audiences] of [
      [target, []],
      [client, [target.name]],
    ] as const) {
      const { status, body } = await admin(workers[0]!, 'POST', '/v1/admin/services', {
        name: party.name,
        audiences,
        scopes: [],
        jwks: { keys: [party.key.publicJwk] },
      });
      assert.equal(status, 201, body);
    }
  });

  after(async () => {
    for (const worker of workers) worker.close();
    if (authority.child.exitCode === null) authority.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('serves from two worker processes behind one port, each issuing tokens', async () => {
    assert.equal(workers.length, WORKERS);
    const tokens = await Promise.all(workers.map((w) => issueToken(w)));
    assert.equal(new Set(tokens).size, WORKERS);
  });

  it('refuses at one worker an assertion the other has accepted', async () => {
    for (const [first, second] of [workers, [...workers].reverse()]) {
      const used = assertion();
      assert.equal((await tokenRequest(first!, used)).status, 200, `worker ${first!.pid}`);
      assert.equal((await tokenRequest(second!, used)).status, 401, `worker ${second!.pid}`);
    }
  });

  it('answers /metrics at each worker for all of them, summed', async () => {
    const issued = async (worker: Worker) => {
      const { body } = await worker.send({ path: '/metrics', method: 'GET' });
      const line = /^tessera_authority_tokens_issued_total\{[^}]*\} (\d+)$/m.exec(body);
      return Number(line?.[1]);
    };
    const before = await issued(workers[0]!);
    for (const worker of workers) await issueToken(worker);
    assert.deepEqual(
      await Promise.all(workers.map((w) => issued(w))),
      everywhere(before + WORKERS),
    );
  });

  it('makes a token revoked at one worker inactive at every worker before answering', async () => {
    for (const revoker of workers) {
      const token = await issueToken(revoker);
      assert.deepEqual(await activeAt(token), everywhere(true));
      const revoked = await revoker.send({
        path: '/oauth2/revoke',
        ...form({
          token,
          client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
          client_assertion: assertion(),
        }),
      });
      assert.equal(revoked.status, 200, revoked.body);
      assert.deepEqual(await activeAt(token), everywhere(false), `revoked at ${revoker.pid}`);
    }
  });

  it('stops trusting a key revoked with keys/rotate --revoke-previous on every worker at once', async () => {
    const [rotator, other] = workers as [Worker, Worker];
    const token = await issueToken(other);
    const rotated = await admin(rotator, 'POST', '/v1/admin/keys/rotate', { revokePrevious: true });
    assert.equal(rotated.status, 200, rotated.body);
    assert.deepEqual(await activeAt(token), everywhere(false));
    // And the new key signs at every worker, and every worker trusts it.
    for (const worker of workers) {
      assert.deepEqual(await activeAt(await issueToken(worker)), everywhere(true));
    }
  });

  it('pushes a key withdrawal to the revocation streams of every worker', async () => {
    const streams = await Promise.all(
      workers.map((w) => streamAtWorker(authority.url, w.pid, () => assertion())),
    );
    try {
      const rotated = await admin(workers[0]!, 'POST', '/v1/admin/keys/rotate', {
        revokePrevious: true,
      });
      assert.equal(rotated.status, 200, rotated.body);
      const { revokedKid } = JSON.parse(rotated.body) as { revokedKid: string };
      const entry = `"kind":"kid","value":"${revokedKid}"`;
      await eventually(() => streams.every((stream) => stream.text().includes(entry)), 5000);
    } finally {
      for (const stream of streams) stream.close();
    }
  });

  it('issues no token from any worker once the client is disabled at one', async () => {
    const [disabler] = workers as [Worker];
    for (const worker of workers) await issueToken(worker);
    const disabled = await admin(disabler, 'DELETE', `/v1/admin/services/${client.name}`);
    assert.equal(disabled.status, 204, disabled.body);
    const statuses = await Promise.all(workers.map(async (w) => (await tokenRequest(w)).status));
    assert.deepEqual(statuses, everywhere(401));
  });

  it('stops every worker and exits 0 on SIGTERM', async () => {
    const pids = await workerPids(authority.child);
    const exited = once(authority.child, 'exit');
    authority.child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, authority.output());
    for (const pid of pids)
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
