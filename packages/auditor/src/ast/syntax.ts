import ts from 'typescript';
import type { SourceUnit } from '../project/load.ts';
import type { Evidence } from '../model.ts';

/** Calls `visit` for every node of the file, depth first, in source order. */
export function forEachNode(node: ts.Node, visit: (node: ts.Node) => void): void {
  const recurse = (child: ts.Node): void => {
    visit(child);
    ts.forEachChild(child, recurse);
  };
  ts.forEachChild(node, recurse);
}

/** The 1-based line of a node's first token. */
export function lineOf(unit: SourceUnit, node: ts.Node): number {
  return unit.sourceFile.getLineAndCharacterOfPosition(node.getStart(unit.sourceFile)).line + 1;
}

const MAX_SNIPPET = 200;

/** Evidence pointing at the line where `node` starts, with that line as the snippet. */
export function evidenceAt(unit: SourceUnit, node: ts.Node): Evidence {
  const line = lineOf(unit, node);
  return { file: unit.path, line, snippet: lineText(unit.text, line) };
}

/** Evidence for a 1-based line of a file's text (used for non-code files). */
export function evidenceAtLine(file: string, text: string, line: number): Evidence {
  return { file, line, snippet: lineText(text, line) };
}

function lineText(text: string, line: number): string {
  let start = 0;
  for (let i = 1; i < line; i++) {
    const next = text.indexOf('\n', start);
    if (next === -1) return '';
    start = next + 1;
  }
  const end = text.indexOf('\n', start);
  const raw = text.slice(start, end === -1 ? undefined : end).trim();
  return raw.length > MAX_SNIPPET ? `${raw.slice(0, MAX_SNIPPET - 1)}…` : raw;
}

/** The 1-based line of a character offset in a text. */
export function lineAtOffset(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** The name of a property in an object literal or access, when it is static. */
export function propertyNameText(name: ts.PropertyName | ts.MemberName): string | undefined {
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name)) return name.text;
  if (ts.isStringLiteralLike(name) || ts.isNumericLiteral(name)) return name.text;
  if (ts.isComputedPropertyName(name) && ts.isStringLiteralLike(name.expression)) {
    return name.expression.text;
  }
  return undefined;
}

/** The initializer of property `name` in an object literal (shorthand gives the identifier). */
export function objectProperty(
  object: ts.ObjectLiteralExpression,
  name: string,
): ts.Expression | undefined {
  for (const property of object.properties) {
    if (ts.isPropertyAssignment(property) && propertyNameText(property.name) === name) {
      return property.initializer;
    }
    if (ts.isShorthandPropertyAssignment(property) && property.name.text === name) {
      return property.name;
    }
  }
  return undefined;
}

/** Property names of an object literal (static ones only), lower-cased when asked. */
export function objectKeys(object: ts.ObjectLiteralExpression): string[] {
  const keys: string[] = [];
  for (const property of object.properties) {
    if (
      (ts.isPropertyAssignment(property) || ts.isMethodDeclaration(property)) &&
      propertyNameText(property.name) !== undefined
    ) {
      keys.push(propertyNameText(property.name) ?? '');
    } else if (ts.isShorthandPropertyAssignment(property)) {
      keys.push(property.name.text);
    }
  }
  return keys;
}

/** Strips parentheses, `as`, `satisfies`, `!` and `await` around an expression. */
export function unwrap(expression: ts.Expression): ts.Expression {
  let current = expression;
  for (;;) {
    if (
      ts.isParenthesizedExpression(current) ||
      ts.isAsExpression(current) ||
      ts.isSatisfiesExpression(current) ||
      ts.isNonNullExpression(current) ||
      ts.isAwaitExpression(current) ||
      ts.isTypeAssertionExpression(current)
    ) {
      current = current.expression;
    } else {
      return current;
    }
  }
}

/** The name a call is made by: `a.b.c()` → `c`, `f()` → `f`, `a['x']()` → `x`. */
export function calleeName(call: ts.CallExpression | ts.NewExpression): string | undefined {
  const callee = unwrap(call.expression);
  if (ts.isIdentifier(callee)) return callee.text;
  if (ts.isPropertyAccessExpression(callee)) return callee.name.text;
  if (ts.isElementAccessExpression(callee) && ts.isStringLiteralLike(callee.argumentExpression)) {
    return callee.argumentExpression.text;
  }
  return undefined;
}

/** The chain of a property access as names: `a.b['c'].d` → ['a', 'b', 'c', 'd']. */
export function accessChain(expression: ts.Expression): string[] | undefined {
  const names: string[] = [];
  let current = unwrap(expression);
  for (;;) {
    if (ts.isPropertyAccessExpression(current)) {
      names.unshift(current.name.text);
      current = unwrap(current.expression);
    } else if (ts.isElementAccessExpression(current)) {
      const argument = current.argumentExpression;
      if (!ts.isStringLiteralLike(argument)) return undefined;
      names.unshift(argument.text);
      current = unwrap(current.expression);
    } else if (ts.isIdentifier(current)) {
      names.unshift(current.text);
      return names;
    } else if (current.kind === ts.SyntaxKind.ThisKeyword) {
      names.unshift('this');
      return names;
    } else {
      return undefined;
    }
  }
}

/** The function (declaration, expression or arrow) that contains a node, if any. */
export function enclosingFunction(node: ts.Node): ts.SignatureDeclaration | undefined {
  for (let current = node.parent as ts.Node | undefined; current; current = current.parent) {
    if (ts.isFunctionLike(current)) return current;
  }
  return undefined;
}
