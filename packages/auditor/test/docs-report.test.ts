/**
 * The README shows the audit of the ticketing demo, kept in docs/audit-ticketing.md. This test
 * regenerates it (with the date the file carries) so the published report can never drift from
 * what `tessera audit examples/ticketing` prints.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { auditDirectory } from '../src/audit.ts';
import { renderMarkdown } from '../src/report/markdown.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const published = path.join(repo, 'docs/audit-ticketing.md');

describe('docs/audit-ticketing.md', () => {
  it('is exactly what the auditor reports for examples/ticketing', async () => {
    const text = readFileSync(published, 'utf8');
    const date = /^\*\*Date:\*\* (\d{4}-\d{2}-\d{2})$/m.exec(text)?.[1];
    assert.ok(date !== undefined, 'the report has a **Date:** line');
    const report = await auditDirectory(path.join(repo, 'examples/ticketing'), {
      now: new Date(`${date}T12:00:00Z`),
    });
    assert.equal(
      text,
      renderMarkdown(report),
      'regenerate with: npm run -s tessera -- audit examples/ticketing --out docs/audit-ticketing.md',
    );
  });
});
