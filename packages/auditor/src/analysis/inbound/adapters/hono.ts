/**
 * Hono: applications (`new Hono()`), sub-applications mounted with `app.route('/prefix', sub)`,
 * `basePath`, and the server started by `serve()` from `@hono/node-server`. Hono runs middleware
 * and handlers in registration order for the paths they match, so a middleware protects the
 * routes registered (or mounted) after it; a middleware path is exact unless it ends in `*`.
 */
import ts from 'typescript';
import type { ModuleReference, SymbolTable } from '../../../ast/symbols.ts';
import { objectProperty, unwrap } from '../../../ast/syntax.ts';
import { firstArgumentObject, optionIsTrue } from './options.ts';
import type { SourceUnit } from '../../../project/load.ts';
import { calleeName, calleeReceiver } from '../ast.ts';

/** Packages whose `Hono` class (or a subclass such as `OpenAPIHono`) creates an application. */
const HONO_CLASSES: ReadonlyMap<string, string> = new Map([
  ['hono', 'Hono'],
  ['hono/tiny', 'Hono'],
  ['hono/quick', 'Hono'],
  ['@hono/zod-openapi', 'OpenAPIHono'],
]);

/** `new Hono()`: does a constructor call create a Hono application? */
export function honoCreation(ref: ModuleReference): 'hono' | undefined {
  const name = HONO_CLASSES.get(ref.module);
  return name !== undefined && ref.path[0] === name ? 'hono' : undefined;
}

/**
 * The base path routes get when registered through `app.basePath('/api')` (possibly chained or
 * stored in a variable first): `''` when there is none.
 */
export function honoBasePath(
  symbols: SymbolTable,
  unit: SourceUnit,
  receiver: ts.Expression,
  depth = 0,
): string {
  if (depth > 8) return '';
  const node = unwrap(receiver);
  if (ts.isCallExpression(node)) {
    const inner = calleeReceiver(node);
    if (inner === undefined) return '';
    const outer = honoBasePath(symbols, unit, inner, depth + 1);
    if (calleeName(node) !== 'basePath') return outer;
    const first = node.arguments[0];
    const text = first === undefined ? undefined : symbols.staticString(unit, first);
    return text?.complete === true ? joinBase(outer, text.text) : outer;
  }
  if (ts.isIdentifier(node)) {
    const value = symbols.valueOf(unit, node);
    if (value === undefined || value.expression === node) return '';
    return honoBasePath(symbols, value.unit, value.expression, depth + 1);
  }
  return '';
}

function joinBase(outer: string, inner: string): string {
  const left = outer.endsWith('/') ? outer.slice(0, -1) : outer;
  if (inner === '' || inner === '/') return left;
  return inner.startsWith('/') ? left + inner : `${left}/${inner}`;
}

/**
 * `serve({ fetch: app.fetch, createServer: https.createServer, serverOptions: { key, cert } })`:
 * the options of `@hono/node-server` that make it an HTTPS (or HTTP/2 TLS) server.
 */
export function honoServeTls(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
): boolean {
  const options = firstArgumentObject(symbols, unit, call);
  const create = options === undefined ? undefined : objectProperty(options.object, 'createServer');
  if (options === undefined || create === undefined) return false;
  const ref = symbols.moduleReference(options.unit, create);
  const module = ref?.module.replace(/^node:/, '');
  const member = ref?.path[ref.path.length - 1];
  return (
    (module === 'https' && member === 'createServer') ||
    (module === 'http2' && member === 'createSecureServer')
  );
}

/** `jwk({ jwks_uri, allow_anon: true })`: tokens are verified when sent but none is required. */
export function honoAllowsAnonymous(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
): boolean {
  return optionIsTrue(symbols, unit, call, 'allow_anon');
}
