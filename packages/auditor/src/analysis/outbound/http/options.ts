import ts from 'typescript';
import { accessChain, enclosingFunction, unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import {
  definitionOf,
  optionOf,
  resolveObject,
  resolveValue,
  staticNumber,
  staticText,
  type Located,
} from '../expressions.ts';
import type { HttpSite } from '../model.ts';
import { urlFact, type UrlFact } from '../urls.ts';
import { isFalse, type HttpBuild } from './build.ts';
import { addHeader, collectHeaders, readInterceptor } from './headers.ts';

type Options = Located<ts.ObjectLiteralExpression>;

const TIMEOUT_OPTIONS = ['timeout', 'headersTimeout', 'bodyTimeout', 'requestTimeout'];
const AGENT_OPTIONS = ['httpsAgent', 'httpAgent', 'agent', 'dispatcher'];
const TLS_OPTIONS = ['https', 'connect', 'tls'];
const URL_OPTIONS = ['baseURL', 'baseUrl', 'prefixUrl', 'url', 'uri', 'origin'];

/** Everything a client's, dispatcher's or request's options object says. */
export function readOptions(build: HttpBuild, site: HttpSite, options: Options): void {
  const get = (name: string) => optionOf(build.symbols, options, name);
  const headers = get('headers');
  if (headers !== undefined) collectHeaders(build, site, headers.unit, headers.node);
  readTimeouts(build, site, options);
  readAgents(build, site, options);
  readClientCert(site, build, options);
  for (const name of TLS_OPTIONS) {
    const value = get(name);
    const nested =
      value === undefined ? undefined : resolveObject(build.symbols, value.unit, value.node);
    if (nested !== undefined) readClientCert(site, build, nested);
  }
  for (const name of URL_OPTIONS) {
    const value = get(name);
    if (value !== undefined && site.url === undefined) setUrl(build, site, value.unit, value.node);
  }
  if (site.library === 'got') readGotOptions(build, site, options);
  readAuthOption(build, site, options);
}

function readTimeouts(build: HttpBuild, site: HttpSite, options: Options): void {
  for (const name of TIMEOUT_OPTIONS) {
    const value = optionOf(build.symbols, options, name);
    if (value === undefined) continue;
    const number = staticNumber(build.symbols, value.unit, value.node);
    if (number === 0 || isFalse(value.node)) site.timeoutsDisabled.push(value);
    else site.timeouts.push(value);
  }
  const signal = optionOf(build.symbols, options, 'signal');
  if (signal !== undefined && signalHasTimeout(build, signal.unit, signal.node)) {
    site.timeouts.push(signal);
  }
}

/** The agent or dispatcher a site goes through (got: `agent: { https, http, http2 }`). */
function readAgents(build: HttpBuild, site: HttpSite, options: Options): void {
  for (const name of AGENT_OPTIONS) {
    const value = optionOf(build.symbols, options, name);
    if (value === undefined) continue;
    const target = build.siteOf(value.unit, value.node);
    if (target !== undefined) site.via.push(target);
    else {
      const nested = resolveObject(build.symbols, value.unit, value.node);
      for (const inner of ['https', 'http', 'http2']) {
        const agent = nested === undefined ? undefined : optionOf(build.symbols, nested, inner);
        const agentSite = agent === undefined ? undefined : build.siteOf(agent.unit, agent.node);
        if (agentSite !== undefined) site.via.push(agentSite);
      }
    }
  }
}

/** got's `retry` (a number or `{ limit }`) and its `hooks.beforeRequest`. */
function readGotOptions(build: HttpBuild, site: HttpSite, options: Options): void {
  const get = (name: string) => optionOf(build.symbols, options, name);
  const retry = get('retry');
  if (retry !== undefined) {
    const object = resolveObject(build.symbols, retry.unit, retry.node);
    const limitOption = object === undefined ? undefined : optionOf(build.symbols, object, 'limit');
    const limit =
      object === undefined
        ? staticNumber(build.symbols, retry.unit, retry.node)
        : limitOption === undefined
          ? undefined
          : staticNumber(build.symbols, limitOption.unit, limitOption.node);
    if (limit !== 0) site.retries.push(retry);
  }
  const hooks = get('hooks');
  const hookObject =
    hooks === undefined ? undefined : resolveObject(build.symbols, hooks.unit, hooks.node);
  const before =
    hookObject === undefined ? undefined : optionOf(build.symbols, hookObject, 'beforeRequest');
  const list = before === undefined ? undefined : unwrap(before.node);
  if (before !== undefined && list !== undefined && ts.isArrayLiteralExpression(list)) {
    for (const element of list.elements) readInterceptor(build, site, before.unit, element);
  }
}

/** `auth: { bearer }` (request) and `auth: { username, password }` (axios) are credentials. */
function readAuthOption(build: HttpBuild, site: HttpSite, options: Options): void {
  const auth = optionOf(build.symbols, options, 'auth');
  if (auth === undefined) return;
  const object = resolveObject(build.symbols, auth.unit, auth.node);
  const secret =
    object === undefined
      ? undefined
      : (optionOf(build.symbols, object, 'bearer') ?? optionOf(build.symbols, object, 'password'));
  if (secret !== undefined) {
    addHeader(build, site, 'authorization', secret.unit, secret.node, secret.node);
  }
}

/** A client certificate (`cert` + `key`, `pfx`): mutual TLS. */
function readClientCert(site: HttpSite, build: HttpBuild, options: Options): void {
  const get = (name: string) => optionOf(build.symbols, options, name);
  const cert = get('cert') ?? get('certificate');
  const key = get('key');
  const pfx = get('pfx');
  if ((cert !== undefined && key !== undefined) || pfx !== undefined) {
    site.clientCerts.push({ unit: options.unit, node: options.node });
  }
}

/** `AbortSignal.timeout(ms)`, `AbortSignal.any([...])`, or a controller aborted by a timer. */
function signalHasTimeout(
  build: HttpBuild,
  unit: SourceUnit,
  expression: ts.Expression,
  depth = 0,
): boolean {
  if (depth > 4) return false;
  const node = unwrap(expression);
  if (ts.isCallExpression(node)) {
    const chain = accessChain(node.expression);
    if (chain?.[0] === 'AbortSignal' && chain[1] === 'timeout') return true;
    if (chain?.[0] === 'AbortSignal' && chain[1] === 'any') {
      const list = node.arguments[0] === undefined ? undefined : unwrap(node.arguments[0]);
      return (
        list !== undefined &&
        ts.isArrayLiteralExpression(list) &&
        list.elements.some((element) => signalHasTimeout(build, unit, element, depth + 1))
      );
    }
    return false;
  }
  if (ts.isPropertyAccessExpression(node) && node.name.text === 'signal') {
    // `controller.signal` with a `setTimeout(() => controller.abort(), ms)` in the same function.
    const scope = enclosingFunction(node) ?? unit.sourceFile;
    const text = scope.getText(unit.sourceFile);
    return /setTimeout\s*\(/.test(text) && /\.abort\s*\(/.test(text);
  }
  const value = resolveValue(build.symbols, unit, node);
  return value !== undefined && value.expression !== node
    ? signalHasTimeout(build, value.unit, value.expression, depth + 1)
    : false;
}

/** got retries idempotent requests twice by default; `retry: 0` / `{ limit: 0 }` turns it off. */
export function gotDefaults(
  build: HttpBuild,
  site: HttpSite,
  args: readonly ts.Expression[],
): void {
  for (const argument of args) {
    const options = build.objectArgument(site.unit, argument);
    const retry = options === undefined ? undefined : optionOf(build.symbols, options, 'retry');
    if (retry !== undefined) return;
  }
  site.retries.push({ unit: site.unit, node: site.node });
}

// ---- URLs ------------------------------------------------------------------------------

export function setUrl(
  build: HttpBuild,
  site: HttpSite,
  unit: SourceUnit,
  expression: ts.Expression,
): void {
  const plain = unwrap(expression);
  const base =
    ts.isNewExpression(plain) && plain.arguments?.[1] !== undefined ? plain.arguments[1] : plain;
  const origins = build.origins.of(unit, base);
  site.url = {
    ...urlOf(build, unit, expression),
    // `\`http://templates.internal/t/${id}?v=${process.env.V}\``: configuration fills in the
    // path or query, but the scheme and host are fixed in the code.
    configurable: (origins.has('env') || origins.has('param')) && !fixedOrigin(build, unit, base),
  };
  site.urlAt = definitionOf(build.symbols, unit, base);
}

/** Is the URL a template or concatenation whose literal start already names scheme and host? */
function fixedOrigin(build: HttpBuild, unit: SourceUnit, expression: ts.Expression): boolean {
  let node = unwrap(build.symbols.finalValue(unit, expression).expression);
  let concatenated = false;
  while (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    node = unwrap(node.left);
    concatenated = true;
  }
  const head = ts.isTemplateExpression(node)
    ? node.head.text
    : concatenated && ts.isStringLiteralLike(node)
      ? node.text
      : undefined;
  return head !== undefined && /^(https?|wss?):\/\/[^/?#]+[/?#]/i.test(head);
}

function urlOf(build: HttpBuild, unit: SourceUnit, expression: ts.Expression): UrlFact {
  const node = unwrap(expression);
  if (
    ts.isNewExpression(node) &&
    ts.isIdentifier(node.expression) &&
    node.expression.text === 'URL'
  ) {
    const [path, base] = node.arguments ?? [];
    const pathText = path === undefined ? undefined : staticText(build.symbols, unit, path);
    if (pathText !== undefined && /^[a-z]+:\/\//i.test(pathText.text)) return urlFact(pathText);
    const baseText = base === undefined ? undefined : staticText(build.symbols, unit, base);
    return urlFact(baseText ?? { text: '${…}', complete: false });
  }
  const text = staticText(build.symbols, unit, node);
  return urlFact(text ?? { text: '${…}', complete: false });
}

/** `http.request({ protocol, hostname, port, path })`. */
export function urlFromRequestOptions(
  build: HttpBuild,
  site: HttpSite,
  options: Options,
): UrlFact | undefined {
  const text = (name: string) => {
    const value = optionOf(build.symbols, options, name);
    return value === undefined ? undefined : staticText(build.symbols, value.unit, value.node);
  };
  const host = text('hostname') ?? text('host');
  const protocol = text('protocol')?.text ?? (site.library === 'https' ? 'https:' : 'http:');
  if (host === undefined) {
    return urlFact({ text: `${protocol}//\${…}`, complete: false });
  }
  return urlFact({ text: `${protocol}//${host.text}`, complete: host.complete });
}
