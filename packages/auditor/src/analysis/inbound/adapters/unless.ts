/**
 * `middleware.unless({ path: [...] })` (koa-unless, express-unless; used by koa-jwt and
 * express-jwt): the paths a middleware skips. A route on a skipped path is not protected by it.
 */
import ts from 'typescript';
import type { SymbolTable } from '../../../ast/symbols.ts';
import { objectProperty, unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import { calleeName, calleeReceiver } from '../ast.ts';
import type { Site } from '../facts.ts';

interface ExemptPath {
  readonly matches: (path: string) => boolean;
  /** Upper-case methods the exemption is limited to (`{ url, methods }`); all when undefined. */
  readonly methods: ReadonlySet<string> | undefined;
}

/** The paths (and methods) a middleware does not run for. */
export interface Exemption {
  readonly site: Site;
  readonly paths: readonly ExemptPath[];
  /** Methods skipped on every path (`method: ['OPTIONS']`). */
  readonly methods: ReadonlySet<string>;
  /** A `custom` predicate: which requests it skips cannot be read from the code. */
  readonly custom: boolean;
}

/** `mw.unless({ … })`: what it exempts, when `expression` is such a call. */
export function unlessExemption(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): Exemption | undefined {
  const value = symbols.finalValue(unit, expression);
  const call = unwrap(value.expression);
  if (!ts.isCallExpression(call) || calleeName(call) !== 'unless') return undefined;
  if (calleeReceiver(call) === undefined) return undefined;
  const first = call.arguments[0];
  if (first === undefined) return undefined;
  const options = symbols.finalValue(value.unit, first);
  const object = unwrap(options.expression);
  if (!ts.isObjectLiteralExpression(object)) return undefined;
  const at = options.unit;
  const path = objectProperty(object, 'path');
  const method = objectProperty(object, 'method');
  return {
    site: { unit: value.unit, node: call },
    paths:
      path === undefined
        ? []
        : listOf(symbols, at, path).flatMap((e) => exemptPath(symbols, at, e)),
    methods: new Set(method === undefined ? [] : methodNames(symbols, at, method)),
    custom: objectProperty(object, 'custom') !== undefined,
  };
}

/** Does the exemption skip the middleware for a route? */
export function exempts(exemption: Exemption, path: string | undefined, method: string): boolean {
  if (exemption.methods.has(method)) return true;
  if (path === undefined) return false;
  return exemption.paths.some(
    (p) => p.matches(path) && (p.methods === undefined || p.methods.has(method)),
  );
}

function listOf(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): ts.Expression[] {
  const node = unwrap(symbols.finalValue(unit, expression).expression);
  return ts.isArrayLiteralExpression(node) ? [...node.elements] : [node];
}

function exemptPath(symbols: SymbolTable, unit: SourceUnit, element: ts.Expression): ExemptPath[] {
  const node = unwrap(element);
  if (ts.isObjectLiteralExpression(node)) {
    const url = objectProperty(node, 'url');
    const methods = objectProperty(node, 'methods') ?? objectProperty(node, 'method');
    if (url === undefined) return [];
    return exemptPath(symbols, unit, url).map((p) => ({
      ...p,
      methods: methods === undefined ? undefined : new Set(methodNames(symbols, unit, methods)),
    }));
  }
  if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
    const pattern = regexOf(node.getText(unit.sourceFile));
    return pattern === undefined ? [] : [{ matches: (p) => pattern.test(p), methods: undefined }];
  }
  const text = symbols.staticString(unit, node);
  if (text?.complete !== true) return [];
  const exact = text.text;
  return [{ matches: (p) => p === exact, methods: undefined }];
}

function methodNames(symbols: SymbolTable, unit: SourceUnit, expression: ts.Expression): string[] {
  return listOf(symbols, unit, expression).flatMap((e) => {
    const text = symbols.staticString(unit, e);
    return text?.complete === true ? [text.text.toUpperCase()] : [];
  });
}

/** `/^\/public/i` → the RegExp, or undefined when the engine refuses it. */
function regexOf(literal: string): RegExp | undefined {
  const end = literal.lastIndexOf('/');
  if (end <= 0) return undefined;
  try {
    return new RegExp(literal.slice(1, end), literal.slice(end + 1).replace(/[gy]/g, ''));
  } catch {
    return undefined;
  }
}
