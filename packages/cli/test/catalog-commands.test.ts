import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CATALOG } from '@tessera/auditor';
import { main } from '../src/main.ts';

/**
 * The auditor's remediation snippets that are `tessera ...` command lines must be commands this
 * CLI has, with as many positional arguments as it takes: `--help` on each resolves the command
 * path from its usage line.
 */
it("the auditor catalog's command lines name real tessera commands", async () => {
  const commands = CATALOG.flatMap((check) =>
    check.snippet?.startsWith('tessera ') === true
      ? [{ id: check.id, snippet: check.snippet }]
      : [],
  );
  assert.ok(commands.length > 0);
  for (const { id, snippet } of commands) {
    const words = snippet.split(/\s+/).slice(1);
    const out: string[] = [];
    const capture = (line: string) => {
      out.push(line);
    };
    const io = { out: capture, err: capture, env: {} };
    assert.equal(await main([...words, '--help'], io), 0, `${id}: ${snippet}`);
    const usage = /^Usage: tessera ((?:[a-z-]+ )*)\[options\](.*)$/m.exec(out.join('\n'));
    assert.ok(usage !== null, `${id}: ${out.join('\n')}`);
    const path = (usage[1] ?? '').trim().split(' ');
    const positional = ((usage[2] ?? '').match(/<[^>]+>/g) ?? []).length;
    const firstOption = words.findIndex((word) => word.startsWith('-'));
    const leading = firstOption === -1 ? words : words.slice(0, firstOption);
    assert.deepEqual(leading.slice(0, path.length), path, `${id}: ${snippet}`);
    assert.equal(leading.length, path.length + positional, `${id}: ${snippet}`);
  }
});
