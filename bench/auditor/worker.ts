/**
 * The worker process of the `auditor.*` benchmarks (`--expose-gc`): runs one audit (of a
 * directory, or of a repository with one report per service), or the baseline's read-and-parse
 * of the same files, per request, after a full collection so each run pays only for itself; on
 * `close` it answers with its peak resident memory.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { auditDirectory, auditRepository } from '@tessera/auditor';
import { serveParent } from '../authority/child-process.ts';
import type {
  AuditorWorkerClosed,
  AuditorWorkerReady,
  AuditorWorkerRequest,
  AuditRun,
  ParseRun,
  RepositoryRun,
} from './messages.ts';

const collect = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** The script kinds the auditor's loader parses, by extension. */
const KINDS = new Map<string, ts.ScriptKind>([
  ['.ts', ts.ScriptKind.TS],
  ['.tsx', ts.ScriptKind.TSX],
  ['.js', ts.ScriptKind.JS],
  ['.mjs', ts.ScriptKind.JS],
]);

async function audit(root: string): Promise<AuditRun> {
  collect();
  const started = performance.now();
  const report = await auditDirectory(root, { now: new Date('2026-01-01') });
  const ms = performance.now() - started;
  return {
    ms,
    files: report.stats.files,
    lines: report.stats.lines,
    checks: report.checks.length,
    notes: report.notes,
  };
}

async function auditRepositoryRun(root: string): Promise<RepositoryRun> {
  collect();
  const started = performance.now();
  const audit = await auditRepository(root, { now: new Date('2026-01-01') });
  const ms = performance.now() - started;
  return {
    ms,
    services: audit.services.map(({ name, report }) => ({
      name,
      files: report.stats.files,
      checks: report.checks.length,
      notes: report.notes,
    })),
  };
}

/** Reads every file and parses the source ones exactly as the loader does (parent nodes set). */
async function parse(root: string, files: readonly string[]): Promise<ParseRun> {
  collect();
  const started = performance.now();
  const trees: ts.SourceFile[] = [];
  for (const rel of files) {
    const text = await readFile(path.join(root, rel), 'utf8');
    const kind = KINDS.get(path.extname(rel));
    if (kind !== undefined) {
      trees.push(ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, kind));
    }
  }
  return { ms: performance.now() - started, files: files.length, parsed: trees.length };
}

const ready: AuditorWorkerReady = { rssBytes: process.memoryUsage.rss() };
serveParent<AuditorWorkerRequest>(
  ready,
  (request) => {
    switch (request.type) {
      case 'audit':
        return audit(request.root);
      case 'audit-repository':
        return auditRepositoryRun(request.root);
      case 'parse':
        return parse(request.root, request.files);
      case 'close': {
        const closed: AuditorWorkerClosed = {
          maxRssBytes: process.resourceUsage().maxRSS * 1024,
        };
        return Promise.resolve(closed);
      }
    }
  },
  (request) => request.type === 'close',
);
