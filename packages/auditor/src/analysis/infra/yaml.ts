import { isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Node } from 'yaml';

/** A YAML (or JSON) value with the 1-based line it starts on, for evidence. */
export type YNode = YMap | YSeq | YScalar;

export interface YMap {
  readonly kind: 'map';
  readonly line: number;
  readonly entries: readonly YEntry[];
}

export interface YEntry {
  readonly key: string;
  readonly line: number;
  readonly value: YNode | undefined;
}

export interface YSeq {
  readonly kind: 'seq';
  readonly line: number;
  readonly items: readonly YNode[];
}

export interface YScalar {
  readonly kind: 'scalar';
  readonly line: number;
  readonly value: string | number | boolean | null;
}

/** Line starts of a text, for offset → line in O(log n). */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    return low + 1;
  };
}

/**
 * Helm templates are not YAML until rendered. Lines that are only template directives are
 * blanked and inline `{{ … }}` becomes `TEMPLATE`, which keeps line numbers and lets the
 * structure around them parse.
 */
export function stripTemplates(text: string): string {
  if (!text.includes('{{')) return text;
  return text
    .split('\n')
    .map((line) => {
      const trimmed = line.trim();
      if (trimmed.startsWith('{{') && trimmed.endsWith('}}')) return '';
      return line.replace(/\{\{.*?\}\}/g, 'TEMPLATE');
    })
    .join('\n');
}

/**
 * Parses every document of a YAML or JSON text. Documents with errors are left out (invalid
 * input reports nothing rather than guesses); never throws.
 */
export function parseYamlDocuments(text: string): YNode[] {
  const at = lineIndex(text);
  const convert = (node: unknown, depth: number): YNode | undefined => {
    if (depth > 60 || node === null || node === undefined) return undefined;
    const range = (node as Node).range;
    const line = at(range?.[0] ?? 0);
    if (isMap(node)) {
      const entries: YEntry[] = [];
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const key = isScalar(item.key) ? String(item.key.value) : undefined;
        if (key === undefined) continue;
        const keyLine = at((item.key as Node).range?.[0] ?? 0);
        entries.push({ key, line: keyLine, value: convert(item.value, depth + 1) });
      }
      return { kind: 'map', line, entries };
    }
    if (isSeq(node)) {
      const items: YNode[] = [];
      for (const item of node.items) {
        const converted = convert(item, depth + 1);
        if (converted !== undefined) items.push(converted);
      }
      return { kind: 'seq', line, items };
    }
    if (isScalar(node)) {
      const value = node.value;
      return {
        kind: 'scalar',
        line,
        value:
          typeof value === 'string' ||
          typeof value === 'number' ||
          typeof value === 'boolean' ||
          value === null
            ? value
            : stringOf(value),
      };
    }
    if (isAlias(node)) return undefined;
    return undefined;
  };
  try {
    const documents = parseAllDocuments(stripTemplates(text), {
      uniqueKeys: false,
      prettyErrors: false,
    });
    const list = Array.isArray(documents) ? documents : [documents];
    const out: YNode[] = [];
    for (const document of list) {
      if (document.errors.length > 0) continue;
      const converted = convert(document.contents, 0);
      if (converted !== undefined) out.push(converted);
    }
    return out;
  } catch {
    return [];
  }
}

/** Dates, big integers and binary scalars YAML can produce, as text. */
function stringOf(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'object') return JSON.stringify(value);
  return '';
}

/** The value under `key` of a map. */
export function get(node: YNode | undefined, key: string): YNode | undefined {
  if (node?.kind !== 'map') return undefined;
  for (const entry of node.entries) if (entry.key === key) return entry.value;
  return undefined;
}

/** The entry (with its key line) under `key` of a map. */
export function entry(node: YNode | undefined, key: string): YEntry | undefined {
  if (node?.kind !== 'map') return undefined;
  return node.entries.find((e) => e.key === key);
}

/** A nested value: `path(doc, 'spec', 'mtls', 'mode')`. */
export function path(node: YNode | undefined, ...keys: string[]): YNode | undefined {
  let current = node;
  for (const key of keys) current = get(current, key);
  return current;
}

/** A scalar's value as a string. */
export function str(node: YNode | undefined): string | undefined {
  if (node?.kind !== 'scalar' || node.value === null) return undefined;
  return String(node.value);
}

/** The items of a sequence (empty for anything else). */
export function items(node: YNode | undefined): readonly YNode[] {
  return node?.kind === 'seq' ? node.items : [];
}

/** Visits every map of a tree, with the keys leading to it. */
export function forEachMap(
  node: YNode | undefined,
  visit: (map: YMap, trail: readonly string[]) => void,
  trail: readonly string[] = [],
): void {
  if (node === undefined) return;
  if (node.kind === 'map') {
    visit(node, trail);
    for (const e of node.entries) forEachMap(e.value, visit, [...trail, e.key]);
  } else if (node.kind === 'seq') {
    for (const item of node.items) forEachMap(item, visit, trail);
  }
}
