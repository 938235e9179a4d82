import type { CheckId, Evidence, Outcome, Status } from '../model.ts';
import type { Project } from '../project/load.ts';
import type { SymbolTable } from '../ast/symbols.ts';

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
