/**
 * Koa: applications (`new Koa()`), routers (`@koa/router`, `koa-router`) with their prefixes,
 * `koa-mount`, and koa-jwt. Koa middleware runs in `app.use` order, like Express: a middleware
 * protects the routes and routers mounted after it, and a router's own `router.use` protects the
 * routes registered after it on that router.
 */
import ts from 'typescript';
import type { ModuleReference, SymbolTable } from '../../../ast/symbols.ts';
import { objectProperty, unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import { someNode } from '../ast.ts';
import type { FunctionFacts } from '../facts.ts';
import { optionIsTrue } from './options.ts';

/** Router packages with the `new Router({ prefix })`, `router.get(path, ...mw)` API. */
const KOA_ROUTER_MODULES: ReadonlySet<string> = new Set(['@koa/router', 'koa-router']);

/** `new Koa()` or `new Router()`: which Koa instance a constructor call creates, if any. */
export function koaCreation(ref: ModuleReference): 'koa' | 'koa-router' | undefined {
  const [first] = ref.path;
  if (ref.module === 'koa' && (first === undefined || first === 'Koa')) return 'koa';
  if (KOA_ROUTER_MODULES.has(ref.module) && (first === undefined || first === 'Router')) {
    return 'koa-router';
  }
  return undefined;
}

/** The `prefix` option of `new Router({ prefix: '/v1' })`, when static. */
export function koaRouterPrefix(
  symbols: SymbolTable,
  unit: SourceUnit,
  creation: ts.CallExpression | ts.NewExpression,
): string | undefined {
  const first = creation.arguments?.[0];
  if (first === undefined) return undefined;
  const options = symbols.finalValue(unit, first);
  const object = unwrap(options.expression);
  if (!ts.isObjectLiteralExpression(object)) return undefined;
  const prefix = objectProperty(object, 'prefix');
  if (prefix === undefined) return undefined;
  const text = symbols.staticString(options.unit, prefix);
  return text?.complete === true ? text.text : undefined;
}

/**
 * `mount('/admin', adminApp)` or `mount(middleware)` from koa-mount: what is mounted and under
 * which prefix.
 */
export function koaMount(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): { readonly prefix: string; readonly mounted: ts.Expression } | undefined {
  const call = unwrap(expression);
  if (!ts.isCallExpression(call)) return undefined;
  if (symbols.moduleReference(unit, call.expression)?.module !== 'koa-mount') return undefined;
  const [first, second] = call.arguments;
  if (first === undefined) return undefined;
  if (second === undefined) return { prefix: '', mounted: first };
  const prefix = symbols.staticString(unit, first);
  return { prefix: prefix?.complete === true ? prefix.text : '', mounted: second };
}

/**
 * koa-route: `route.get('/pets/:id', show)` builds a middleware that is one route. The method
 * and the call (path first, then the handler) when `expression` is one.
 */
export function koaRoute(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): { readonly method: string; readonly call: ts.CallExpression } | undefined {
  const call = unwrap(expression);
  if (!ts.isCallExpression(call)) return undefined;
  const ref = symbols.moduleReference(unit, call.expression);
  const method = ref?.path[ref.path.length - 1];
  if (ref?.module !== 'koa-route' || method === undefined || ref.path.length !== 1)
    return undefined;
  return { method, call };
}

/**
 * koa-jwt with `passthrough: true` lets requests without a valid token through (with no user
 * set): it verifies tokens but does not require them.
 */
export function koaJwtPassthrough(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
): boolean {
  return optionIsTrue(symbols, unit, call, 'passthrough');
}

/**
 * An error-handling middleware: `try { await next() } catch (err) { … }` answers (and may log)
 * every error thrown downstream, `ctx.throw(401)` included. Koa's usual error handler; Hono
 * code writes it too.
 */
export function catchesDownstream(fn: FunctionFacts): boolean {
  return fn.tries.some(
    (attempt) =>
      attempt.catchClause !== undefined &&
      someNode(
        attempt.tryBlock,
        (node) =>
          ts.isCallExpression(node) &&
          ts.isIdentifier(node.expression) &&
          node.expression.text === 'next',
      ),
  );
}
