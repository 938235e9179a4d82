/** Small projects on disk for rule tests: written to temp dirs, audited without the catalog. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadProject } from '../../src/project/load.ts';
import type { CheckId, Outcome, Status } from '../../src/model.ts';
import { createAuditContext, type AuditContext } from '../../src/analysis/context.ts';
import type { RuleSet } from '../../src/rules/rule.ts';

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

/** A check's expected status, optionally with the file and line its evidence must include. */
export type Expectation =
  Status | { readonly status: Status; readonly file: string; readonly line: number };

/** Runs one rule of `rules`; a missing rule fails the test. */
export function runRule(rules: RuleSet, ctx: AuditContext, id: CheckId): Outcome {
  const rule = rules[id];
  assert.ok(rule, `no rule for ${id}`);
  return rule(ctx);
}

/**
 * Builds the project and asserts, for each check: the status, a one-sentence `why`, and (when
 * given) evidence at the expected file and line. The outcome is in the message when it fails.
 */
export async function expectOutcomes(
  rules: RuleSet,
  files: Files,
  expect: Readonly<Partial<Record<CheckId, Expectation>>>,
): Promise<void> {
  const ctx = await contextFor(files);
  for (const [id, expected] of Object.entries(expect)) {
    if (expected === undefined) continue;
    const result = runRule(rules, ctx, id as CheckId);
    const status = typeof expected === 'string' ? expected : expected.status;
    assert.equal(result.status, status, `${id}: ${JSON.stringify(result)}`);
    assert.ok(result.why.length > 0 && !result.why.includes('\n'), `${id}: one-sentence why`);
    if (typeof expected === 'object') {
      assert.ok(
        result.evidence.some((e) => e.file === expected.file && e.line === expected.line),
        `${id}: expected evidence at ${expected.file}:${String(expected.line)}, got ${JSON.stringify(result.evidence)}`,
      );
    }
  }
}
