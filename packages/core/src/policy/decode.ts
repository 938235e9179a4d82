import { Lexer, LineCounter, parseAllDocuments, visit } from 'yaml';
import type { DocumentOptions, ParseOptions, SchemaOptions } from 'yaml';
import { invalidPolicy, toJsonPointer } from './invalid.ts';

/** The largest policy text accepted, in UTF-8 bytes. Real policies are a few KiB. */
export const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * The deepest bracket nesting accepted. A valid document nests 8 levels at most; the YAML
 * composer recurses per level, and a megabyte of `[` costs it several seconds before it gives up.
 */
export const MAX_POLICY_NESTING = 32;

/**
 * YAML aliases resolved per document. Caps "billion laughs" expansion: nested anchors that
 * multiply into gigabytes when converted to plain objects.
 */
export const MAX_YAML_ALIASES = 100;

/** The text formats `parsePolicy` reads. */
export type PolicyFormat = 'yaml' | 'json';

const YAML_OPTIONS = {
  version: '1.2',
  schema: 'core',
  // `<<` merge keys would let one mapping silently inherit another's rules.
  merge: false,
  uniqueKeys: true,
  // Keys `1` and `"1"` would otherwise be distinct to the duplicate check yet collapse into
  // one property of the plain object, the later rule silently replacing the earlier one.
  stringKeys: true,
  strict: true,
  prettyErrors: false,
  // Core does no I/O, so yaml must not print its warnings; they are rejected below instead.
  // Not 'silent': in yaml's parseDocument that also drops the error for a second document.
  logLevel: 'error',
} as const satisfies ParseOptions & DocumentOptions & SchemaOptions;

/**
 * Turns policy text into a plain value for `compilePolicy`, or throws `ERR_POLICY_INVALID`.
 * The size is checked before any parser runs, and YAML nesting before yaml's recursive composer.
 */
export function decodePolicyText(text: unknown, format: unknown): unknown {
  if (typeof text !== 'string') throw invalidPolicy('', 'policy text is not a string');
  // A UTF-16 code unit never encodes to fewer UTF-8 bytes, so the cheap check goes first.
  if (text.length > MAX_POLICY_BYTES || new TextEncoder().encode(text).length > MAX_POLICY_BYTES) {
    throw invalidPolicy('', `policy text exceeds ${MAX_POLICY_BYTES} bytes`);
  }
  if (format === 'yaml') return decodeYaml(text);
  if (format === 'json') return decodeJson(text);
  throw invalidPolicy('', 'format must be "yaml" or "json"');
}

function decodeYaml(text: string): unknown {
  assertYamlFlowNesting(text);
  const lines = new LineCounter();
  const at = (offset: number | undefined): string => {
    if (offset === undefined) return '';
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const documents = parseAllDocuments(text, { ...YAML_OPTIONS, lineCounter: lines });
  const [document, extra] = documents;
  if (document === undefined) throw invalidPolicy('', 'YAML text holds no document');
  // A second document would be ignored by a reader that takes the first: rules an operator
  // wrote would never apply, and a reviewer could read the wrong one.
  if (extra !== undefined)
    throw invalidPolicy(at(extra.range[0]), 'YAML holds more than one document');
  const problem = document.errors[0] ?? document.warnings[0];
  if (problem !== undefined) throw invalidPolicy(at(problem.pos[0]), `YAML ${problem.code}`);
  // Tags such as `!!binary` or `!!set` turn into Buffers and Sets, and unknown tags degrade to
  // strings with only a warning; a policy is plain data, so none are allowed.
  visit(document, {
    Node(_key, node) {
      if (node.tag !== undefined)
        throw invalidPolicy(at(node.range?.[0]), 'YAML tags are not allowed');
    },
  });
  try {
    return document.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (error) {
    // yaml throws a ReferenceError when aliases expand past maxAliasCount.
    if (error instanceof ReferenceError) {
      throw invalidPolicy('', `YAML aliases expand beyond ${MAX_YAML_ALIASES} nodes`);
    }
    throw error;
  }
}

/**
 * Uses yaml's own lexer, so brackets inside quoted scalars, plain scalars and comments are not
 * counted. A stray closer cannot lower the count below zero and buy extra depth later.
 */
function assertYamlFlowNesting(text: string): void {
  let depth = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      depth += 1;
      if (depth > MAX_POLICY_NESTING) {
        throw invalidPolicy('', `collections nest deeper than ${MAX_POLICY_NESTING} levels`);
      }
    } else if ((token === ']' || token === '}') && depth > 0) {
      depth -= 1;
    }
  }
}

function decodeJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The SyntaxError message quotes the text around the error; the detail stays generic.
    throw invalidPolicy('', 'text is not valid JSON');
  }
  assertJsonKeysUnique(text);
  return value;
}

type JsonFrame =
  | { readonly kind: 'object'; readonly keys: Set<string>; key: string; expectKey: boolean }
  | { readonly kind: 'array'; index: number };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * RFC 8259 §4 leaves duplicate names undefined and `JSON.parse` keeps the last one, so
 * `{"public": true, ..., "public": ...}` would read differently to a reviewer and to Tessera.
 * Runs only on text `JSON.parse` accepted, so every string is terminated. Iterative, and bounded
 * by {@link MAX_POLICY_NESTING}, like the YAML path.
 */
function assertJsonKeysUnique(text: string): void {
  const frames: JsonFrame[] = [];
  const pointer = (last?: string): string =>
    toJsonPointer([
      ...frames
        .slice(0, last === undefined ? frames.length : -1)
        .map((frame) => (frame.kind === 'object' ? frame.key : frame.index)),
      ...(last === undefined ? [] : [last]),
    ]);
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    const top = frames.at(-1);
    if (char === '"') {
      let end = i + 1;
      while (text.charCodeAt(end) !== QUOTE) end += text.charCodeAt(end) === BACKSLASH ? 2 : 1;
      if (top?.kind === 'object' && top.expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) throw invalidPolicy(pointer(key), 'duplicate key');
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end;
    } else if (char === '{' || char === '[') {
      if (frames.length === MAX_POLICY_NESTING) {
        throw invalidPolicy(pointer(), `collections nest deeper than ${MAX_POLICY_NESTING} levels`);
      }
      frames.push(
        char === '{'
          ? { kind: 'object', keys: new Set(), key: '', expectKey: true }
          : { kind: 'array', index: 0 },
      );
    } else if (char === '}' || char === ']') {
      frames.pop();
    } else if (char === ',' && top !== undefined) {
      if (top.kind === 'object') top.expectKey = true;
      else top.index += 1;
    }
  }
}
