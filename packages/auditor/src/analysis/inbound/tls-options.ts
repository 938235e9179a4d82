/** TLS options written indirectly: spread from an object a project function builds. */
import ts from 'typescript';
import type { SymbolTable } from '../../ast/symbols.ts';
import { objectProperty, unwrap } from '../../ast/syntax.ts';
import type { SourceUnit } from '../../project/load.ts';
import type { Site } from './facts.ts';
import type { FunctionIndex } from './functions.ts';

/**
 * An option of a TLS options object, written there or in an object it spreads:
 * `https: { ...tls, requestCert: true }` with `const tls = loadTlsMaterial()` and
 * `function loadTlsMaterial() { return { cert, key, ca: readFileSync(…) }; }`.
 */
export function tlsOption(
  symbols: SymbolTable,
  index: FunctionIndex,
  unit: SourceUnit,
  object: ts.ObjectLiteralExpression,
  name: string,
  depth = 0,
): Site | undefined {
  const direct = objectProperty(object, name);
  if (direct !== undefined) return { unit, node: direct };
  if (depth > 3) return undefined;
  for (const property of object.properties) {
    if (!ts.isSpreadAssignment(property)) continue;
    const spread = builtObject(symbols, index, unit, property.expression);
    if (spread === undefined) continue;
    const found = tlsOption(symbols, index, spread.unit, spread.object, name, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The object literal an expression evaluates to: a value, or what a project function returns. */
function builtObject(
  symbols: SymbolTable,
  index: FunctionIndex,
  unit: SourceUnit,
  expression: ts.Expression,
): { unit: SourceUnit; object: ts.ObjectLiteralExpression } | undefined {
  const value = symbols.finalValue(unit, expression);
  const node = unwrap(value.expression);
  if (ts.isObjectLiteralExpression(node)) return { unit: value.unit, object: node };
  if (!ts.isCallExpression(node)) return undefined;
  for (const target of index.calleeTargets(value.unit, node)) {
    if (target.kind !== 'function' || ts.isSourceFile(target.facts.node)) continue;
    const body = target.facts.node.body;
    if (body === undefined) continue;
    const returned = ts.isBlock(body)
      ? body.statements.find((s): s is ts.ReturnStatement => ts.isReturnStatement(s))?.expression
      : body;
    if (returned === undefined) continue;
    const object = unwrap(returned);
    if (ts.isObjectLiteralExpression(object)) return { unit: target.facts.unit, object };
  }
  return undefined;
}
