/**
 * What every analysis and rule gets: the loaded project, its symbol table and a shared memo.
 * Analyses build facts from it; rules (src/rules) read those facts and decide checks. The
 * dependency goes one way: rules import analysis, never the reverse.
 */
import type { Project } from '../project/load.ts';
import { SymbolTable } from '../ast/symbols.ts';

export interface AuditContext {
  readonly project: Project;
  readonly symbols: SymbolTable;
  /**
   * Computes an analysis once per audit and shares it between rules:
   * `ctx.memo('inbound', () => analyseInbound(ctx))`.
   */
  memo<T>(key: string, compute: () => T): T;
}

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
