import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { TesseraError } from '@tessera/core';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { CATALOG } from './catalog/checks.ts';
import type { CheckId, Waiver } from './model.ts';

/** The `--fail-on` thresholds, most severe first; `none` never fails the run. */
export const FAIL_ON_LEVELS = ['critical', 'high', 'medium', 'low', 'none'] as const;
export type FailOn = (typeof FAIL_ON_LEVELS)[number];

/** Names looked up, in this order, in the audited directory when no config file is given. */
export const AUDIT_CONFIG_FILE_NAMES = [
  'tessera-audit.yaml',
  'tessera-audit.yml',
  'tessera-audit.json',
] as const;

/** A waiver must say why; "n/a" or "accepted" tells the next reviewer nothing. */
export const MIN_JUSTIFICATION_CHARACTERS = 10;

/** Config files are a few lines; anything near this size is a mistake, not a config. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/** The shape of `tessera-audit.yaml` / `.json`. Unknown keys are errors, so typos cannot hide. */
export const auditConfigSchema = Type.Object(
  {
    service: Type.Optional(
      Type.String({ minLength: 1, maxLength: 214, description: 'Service name shown in reports' }),
    ),
    failOn: Type.Optional(
      Type.Union(
        FAIL_ON_LEVELS.map((level) => Type.Literal(level)),
        { description: FAIL_ON_LEVELS.join(', ') },
      ),
    ),
    waivers: Type.Optional(
      Type.Array(
        Type.Object(
          {
            id: Type.String({ description: 'A check id from the catalog, e.g. SE4' }),
            justification: Type.String({ description: 'Why this check does not apply' }),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

type AuditConfigDocument = Static<typeof auditConfigSchema>;

/** A validated audit config. */
export interface AuditConfig {
  readonly service?: string;
  readonly failOn?: FailOn;
  readonly waivers: readonly Waiver[];
}

const CHECK_IDS: ReadonlySet<string> = new Set(CATALOG.map((check) => check.id));

const YAML_OPTIONS = {
  version: '1.2',
  schema: 'core',
  merge: false,
  uniqueKeys: true,
  strict: true,
  prettyErrors: false,
  logLevel: 'error',
} as const;

/**
 * Reads and validates an audit config file, YAML or JSON (by extension: `.json` is JSON, anything
 * else YAML). Every waiver must name a check in the catalog, once, with a justification of at
 * least {@link MIN_JUSTIFICATION_CHARACTERS} non-space characters; unknown keys are refused.
 *
 * Throws `TesseraError` `ERR_CONFIG_INVALID` whose detail names the file, the line and the JSON
 * Pointer of the first problem: `tessera-audit.yaml:4: /waivers/0/id: unknown check id "SE99"`.
 *
 * @example
 * ```ts
 * const config = await loadAuditConfig('tessera-audit.yaml');
 * const report = await auditDirectory('.', { waivers: config.waivers });
 * ```
 */
export async function loadAuditConfig(file: string): Promise<AuditConfig> {
  const size = (await stat(file).catch(() => undefined))?.size;
  if (size === undefined) throw invalid(file, undefined, '', 'cannot be read');
  if (size > MAX_CONFIG_BYTES) {
    throw invalid(file, undefined, '', `larger than ${String(MAX_CONFIG_BYTES)} bytes`);
  }
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) throw invalid(file, undefined, '', 'cannot be read');
  return parseAuditConfig(text, file);
}

/**
 * Validates config text; `file` names it in errors and picks the format (`.json` is JSON).
 * Throws like {@link loadAuditConfig}.
 */
export function parseAuditConfig(text: string, file: string): AuditConfig {
  const isJson = path.extname(file).toLowerCase() === '.json';
  if (isJson) {
    try {
      JSON.parse(text);
    } catch {
      throw invalid(file, undefined, '', 'not valid JSON');
    }
  }
  // JSON is YAML 1.2, so one parser serves both and gives line numbers and duplicate-key errors.
  const lines = new LineCounter();
  const document = parseDocument(text, { ...YAML_OPTIONS, lineCounter: lines });
  const lineAt = (offset: number | undefined) =>
    offset === undefined ? undefined : lines.linePos(offset).line;
  const problem = document.errors[0] ?? document.warnings[0];
  if (problem !== undefined) {
    const what =
      problem.code === 'DUPLICATE_KEY' ? 'duplicate key' : `syntax error (${problem.code})`;
    throw invalid(file, lineAt(problem.pos[0]), '', what);
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: 100 });
  } catch {
    throw invalid(file, undefined, '', 'YAML aliases expand too far');
  }
  // An empty file is a config that waives nothing.
  const input = value ?? {};
  const at = (pointer: string) => lineAt(nodeOffset(document, pointer));

  const schemaError = Value.Errors(auditConfigSchema, input).First();
  if (schemaError !== undefined) {
    throw invalid(file, at(schemaError.path), schemaError.path, describe(schemaError));
  }
  const config = input as AuditConfigDocument;
  const waivers: Waiver[] = [];
  const seen = new Map<string, string>();
  (config.waivers ?? []).forEach((waiver, index) => {
    const pointer = `/waivers/${String(index)}`;
    if (!CHECK_IDS.has(waiver.id)) {
      throw invalid(file, at(`${pointer}/id`), `${pointer}/id`, `unknown check id "${waiver.id}"`);
    }
    const earlier = seen.get(waiver.id);
    if (earlier !== undefined) {
      throw invalid(
        file,
        at(`${pointer}/id`),
        `${pointer}/id`,
        `${waiver.id} is already waived at ${earlier}`,
      );
    }
    seen.set(waiver.id, pointer);
    const justification = waiver.justification.trim();
    if (justification.replace(/\s/g, '').length < MIN_JUSTIFICATION_CHARACTERS) {
      throw invalid(
        file,
        at(`${pointer}/justification`),
        `${pointer}/justification`,
        `needs at least ${String(MIN_JUSTIFICATION_CHARACTERS)} non-space characters saying why ${waiver.id} is waived`,
      );
    }
    waivers.push(Object.freeze({ id: waiver.id as CheckId, justification }));
  });
  return Object.freeze({
    ...(config.service !== undefined ? { service: config.service } : {}),
    ...(config.failOn !== undefined ? { failOn: config.failOn } : {}),
    waivers: Object.freeze(waivers),
  });
}

/**
 * The config file in `root` under one of {@link AUDIT_CONFIG_FILE_NAMES}, or undefined. Two of
 * them at once is an error: whichever one was ignored would hold waivers nobody applies.
 */
export async function findAuditConfig(root: string): Promise<string | undefined> {
  const found: string[] = [];
  for (const name of AUDIT_CONFIG_FILE_NAMES) {
    const candidate = path.join(root, name);
    if ((await stat(candidate).catch(() => undefined))?.isFile() === true) found.push(candidate);
  }
  if (found.length > 1) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      `${found.map((file) => path.basename(file)).join(' and ')} both exist in ${root}; keep one`,
    );
  }
  return found[0];
}

function invalid(
  file: string,
  line: number | undefined,
  pointer: string,
  problem: string,
): TesseraError {
  const where = line === undefined ? file : `${file}:${String(line)}`;
  return new TesseraError(
    'ERR_CONFIG_INVALID',
    `${where}: ${pointer === '' ? '' : `${pointer}: `}${problem}`,
  );
}

function describe(error: ValueError): string {
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return 'unknown key';
    case ValueErrorType.ObjectRequiredProperty:
      return 'missing';
    case ValueErrorType.Union: {
      const { description } = error.schema;
      return typeof description === 'string' ? `expected one of ${description}` : error.message;
    }
    default:
      return error.message.charAt(0).toLowerCase() + error.message.slice(1);
  }
}

/**
 * The source offset of the node a JSON Pointer names, or of the nearest ancestor that exists
 * (a missing property is reported on the mapping that lacks it). Keys rather than values are
 * used for mapping entries, so an unknown key is reported on its own line.
 */
function nodeOffset(document: Document, pointer: string): number | undefined {
  const segments = pointer
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
  let node: unknown = document.contents;
  let offset = rangeStart(node);
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === segment,
      );
      if (pair === undefined) return offset;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item: unknown = node.items[Number(segment)];
      if (item === undefined) return offset;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined;
  const { range } = node as { range?: readonly number[] | null };
  return range?.[0];
}
