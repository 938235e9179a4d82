/** Small readings of Python syntax nodes: walks, call names, arguments, literals. */
import type { PyNode } from './parser.ts';

/** Visits `node` and every named descendant, depth first; `visit` returning false skips below. */
export function walk(node: PyNode, visit: (node: PyNode) => unknown): void {
  const stack: PyNode[] = [node];
  while (stack.length > 0) {
    const current = stack.pop();
    if (current === undefined) break;
    if (visit(current) === false) continue;
    for (let i = current.children.length - 1; i >= 0; i--) {
      const child = current.children[i];
      if (child !== undefined) stack.push(child);
    }
  }
}

/** Every descendant (and `node` itself) of one of `types`. */
export function descendants(node: PyNode, ...types: string[]): PyNode[] {
  const out: PyNode[] = [];
  walk(node, (n) => {
    if (types.includes(n.type)) out.push(n);
  });
  return out;
}

/**
 * Every descendant of `types` that belongs to `node`'s own body: nested function and class
 * definitions (and lambdas) are skipped, they are separate scopes.
 */
export function ownDescendants(node: PyNode, ...types: string[]): PyNode[] {
  const out: PyNode[] = [];
  walk(node, (n) => {
    if (n !== node && (n.type === 'function_definition' || n.type === 'class_definition')) {
      return false;
    }
    if (types.includes(n.type)) out.push(n);
    return true;
  });
  return out;
}

/** The dotted text of a callee: `httpx.AsyncClient`, `self._client.get`, `Depends`. */
export function calleeText(call: PyNode): string {
  const fn = call.fields.function;
  return fn === undefined ? '' : fn.text.replace(/\s+/g, '');
}

/** The last segment of a callee: `get` for `self._client.get`, `Depends` for `Depends`. */
export function calleeName(call: PyNode): string {
  const text = calleeText(call);
  const dot = text.lastIndexOf('.');
  return dot === -1 ? text : text.slice(dot + 1);
}

/** The positional arguments of a call (not keywords, not `*args`/`**kwargs`). */
export function positionalArgs(call: PyNode): PyNode[] {
  const args = call.fields.arguments;
  if (args?.type !== 'argument_list') return [];
  return args.children.filter(
    (a) =>
      a.type !== 'keyword_argument' &&
      a.type !== 'list_splat' &&
      a.type !== 'dictionary_splat' &&
      a.type !== 'comment',
  );
}

/** The value of keyword argument `name` of a call. */
export function keywordArg(call: PyNode, name: string): PyNode | undefined {
  const args = call.fields.arguments;
  if (args === undefined) return undefined;
  for (const arg of args.children) {
    if (arg.type === 'keyword_argument' && arg.fields.name?.text === name) return arg.fields.value;
  }
  return undefined;
}

/** The names of every keyword argument of a call. */
export function keywordNames(call: PyNode): string[] {
  const args = call.fields.arguments;
  if (args === undefined) return [];
  return args.children
    .filter((a) => a.type === 'keyword_argument')
    .map((a) => a.fields.name?.text ?? '');
}

/** A string literal's value (no f-string interpolation, no concatenation); else undefined. */
export function stringValue(node: PyNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (node.type === 'concatenated_string') {
    const parts = node.children.map((c) => stringValue(c));
    return parts.every((p) => p !== undefined) ? parts.join('') : undefined;
  }
  if (node.type !== 'string') return undefined;
  if (node.children.some((c) => c.type === 'interpolation')) return undefined;
  return node.children
    .filter((c) => c.type === 'string_content' || c.type === 'escape_sequence')
    .map((c) => c.text)
    .join('');
}

/** The literal text of a string node, f-strings included (interpolations kept as `{...}`). */
export function stringText(node: PyNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (node.type === 'concatenated_string') {
    return node.children.map((c) => stringText(c) ?? '').join('');
  }
  if (node.type !== 'string') return undefined;
  return node.children
    .filter((c) => c.type !== 'string_start' && c.type !== 'string_end')
    .map((c) => c.text)
    .join('');
}

/** True for a literal: string, number, None, True, False (tuples/lists of literals too). */
export function isLiteral(node: PyNode | undefined): boolean {
  if (node === undefined) return false;
  switch (node.type) {
    case 'string':
    case 'concatenated_string':
    case 'integer':
    case 'float':
    case 'none':
    case 'true':
    case 'false':
      return true;
    default:
      return false;
  }
}

/** The innermost enclosing node of one of `types`. */
export function ancestor(node: PyNode, ...types: string[]): PyNode | undefined {
  for (let p = node.parent; p !== undefined; p = p.parent) {
    if (types.includes(p.type)) return p;
  }
  return undefined;
}

/** Integer value of a node: `401`, or a `status.HTTP_401_UNAUTHORIZED`-style constant. */
export function statusCode(node: PyNode | undefined): number | undefined {
  if (node === undefined) return undefined;
  if (node.type === 'integer') return Number(node.text);
  const named = /HTTP_(\d{3})(_|$)/.exec(node.text);
  if (named?.[1] !== undefined) return Number(named[1]);
  if (node.text.endsWith('HTTPStatus.UNAUTHORIZED')) return 401;
  if (node.text.endsWith('HTTPStatus.FORBIDDEN')) return 403;
  return undefined;
}
