import type { CheckId, Evidence, Outcome, Status } from '../model.ts';
import type { Project } from '../project/load.ts';
import { SymbolTable } from '../ast/symbols.ts';

/** What every rule gets: the loaded project, its symbol table and a shared memo for analyses. */
export interface AuditContext {
  readonly project: Project;
  readonly symbols: SymbolTable;
  /**
   * Computes an analysis once per audit and shares it between rules:
   * `ctx.memo('inbound', () => analyseInbound(ctx))`.
   */
  memo<T>(key: string, compute: () => T): T;
}

/** Decides one check. Must not throw for any input; the engine turns a throw into N/A and a note. */
export type Rule = (ctx: AuditContext) => Outcome;

/** The rules of one category, keyed by check id. */
export type RuleSet = Readonly<Partial<Record<CheckId, Rule>>>;

export const outcome = (
  status: Status,
  why: string,
  evidence: readonly Evidence[] = [],
): Outcome => ({
  status,
  why,
  evidence,
});

/** The context the engine gives every rule: one symbol table and one memo per audit. */
export function createAuditContext(project: Project): AuditContext {
  const memo = new Map<string, unknown>();
  return {
    project,
    symbols: new SymbolTable(project),
    memo<T>(key: string, compute: () => T): T {
      if (!memo.has(key)) memo.set(key, compute());
      return memo.get(key) as T;
    },
  };
}
