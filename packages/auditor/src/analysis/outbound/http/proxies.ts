import ts from 'typescript';
import { accessChain, unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import { functionAt, optionOf, resolveObject, type Located } from '../expressions.ts';
import type { HttpSite } from '../model.ts';
import type { HttpBuild } from './build.ts';
import { addHeader, headersFromFunction, readInterceptor } from './headers.ts';
import { readOptions, setUrl } from './options.ts';

type Options = Located<ts.ObjectLiteralExpression>;

const FASTIFY_PROXIES = new Set(['@fastify/http-proxy', '@fastify/reply-from']);

/**
 * Reverse proxies: `app.register(proxy, { upstream, undici, replyOptions })` for
 * @fastify/http-proxy and @fastify/reply-from, `createProxyMiddleware({ target, headers })`,
 * express-http-proxy's `proxy(host, { proxyReqOptDecorator })`. Returns whether the call is one (it then becomes a proxy client site).
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
  readProxyHooks(build, site, options);
  return true;
}

/**
 * What a proxy does to each request and answer in its hooks: http-proxy-middleware's
 * `on: { proxyReq, proxyRes, error }` (v3) or `onProxyReq`/`onProxyRes`/`onError` (v2), and
 * express-http-proxy's `proxyReqOptDecorator`. Headers set there are sent on every proxied
 * request; answer and error hooks are where failed calls get logged.
 */
function readProxyHooks(build: HttpBuild, site: HttpSite, options: Options): void {
  const get = (from: Options, name: string) => optionOf(build.symbols, from, name);
  const events = get(options, 'on');
  const on =
    events === undefined ? undefined : resolveObject(build.symbols, events.unit, events.node);
  const hook = (v3: string, v2: string) =>
    (on === undefined ? undefined : get(on, v3)) ?? get(options, v2);
  const request = hook('proxyReq', 'onProxyReq');
  if (request !== undefined) proxyRequestHeaders(build, site, request.unit, request.node);
  const decorator = get(options, 'proxyReqOptDecorator');
  if (decorator !== undefined) readInterceptor(build, site, decorator.unit, decorator.node);
  for (const [v3, v2] of [
    ['proxyRes', 'onProxyRes'],
    ['error', 'onError'],
  ] as const) {
    const handler = hook(v3, v2);
    if (handler !== undefined) {
      build.proxyHooks.push({ unit: handler.unit, node: handler.node, answer: v3 === 'proxyRes' });
    }
  }
}

/** `proxyReq.setHeader('x-request-id', id)` on the outgoing request a hook receives first. */
function proxyRequestHeaders(
  build: HttpBuild,
  site: HttpSite,
  unit: SourceUnit,
  expression: ts.Expression,
): void {
  const fn = functionAt(build.symbols, unit, expression);
  const parameter = fn?.node.parameters[0];
  const body = fn?.node.body;
  if (fn === undefined || body === undefined || parameter === undefined) return;
  if (!ts.isIdentifier(parameter.name)) return;
  const outgoing = parameter.name.text;
  const visit = (child: ts.Node): void => {
    if (ts.isCallExpression(child)) {
      const chain = accessChain(child.expression);
      const [name, value] = child.arguments;
      if (
        chain?.length === 2 &&
        chain[0] === outgoing &&
        (chain[1] === 'setHeader' || chain[1] === 'appendHeader') &&
        name !== undefined &&
        ts.isStringLiteralLike(name)
      ) {
        addHeader(build, site, name.text, fn.unit, child, value, true);
      }
    }
    ts.forEachChild(child, visit);
  };
  visit(body);
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
  if (reference?.module === 'express-http-proxy') {
    return build.objectArgument(unit, call.arguments[1]);
  }
  if (reference?.module !== 'http-proxy-middleware') return false;
  return build.objectArgument(unit, call.arguments[0]);
}
