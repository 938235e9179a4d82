/** Small syntax helpers the inbound analysis needs beyond the shared `../../ast/syntax.ts`. */
import ts from 'typescript';
import { accessChain, calleeName, unwrap } from '../../ast/syntax.ts';

/** A function-like node whose body the analysis can read. */
export type FunctionNode =
  | ts.FunctionDeclaration
  | ts.FunctionExpression
  | ts.ArrowFunction
  | ts.MethodDeclaration
  | ts.ConstructorDeclaration
  | ts.GetAccessorDeclaration
  | ts.SetAccessorDeclaration;

/** Is this node a function with a body (declarations without bodies are skipped)? */
export function isFunctionNode(node: ts.Node): node is FunctionNode {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** Is the function declared `async`? */
export function isAsyncFunction(node: ts.Node): boolean {
  if (!isFunctionNode(node)) return false;
  return (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.AsyncKeyword);
}

// One implementation for every analysis (the inbound and outbound copies had drifted apart).
export { calleeName };

/** The receiver of a method call: `a.b.c()` → `a.b`. */
export function calleeReceiver(call: ts.CallExpression): ts.Expression | undefined {
  const callee = unwrap(call.expression);
  if (ts.isPropertyAccessExpression(callee) || ts.isElementAccessExpression(callee)) {
    return callee.expression;
  }
  return undefined;
}

/** The access chain of an expression, tolerating calls on the way: `a.b().c` → ['a', 'b', 'c']. */
export function looseChain(expression: ts.Expression): string[] {
  const names: string[] = [];
  let current = unwrap(expression);
  for (let i = 0; i < 32; i++) {
    if (ts.isPropertyAccessExpression(current)) {
      names.unshift(current.name.text);
      current = unwrap(current.expression);
    } else if (ts.isElementAccessExpression(current)) {
      const argument = current.argumentExpression;
      names.unshift(ts.isStringLiteralLike(argument) ? argument.text : '[]');
      current = unwrap(current.expression);
    } else if (ts.isCallExpression(current)) {
      current = unwrap(current.expression);
    } else if (ts.isIdentifier(current)) {
      names.unshift(current.text);
      break;
    } else if (current.kind === ts.SyntaxKind.ThisKeyword) {
      names.unshift('this');
      break;
    } else {
      break;
    }
  }
  return names;
}

/** The last name of an expression: `a.b.c` → `c`, `x` → `x`, `a['k']` → `k`. */
export function lastName(expression: ts.Expression): string | undefined {
  const node = unwrap(expression);
  if (ts.isIdentifier(node)) return node.text;
  if (ts.isPropertyAccessExpression(node)) return node.name.text;
  if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression)) {
    return node.argumentExpression.text;
  }
  return undefined;
}

/** Is `inner` inside `outer` (or the same node)? Both must come from the same file. */
export function contains(outer: ts.Node, inner: ts.Node): boolean {
  return inner.pos >= outer.pos && inner.end <= outer.end;
}

/** The value of a numeric expression made of literals and `+ - * /`, if it is one. */
export function numericValue(expression: ts.Expression, depth = 0): number | undefined {
  const node = unwrap(expression);
  if (depth > 8) return undefined;
  if (ts.isNumericLiteral(node)) return Number(node.text.replace(/_/g, ''));
  if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.MinusToken) {
    const value = numericValue(node.operand, depth + 1);
    return value === undefined ? undefined : -value;
  }
  if (ts.isBinaryExpression(node)) {
    const left = numericValue(node.left, depth + 1);
    const right = numericValue(node.right, depth + 1);
    if (left === undefined || right === undefined) return undefined;
    switch (node.operatorToken.kind) {
      case ts.SyntaxKind.PlusToken:
        return left + right;
      case ts.SyntaxKind.MinusToken:
        return left - right;
      case ts.SyntaxKind.AsteriskToken:
        return left * right;
      case ts.SyntaxKind.SlashToken:
        return right === 0 ? undefined : left / right;
      default:
        return undefined;
    }
  }
  return undefined;
}

/** Is the expression a literal that cannot hold a secret: a string, number, boolean, null or undefined? */
export function isPlainLiteral(expression: ts.Expression): boolean {
  const node = unwrap(expression);
  return (
    ts.isStringLiteralLike(node) ||
    ts.isNumericLiteral(node) ||
    node.kind === ts.SyntaxKind.TrueKeyword ||
    node.kind === ts.SyntaxKind.FalseKeyword ||
    node.kind === ts.SyntaxKind.NullKeyword ||
    (ts.isIdentifier(node) && node.text === 'undefined') ||
    ts.isTypeOfExpression(node) ||
    ts.isVoidExpression(node)
  );
}

/** Equality operators (`==`, `===`, `!=`, `!==`). */
export function isEquality(kind: ts.SyntaxKind): boolean {
  return (
    kind === ts.SyntaxKind.EqualsEqualsToken ||
    kind === ts.SyntaxKind.EqualsEqualsEqualsToken ||
    kind === ts.SyntaxKind.ExclamationEqualsToken ||
    kind === ts.SyntaxKind.ExclamationEqualsEqualsToken
  );
}

/** Relational operators (`<`, `<=`, `>`, `>=`). */
export function isRelational(kind: ts.SyntaxKind): boolean {
  return (
    kind === ts.SyntaxKind.LessThanToken ||
    kind === ts.SyntaxKind.LessThanEqualsToken ||
    kind === ts.SyntaxKind.GreaterThanToken ||
    kind === ts.SyntaxKind.GreaterThanEqualsToken
  );
}

/** A boolean literal's value. */
export function booleanValue(expression: ts.Expression | undefined): boolean | undefined {
  if (expression === undefined) return undefined;
  const node = unwrap(expression);
  if (node.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (node.kind === ts.SyntaxKind.FalseKeyword) return false;
  return undefined;
}

/** Calls `visit` for each node under `root` without entering nested functions. */
export function forEachInBody(root: ts.Node, visit: (node: ts.Node) => void): void {
  const recurse = (node: ts.Node): void => {
    visit(node);
    if (isFunctionNode(node)) return;
    ts.forEachChild(node, recurse);
  };
  ts.forEachChild(root, recurse);
}

/** Identifier names and property names used anywhere under a node (bounded). */
export function namesUnder(root: ts.Node, limit = 200): Set<string> {
  const names = new Set<string>();
  const recurse = (node: ts.Node): void => {
    if (names.size >= limit) return;
    if (ts.isIdentifier(node)) names.add(node.text);
    else if (ts.isStringLiteralLike(node) && node.text.length < 60) names.add(node.text);
    ts.forEachChild(node, recurse);
  };
  recurse(root);
  return names;
}

/** Does anything under `root` satisfy `test`? Stops at the first hit. */
export function someNode(root: ts.Node, test: (node: ts.Node) => boolean): boolean {
  let found = false;
  const recurse = (node: ts.Node): void => {
    if (found) return;
    if (test(node)) {
      found = true;
      return;
    }
    ts.forEachChild(node, recurse);
  };
  recurse(root);
  return found;
}

/** `Date.now()` or `new Date()`: the current time. */
export function isNowCall(node: ts.Node): boolean {
  if (ts.isCallExpression(node)) {
    const chain = accessChain(node.expression);
    return chain?.join('.') === 'Date.now' || chain?.join('.') === 'performance.now';
  }
  if (ts.isNewExpression(node)) {
    return ts.isIdentifier(node.expression) && node.expression.text === 'Date';
  }
  return false;
}

/** The string a header-name expression is, lower-cased, when it is a literal. */
export function headerNameOf(expression: ts.Expression): string | undefined {
  const node = unwrap(expression);
  if (ts.isStringLiteralLike(node)) return node.text.toLowerCase();
  return undefined;
}

/** Does a literal look like an HTTP header name rather than a path, setting or key? */
export function looksLikeHeaderName(text: string): boolean {
  const lower = text.toLowerCase();
  if (!/^[a-z][a-z0-9-]*$/.test(lower)) return false;
  return (
    lower.includes('-') ||
    [
      'authorization',
      'cookie',
      'host',
      'origin',
      'referer',
      'date',
      'signature',
      'digest',
      'forwarded',
      'traceparent',
    ].includes(lower)
  );
}
