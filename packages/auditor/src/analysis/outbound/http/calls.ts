import ts from 'typescript';
import { accessChain, enclosingFunction, unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import { resolveValue } from '../expressions.ts';
import type { HttpLibrary, HttpSite } from '../model.ts';
import type { FileFacts } from '../scan.ts';
import { containsNode, type HttpBuild } from './build.ts';
import { addHeader, collectHeaders } from './headers.ts';
import { gotDefaults, readOptions, setUrl, urlFromRequestOptions } from './options.ts';
import { collectProxy } from './proxies.ts';
import { nestHttpServiceMethod } from '../nest.ts';

const MODULE_LIBRARY = new Map<string, HttpLibrary>([
  ['axios', 'axios'],
  ['got', 'got'],
  ['undici', 'undici'],
  ['node-fetch', 'node-fetch'],
  ['cross-fetch', 'node-fetch'],
  ['isomorphic-fetch', 'node-fetch'],
  ['make-fetch-happen', 'node-fetch'],
  ['request', 'request'],
  ['request-promise', 'request'],
  ['request-promise-native', 'request'],
  ['request-promise-any', 'request'],
  ['requestretry', 'request'],
  ['http', 'http'],
  ['https', 'https'],
  ['superagent', 'superagent'],
]);

const AXIOS_URL_CONFIG = new Set(['get', 'delete', 'head', 'options']);
const AXIOS_URL_DATA_CONFIG = new Set(['post', 'put', 'patch', 'postForm', 'putForm', 'patchForm']);
const VERB_METHODS = new Set(['get', 'post', 'put', 'patch', 'delete', 'del', 'head', 'options']);
const UNDICI_CALLS = new Set(['request', 'fetch', 'stream', 'pipeline']);
const POOL_CALLS = new Set(['request', 'stream', 'pipeline', 'dispatch']);
/** Methods through which an instance makes a request (anything else is not a call site). */
const INSTANCE_METHODS = new Set([
  ...AXIOS_URL_CONFIG,
  ...AXIOS_URL_DATA_CONFIG,
  ...VERB_METHODS,
  ...POOL_CALLS,
  'request',
  'stream',
  'fetch',
]);

/** Which argument of a request call holds the URL and which the options. */
interface Shape {
  readonly library: HttpLibrary;
  readonly url?: number;
  readonly options?: number;
  readonly client?: HttpSite;
}

/** Every request a file makes (and the reverse proxies it mounts), with what it sends. */
export function collectCalls(build: HttpBuild, file: FileFacts): void {
  const { unit } = file;
  for (const call of file.calls) {
    if (build.isSite(call)) continue;
    if (collectProxy(build, unit, call)) continue;
    const shape = requestShape(build, unit, call);
    if (shape !== undefined) addCall(build, unit, call, shape);
  }
}

function addCall(build: HttpBuild, unit: SourceUnit, call: ts.CallExpression, shape: Shape): void {
  const site = build.newSite('call', shape.library, unit, call);
  if (shape.client !== undefined) {
    site.client = shape.client;
    if (shape.client.kind === 'client') shape.client.calls.push(site);
    else site.via.push(shape.client);
  }
  const urlArgument = shape.url === undefined ? undefined : call.arguments[shape.url];
  if (urlArgument !== undefined) setUrl(build, site, unit, urlArgument);
  const options =
    shape.options === undefined
      ? undefined
      : build.objectArgument(unit, call.arguments[shape.options]);
  if (options !== undefined) {
    readOptions(build, site, options);
    if ((site.library === 'http' || site.library === 'https') && site.url === undefined) {
      site.url = urlFromRequestOptions(build, site, options);
      site.urlAt = options;
    }
  }
  if (site.library === 'https' && site.url?.scheme === 'unknown') {
    site.url = { ...site.url, scheme: 'https' };
  }
  if (site.library === 'got' && shape.client === undefined)
    gotDefaults(build, site, call.arguments);
  if (site.library === 'superagent' || site.library === 'http' || site.library === 'https') {
    readChain(build, site, call);
  }
}

/** What kind of request a call is, and which arguments hold the URL and the options. */
function requestShape(
  build: HttpBuild,
  unit: SourceUnit,
  call: ts.CallExpression,
): Shape | undefined {
  const callee = unwrap(call.expression);
  const reference = build.reference(unit, callee);
  const firstIsOptions = () =>
    call.arguments[0] !== undefined && build.objectArgument(unit, call.arguments[0]) !== undefined;
  if (reference !== undefined) {
    const library = MODULE_LIBRARY.get(reference.module);
    const method =
      reference.path.length === 0 ? undefined : reference.path[reference.path.length - 1];
    if (library === undefined || reference.path.length > 1) return undefined;
    return shapeFor(library, method, firstIsOptions());
  }
  if (isGlobalFetch(build, unit, callee)) return { library: 'fetch', url: 0, options: 1 };
  const nestMethod = nestHttpServiceMethod(build.symbols, unit, call);
  if (nestMethod !== undefined) {
    const shape = shapeFor('axios', nestMethod, firstIsOptions());
    const client = build.nestHttpModules[0];
    return shape === undefined || client === undefined ? shape : { ...shape, client };
  }
  // Calls through an instance: `client.get(…)`, `this.http.post(…)`, `api(…)`, `pool.request(…)`.
  if (!build.hasInstances) return undefined;
  if (ts.isPropertyAccessExpression(callee) && !INSTANCE_METHODS.has(callee.name.text)) {
    return undefined;
  }
  const receiver = ts.isPropertyAccessExpression(callee) ? callee.expression : callee;
  const site = build.siteOf(unit, receiver);
  if (site === undefined || site.kind === 'call') return undefined;
  const method = ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
  if (site.library === 'undici' || site.library === 'tessera') {
    if (method !== undefined && POOL_CALLS.has(method)) {
      return { library: 'undici', options: 0, client: site };
    }
    return undefined;
  }
  if (site.library === 'http' || site.library === 'https') return undefined;
  const shape = shapeFor(site.library, method, firstIsOptions());
  return shape === undefined ? undefined : { ...shape, client: site };
}

/** `fetch(…)` or `globalThis.fetch(…)` where `fetch` is not imported or declared in the file. */
function isGlobalFetch(build: HttpBuild, unit: SourceUnit, callee: ts.Expression): boolean {
  if (ts.isIdentifier(callee) && callee.text === 'fetch' && isGlobal(build, unit, callee)) {
    return true;
  }
  const chain = accessChain(callee);
  return (
    chain?.length === 2 &&
    ['globalThis', 'global', 'window', 'self'].includes(chain[0] ?? '') &&
    chain[1] === 'fetch'
  );
}

function shapeFor(
  library: HttpLibrary,
  method: string | undefined,
  firstIsOptions: boolean,
): Shape | undefined {
  switch (library) {
    case 'axios':
      if (method === undefined) {
        return firstIsOptions ? { library, options: 0 } : { library, url: 0, options: 1 };
      }
      if (method === 'request') return { library, options: 0 };
      if (AXIOS_URL_CONFIG.has(method)) return { library, url: 0, options: 1 };
      if (AXIOS_URL_DATA_CONFIG.has(method)) return { library, url: 0, options: 2 };
      return undefined;
    case 'got':
    case 'request':
      if (method === undefined || VERB_METHODS.has(method) || method === 'stream') {
        return firstIsOptions ? { library, options: 0 } : { library, url: 0, options: 1 };
      }
      return undefined;
    case 'undici':
      return method !== undefined && UNDICI_CALLS.has(method)
        ? { library, url: 0, options: 1 }
        : undefined;
    case 'node-fetch':
    case 'fetch':
      return method === undefined || method === 'fetch'
        ? { library, url: 0, options: 1 }
        : undefined;
    case 'http':
    case 'https':
      if (method !== 'request' && method !== 'get') return undefined;
      return firstIsOptions ? { library, options: 0 } : { library, url: 0, options: 1 };
    case 'superagent':
      return method !== undefined && VERB_METHODS.has(method) ? { library, url: 0 } : undefined;
    case 'tessera':
      return undefined;
  }
}

/** `fetch` not imported or declared in the file: the global one. */
function isGlobal(build: HttpBuild, unit: SourceUnit, identifier: ts.Identifier): boolean {
  if (build.symbols.importsOf(unit).has(identifier.text)) return false;
  if (resolveValue(build.symbols, unit, identifier) !== undefined) return false;
  for (const statement of unit.sourceFile.statements) {
    if (ts.isFunctionDeclaration(statement) && statement.name?.text === identifier.text) {
      return false;
    }
  }
  return true;
}

/** superagent's builder and `http.request(...)`'s returned request: `.set()`, `.timeout()`. */
function readChain(build: HttpBuild, site: HttpSite, call: ts.CallExpression): void {
  let current: ts.Node = call;
  for (let i = 0; i < 12; i++) {
    const parent: ts.Node = current.parent;
    if (!ts.isPropertyAccessExpression(parent) || !ts.isCallExpression(parent.parent)) break;
    const chained = parent.parent;
    const method = parent.name.text;
    const [first, second] = chained.arguments;
    if (method === 'set' && first !== undefined && ts.isStringLiteralLike(first)) {
      addHeader(build, site, first.text, site.unit, chained, second);
    } else if (method === 'set' && first !== undefined) {
      collectHeaders(build, site, site.unit, first);
    } else if (method === 'timeout' || method === 'setTimeout') {
      site.timeouts.push({ unit: site.unit, node: chained });
    } else if (method === 'retry') {
      site.retries.push({ unit: site.unit, node: chained });
    } else if (method === 'disableTLSCerts') {
      build.insecureTls.push({ unit: site.unit, node: chained });
    } else if (method === 'cert' || method === 'pfx') {
      site.clientCerts.push({ unit: site.unit, node: chained });
    }
    current = chained;
  }
  requestTimeouts(build, site, call);
}

/** `const req = https.request(…); req.setTimeout(5000)` or `req.on('timeout', …)`. */
function requestTimeouts(build: HttpBuild, site: HttpSite, call: ts.CallExpression): void {
  const declaration = call.parent;
  if (!ts.isVariableDeclaration(declaration) || !ts.isIdentifier(declaration.name)) return;
  const name = declaration.name.text;
  const scope = enclosingFunction(call) ?? site.unit.sourceFile;
  const file = build.factsByUnit.get(site.unit);
  for (const other of file?.calls ?? []) {
    const chain = accessChain(other.expression);
    if (chain?.[0] !== name || !containsNode(scope, other)) continue;
    if (chain[1] === 'setTimeout') site.timeouts.push({ unit: site.unit, node: other });
    const event = other.arguments[0];
    if (
      chain[1] === 'on' &&
      event !== undefined &&
      ts.isStringLiteralLike(event) &&
      event.text === 'timeout'
    ) {
      site.timeouts.push({ unit: site.unit, node: other });
    }
  }
}
