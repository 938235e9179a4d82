/**
 * Outbound HTTP from a Python service: httpx, requests and aiohttp clients and calls, the headers
 * they send, their timeouts, TLS verification, retries and circuit breakers.
 */
import type { PyNode } from './parser.ts';
import type { PyFile, PyFunction, PyProject } from './project.ts';
import type { Site } from './facts.ts';
import {
  ancestor,
  calleeName,
  calleeText,
  descendants,
  keywordArg,
  positionalArgs,
  stringText,
  stringValue,
} from './syntax.ts';

const CLIENT_CONSTRUCTORS =
  /^(httpx\.(Async)?Client|(Async)?Client|requests\.(Session|session)|Session|aiohttp\.ClientSession|ClientSession)$/;
const HTTP_VERBS = new Set([
  'get',
  'post',
  'put',
  'patch',
  'delete',
  'head',
  'options',
  'request',
  'stream',
  'send',
]);
const MODULES = /^(httpx|requests|aiohttp)$/;

export interface OutboundClient {
  readonly site: Site;
  readonly library: string;
  /** The variable or attribute it is stored in (`client`, `self._client`). */
  readonly name: string | undefined;
  readonly node: PyNode;
  readonly headers: readonly OutboundHeader[];
  /** `timeout=` as written, undefined when absent. */
  readonly timeout: PyNode | undefined;
  readonly verifyOff: Site | undefined;
  readonly baseUrl: PyNode | undefined;
  /** `transport=httpx.AsyncHTTPTransport(retries=3)`. */
  readonly transportRetries: boolean;
}

export interface OutboundHeader {
  /** Lower-case header name. */
  readonly name: string;
  /** The value expression's text. */
  readonly value: string;
  readonly site: Site;
}

export interface OutboundCall {
  readonly site: Site;
  readonly library: string;
  readonly method: string;
  /** The URL argument (first positional or `url=`). */
  readonly url: PyNode | undefined;
  /** The client it goes through, when it is one of the project's clients. */
  readonly client: OutboundClient | undefined;
  /** Headers set on the call (plus the client's). */
  readonly headers: readonly OutboundHeader[];
  readonly timeout: PyNode | undefined;
  readonly verifyOff: Site | undefined;
  /** The function making the call. */
  readonly fn: PyFunction | undefined;
}

export interface Outbound {
  readonly clients: readonly OutboundClient[];
  readonly calls: readonly OutboundCall[];
  /** Retry decorators or loops (tenacity, backoff, urllib3 Retry, transport retries). */
  readonly retries: readonly Site[];
  /** Circuit breakers (pybreaker, circuitbreaker, aiobreaker, purgatory). */
  readonly breakers: readonly Site[];
}

export function analyseOutbound(py: PyProject): Outbound {
  const clients: OutboundClient[] = [];
  const calls: OutboundCall[] = [];
  const retries: Site[] = [];
  const breakers: Site[] = [];
  const fnAt = new Map<PyNode, PyFunction>();
  for (const fn of py.functions) fnAt.set(fn.node, fn);
  const enclosing = (node: PyNode): PyFunction | undefined => {
    const def = ancestor(node, 'function_definition');
    return def === undefined ? undefined : fnAt.get(def);
  };

  for (const file of py.files) {
    const imported = (module: RegExp) =>
      [...file.imports.values()].some((i) => module.test(i.module));
    const usesHttp = imported(/^(httpx|requests|aiohttp)/);
    for (const call of descendants(file.root, 'call')) {
      const text = calleeText(call);
      const name = calleeName(call);
      if (
        /^(retry|retry_if|AsyncRetrying|Retrying|on_exception|backoff\.on_exception|backoff\.on_predicate|Retry)$/.test(
          name,
        ) ||
        /^(tenacity|backoff)\./.test(text)
      ) {
        if (
          /^(tenacity\.|backoff\.)?(retry|on_exception|on_predicate|AsyncRetrying|Retrying)$/.test(
            text,
          ) ||
          name === 'Retry'
        )
          retries.push({ file, line: call.line });
      }
      if (
        /^(HTTPTransport|AsyncHTTPTransport)$/.test(name) &&
        keywordArg(call, 'retries') !== undefined
      )
        retries.push({ file, line: call.line });
      if (name === 'HTTPAdapter' && keywordArg(call, 'max_retries') !== undefined)
        retries.push({ file, line: call.line });
      if (
        /^(CircuitBreaker|circuit|AsyncCircuitBreaker|CircuitBreakerMonitor|Breaker)$/.test(name) ||
        /^(pybreaker|circuitbreaker|aiobreaker|purgatory)\./.test(text)
      ) {
        breakers.push({ file, line: call.line });
      }
      if (!usesHttp) continue;
      if (CLIENT_CONSTRUCTORS.test(text) && (text.includes('.') || imported(MODULES))) {
        const library = libraryOf(file, text);
        if (library === undefined) continue;
        const owner = enclosing(call);
        if (isKeyFetch(call, owner, keywordArg(call, 'base_url'))) continue;
        clients.push({
          site: { file, line: call.line },
          library,
          name: storedName(call),
          node: call,
          headers: headersOf(py, file, keywordArg(call, 'headers'), enclosing(call)),
          timeout: keywordArg(call, 'timeout'),
          verifyOff: verifyOff(call, file),
          baseUrl: keywordArg(call, 'base_url'),
          transportRetries: /retries\s*=/.test(keywordArg(call, 'transport')?.text ?? ''),
        });
      }
    }
  }
  for (const fn of py.functions) {
    for (const decorator of fn.decorators) {
      if (
        /^@\s*(tenacity\.)?retry\b|^@\s*backoff\.on_|^@\s*(stamina\.)?retry\b/.test(decorator.text)
      )
        retries.push({ file: fn.file, line: decorator.line });
      if (
        /^@\s*(circuit|breaker|.*_breaker|.*circuit_breaker|.*CircuitBreaker)\b/.test(
          decorator.text,
        )
      )
        breakers.push({ file: fn.file, line: decorator.line });
    }
  }

  for (const file of py.files) {
    const usesHttp = [...file.imports.values()].some((i) =>
      /^(httpx|requests|aiohttp)/.test(i.module),
    );
    if (!usesHttp) continue;
    for (const call of descendants(file.root, 'call')) {
      const method = calleeName(call);
      if (!HTTP_VERBS.has(method)) continue;
      const receiver =
        call.fields.function?.type === 'attribute' ? call.fields.function.fields.object : undefined;
      if (receiver === undefined) continue;
      const receiverText = receiver.text.replace(/\s+/g, '');
      const module = libraryOf(file, receiverText);
      const client = clients.find(
        (c) =>
          c.name !== undefined &&
          (c.name === receiverText || (c.name.startsWith('self.') && receiverText === c.name)) &&
          (c.site.file === file || !c.name.startsWith('self.')),
      );
      const asContext = contextClient(call, receiverText, clients);
      const known = module !== undefined || client !== undefined || asContext !== undefined;
      const url = positionalArgs(call)[method === 'request' ? 1 : 0] ?? keywordArg(call, 'url');
      if (method === 'send' && !known) continue;
      if (!known) {
        // Clients passed around (`self._http`, `http_client`): name and a URL-ish first argument.
        if (
          !/(^|[._])(client|http|http_client|session|api)$/i.test(receiverText) ||
          /db|sql|redis|cache/i.test(receiverText)
        )
          continue;
        if (
          url === undefined ||
          !(url.type === 'string' || /url|path|endpoint|uri/i.test(url.text))
        )
          continue;
      }
      const via = client ?? asContext;
      const fn = enclosing(call);
      if (isKeyFetch(call, fn, url)) continue;
      calls.push({
        site: { file, line: call.line },
        library: module ?? via?.library ?? 'httpx',
        method:
          method === 'request'
            ? (stringValue(positionalArgs(call)[0]) ?? 'REQUEST').toUpperCase()
            : method.toUpperCase(),
        url,
        client: via,
        headers: [...(via?.headers ?? []), ...headersOf(py, file, keywordArg(call, 'headers'), fn)],
        timeout: keywordArg(call, 'timeout'),
        verifyOff: verifyOff(call, file),
        fn,
      });
    }
  }
  return { clients, calls, retries, breakers };
}

/**
 * Fetching a JWKS or discovery document: public keys, no credential needed, not a call to
 * another service's API.
 */
function isKeyFetch(call: PyNode, fn: PyFunction | undefined, url: PyNode | undefined): boolean {
  const KEYS =
    /jwks|well[-_]known|openid[-_]configuration|public[-_]?keys?|signing[-_]?keys|certs\b/i;
  if (KEYS.test(url?.text ?? '')) return true;
  if (fn !== undefined && (KEYS.test(fn.name) || KEYS.test(fn.className ?? ''))) return true;
  const cls = ancestor(call, 'class_definition');
  return cls !== undefined && KEYS.test(cls.fields.name?.text ?? '');
}

function libraryOf(file: PyFile, text: string): string | undefined {
  const head = text.split('.')[0] ?? '';
  const imported = file.imports.get(head);
  const module = imported?.module ?? head;
  const root = module.split('.')[0] ?? module;
  if (MODULES.test(root) && (imported !== undefined || MODULES.test(head))) return root;
  return undefined;
}

/** Where a client construction is stored: `client = ...`, `self._client = ...`, `with ... as client`. */
function storedName(call: PyNode): string | undefined {
  const parent = call.parent;
  if (parent?.type === 'assignment') return parent.fields.left?.text.replace(/\s+/g, '');
  if (parent?.type === 'as_pattern') {
    const alias = parent.fields.alias ?? parent.children[1];
    return alias?.text.replace(/\s+/g, '');
  }
  if (parent?.type === 'await' && parent.parent?.type === 'assignment')
    return parent.parent.fields.left?.text;
  return undefined;
}

function contextClient(
  call: PyNode,
  receiver: string,
  clients: readonly OutboundClient[],
): OutboundClient | undefined {
  for (let p = call.parent; p !== undefined; p = p.parent) {
    if (p.type !== 'with_statement') continue;
    for (const client of clients) {
      if (client.name === receiver && ancestor(client.node, 'with_statement') === p) return client;
    }
  }
  return undefined;
}

function verifyOff(call: PyNode, file: PyFile): Site | undefined {
  const verify = keywordArg(call, 'verify') ?? keywordArg(call, 'ssl');
  if (verify === undefined) return undefined;
  if (verify.type === 'false') return { file, line: verify.line };
  return undefined;
}

/** Header names and values: a dict literal, a variable built in the function, or a helper's dict. */
function headersOf(
  py: PyProject,
  file: PyFile,
  node: PyNode | undefined,
  fn: PyFunction | undefined,
  depth = 0,
): OutboundHeader[] {
  if (node === undefined || depth > 3) return [];
  if (node.type === 'dictionary') {
    return node.children.flatMap((pair) => {
      if (pair.type === 'dictionary_splat')
        return headersOf(py, file, pair.children[0], fn, depth + 1);
      if (pair.type !== 'pair') return [];
      const key = stringValue(pair.fields.key) ?? stringText(pair.fields.key);
      return key === undefined
        ? []
        : [
            {
              name: key.toLowerCase(),
              value: pair.fields.value?.text ?? '',
              site: { file, line: pair.line },
            },
          ];
    });
  }
  if (node.type === 'call' && calleeName(node) === 'dict') {
    return (node.fields.arguments?.children ?? []).flatMap((a) =>
      a.type === 'keyword_argument'
        ? [
            {
              name: (a.fields.name?.text ?? '').replace(/_/g, '-').toLowerCase(),
              value: a.fields.value?.text ?? '',
              site: { file, line: a.line },
            },
          ]
        : headersOf(py, file, a, fn, depth + 1),
    );
  }
  if (node.type === 'binary_operator' || node.type === 'boolean_operator') {
    return node.children.flatMap((c) => headersOf(py, file, c, fn, depth + 1));
  }
  if (node.type === 'identifier' && fn !== undefined) {
    const out: OutboundHeader[] = [];
    for (const assignment of descendants(fn.node, 'assignment', 'augmented_assignment')) {
      const left = assignment.fields.left;
      if (left?.text === node.text)
        out.push(...headersOf(py, file, assignment.fields.right, fn, depth + 1));
      if (left?.type === 'subscript' && left.fields.value?.text === node.text) {
        const key = stringValue(left.fields.subscript);
        if (key !== undefined)
          out.push({
            name: key.toLowerCase(),
            value: assignment.fields.right?.text ?? '',
            site: { file, line: assignment.line },
          });
      }
    }
    for (const call of descendants(fn.node, 'call')) {
      if (calleeText(call) === `${node.text}.update`)
        out.push(...headersOf(py, file, positionalArgs(call)[0], fn, depth + 1));
    }
    if (out.length > 0) return out;
    const value = py.resolveValue(file, node.text);
    return value === undefined ? [] : headersOf(py, value.file, value.value, undefined, depth + 1);
  }
  if (node.type === 'call') {
    const callee = node.fields.function;
    if (callee === undefined) return [];
    const target = callee.text.startsWith('self.')
      ? py.functions.find((f) => f.name === calleeName(node) && f.file === file)
      : py.resolveFunction(file, callee.text);
    if (target === undefined) return [];
    const out: OutboundHeader[] = [];
    for (const ret of descendants(target.node, 'return_statement')) {
      out.push(...headersOf(py, target.file, ret.children[0], target, depth + 1));
    }
    return out;
  }
  if (node.type === 'attribute') {
    const value = py.resolveValue(file, node.text);
    if (value !== undefined) return headersOf(py, value.file, value.value, undefined, depth + 1);
  }
  return [];
}
