import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { auditFileDestination } from '../src/audit-destination.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-audit-dest-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let files = 0;
const fresh = (): string => join(dir, `audit-${files++}.log`);

function flushed(destination: { flush(cb: (error?: Error) => void): void }): Promise<void> {
  return new Promise((resolve, reject) => {
    destination.flush((error) => {
      if (error === undefined) resolve();
      else reject(error);
    });
  });
}

describe('auditFileDestination', () => {
  it('writes every line once, in order, across bursts and quiet turns (non-ASCII too)', async () => {
    const path = fresh();
    const destination = auditFileDestination(path);
    const expected: string[] = [];
    for (let burst = 0; burst < 50; burst++) {
      // Bursts of 1 to 400 lines in one turn, some with multi-byte characters.
      for (let i = 0; i < ((burst * 37) % 400 || 1); i++) {
        const line = `{"n":${expected.length},"who":"${burst % 3 === 0 ? 'zoë→日本' : 'svc'}"}\n`;
        expected.push(line);
        assert.equal(destination.write(line), true);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await flushed(destination);
    assert.equal(readFileSync(path, 'utf8'), expected.join(''));
    assert.equal(destination.dropped, 0);
    await new Promise<void>((resolve) => {
      destination.end(resolve);
    });
  });

  it('creates the file with mode 0600 and appends to an existing one', async () => {
    const path = fresh();
    const first = auditFileDestination(path);
    first.write('one\n');
    await new Promise<void>((resolve) => {
      first.end(resolve);
    });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const second = auditFileDestination(path);
    second.write('two\n');
    await new Promise<void>((resolve) => {
      second.end(resolve);
    });
    assert.equal(readFileSync(path, 'utf8'), 'one\ntwo\n');
  });

  it('serves as a pino destination: one JSON line per event, flushed by logger.flush', async () => {
    const path = fresh();
    const logger = pino({ level: 'info' }, auditFileDestination(path));
    for (let i = 0; i < 1000; i++)
      logger.info({ event: 'tessera.request', n: i }, 'tessera request');
    await new Promise<void>((resolve, reject) => {
      logger.flush((error) => {
        if (error) reject(error);
        else resolve();
      });
    });
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 1000);
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { n: number }).n),
      Array.from({ length: 1000 }, (_, i) => i),
    );
  });

  it('writes what is queued when the process exits before the turn ends', () => {
    const path = fresh();
    const module = new URL('../src/audit-destination.ts', import.meta.url).href;
    const child = spawnSync(
      process.execPath,
      [
        '--conditions=tessera-source',
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { auditFileDestination } = await import(${JSON.stringify(module)});
         const d = auditFileDestination(${JSON.stringify(path)});
         for (let i = 0; i < 5000; i++) d.write('line ' + i + '\\n');
         process.exit(0);`,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(child.status, 0, child.stderr);
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 5000);
    assert.equal(lines[4999], 'line 4999');
  });

  it('bounds memory: beyond maxBufferChars lines are dropped, counted and reported once', async () => {
    const path = fresh();
    const errors: Error[] = [];
    const destination = auditFileDestination(path, {
      maxBufferChars: 100,
      onError: (error) => errors.push(error),
    });
    // 10 characters a line, all in one turn: 10 fit, 40 do not.
    for (let i = 0; i < 50; i++) destination.write(`line ${String(i).padStart(4, '0')}\n`);
    assert.equal(destination.dropped, 40);
    assert.equal(errors.length, 1, 'one report for the burst');
    assert.match(errors[0]?.message ?? '', /buffer full; 1 line\(s\) dropped/);
    await flushed(destination);
    assert.equal(readFileSync(path, 'utf8').split('\n').length - 1, 10);
    await new Promise<void>((resolve) => {
      destination.end(resolve);
    });
    assert.equal(destination.write('late\n'), false, 'nothing after end');
  });

  it(
    'reports a failing disk without throwing and keeps the lines for a retry',
    {
      skip: existsSync('/dev/full') ? false : 'needs /dev/full (Linux) to make writes fail',
    },
    async () => {
      const errors: Error[] = [];
      const destination = auditFileDestination('/dev/full', { onError: (e) => errors.push(e) });
      assert.equal(destination.write('kept\n'), true);
      await assert.rejects(flushed(destination), /ENOSPC/);
      assert.match(errors[0]?.message ?? '', /ENOSPC/);
      assert.equal(destination.dropped, 0, 'a failed write is kept, not dropped');
      await assert.rejects(flushed(destination), /ENOSPC/, 'flush retries at once and fails again');
    },
  );

  it('refuses bad options', () => {
    assert.throws(() => auditFileDestination(''), /path is required/);
    assert.throws(
      () => auditFileDestination(fresh(), { maxBufferChars: 0 }),
      /maxBufferChars must be a positive integer/,
    );
  });
});
