import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

const IMPORT = /\bfrom\s+'([^']+)'/g;

/** Module specifiers a file imports (static `from '…'` clauses). */
function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => m[1] ?? '');
}

test('analysis builds facts and never imports the rules that read them', () => {
  const files = sources(join(SRC, 'analysis'));
  assert.ok(files.length > 20, 'the analysis folder was found');
  const offenders = files.flatMap((file) =>
    importsOf(file)
      .filter((spec) => /(^|\/)rules\//.test(spec))
      .map((spec) => `${relative(SRC, file)} imports ${spec}`),
  );
  assert.deepEqual(offenders, []);
});

test('the layering check sees a rules import when there is one', () => {
  // Guards the test above against a regex that matches nothing.
  const rules = sources(join(SRC, 'rules'));
  assert.ok(rules.some((file) => importsOf(file).some((spec) => spec.includes('analysis/'))));
});
