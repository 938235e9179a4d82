import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  auditDirectory,
  failingChecks,
  findAuditConfig,
  loadAuditConfig,
  renderJson,
  renderMarkdown,
  renderSarif,
  type AuditConfig,
  type AuditReport,
  type FailOn,
} from '@tessera/auditor';
import { CliError, type CliIo } from '../io.ts';

export type AuditFormat = 'md' | 'json' | 'sarif';

export interface AuditCommandOptions {
  readonly format: AuditFormat;
  readonly out?: string;
  readonly failOn?: FailOn;
  readonly config?: string;
}

/**
 * `tessera audit PATH`: audits the directory, prints or writes the report, then fails (exit 1)
 * when a check at or above `--fail-on` (or the config's `failOn`) FAILs. The report is always
 * written first, so a failing CI step still leaves it behind.
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
  const report = await auditDirectory(target, {
    waivers: config.waivers,
    ...(config.service !== undefined ? { service: config.service } : {}),
  });
  const text = await render(report, options.format, target);
  if (options.out === undefined) {
    io.out(text.replace(/\n$/, ''));
  } else {
    await writeAtomically(options.out, text);
    const { percent, passed, applicable } = report.passRate;
    io.err(
      `wrote ${options.out}: pass rate ${String(percent)}% (${String(passed)}/${String(applicable)} applicable checks)`,
    );
  }

  const failOn = options.failOn ?? config.failOn ?? 'none';
  const failing = failingChecks(report, failOn);
  if (failing.length > 0) {
    throw new CliError(
      `${String(failing.length)} check${failing.length === 1 ? '' : 's'} FAIL at ${failOn} severity or above: ${failing.map((check) => check.id).join(', ')}`,
    );
  }
}

async function readConfig(root: string, file: string | undefined): Promise<AuditConfig> {
  const found = file ?? (await findAuditConfig(root));
  return found === undefined ? { waivers: [] } : loadAuditConfig(found);
}

async function render(report: AuditReport, format: AuditFormat, root: string): Promise<string> {
  switch (format) {
    case 'md':
      return renderMarkdown(report);
    case 'json':
      return renderJson(report);
    case 'sarif': {
      // GitHub code scanning refuses results without a location; package.json is where a
      // project-wide gap ("no circuit breaker anywhere") is best anchored.
      const manifest = await stat(path.join(root, 'package.json')).catch(() => undefined);
      return renderSarif(
        report,
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
