import type { FailOn } from './config.ts';
import type { AuditReport, CheckResult, Severity } from './model.ts';

const THRESHOLD: Readonly<Record<FailOn, readonly Severity[]>> = {
  critical: ['CRITICAL'],
  high: ['CRITICAL', 'HIGH'],
  medium: ['CRITICAL', 'HIGH', 'MEDIUM'],
  low: ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'],
  none: [],
};

/**
 * The checks that make `--fail-on` fail the run: status FAIL, not waived, severity at or above
 * `failOn`. PARTIAL never counts: it means some evidence passed and some did not, which is for
 * the report's reader to weigh, not for a build to stop on.
 *
 * @example
 * ```ts
 * const failing = failingChecks(report, 'high');
 * process.exitCode = failing.length > 0 ? 1 : 0;
 * ```
 */
export function failingChecks(report: AuditReport, failOn: FailOn): readonly CheckResult[] {
  const severities = THRESHOLD[failOn];
  return report.checks.filter(
    (check) =>
      check.status === 'FAIL' && check.waiver === undefined && severities.includes(check.severity),
  );
}
