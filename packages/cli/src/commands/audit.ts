import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  auditRepository,
  failingChecks,
  findAuditConfig,
  loadAuditConfig,
  renderRepositoryJson,
  renderSarifServices,
  renderServicesMarkdown,
  type AuditConfig,
  type Confidence,
  type FailOn,
  type RepositoryAudit,
} from '@tessera/auditor';
import { CliError, type CliIo } from '../io.ts';

export type AuditFormat = 'md' | 'json' | 'sarif';

export interface AuditCommandOptions {
  readonly format: AuditFormat;
  readonly out?: string;
  readonly failOn?: FailOn;
  readonly config?: string;
  /**
   * Hide findings less sure than this from the report and from `--fail-on`; the report names
   * them. Default `low`: everything is shown.
   */
  readonly minConfidence?: Confidence;
  /** In a repository of several services, audit only this one (name, package name or path). */
  readonly service?: string;
}

/**
 * `tessera audit PATH`: audits the directory, prints or writes the report, then fails (exit 1)
 * when a check at or above `--fail-on` (or the config's `failOn`) FAILs. Findings below
 * `--min-confidence` are left out of both, and the report says how many. The report is always
 * written first, so a failing CI step still leaves it behind. A repository of several services
 * (a monorepo) gets one report per service and a summary; `--service` picks one.
 */
export async function audit(
  target: string,
  options: AuditCommandOptions,
  io: CliIo,
): Promise<void> {
  const info = await stat(target).catch(() => undefined);
  if (info === undefined) throw new CliError(`${target} does not exist or cannot be read`);
  if (!info.isDirectory()) throw new CliError(`${target} is not a directory`);

  const config = await readConfig(target, options.config);
  const audited = await auditRepository(target, {
    waivers: config.waivers,
    ...(config.service !== undefined ? { service: config.service } : {}),
    ...(options.service !== undefined ? { select: options.service } : {}),
    ...(options.minConfidence !== undefined ? { minConfidence: options.minConfidence } : {}),
  });
  if (audited.services.length === 0) {
    throw new CliError(
      `no service ${JSON.stringify(options.service ?? '')} in ${target}; services: ${audited.found.join(', ')}`,
    );
  }
  const text = await render(audited, options.format, target);
  if (options.out === undefined) {
    io.out(text.replace(/\n$/, ''));
  } else {
    await writeAtomically(options.out, text);
    for (const { name, report } of audited.services) {
      const { percent, passed, applicable } = report.passRate;
      const who = audited.services.length > 1 ? ` ${name}` : '';
      const hidden =
        report.hidden === undefined
          ? ''
          : `; ${String(report.hidden.checks.length)} below ${report.hidden.minConfidence} confidence hidden`;
      io.err(
        `wrote ${options.out}:${who} pass rate ${String(percent)}% (${String(passed)}/${String(applicable)} applicable checks)${hidden}`,
      );
    }
  }

  const failOn = options.failOn ?? config.failOn ?? 'none';
  const failing = audited.services.flatMap(({ name, report }) =>
    failingChecks(report, failOn).map((check) =>
      audited.services.length > 1 ? `${name}:${check.id}` : check.id,
    ),
  );
  if (failing.length > 0) {
    throw new CliError(
      `${String(failing.length)} check${failing.length === 1 ? '' : 's'} FAIL at ${failOn} severity or above: ${failing.join(', ')}`,
    );
  }
}

async function readConfig(root: string, file: string | undefined): Promise<AuditConfig> {
  const found = file ?? (await findAuditConfig(root));
  return found === undefined ? { waivers: [] } : loadAuditConfig(found);
}

async function render(
  audited: RepositoryAudit,
  format: AuditFormat,
  root: string,
): Promise<string> {
  switch (format) {
    case 'md':
      return renderServicesMarkdown(audited);
    case 'json':
      return renderRepositoryJson(audited);
    case 'sarif': {
      // GitHub code scanning refuses results without a location; package.json is where a
      // project-wide gap ("no circuit breaker anywhere") is best anchored.
      const manifest = await stat(path.join(root, 'package.json')).catch(() => undefined);
      return renderSarifServices(
        audited,
        manifest?.isFile() === true ? { projectFile: 'package.json' } : {},
      );
    }
  }
}

/**
 * Writes through a temporary file in the same directory and renames it into place, so a reader
 * (or a CI upload step) never sees half a report, and an existing report survives a failed run.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  const target = path.resolve(file);
  const temporary = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`,
  );
  try {
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(temporary, text, { flag: 'wx' });
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new CliError(`cannot write ${file} (${code})`);
  }
}
