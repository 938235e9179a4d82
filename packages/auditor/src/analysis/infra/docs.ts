import { readdirSync, readFileSync, statSync } from 'node:fs';
import nodePath from 'node:path';
import { evidenceAtLine } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { AuditContext } from '../context.ts';

/**
 * Runbooks are Markdown, which the project loader does not keep. This reads a bounded set of
 * `.md` files (the root, `docs/`, `runbooks/` and the like, a few levels deep) to find a
 * documented emergency rotation procedure for SM10.
 */
export interface RotationDocs {
  /** Markdown files read. */
  readonly files: number;
  /** Passages describing rotation after a compromise or in an emergency. */
  readonly emergency: readonly Evidence[];
  /** Passages describing rotation without saying when or how fast in an incident. */
  readonly rotation: readonly Evidence[];
}

const SKIPPED = new Set([
  'node_modules',
  '.git',
  'dist',
  'build',
  'coverage',
  '.next',
  '.turbo',
  '.cache',
  '.tessera',
  'test',
  'tests',
  '__tests__',
  'fixtures',
]);
const MAX_FILES = 200;
const MAX_BYTES = 512 * 1024;
const MAX_DEPTH = 4;
const ROTATE =
  /\b(rotat\w*|regenerat\w*|re-?issue|revoke and replace|replace the (key|secret|token))/i;
const EMERGENCY =
  /\b(emergenc\w*|compromis\w*|leak\w*|incident\w*|breach\w*|exposed|stolen|suspected)/i;

/** Reads the repository's Markdown once per audit. Never throws. */
export function rotationDocs(ctx: AuditContext): RotationDocs {
  return ctx.memo('infra.docs', () => {
    const root = ctx.project.root;
    const files: string[] = [];
    const walk = (dir: string, depth: number) => {
      if (depth > MAX_DEPTH || files.length >= MAX_FILES) return;
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        if (files.length >= MAX_FILES) return;
        const abs = nodePath.join(dir, entry.name);
        if (entry.isDirectory() && !SKIPPED.has(entry.name)) walk(abs, depth + 1);
        else if (entry.isFile() && /\.(md|markdown|mdx)$/i.test(entry.name)) files.push(abs);
      }
    };
    walk(root, 0);
    const emergency: Evidence[] = [];
    const rotation: Evidence[] = [];
    for (const abs of files) {
      let text: string;
      try {
        if (statSync(abs).size > MAX_BYTES) continue;
        text = readFileSync(abs, 'utf8');
      } catch {
        continue;
      }
      const rel = nodePath.relative(root, abs).split(nodePath.sep).join('/');
      const lines = text.split('\n');
      lines.forEach((line, index) => {
        if (!ROTATE.test(line)) return;
        // The emergency context may be in the heading or question just before the instructions.
        const window = lines.slice(Math.max(0, index - 5), index + 3).join('\n');
        const evidence = evidenceAtLine(rel, text, index + 1);
        if (EMERGENCY.test(window)) emergency.push(evidence);
        else rotation.push(evidence);
      });
    }
    return { files: files.length, emergency, rotation };
  });
}
