import ts from 'typescript';
import { unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import { optionOf, resolveObject, type Located } from '../expressions.ts';
import type { HttpBuild } from './build.ts';
import { headersFromFunction } from './headers.ts';
import { readOptions, setUrl } from './options.ts';

const FASTIFY_PROXIES = new Set(['@fastify/http-proxy', '@fastify/reply-from']);

/**
 * Reverse proxies: `app.register(proxy, { upstream, undici, replyOptions })` for
 * @fastify/http-proxy and @fastify/reply-from, `createProxyMiddleware({ target, headers })`.
 * Returns whether the call is one (it then becomes a proxy client site).
 */
export function collectProxy(build: HttpBuild, unit: SourceUnit, call: ts.CallExpression): boolean {
  const options = proxyOptions(build, unit, call);
  if (options === false) return false;
  const site = build.newSite('client', 'undici', unit, call);
  site.proxy = true;
  if (options === undefined) return true;
  const get = (name: string) => optionOf(build.symbols, options, name);
  for (const name of ['upstream', 'base', 'target']) {
    const value = get(name);
    if (value !== undefined && site.url === undefined) setUrl(build, site, value.unit, value.node);
  }
  readOptions(build, site, options);
  for (const name of ['undici', 'http']) {
    const value = get(name);
    const nested =
      value === undefined ? undefined : resolveObject(build.symbols, value.unit, value.node);
    if (nested !== undefined) readOptions(build, site, nested);
    const request =
      nested === undefined ? undefined : optionOf(build.symbols, nested, 'requestOptions');
    const requestOptions =
      request === undefined ? undefined : resolveObject(build.symbols, request.unit, request.node);
    if (requestOptions !== undefined) readOptions(build, site, requestOptions);
  }
  const proxyTimeout = get('proxyTimeout');
  if (proxyTimeout !== undefined) site.timeouts.push(proxyTimeout);
  const replyOptions = get('replyOptions');
  const reply =
    replyOptions === undefined
      ? undefined
      : resolveObject(build.symbols, replyOptions.unit, replyOptions.node);
  const rewrite =
    reply === undefined ? undefined : optionOf(build.symbols, reply, 'rewriteRequestHeaders');
  if (rewrite !== undefined) headersFromFunction(build, site, rewrite.unit, rewrite.node);
  return true;
}

/** The options of a proxy registration or middleware; `false` when the call is neither. */
function proxyOptions(
  build: HttpBuild,
  unit: SourceUnit,
  call: ts.CallExpression,
): Located<ts.ObjectLiteralExpression> | undefined | false {
  const callee = unwrap(call.expression);
  if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'register') {
    const plugin =
      call.arguments[0] === undefined ? undefined : build.reference(unit, call.arguments[0]);
    if (plugin === undefined || !FASTIFY_PROXIES.has(plugin.module)) return false;
    return build.objectArgument(unit, call.arguments[1]);
  }
  const reference = build.reference(unit, call.expression);
  if (reference?.module !== 'http-proxy-middleware') return false;
  return build.objectArgument(unit, call.arguments[0]);
}
