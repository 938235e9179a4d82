/** Reading the options object a middleware factory or server call is given as first argument. */
import ts from 'typescript';
import type { SymbolTable } from '../../../ast/symbols.ts';
import { objectProperty, unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import { booleanValue } from '../ast.ts';

/** The object literal the call's first argument is or names, with the file it is written in. */
export function firstArgumentObject(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
): { readonly unit: SourceUnit; readonly object: ts.ObjectLiteralExpression } | undefined {
  const first = call.arguments[0];
  if (first === undefined) return undefined;
  const options = symbols.finalValue(unit, first);
  const object = unwrap(options.expression);
  return ts.isObjectLiteralExpression(object) ? { unit: options.unit, object } : undefined;
}

/** The call's options object sets `name: true` (`passthrough`, `allow_anon`). */
export function optionIsTrue(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
  name: string,
): boolean {
  const options = firstArgumentObject(symbols, unit, call);
  return options !== undefined && booleanValue(objectProperty(options.object, name)) === true;
}
