import { TesseraError } from '../errors.ts';

/**
 * Details are for operator logs; a 1 MiB key must not become a 1 MiB log line, so the pointer
 * and message are cut to a fixed budget.
 */
const MAX_DETAIL_LENGTH = 300;

/** RFC 6901 §3: `~` and `/` inside a reference token are escaped as `~0` and `~1`. */
export function toJsonPointer(path: readonly (string | number)[]): string {
  return path.map((token) => `/${String(token).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * The one way a policy document is rejected: `ERR_POLICY_INVALID` with a detail naming where
 * (a JSON Pointer, or a line and column for YAML syntax) and what.
 */
export function invalidPolicy(where: string, problem: string): TesseraError {
  const detail = `${where === '' ? '(document)' : where}: ${problem}`;
  return new TesseraError(
    'ERR_POLICY_INVALID',
    detail.length > MAX_DETAIL_LENGTH ? `${detail.slice(0, MAX_DETAIL_LENGTH)}…` : detail,
  );
}
