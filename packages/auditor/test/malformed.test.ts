/**
 * Bad input never makes an audit throw: files that do not parse, binary files, symbolic link
 * loops, oversized files, empty and missing directories and text that is not UTF-8 each end in a
 * report whose notes say what happened, with stats counting only what was read.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditDirectory, type AuditOptions } from '../src/audit.ts';
import { CATALOG } from '../src/catalog/checks.ts';
import type { AuditReport } from '../src/model.ts';

/** A small valid source file: 3 lines (the trailing newline starts a third, empty one). */
const GOOD_TS = "import Fastify from 'fastify';\nexport const app = Fastify();\n";
const GOOD_LINES = 3;

let tmp = '';

before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-auditor-malformed-'));
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh directory under the temp root, with `good.ts` unless `withGood` is false. */
function project(name: string, withGood = true): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir);
  if (withGood) writeFileSync(path.join(dir, 'good.ts'), GOOD_TS);
  return dir;
}

const options: AuditOptions = { now: new Date('2026-01-01') };

/** The audit, which must resolve; and a report as complete as the catalog. */
async function audit(dir: string, extra: AuditOptions = {}): Promise<AuditReport> {
  const report = await auditDirectory(dir, { ...options, ...extra });
  assert.equal(report.checks.length, CATALOG.length);
  assert.equal(report.date, '2026-01-01');
  return report;
}

function noteWith(report: AuditReport, fragment: string): string | undefined {
  return report.notes.find((note) => note.includes(fragment));
}

describe('malformed input', () => {
  it('a .ts file with syntax errors is analysed as far as it parses, with a note', async () => {
    const dir = project('syntax');
    // Line 2 is where the parser first gives up.
    writeFileSync(
      path.join(dir, 'broken.ts'),
      "export function ok() { return 1; }\nexport const bad = {{ ;\nconst after = 'still read';\n",
    );
    const report = await audit(dir);
    const note = noteWith(report, 'syntax error');
    assert.ok(note !== undefined, `notes: ${JSON.stringify(report.notes)}`);
    assert.match(note, /^broken\.ts:2: syntax error \(.+\); analysed as far as it parses\.$/);
    assert.equal(report.notes.length, 1);
    assert.equal(report.stats.files, 2);
    assert.equal(report.stats.lines, GOOD_LINES + 4);
  });

  it('a binary file named x.ts is skipped with a note', async () => {
    const dir = project('binary');
    writeFileSync(path.join(dir, 'x.ts'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 0, 0x0a]));
    const report = await audit(dir);
    assert.ok(noteWith(report, 'x.ts: binary content; skipped.') !== undefined, report.notes[0]);
    assert.equal(report.notes.length, 1);
    assert.equal(report.stats.files, 1);
    assert.equal(report.stats.lines, GOOD_LINES);
  });

  it('a symbolic link loop is walked once, with a note', async () => {
    const dir = project('loop');
    symlinkSync('.', path.join(dir, 'loop'));
    const report = await audit(dir);
    assert.ok(
      noteWith(report, 'loop: symbolic link loop') !== undefined,
      `notes: ${JSON.stringify(report.notes)}`,
    );
    assert.equal(report.notes.length, 1);
    // good.ts once, not again as loop/good.ts.
    assert.equal(report.stats.files, 1);
    assert.equal(report.stats.lines, GOOD_LINES);
  });

  it('a broken symbolic link is skipped with a note', async () => {
    const dir = project('dangling');
    symlinkSync(path.join(dir, 'nowhere.ts'), path.join(dir, 'client.ts'));
    const report = await audit(dir);
    assert.deepEqual(report.notes, ['client.ts: broken symbolic link; skipped.']);
    assert.equal(report.stats.files, 1);
  });

  it('a file over the size limit is skipped with a note naming its size and the limit', async () => {
    const dir = project('huge');
    const line = "export const padding = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';\n";
    const big = line.repeat(40);
    writeFileSync(path.join(dir, 'generated.ts'), big);
    const report = await audit(dir, { load: { maxFileBytes: 1000 } });
    assert.deepEqual(report.notes, [
      `generated.ts: ${String(Buffer.byteLength(big))} bytes, over the 1000-byte limit; skipped.`,
    ]);
    assert.equal(report.stats.files, 1);
    assert.equal(report.stats.lines, GOOD_LINES);
  });

  it('an empty directory: a note, nothing read, every source check N/A', async () => {
    const report = await audit(project('empty', false));
    assert.deepEqual(report.notes, ['No JavaScript or TypeScript source files were found.']);
    assert.equal(report.stats.files, 0);
    assert.equal(report.stats.lines, 0);
    const sourceIds = new Set(CATALOG.filter((c) => c.decidedBy === 'source').map((c) => c.id));
    const decided = report.checks.filter((c) => sourceIds.has(c.id) && c.status !== 'N/A');
    assert.deepEqual(
      decided.map((c) => c.id),
      [],
    );
    assert.equal(report.passRate.passed, 0);
  });

  it('a path that does not exist: a note, nothing read', async () => {
    const missing = path.join(tmp, 'no-such-service');
    const report = await audit(missing);
    assert.deepEqual(report.notes, [
      `${missing} does not exist or cannot be read; nothing was analysed.`,
    ]);
    assert.equal(report.stats.files, 0);
    assert.equal(report.stats.lines, 0);
    assert.equal(report.root, missing);
  });

  it('a file given instead of a directory: a note, nothing read', async () => {
    const dir = project('single-file');
    const file = path.join(dir, 'good.ts');
    const report = await audit(file);
    assert.deepEqual(report.notes, [`${file} is not a directory; nothing was analysed.`]);
    assert.equal(report.stats.files, 0);
  });

  describe('a file that is not UTF-8', () => {
    const latin1 = Buffer.concat([
      Buffer.from("export const greeting = 'Bienvenue au caf"),
      Buffer.from([0xe9]), // é in ISO-8859-1: an invalid byte in UTF-8
      Buffer.from("';\n"),
    ]);

    it('is still read and analysed', async () => {
      const dir = project('latin1');
      writeFileSync(path.join(dir, 'messages.ts'), latin1);
      const report = await audit(dir);
      assert.equal(report.stats.files, 2);
      assert.equal(report.stats.lines, GOOD_LINES + 2);
      assert.equal(noteWith(report, 'syntax error'), undefined);
    });

    it('gets a note saying so', async () => {
      const dir = project('latin1-note');
      writeFileSync(path.join(dir, 'messages.ts'), latin1);
      const report = await audit(dir);
      assert.ok(
        noteWith(report, 'messages.ts') !== undefined && noteWith(report, 'UTF-8') !== undefined,
        `notes: ${JSON.stringify(report.notes)}`,
      );
    });
  });
});
