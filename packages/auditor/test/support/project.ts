/** Small projects on disk for rule tests: written to temp dirs, audited without the catalog. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadProject } from '../../src/project/load.ts';
import { createAuditContext, type AuditContext } from '../../src/rules/rule.ts';

export type Files = Readonly<Record<string, string>>;

const roots: string[] = [];

/** Writes `files` (relative path → text) into a fresh temp dir and builds the engine's context. */
export async function contextFor(files: Files): Promise<AuditContext> {
  const root = await mkdtemp(path.join(tmpdir(), 'tessera-auditor-'));
  roots.push(root);
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(root, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
  }
  return createAuditContext(await loadProject(root));
}

/** Removes every directory `contextFor` created (register with `after`). */
export async function removeTempProjects(): Promise<void> {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
}
