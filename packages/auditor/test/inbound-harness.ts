/** Builds small projects on disk and runs the inbound rules on them, without the catalog. */
import assert from 'node:assert/strict';
import type { CheckId, Outcome, Status } from '../src/model.ts';
import { failSecureRules } from '../src/rules/fail-secure.ts';
import { identityVerificationRules } from '../src/rules/identity-verification.ts';
import { proxyHeadersRules } from '../src/rules/proxy-headers.ts';
import type { AuditContext, Rule } from '../src/rules/rule.ts';
import { serviceEndpointRules } from '../src/rules/service-endpoint.ts';

/** Every inbound rule by check id. */
export const INBOUND_RULES: ReadonlyMap<CheckId, Rule> = new Map(
  [serviceEndpointRules, identityVerificationRules, proxyHeadersRules, failSecureRules].flatMap(
    (set) => Object.entries(set) as [CheckId, Rule][],
  ),
);

import { contextFor, type Files } from './support/project.ts';

export { contextFor, removeTempProjects as cleanUp, type Files } from './support/project.ts';

/** Runs one rule. */
export function decide(ctx: AuditContext, id: CheckId): Outcome {
  const rule = INBOUND_RULES.get(id);
  assert.ok(rule, `no rule for ${id}`);
  return rule(ctx);
}

/** The 1-based line of the first line of `text` that contains `needle`. */
export function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((line) => line.includes(needle));
  assert.ok(index >= 0, `"${needle}" not found`);
  return index + 1;
}

export interface Case {
  readonly name: string;
  readonly files: Files;
  /** Expected status per check. */
  readonly expect: Partial<Record<CheckId, Status>>;
  /** Evidence that must be present: the file and the text of the decisive line. */
  readonly at?: Partial<Record<CheckId, { readonly file: string; readonly line: string }>>;
}

/** Runs a case: every expected status, and the decisive line in the evidence. */
export async function check(testCase: Case): Promise<void> {
  const ctx = await contextFor(testCase.files);
  for (const [id, status] of Object.entries(testCase.expect) as [CheckId, Status][]) {
    const result = decide(ctx, id);
    assert.equal(
      result.status,
      status,
      `${testCase.name}: ${id} is ${result.status} (${result.why}), expected ${status}`,
    );
    assert.ok(result.why.length > 0, `${id}: empty why`);
    const at = testCase.at?.[id];
    if (at !== undefined) {
      const text = testCase.files[at.file];
      assert.ok(text !== undefined, `no file ${at.file}`);
      const line = lineOf(text, at.line);
      assert.ok(
        result.evidence.some((e) => e.file === at.file && e.line === line),
        `${testCase.name}: ${id} evidence ${JSON.stringify(result.evidence)} lacks ${at.file}:${String(line)}`,
      );
    }
  }
}
