/**
 * The authority under load, run as its own process (`spawnBenchChild`): a dev-mode authority with
 * SQLite in a temporary directory, as a cluster of `authorityWorkers()` processes (or, with one,
 * in this process, pinned to one CPU), logging at `warn` into a counting sink so no per-request
 * line is written. Between load rounds this process measures the raw signature work every
 * request needs at least, on one core: the benchmark's baseline.
 */
import cluster from 'node:cluster';
import { sign, verify } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDevMode } from '../../packages/authority/src/dev.ts';
import { createAuthorityLogger } from '../../packages/authority/src/logger.ts';
import {
  isAuthorityWorker,
  runAuthorityWorker,
  startAuthorityCluster,
} from '../../packages/authority/src/cluster.ts';
import { startAuthority } from '../../packages/authority/src/start.ts';
import { systemClock } from '../../packages/core/src/clock.ts';
import { generateSigningKey, type SigningKey } from '../../packages/core/src/keys/jwk.ts';
import { mintClientAssertion } from '../../packages/core/src/token/client-assertion.ts';
import { mintAccessToken } from '../../packages/core/src/token/mint.ts';
import { runBenchmark } from '../harness.ts';
import { serveParent } from './child-process.ts';
import {
  authorityWorkers,
  type AuthorityClosed,
  type AuthorityReady,
  type AuthorityRequest,
  type Ceiling,
  type CryptoWork,
} from './messages.ts';
import { freePort } from '../../packages/authority/test/support/free-port.ts';

/** A compact JWS split the way a verifier sees it. */
function signed(jws: string): { input: Buffer; signature: Buffer } {
  const [header, payload, signature] = jws.split('.') as [string, string, string];
  return {
    input: Buffer.from(`${header}.${payload}`),
    signature: Buffer.from(signature, 'base64url'),
  };
}

const P1363 = 'ieee-p1363' as const;

/** One unit of `work` on realistic inputs (an assertion and a token of the sizes the bench sends). */
function cryptoWork(work: CryptoWork, issuer: string): () => unknown {
  const client = generateSigningKey('ES256');
  const authorityKey: SigningKey = generateSigningKey('ES256');
  const clientId = 'spiffe://tessera.local/bench-client';
  const assertion = signed(
    mintClientAssertion({ clientId, audience: issuer }, { key: client, clock: systemClock }),
  );
  const token = signed(
    mintAccessToken(
      {
        issuer,
        subject: clientId,
        audience: 'spiffe://tessera.local/bench-target',
        scopes: ['reports:read'],
      },
      { key: authorityKey, clock: systemClock },
    ).token,
  );
  const verifyOne = (key: SigningKey, jws: { input: Buffer; signature: Buffer }): void => {
    if (!verify('sha256', jws.input, { key: key.key, dsaEncoding: P1363 }, jws.signature)) {
      throw new Error('baseline signature did not verify');
    }
  };
  return work === 'verify+sign'
    ? () => {
        verifyOne(client, assertion);
        return sign('sha256', token.input, { key: authorityKey.privateKey, dsaEncoding: P1363 });
      }
    : () => {
        verifyOne(client, assertion);
        verifyOne(authorityKey, token);
      };
}

// The same inputs in every round, so rounds differ only by what the machine is doing.
const works = new Map<CryptoWork, () => unknown>();

function workFor(work: CryptoWork, issuer: string): () => unknown {
  let fn = works.get(work);
  if (fn === undefined) {
    fn = cryptoWork(work, issuer);
    works.set(work, fn);
  }
  return fn;
}

const AUTHORITY_WORKERS = authorityWorkers();

/** pino levels: 50 error, 60 fatal. Warnings (refused forged requests) are expected. */
const isErrorLine = (line: string) => /"level":[56]0/.test(line);

if (isAuthorityWorker()) {
  // A cluster worker: its error lines go to the primary, which reports them at close.
  await runAuthorityWorker({
    logger: createAuthorityLogger({
      level: 'warn',
      destination: {
        write(line: string) {
          if (isErrorLine(line)) process.send?.({ type: 'bench:error-line', line });
        },
      },
    }),
  });
} else {
  await servePrimary();
}

async function servePrimary(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-authority-'));
  const { config, adminTokenPath } = await prepareDevMode({
    dataDir,
    listen: { host: '127.0.0.1', port: await freePort() },
  });
  let errorLines = 0;
  let lastErrorLine: string | undefined;
  const countError = (line: string) => {
    errorLines++;
    lastErrorLine = line;
  };
  cluster.on('message', (_worker, message: { type?: unknown; line?: unknown }) => {
    if (message.type === 'bench:error-line' && typeof message.line === 'string') {
      countError(message.line);
    }
  });
  const logger = createAuthorityLogger({
    level: 'warn',
    destination: {
      write(line: string) {
        if (isErrorLine(line)) countError(line);
      },
    },
  });
  const running =
    AUTHORITY_WORKERS > 1
      ? await startAuthorityCluster(config, { workers: AUTHORITY_WORKERS, logger })
      : await startAuthority(config, { logger });
  const ready: AuthorityReady = {
    url: running.url,
    issuer: config.issuer,
    adminToken: (await readFile(adminTokenPath, 'utf8')).trim(),
  };

  serveParent<AuthorityRequest>(
    ready,
    async (request): Promise<Ceiling | AuthorityClosed> => {
      if (request.type === 'ceiling') {
        const report = await runBenchmark(
          { name: `crypto.${request.work}`, fn: workFor(request.work, config.issuer) },
          { durationMs: request.durationMs, rounds: 1 },
        );
        return { opsPerSec: report.rounds[0]! };
      }
      await running.close();
      await rm(dataDir, { recursive: true, force: true });
      return { errorLines, lastErrorLine };
    },
    (request) => request.type === 'close',
  );
}
