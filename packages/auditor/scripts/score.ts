/**
 * `npm run audit:score`: how far the auditor agrees with hand labels. Audits each labelled
 * fixture and prints, per service and per fixture set, agreement on decidable checks, finding
 * precision and recall, the exact-status rate, the evidence hit rate (±3 lines) and a confusion
 * matrix. It measures and never gates: the exit code is 0 whatever the scores.
 *
 *   npm run audit:score [-- [--set old|blind|holdout|all] [--json] [--details] [--whole-repo] [DIR ...]]
 *
 * `--set old` is the six fixtures the rules were written against (test/fixtures, the list
 * fixtures.test.ts uses); `--set blind` every test/fixtures/blind/<name> with an expected.json;
 * `--set holdout` every test/fixtures/holdout/<name>: labelled after the blind set had been used
 * to find the auditor's error classes, and never used for that, so it is the held-out measure.
 * DIR arguments score those directories (each with an expected.json) instead of the sets.
 * Definitions of the measures: scripts/scoring.ts.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  auditDirectory,
  auditRepository,
  AUDITOR_VERSION,
  type AuditReport,
  type RepositoryAudit,
} from '@tessera/auditor';
import {
  FIXTURE_LOAD,
  FIXTURES,
  loadExpectedServices,
  type Expected,
} from '../test/support/expected.ts';
import {
  addCounts,
  EVIDENCE_WINDOW,
  formatRatio,
  measuresOf,
  renderConfusion,
  renderTable,
  scoreService,
  type Counts,
  type Measures,
  type ServiceScore,
} from './scoring.ts';
import { findServiceRoot } from './service-root.ts';

const FIXTURES_DIR = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
const SETS = ['old', 'blind', 'holdout'] as const;
type SetName = (typeof SETS)[number] | 'given';

/**
 * Where one labelled service was audited. `scope` says how: the fixture is the service
 * (`fixture`); the auditor's own report for that service from one audit of the whole fixture
 * (`service`: it split the repository into services and named one like the label); a service
 * of a several-service fixture audited at its own root when the auditor found no such service
 * (`service-root`, found by its manifest name); or the whole repository, because no root was
 * found or `--whole-repo` asked for it (`repository`).
 */
type Scope = 'fixture' | 'service' | 'service-root' | 'repository';

interface ScoredService extends ServiceScore {
  readonly fixture: string;
  readonly service: string;
  readonly scope: Scope;
  /** The audited directory, relative to the fixture (`.` for the fixture itself). */
  readonly audited: string;
  readonly auditMs: number;
}

interface ScoredSet {
  readonly name: SetName;
  readonly services: readonly ScoredService[];
  readonly total: Counts;
}

function fixtureDirectories(set: (typeof SETS)[number]): string[] {
  if (set === 'old') return FIXTURES.map((name) => path.join(FIXTURES_DIR, name));
  const dir = path.join(FIXTURES_DIR, set);
  return readdirSync(dir)
    .map((name) => path.join(dir, name))
    .filter((dir) => statSync(dir).isDirectory() && existsSync(path.join(dir, 'expected.json')))
    .sort();
}

/**
 * The auditor's own report for a labelled service, when one audit of the whole fixture split
 * it into several services and one of them is named like the label (or its package name is).
 */
function reportFor(service: string, audit: RepositoryAudit): AuditReport | undefined {
  if (audit.services.length < 2) return undefined;
  return audit.services.find(
    (s) => s.name === service || s.report.service.replace(/^@[^/]+\//, '') === service,
  )?.report;
}

async function scoreFixture(
  fixture: string,
  options: { readonly wholeRepo: boolean },
  audits: Map<string, Promise<AuditReport>>,
): Promise<ScoredService[]> {
  const labelled = loadExpectedServices(fixture);
  const audit = (root: string) => {
    let report = audits.get(root);
    if (report === undefined) {
      report = auditDirectory(root, { load: FIXTURE_LOAD });
      audits.set(root, report);
    }
    return report;
  };
  const repository =
    labelled.length > 1 && !options.wholeRepo
      ? await auditRepository(fixture, { load: FIXTURE_LOAD })
      : undefined;
  const scored: ScoredService[] = [];
  for (const expected of labelled) {
    const own = repository === undefined ? undefined : reportFor(expected.service, repository);
    const { root, scope } =
      own === undefined
        ? whereToAudit(fixture, expected, labelled.length, options)
        : { root: fixture, scope: 'service' as const };
    const report = own ?? (await audit(root));
    const audited = path.relative(fixture, root).split(path.sep).join('/');
    const { counts, disagreements, evidenceMisses } = scoreService(
      expected,
      report.checks,
      audited,
    );
    scored.push({
      fixture: path.basename(fixture),
      service: expected.service,
      scope,
      audited: audited === '' ? '.' : audited,
      auditMs: report.stats.durationMs,
      counts,
      disagreements,
      evidenceMisses,
    });
  }
  return scored;
}

function whereToAudit(
  fixture: string,
  expected: Expected,
  services: number,
  options: { readonly wholeRepo: boolean },
): { root: string; scope: Scope } {
  if (services === 1) return { root: fixture, scope: 'fixture' };
  const root = options.wholeRepo ? undefined : findServiceRoot(fixture, expected.service);
  return root === undefined
    ? { root: fixture, scope: 'repository' }
    : { root, scope: 'service-root' };
}

async function scoreSet(
  name: SetName,
  fixtures: readonly string[],
  options: { readonly wholeRepo: boolean },
): Promise<ScoredSet> {
  const audits = new Map<string, Promise<AuditReport>>();
  const services: ScoredService[] = [];
  for (const fixture of fixtures) services.push(...(await scoreFixture(fixture, options, audits)));
  return { name, services, total: addCounts(services.map((s) => s.counts)) };
}

const MEASURE_COLUMNS: readonly [string, keyof Measures][] = [
  ['agreement (decidable)', 'agreement'],
  ['precision', 'precision'],
  ['recall', 'recall'],
  ['exact status', 'exactStatus'],
  [`evidence ±${String(EVIDENCE_WINDOW)}`, 'evidenceHitRate'],
];

const SCOPE_NOTE: Record<Scope, string> = {
  fixture: '',
  service: ' (service report)',
  'service-root': ' (service root)',
  repository: ' (whole repo)',
};

function renderSet(set: ScoredSet, details: boolean): string {
  const title: Record<SetName, string> = {
    old: 'Old fixtures (test/fixtures, the rules were written against them)',
    blind: 'Blind fixtures (test/fixtures/blind, labelled before any auditor run)',
    holdout:
      'Held-out fixtures (test/fixtures/holdout, labelled blind and never used to tune the rules)',
    given: 'Given directories',
  };
  const header = ['service', 'audited', 'labels', ...MEASURE_COLUMNS.map(([h]) => h), 'audit ms'];
  const row = (label: string, audited: string, counts: Counts, ms: string) => {
    const measures = measuresOf(counts);
    return [
      label,
      audited,
      String(counts.labelled),
      ...MEASURE_COLUMNS.map(([, key]) => formatRatio(measures[key])),
      ms,
    ];
  };
  const rows = set.services.map((s) =>
    row(
      s.service === s.fixture || s.scope === 'fixture' ? s.fixture : `${s.fixture} › ${s.service}`,
      `${s.audited}${SCOPE_NOTE[s.scope]}`,
      s.counts,
      String(s.auditMs),
    ),
  );
  // Services audited in one run (a whole repository) share its time: count each audit once.
  const audits = new Map(
    set.services.map((s) => [
      s.scope === 'service' ? `${s.fixture}/${s.service}` : `${s.fixture}/${s.audited}`,
      s.auditMs,
    ]),
  );
  const totalMs = [...audits.values()].reduce((sum, ms) => sum + ms, 0);
  rows.push(row(`total (${String(set.services.length)} services)`, '', set.total, String(totalMs)));
  const out = [
    `## ${title[set.name]}`,
    '',
    renderTable(header, rows),
    '',
    `Confusion matrix, all ${String(set.services.length)} services (rows: label, columns: auditor):`,
    '',
    renderConfusion(set.total.confusion),
  ];
  if (details) {
    for (const s of set.services) {
      out.push('', `### ${s.fixture} › ${s.service}`);
      for (const d of s.disagreements) {
        out.push(`- ${d.id}: label ${d.label}, auditor ${d.reported} — ${d.note}`);
      }
      if (s.evidenceMisses.length > 0) {
        out.push(
          `- evidence not within ±${String(EVIDENCE_WINDOW)} lines: ${s.evidenceMisses.join(', ')}`,
        );
      }
      if (s.disagreements.length === 0 && s.evidenceMisses.length === 0) out.push('- none');
    }
  }
  return out.join('\n');
}

const USAGE =
  'usage: npm run audit:score -- [--set old|blind|holdout|all] [--json] [--details] [--whole-repo] [DIR ...]';

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        set: { type: 'string', default: 'all' },
        json: { type: 'boolean', default: false },
        details: { type: 'boolean', default: false },
        'whole-repo': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const set = values.set;
  if (set !== 'all' && !(SETS as readonly string[]).includes(set)) {
    process.stderr.write(`--set must be old, blind, holdout or all\n${USAGE}\n`);
    return 2;
  }
  for (const dir of positionals) {
    if (!existsSync(path.join(dir, 'expected.json'))) {
      process.stderr.write(`${dir}: no expected.json\n`);
      return 2;
    }
  }
  const options = { wholeRepo: values['whole-repo'] };
  const started = performance.now();
  const sets: ScoredSet[] = [];
  if (positionals.length > 0) {
    sets.push(
      await scoreSet(
        'given',
        positionals.map((d) => path.resolve(d)),
        options,
      ),
    );
  } else {
    for (const name of SETS) {
      if (set === 'all' || set === name) {
        sets.push(await scoreSet(name, fixtureDirectories(name), options));
      }
    }
  }
  const durationMs = Math.round(performance.now() - started);
  if (values.json) {
    const json = {
      auditorVersion: AUDITOR_VERSION,
      evidenceWindow: EVIDENCE_WINDOW,
      durationMs,
      sets: sets.map((s) => ({
        name: s.name,
        services: s.services.map(({ counts, disagreements, evidenceMisses, ...service }) => ({
          ...service,
          measures: measuresOf(counts),
          counts,
          disagreements,
          evidenceMisses,
        })),
        total: { counts: s.total, measures: measuresOf(s.total) },
      })),
    };
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  const notes = [
    `auditor ${AUDITOR_VERSION}; ${String(durationMs)} ms in all.`,
    'Only labelled checks count. Finding = FAIL or PARTIAL. Agreement is over checks whose label',
    'is not N/A (an auditor N/A there disagrees); exact status is over every labelled check.',
    `Evidence: labelled findings with lines, hit when a reported line for that check is in the same`,
    `file within ±${String(EVIDENCE_WINDOW)} lines of a labelled one. Totals add counts, not percentages.`,
  ];
  if (sets.some((s) => s.services.some((service) => service.scope !== 'fixture'))) {
    notes.push(
      'Several-service fixtures: the fixture is audited once and each label scored against the',
      'auditor\'s report for the service of that name ("service report": its own files plus the',
      'workspace packages it imports). When the auditor does not split the fixture into services',
      '(a language it does not read), each service is audited at its own root (found by the name',
      'in its package.json or pyproject.toml), its evidence paths prefixed with that root. "whole',
      'repo" marks a service audited as the entire repository (no root found, or --whole-repo).',
    );
  }
  process.stdout.write(
    `${[...sets.map((s) => renderSet(s, values.details)), notes.join('\n')].join('\n\n')}\n`,
  );
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
