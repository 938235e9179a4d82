/**
 * NestJS's `@nestjs/axios`: `HttpModule.register({ timeout, headers, baseURL })` configures the
 * axios instance behind every injected `HttpService`, and `this.httpService.get(url, config)`
 * (or `this.httpService.axiosRef.post(…)`) is an axios call through it.
 */
import ts from 'typescript';
import type { SymbolTable } from '../../ast/symbols.ts';
import { unwrap } from '../../ast/syntax.ts';
import type { SourceUnit } from '../../project/load.ts';
import { calleeName, calleeReceiver } from '../inbound/ast.ts';
import { dynamicModuleOptions, injectedType } from '../inbound/adapters/nest/syntax.ts';
import type { Located } from './expressions.ts';

const MODULE_METHODS = new Set(['register', 'registerAsync']);

/** `HttpModule.register(…)` / `registerAsync(…)` from `@nestjs/axios`. */
export function isNestHttpModule(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
): boolean {
  const reference = symbols.moduleReference(unit, call.expression);
  return (
    reference?.module === '@nestjs/axios' &&
    reference.path[0] === 'HttpModule' &&
    MODULE_METHODS.has(reference.path[1] ?? '')
  );
}

/** The axios options of an `HttpModule` registration (the factory's result for `registerAsync`). */
export function nestHttpModuleOptions(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
): Located<ts.ObjectLiteralExpression> | undefined {
  return dynamicModuleOptions(symbols, unit, call);
}

/**
 * The axios method of a call through an injected `HttpService` (`this.http.get(…)`,
 * `this.http.axiosRef.post(…)`), if the call is one.
 */
export function nestHttpServiceMethod(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
): string | undefined {
  const method = calleeName(call);
  let receiver = calleeReceiver(call);
  if (method === undefined || receiver === undefined) return undefined;
  const node = unwrap(receiver);
  if (ts.isPropertyAccessExpression(node) && node.name.text === 'axiosRef') {
    receiver = node.expression;
  }
  const type = injectedType(symbols, unit, receiver);
  return type?.module === '@nestjs/axios' && type.name === 'HttpService' ? method : undefined;
}
