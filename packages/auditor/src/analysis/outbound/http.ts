import ts from 'typescript';
import type { SymbolTable } from '../../ast/symbols.ts';
import {
  accessChain,
  enclosingFunction,
  evidenceAt,
  evidenceAtLine,
  lineAtOffset,
  lineOf,
  propertyNameText,
  unwrap,
} from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { SourceUnit } from '../../project/load.ts';
import type { AuditContext } from '../context.ts';
import { workloadIdentityFacts } from '../identity.ts';
import {
  ancestors,
  calleeName,
  definitionOf,
  functionDeclarationFor,
  inboundReference,
  optionOf,
  OriginAnalysis,
  resolveObject,
  returnedObjects,
  staticNumber,
  type Located,
  resolveFinal,
  resolveValue,
  staticText,
} from './expressions.ts';
import { logCallsWithin } from './logs.ts';
import type { HeaderFact, HttpLibrary, HttpModel, HttpSite, ResilienceWrapper } from './model.ts';
import { envName, productionFacts, type FileFacts } from './scan.ts';
import { urlFact, type UrlFact } from './urls.ts';

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

/** The deprecated `request` package and its wrappers (SC14). */
export const DEPRECATED_HTTP_MODULES: readonly string[] = [
  'request',
  'request-promise',
  'request-promise-native',
  'request-promise-any',
  'requestretry',
];

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
const UNDICI_DISPATCHERS = new Set([
  'Agent',
  'ProxyAgent',
  'RetryAgent',
  'EnvHttpProxyAgent',
  'MockAgent',
]);
const UNDICI_CLIENTS = new Set(['Pool', 'Client', 'BalancedPool', 'RoundRobinPool']);
const TESSERA_INTERCEPTORS = new Set([
  'auth',
  'timeout',
  'retry',
  'circuitBreakerPerUpstream',
  'trace',
]);
const RETRY_MODULES = new Set([
  'p-retry',
  'async-retry',
  'promise-retry',
  'exponential-backoff',
  'retry',
  'ts-retry-promise',
  'retry-axios',
]);
const PROPAGATION_MODULES = [
  '@opentelemetry/auto-instrumentations-node',
  '@opentelemetry/auto-instrumentations-node/register',
  '@opentelemetry/instrumentation-http',
  '@opentelemetry/instrumentation-undici',
  'dd-trace',
  'dd-trace/init',
  'elastic-apm-node',
  'elastic-apm-node/start',
  'newrelic',
];
const DELAY_CALLS = /^(setTimeout|sleep|delay|wait|pause|backoff|setTimeoutPromise)$/i;
const EXPONENTIAL = /2\s*\*\*|\*\*\s*\w|Math\.pow\(\s*2|\*\s*2\b|<<|\*=\s*2|exponential|backoff/i;

/** `node:http` and `http` are the same module. */
function normalise(module: string): string {
  return module.startsWith('node:') ? module.slice(5) : module;
}

/** A module reference with its first path element dropped when it names the module itself. */
interface Reference {
  readonly module: string;
  readonly path: readonly string[];
}

function containsNode(outer: ts.Node, inner: ts.Node): boolean {
  return (
    outer.getSourceFile() === inner.getSourceFile() &&
    outer.pos <= inner.pos &&
    inner.end <= outer.end
  );
}

const isFalse = (node: ts.Expression): boolean => {
  const value = unwrap(node);
  return (
    value.kind === ts.SyntaxKind.FalseKeyword ||
    (ts.isPrefixUnaryExpression(value) &&
      value.operator === ts.SyntaxKind.ExclamationToken &&
      ts.isNumericLiteral(value.operand) &&
      value.operand.text !== '0')
  );
};

/**
 * Is the property part of a server's TLS options (the object also sets `requestCert`)? There
 * `rejectUnauthorized: false` makes client certificates optional (SV1), it does not switch off
 * a client's check of the server.
 */
function serverTlsOptions(property: ts.PropertyAssignment): boolean {
  const object = property.parent;
  return object.properties.some(
    (p) => p.name !== undefined && propertyNameText(p.name) === 'requestCert',
  );
}

/** Builds the outbound HTTP model of a project; see {@link HttpModel}. */
export function analyseHttp(ctx: AuditContext): HttpModel {
  return new HttpModelBuilder(ctx.symbols, productionFacts(ctx), ctx).build();
}

class HttpModelBuilder {
  private readonly origins: OriginAnalysis;
  private readonly sites: HttpSite[] = [];
  private readonly byNode = new Map<ts.Node, HttpSite>();
  private readonly wrappers: ResilienceWrapper[] = [];
  private readonly policies = new Map<
    ts.Node,
    { breaker: boolean; timeout: boolean; retry: boolean }
  >();
  private readonly retries: Located<ts.Node>[] = [];
  private readonly deprecated: Located<ts.Node>[] = [];
  private readonly guards: Located<ts.Node>[] = [];
  private readonly insecureMaps: Located<ts.Node>[] = [];
  private readonly tokenSources: Located<ts.Node>[] = [];
  private readonly scopes: Located<ts.Node>[] = [];
  private readonly propagation: Evidence[] = [];
  private readonly insecureTls: Located<ts.Node>[] = [];
  private readonly tlsInCode: Located<ts.Node>[] = [];
  private readonly failureLogging: { at: Located<ts.Node>; auth: boolean }[] = [];
  private readonly globalDispatchers: HttpSite[] = [];
  private readonly breakerNodes = new Map<ts.Node, SourceUnit>();
  private axiosDefaults: HttpSite | undefined;
  private axiosInterceptors: HttpSite | undefined;
  private readonly references = new WeakMap<ts.Node, Reference | null>();
  private readonly factsByUnit: ReadonlyMap<SourceUnit, FileFacts>;
  /** Whether any client or dispatcher exists (else no call can go through one). */
  private hasInstances = false;

  constructor(
    private readonly symbols: SymbolTable,
    private readonly facts: readonly FileFacts[],
    private readonly ctx: AuditContext,
  ) {
    this.origins = ctx.memo('s2s.origins', () => new OriginAnalysis(symbols));
    this.factsByUnit = new Map(facts.map((f) => [f.unit, f]));
  }

  build(): HttpModel {
    for (const file of this.facts) this.collectCreations(file);
    this.collectIdentityDispatchers();
    this.collectDerived();
    for (const file of this.facts) this.configureCreations(file);
    this.hasInstances = this.sites.length > 0;
    for (const file of this.facts) this.collectCalls(file);
    for (const file of this.facts) this.collectMutations(file);
    for (const file of this.facts) this.collectProjectFacts(file);
    this.applyGlobals();
    const callsByUnit = new Map<SourceUnit, HttpSite[]>();
    for (const site of this.sites) {
      if (site.kind !== 'call') continue;
      const list = callsByUnit.get(site.unit) ?? [];
      list.push(site);
      callsByUnit.set(site.unit, list);
    }
    for (const file of this.facts) this.collectHandRolledRetries(file, callsByUnit);
    this.collectFailureLogging();
    this.collectTextPropagation();
    const channels = this.sites.filter(
      (site) => site.kind === 'client' || (site.kind === 'call' && site.client?.kind !== 'client'),
    );
    return {
      sites: this.sites,
      channels,
      wrappers: this.wrappers,
      retries: this.retries,
      deprecatedClients: this.deprecated,
      httpsGuards: this.guards,
      insecureServiceMaps: this.insecureMaps,
      tokenSources: this.tokenSources,
      requestedScopes: this.scopes,
      globalPropagation: this.propagation,
      insecureTls: this.insecureTls,
      tlsDisabledInCode: this.tlsInCode,
      failureLogging: this.failureLogging,
    };
  }

  // ---- references and sites -------------------------------------------------------------

  private reference(unit: SourceUnit, expression: ts.Expression): Reference | undefined {
    const cached = this.references.get(expression);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.symbols.moduleReference(unit, expression);
    let result: Reference | undefined;
    if (found !== undefined) {
      const module = normalise(found.module);
      // `import { got } from 'got'`, `import { fetch } from 'undici'` name the module's own export.
      const path =
        found.path[0] === module || (module === 'got' && found.path[0] === 'default')
          ? found.path.slice(1)
          : found.path;
      result = { module, path };
    }
    this.references.set(expression, result ?? null);
    return result;
  }

  private newSite(
    kind: HttpSite['kind'],
    library: HttpLibrary,
    unit: SourceUnit,
    node: ts.Node,
  ): HttpSite {
    const site: HttpSite = {
      id: this.sites.length,
      kind,
      library,
      unit,
      node,
      url: undefined,
      urlAt: undefined,
      headers: [],
      timeouts: [],
      timeoutsDisabled: [],
      retries: [],
      clientCerts: [],
      tessera: undefined,
      via: [],
      calls: [],
      client: undefined,
      proxy: false,
    };
    this.sites.push(site);
    this.byNode.set(node, site);
    return site;
  }

  /** The site an expression evaluates to (`this.client`, an imported instance …). */
  private siteOf(unit: SourceUnit, expression: ts.Expression, depth = 0): HttpSite | undefined {
    const direct = this.byNode.get(unwrap(expression));
    if (direct !== undefined) return direct;
    const final = resolveFinal(this.symbols, unit, expression);
    const node = unwrap(final.expression);
    const found = this.byNode.get(node);
    if (found !== undefined || depth > 2) return found;
    // `secure ? new Agent({ connect: { cert, key } }) : undefined`: the one site a branch holds.
    const branches = ts.isConditionalExpression(node)
      ? [node.whenTrue, node.whenFalse]
      : ts.isBinaryExpression(node) &&
          (node.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken ||
            node.operatorToken.kind === ts.SyntaxKind.BarBarToken ||
            node.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken)
        ? [node.left, node.right]
        : [];
    const sites = branches
      .map((branch) => this.siteOf(final.unit, branch, depth + 1))
      .filter((site): site is HttpSite => site !== undefined);
    return sites.length === 1 ? sites[0] : undefined;
  }

  private objectArgument(
    unit: SourceUnit,
    argument: ts.Expression | undefined,
  ): Located<ts.ObjectLiteralExpression> | undefined {
    if (argument === undefined) return undefined;
    const node = unwrap(argument);
    if (ts.isNewExpression(node)) return undefined;
    return resolveObject(this.symbols, unit, node);
  }

  // ---- pass 1: clients, dispatchers, agents, wrappers ------------------------------------

  private collectCreations(file: FileFacts): void {
    const { unit } = file;
    for (const expression of file.news) {
      const reference = this.reference(unit, expression.expression);
      if (reference === undefined) continue;
      const name = reference.path.at(-1);
      const args = expression.arguments ?? [];
      if (reference.module === 'undici' && name !== undefined) {
        if (UNDICI_CLIENTS.has(name)) this.newSite('client', 'undici', unit, expression);
        else if (UNDICI_DISPATCHERS.has(name)) {
          const site = this.newSite('dispatcher', 'undici', unit, expression);
          if (name === 'RetryAgent') site.retries.push({ unit, node: expression });
        }
      } else if (
        (reference.module === 'https' || reference.module === 'http') &&
        name === 'Agent'
      ) {
        this.newSite('dispatcher', reference.module, unit, expression);
      } else if (reference.module === 'opossum' || reference.module === 'brakes') {
        const options = this.objectArgument(unit, args[1]);
        const timeoutOption =
          options === undefined ? undefined : optionOf(this.symbols, options, 'timeout');
        const timeout =
          timeoutOption === undefined ||
          !(
            isFalse(timeoutOption.node) ||
            staticNumber(this.symbols, unit, timeoutOption.node) === 0
          );
        this.breakerNodes.set(expression, unit);
        this.wrappers.push({
          library: reference.module,
          unit,
          node: expression,
          breaker: true,
          timeout,
          retry: false,
          functions: this.functionsOf(unit, args[0]),
        });
      } else if (
        reference.module === '@tessera/client' &&
        name === 'ClientCredentialsTokenSource'
      ) {
        this.tokenSources.push({ unit, node: expression });
      }
    }
    for (const call of file.calls) {
      const reference = this.reference(unit, call.expression);
      if (reference === undefined) continue;
      const name = reference.path.at(-1);
      if (reference.module === 'axios' && reference.path.length === 1 && name === 'create') {
        this.newSite('client', 'axios', unit, call);
      } else if (reference.module === 'got' && reference.path.length === 1 && name === 'extend') {
        this.newSite('client', 'got', unit, call);
      } else if (reference.module === '@tessera/client' && name === 'createServiceDispatcher') {
        this.newSite('dispatcher', 'tessera', unit, call);
      } else if (reference.module === 'cockatiel' && name !== undefined) {
        if (name === 'circuitBreaker' || name === 'retry' || name === 'timeout') {
          this.policies.set(call, {
            breaker: name === 'circuitBreaker',
            timeout: name === 'timeout',
            retry: name === 'retry',
          });
        }
      }
    }
  }

  /** A Tessera workload identity's dispatcher presents the service's SVID: a client certificate. */
  private collectIdentityDispatchers(): void {
    for (const dispatcher of workloadIdentityFacts(this.ctx).dispatchers) {
      if (this.byNode.has(dispatcher.node)) continue;
      const site = this.newSite('dispatcher', 'undici', dispatcher.unit, dispatcher.node);
      site.clientCerts.push(dispatcher);
    }
  }

  /** `client.extend(…)`, `agent.compose(…)`: new sites derived from known ones. */
  private collectDerived(): void {
    for (let round = 0; round < 4; round++) {
      let added = false;
      for (const file of this.facts) {
        for (const call of file.calls) {
          if (this.byNode.has(call)) continue;
          const callee = unwrap(call.expression);
          if (!ts.isPropertyAccessExpression(callee)) continue;
          const method = callee.name.text;
          if (method !== 'extend' && method !== 'compose') continue;
          const base = this.siteOf(file.unit, callee.expression);
          const inlineAgent =
            base === undefined &&
            method === 'compose' &&
            ts.isNewExpression(unwrap(callee.expression));
          if (base === undefined && !inlineAgent) continue;
          if (method === 'extend' && base?.library !== 'got') continue;
          const site = this.newSite(
            method === 'extend' ? 'client' : 'dispatcher',
            base?.library ?? 'undici',
            file.unit,
            call,
          );
          if (base !== undefined) site.via.push(base);
          added = true;
        }
      }
      if (!added) return;
    }
  }

  private configureCreations(file: FileFacts): void {
    const { unit } = file;
    for (const site of this.sites) {
      if (site.unit !== unit) continue;
      const node = site.node;
      if (ts.isNewExpression(node)) {
        const args = node.arguments ?? [];
        const name = this.reference(unit, node.expression)?.path.at(-1) ?? '';
        if (site.library === 'undici' && UNDICI_CLIENTS.has(name)) {
          const origin = args[0];
          if (origin !== undefined) this.setUrl(site, unit, origin);
          const options = this.objectArgument(unit, args[1]);
          if (options !== undefined) this.readOptions(site, options);
        } else if (name === 'RetryAgent') {
          const inner = args[0] === undefined ? undefined : this.siteOf(unit, args[0]);
          if (inner !== undefined) site.via.push(inner);
        } else {
          const options = this.objectArgument(unit, args[0]);
          if (options !== undefined) this.readOptions(site, options);
        }
      } else if (ts.isCallExpression(node)) {
        const callee = unwrap(node.expression);
        const method = ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
        if (site.library === 'tessera') {
          this.configureTessera(site, node);
        } else if (method === 'compose') {
          this.configureCompose(site, node);
        } else {
          for (const argument of node.arguments) {
            const options = this.objectArgument(unit, argument);
            if (options !== undefined) this.readOptions(site, options);
          }
          if (site.library === 'got') this.gotDefaults(site, node.arguments);
        }
      }
    }
  }

  private configureTessera(site: HttpSite, call: ts.CallExpression): void {
    const options = this.objectArgument(site.unit, call.arguments[0]);
    const disabled = (name: string) => {
      const value = options === undefined ? undefined : optionOf(this.symbols, options, name);
      return value !== undefined && isFalse(value.node);
    };
    site.tessera = {
      node: { unit: site.unit, node: call },
      auth: true,
      timeout: true,
      retry: !disabled('retry'),
      breaker: !disabled('circuitBreaker'),
      trace: true,
    };
    const agent = options === undefined ? undefined : optionOf(this.symbols, options, 'agent');
    const agentSite = agent === undefined ? undefined : this.siteOf(agent.unit, agent.node);
    if (agentSite !== undefined) site.via.push(agentSite);
  }

  private configureCompose(site: HttpSite, call: ts.CallExpression): void {
    const flags = { auth: false, timeout: false, retry: false, breaker: false, trace: false };
    let tessera = false;
    for (const argument of call.arguments) {
      const value = unwrap(resolveFinal(this.symbols, site.unit, argument).expression);
      if (!ts.isCallExpression(value)) continue;
      const reference = this.reference(site.unit, value.expression);
      const name = reference?.path.at(-1);
      if (reference?.module === '@tessera/client' && name !== undefined) {
        if (!TESSERA_INTERCEPTORS.has(name)) continue;
        tessera = true;
        if (name === 'auth') flags.auth = true;
        else if (name === 'timeout') flags.timeout = true;
        else if (name === 'retry') flags.retry = true;
        else if (name === 'circuitBreakerPerUpstream') flags.breaker = true;
        else flags.trace = true;
      } else if (reference?.module === 'undici' && reference.path.includes('retry')) {
        site.retries.push({ unit: site.unit, node: value });
      }
    }
    if (tessera) site.tessera = { node: { unit: site.unit, node: call }, ...flags };
  }

  /** got retries idempotent requests twice by default; `retry: 0` / `{ limit: 0 }` turns it off. */
  private gotDefaults(site: HttpSite, args: readonly ts.Expression[]): void {
    for (const argument of args) {
      const options = this.objectArgument(site.unit, argument);
      const retry = options === undefined ? undefined : optionOf(this.symbols, options, 'retry');
      if (retry !== undefined) return;
    }
    site.retries.push({ unit: site.unit, node: site.node });
  }

  /** Functions a wrapper protects: `new CircuitBreaker(fn)`, `policy.execute(() => …)`. */
  private functionsOf(unit: SourceUnit, argument: ts.Expression | undefined): ts.Node[] {
    if (argument === undefined) return [];
    let node = unwrap(argument);
    // `this.call.bind(this)`
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === 'bind'
    ) {
      node = unwrap(node.expression.expression);
    }
    if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) return [node];
    const declaration = functionDeclarationFor(this.symbols, unit, node);
    return declaration === undefined ? [] : [declaration.node];
  }

  // ---- options ---------------------------------------------------------------------------

  private readOptions(site: HttpSite, options: Located<ts.ObjectLiteralExpression>): void {
    const get = (name: string) => optionOf(this.symbols, options, name);
    const headers = get('headers');
    if (headers !== undefined) this.collectHeaders(site, headers.unit, headers.node);
    for (const name of ['timeout', 'headersTimeout', 'bodyTimeout', 'requestTimeout']) {
      const value = get(name);
      if (value === undefined) continue;
      const number = staticNumber(this.symbols, value.unit, value.node);
      if (number === 0 || isFalse(value.node)) site.timeoutsDisabled.push(value);
      else site.timeouts.push(value);
    }
    const signal = get('signal');
    if (signal !== undefined && this.signalHasTimeout(signal.unit, signal.node)) {
      site.timeouts.push(signal);
    }
    for (const name of ['httpsAgent', 'httpAgent', 'agent', 'dispatcher']) {
      const value = get(name);
      if (value === undefined) continue;
      const target = this.siteOf(value.unit, value.node);
      if (target !== undefined) site.via.push(target);
      else {
        const nested = resolveObject(this.symbols, value.unit, value.node);
        for (const inner of ['https', 'http', 'http2']) {
          const agent = nested === undefined ? undefined : optionOf(this.symbols, nested, inner);
          const agentSite = agent === undefined ? undefined : this.siteOf(agent.unit, agent.node);
          if (agentSite !== undefined) site.via.push(agentSite);
        }
      }
    }
    this.readClientCert(site, options);
    for (const name of ['https', 'connect', 'tls']) {
      const value = get(name);
      const nested =
        value === undefined ? undefined : resolveObject(this.symbols, value.unit, value.node);
      if (nested !== undefined) this.readClientCert(site, nested);
    }
    for (const name of ['baseURL', 'baseUrl', 'prefixUrl', 'url', 'uri', 'origin']) {
      const value = get(name);
      if (value !== undefined && site.url === undefined) this.setUrl(site, value.unit, value.node);
    }
    if (site.library === 'got') {
      const retry = get('retry');
      if (retry !== undefined) {
        const object = resolveObject(this.symbols, retry.unit, retry.node);
        const limit =
          object === undefined
            ? staticNumber(this.symbols, retry.unit, retry.node)
            : (() => {
                const value = optionOf(this.symbols, object, 'limit');
                return value === undefined
                  ? undefined
                  : staticNumber(this.symbols, value.unit, value.node);
              })();
        if (limit !== 0) site.retries.push(retry);
      }
      const hooks = get('hooks');
      const hookObject =
        hooks === undefined ? undefined : resolveObject(this.symbols, hooks.unit, hooks.node);
      const before =
        hookObject === undefined ? undefined : optionOf(this.symbols, hookObject, 'beforeRequest');
      const list = before === undefined ? undefined : unwrap(before.node);
      if (before !== undefined && list !== undefined && ts.isArrayLiteralExpression(list)) {
        for (const element of list.elements) this.readInterceptor(site, before.unit, element);
      }
    }
    // `auth: { bearer }` (request) and `auth: { username, password }` (axios) are credentials.
    const auth = get('auth');
    if (auth !== undefined) {
      const object = resolveObject(this.symbols, auth.unit, auth.node);
      const secret =
        object === undefined
          ? undefined
          : (optionOf(this.symbols, object, 'bearer') ??
            optionOf(this.symbols, object, 'password'));
      if (secret !== undefined) {
        this.addHeader(site, 'authorization', secret.unit, secret.node, secret.node);
      }
    }
  }

  private readClientCert(site: HttpSite, options: Located<ts.ObjectLiteralExpression>): void {
    const get = (name: string) => optionOf(this.symbols, options, name);
    const cert = get('cert') ?? get('certificate');
    const key = get('key');
    const pfx = get('pfx');
    if ((cert !== undefined && key !== undefined) || pfx !== undefined) {
      site.clientCerts.push({ unit: options.unit, node: options.node });
    }
  }

  private signalHasTimeout(unit: SourceUnit, expression: ts.Expression, depth = 0): boolean {
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
          list.elements.some((element) => this.signalHasTimeout(unit, element, depth + 1))
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
    const value = resolveValue(this.symbols, unit, node);
    return value !== undefined && value.expression !== node
      ? this.signalHasTimeout(value.unit, value.expression, depth + 1)
      : false;
  }

  // ---- headers ---------------------------------------------------------------------------

  private addHeader(
    site: HttpSite,
    name: string,
    unit: SourceUnit,
    node: ts.Node,
    value: ts.Expression | undefined,
    atRequestTime?: boolean,
  ): void {
    const plain = value === undefined ? undefined : unwrap(value);
    const fact: HeaderFact = {
      name: name.toLowerCase(),
      unit,
      node,
      origins: value === undefined ? new Set(['dynamic']) : this.origins.of(unit, value),
      literal: plain !== undefined && ts.isStringLiteralLike(plain) ? plain.text : undefined,
      atRequestTime: atRequestTime ?? enclosingFunction(node) !== undefined,
      source: value === undefined ? undefined : this.sourceOf(unit, node, value),
    };
    site.headers.push(fact);
  }

  /** The definition of a header value when it is on another line than the header itself. */
  private sourceOf(
    unit: SourceUnit,
    at: ts.Node,
    value: ts.Expression,
  ): Located<ts.Node> | undefined {
    const definition = definitionOf(this.symbols, unit, value);
    if (definition.unit === unit && lineOf(unit, definition.node) === lineOf(unit, at))
      return undefined;
    return definition;
  }

  private collectHeaders(
    site: HttpSite,
    unit: SourceUnit,
    expression: ts.Expression,
    atRequestTime?: boolean,
    depth = 0,
  ): void {
    if (depth > 4) return;
    const node = unwrap(expression);
    if (inboundReference(node) === 'headers') {
      this.addHeader(site, '*', unit, node, node, atRequestTime);
      return;
    }
    if (ts.isCallExpression(node)) {
      for (const object of returnedObjects(this.symbols, unit, node)) {
        this.headersFromObject(site, object, atRequestTime, depth + 1);
      }
      return;
    }
    const object = resolveObject(this.symbols, unit, node);
    if (object !== undefined) this.headersFromObject(site, object, atRequestTime, depth + 1);
    if (ts.isIdentifier(node)) this.headerMutations(site, unit, node, atRequestTime);
  }

  private headersFromObject(
    site: HttpSite,
    object: Located<ts.ObjectLiteralExpression>,
    atRequestTime: boolean | undefined,
    depth: number,
  ): void {
    for (const property of object.node.properties) {
      if (ts.isPropertyAssignment(property) || ts.isShorthandPropertyAssignment(property)) {
        const name = propertyNameText(property.name);
        if (name === undefined) continue;
        const value = ts.isPropertyAssignment(property) ? property.initializer : property.name;
        if (
          ['common', 'get', 'post', 'put', 'patch', 'delete'].includes(name) &&
          resolveObject(this.symbols, object.unit, value) !== undefined
        ) {
          this.collectHeaders(site, object.unit, value, atRequestTime, depth + 1);
          continue;
        }
        this.addHeader(site, name, object.unit, property, value, atRequestTime);
      } else if (ts.isSpreadAssignment(property)) {
        this.collectHeaders(site, object.unit, property.expression, atRequestTime, depth + 1);
      }
    }
  }

  /** `headers['x-correlation-id'] = id`, `headers.set('traceparent', …)` on a local header object. */
  private headerMutations(
    site: HttpSite,
    unit: SourceUnit,
    identifier: ts.Identifier,
    atRequestTime: boolean | undefined,
  ): void {
    const file = this.factsByUnit.get(unit);
    if (file === undefined) return;
    const scope = enclosingFunction(identifier) ?? unit.sourceFile;
    for (const assignment of file.assignments) {
      if (!containsNode(scope, assignment)) continue;
      const chain = accessChain(assignment.left);
      if (chain?.length === 2 && chain[0] === identifier.text && chain[1] !== undefined) {
        this.addHeader(site, chain[1], unit, assignment, assignment.right, atRequestTime);
      }
    }
    for (const call of file.calls) {
      if (!containsNode(scope, call)) continue;
      const chain = accessChain(call.expression);
      const [name, value] = call.arguments;
      if (
        chain?.length === 2 &&
        chain[0] === identifier.text &&
        (chain[1] === 'set' || chain[1] === 'append') &&
        name !== undefined &&
        ts.isStringLiteralLike(name)
      ) {
        this.addHeader(site, name.text, unit, call, value, atRequestTime);
      } else if (
        calleeName(call) === 'inject' &&
        call.arguments.some((a) => ts.isIdentifier(a) && a.text === identifier.text)
      ) {
        this.addHeader(site, 'traceparent', unit, call, undefined, true);
      }
    }
  }

  /** A request interceptor or `beforeRequest` hook: headers set on its config parameter. */
  private readInterceptor(site: HttpSite, unit: SourceUnit, fn: ts.Expression): void {
    const target = functionDeclarationFor(this.symbols, unit, fn);
    const node = unwrap(fn);
    const declaration =
      ts.isArrowFunction(node) || ts.isFunctionExpression(node)
        ? { unit, node: node as ts.SignatureDeclaration & { body?: ts.ConciseBody } }
        : target;
    if (declaration?.node.body === undefined) return;
    const parameter = declaration.node.parameters[0];
    const config =
      parameter !== undefined && ts.isIdentifier(parameter.name) ? parameter.name.text : undefined;
    const body = declaration.node.body;
    const onConfig = (chain: string[] | undefined): chain is string[] =>
      chain !== undefined && config !== undefined && chain[0] === config;
    const visit = (child: ts.Node): void => {
      if (ts.isBinaryExpression(child) && child.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
        const chain = accessChain(child.left);
        if (onConfig(chain)) {
          if (chain[1] === 'headers' && chain.length >= 3) {
            const name = chain[chain.length - 1] ?? '';
            this.addHeader(site, name, declaration.unit, child, child.right, true);
          } else if (chain[1] === 'timeout' && chain.length === 2) {
            site.timeouts.push({ unit: declaration.unit, node: child });
          }
        }
      } else if (ts.isCallExpression(child)) {
        const chain = accessChain(child.expression);
        const [first, second] = child.arguments;
        if (
          onConfig(chain) &&
          chain[1] === 'headers' &&
          (chain[2] === 'set' || chain[2] === 'append') &&
          first !== undefined &&
          ts.isStringLiteralLike(first)
        ) {
          this.addHeader(site, first.text, declaration.unit, child, second, true);
        } else if (onConfig(chain) && chain[1] === 'headers' && chain[2] === 'setAuthorization') {
          this.addHeader(site, 'authorization', declaration.unit, child, first, true);
        } else if (calleeName(child) === 'inject') {
          this.addHeader(site, 'traceparent', declaration.unit, child, undefined, true);
        } else if (
          chain?.[0] === 'Object' &&
          chain[1] === 'assign' &&
          first !== undefined &&
          accessChain(first)?.join('.') === `${String(config)}.headers` &&
          second !== undefined
        ) {
          this.collectHeaders(site, declaration.unit, second, true);
        }
      } else if (ts.isReturnStatement(child) && child.expression !== undefined) {
        const object = resolveObject(this.symbols, declaration.unit, child.expression);
        const headers =
          object === undefined ? undefined : optionOf(this.symbols, object, 'headers');
        if (headers !== undefined) this.collectHeaders(site, headers.unit, headers.node, true);
      }
      ts.forEachChild(child, visit);
    };
    visit(body);
  }

  // ---- URLs ------------------------------------------------------------------------------

  private setUrl(site: HttpSite, unit: SourceUnit, expression: ts.Expression): void {
    const plain = unwrap(expression);
    const base =
      ts.isNewExpression(plain) && plain.arguments?.[1] !== undefined ? plain.arguments[1] : plain;
    const origins = this.origins.of(unit, base);
    site.url = {
      ...this.urlOf(unit, expression),
      // `\`http://templates.internal/t/${id}?v=${process.env.V}\``: configuration fills in the
      // path or query, but the scheme and host are fixed in the code.
      configurable: (origins.has('env') || origins.has('param')) && !this.fixedOrigin(unit, base),
    };
    const node = unwrap(expression);
    const target =
      ts.isNewExpression(node) && node.arguments?.[1] !== undefined ? node.arguments[1] : node;
    site.urlAt = definitionOf(this.symbols, unit, target);
  }

  /** Is the URL a template or concatenation whose literal start already names scheme and host? */
  private fixedOrigin(unit: SourceUnit, expression: ts.Expression): boolean {
    let node = unwrap(this.symbols.finalValue(unit, expression).expression);
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

  private urlOf(unit: SourceUnit, expression: ts.Expression): UrlFact {
    const node = unwrap(expression);
    if (
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'URL'
    ) {
      const [path, base] = node.arguments ?? [];
      const pathText = path === undefined ? undefined : staticText(this.symbols, unit, path);
      if (pathText !== undefined && /^[a-z]+:\/\//i.test(pathText.text)) return urlFact(pathText);
      const baseText = base === undefined ? undefined : staticText(this.symbols, unit, base);
      return urlFact(baseText ?? { text: '${…}', complete: false });
    }
    const text = staticText(this.symbols, unit, node);
    return urlFact(text ?? { text: '${…}', complete: false });
  }

  /** `http.request({ protocol, hostname, port, path })`. */
  private urlFromRequestOptions(
    site: HttpSite,
    options: Located<ts.ObjectLiteralExpression>,
  ): UrlFact | undefined {
    const text = (name: string) => {
      const value = optionOf(this.symbols, options, name);
      return value === undefined ? undefined : staticText(this.symbols, value.unit, value.node);
    };
    const host = text('hostname') ?? text('host');
    const protocol = text('protocol')?.text ?? (site.library === 'https' ? 'https:' : 'http:');
    if (host === undefined) {
      return urlFact({ text: `${protocol}//\${…}`, complete: false });
    }
    return urlFact({ text: `${protocol}//${host.text}`, complete: host.complete });
  }

  // ---- pass 3: calls ---------------------------------------------------------------------

  /**
   * Reverse proxies: `app.register(proxy, { upstream, undici, replyOptions })` for
   * @fastify/http-proxy and @fastify/reply-from, `createProxyMiddleware({ target, headers })`.
   */
  private collectProxy(unit: SourceUnit, call: ts.CallExpression): boolean {
    let options: Located<ts.ObjectLiteralExpression> | undefined;
    const callee = unwrap(call.expression);
    if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'register') {
      const plugin =
        call.arguments[0] === undefined ? undefined : this.reference(unit, call.arguments[0]);
      if (plugin?.module !== '@fastify/http-proxy' && plugin?.module !== '@fastify/reply-from') {
        return false;
      }
      options = this.objectArgument(unit, call.arguments[1]);
    } else {
      const reference = this.reference(unit, call.expression);
      if (reference?.module !== 'http-proxy-middleware') return false;
      options = this.objectArgument(unit, call.arguments[0]);
    }
    const site = this.newSite('client', 'undici', unit, call);
    site.proxy = true;
    if (options === undefined) return true;
    const get = (name: string) => optionOf(this.symbols, options, name);
    for (const name of ['upstream', 'base', 'target']) {
      const value = get(name);
      if (value !== undefined && site.url === undefined) this.setUrl(site, value.unit, value.node);
    }
    this.readOptions(site, options);
    for (const name of ['undici', 'http']) {
      const value = get(name);
      const nested =
        value === undefined ? undefined : resolveObject(this.symbols, value.unit, value.node);
      if (nested !== undefined) this.readOptions(site, nested);
      const request =
        nested === undefined ? undefined : optionOf(this.symbols, nested, 'requestOptions');
      const requestOptions =
        request === undefined ? undefined : resolveObject(this.symbols, request.unit, request.node);
      if (requestOptions !== undefined) this.readOptions(site, requestOptions);
    }
    const proxyTimeout = get('proxyTimeout');
    if (proxyTimeout !== undefined) site.timeouts.push(proxyTimeout);
    const replyOptions = get('replyOptions');
    const reply =
      replyOptions === undefined
        ? undefined
        : resolveObject(this.symbols, replyOptions.unit, replyOptions.node);
    const rewrite =
      reply === undefined ? undefined : optionOf(this.symbols, reply, 'rewriteRequestHeaders');
    if (rewrite !== undefined) this.headersFromFunction(site, rewrite.unit, rewrite.node);
    return true;
  }

  /** Headers a function returns (`rewriteRequestHeaders: (req, headers) => ({ ... })`). */
  private headersFromFunction(site: HttpSite, unit: SourceUnit, expression: ts.Expression): void {
    const node = unwrap(expression);
    const fn =
      ts.isArrowFunction(node) || ts.isFunctionExpression(node)
        ? { unit, node }
        : functionDeclarationFor(this.symbols, unit, node);
    const body = fn?.node.body;
    if (fn === undefined || body === undefined) return;
    if (!ts.isBlock(body)) {
      this.collectHeaders(site, fn.unit, body, true);
      return;
    }
    const visit = (child: ts.Node): void => {
      if (ts.isFunctionLike(child)) return;
      if (ts.isReturnStatement(child) && child.expression !== undefined) {
        this.collectHeaders(site, fn.unit, child.expression, true);
      }
      ts.forEachChild(child, visit);
    };
    ts.forEachChild(body, visit);
  }

  private collectCalls(file: FileFacts): void {
    const { unit } = file;
    for (const call of file.calls) {
      if (this.byNode.has(call)) continue;
      if (this.collectProxy(unit, call)) continue;
      const shape = this.requestShape(unit, call);
      if (shape === undefined) continue;
      const site = this.newSite('call', shape.library, unit, call);
      if (shape.client !== undefined) {
        site.client = shape.client;
        if (shape.client.kind === 'client') shape.client.calls.push(site);
        else site.via.push(shape.client);
      }
      const urlArgument = shape.url === undefined ? undefined : call.arguments[shape.url];
      if (urlArgument !== undefined) this.setUrl(site, unit, urlArgument);
      const options =
        shape.options === undefined
          ? undefined
          : this.objectArgument(unit, call.arguments[shape.options]);
      if (options !== undefined) {
        this.readOptions(site, options);
        if ((site.library === 'http' || site.library === 'https') && site.url === undefined) {
          site.url = this.urlFromRequestOptions(site, options);
          site.urlAt = options;
        }
      }
      if (site.library === 'https' && site.url?.scheme === 'unknown') {
        site.url = { ...site.url, scheme: 'https' };
      }
      if (site.library === 'got' && shape.client === undefined)
        this.gotDefaults(site, call.arguments);
      if (site.library === 'superagent' || site.library === 'http' || site.library === 'https') {
        this.readChain(site, call);
      }
    }
  }

  /** What kind of request a call is, and which arguments hold the URL and the options. */
  private requestShape(
    unit: SourceUnit,
    call: ts.CallExpression,
  ): { library: HttpLibrary; url?: number; options?: number; client?: HttpSite } | undefined {
    const callee = unwrap(call.expression);
    const reference = this.reference(unit, callee);
    const firstIsOptions = () =>
      call.arguments[0] !== undefined && this.objectArgument(unit, call.arguments[0]) !== undefined;
    if (reference !== undefined) {
      const library = MODULE_LIBRARY.get(reference.module);
      const method =
        reference.path.length === 0 ? undefined : reference.path[reference.path.length - 1];
      if (library === undefined || reference.path.length > 1) return undefined;
      return this.shapeFor(library, method, firstIsOptions());
    }
    if (ts.isIdentifier(callee) && callee.text === 'fetch' && this.isGlobal(unit, callee)) {
      return { library: 'fetch', url: 0, options: 1 };
    }
    const chain = accessChain(callee);
    if (
      chain?.length === 2 &&
      ['globalThis', 'global', 'window', 'self'].includes(chain[0] ?? '') &&
      chain[1] === 'fetch'
    ) {
      return { library: 'fetch', url: 0, options: 1 };
    }
    // Calls through an instance: `client.get(…)`, `this.http.post(…)`, `api(…)`, `pool.request(…)`.
    if (!this.hasInstances) return undefined;
    if (ts.isPropertyAccessExpression(callee) && !INSTANCE_METHODS.has(callee.name.text)) {
      return undefined;
    }
    const receiver = ts.isPropertyAccessExpression(callee) ? callee.expression : callee;
    const site = this.siteOf(unit, receiver);
    if (site === undefined || site.kind === 'call') return undefined;
    const method = ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
    if (site.library === 'undici' || site.library === 'tessera') {
      if (method !== undefined && POOL_CALLS.has(method)) {
        return { library: 'undici', options: 0, client: site };
      }
      return undefined;
    }
    if (site.library === 'http' || site.library === 'https') return undefined;
    const shape = this.shapeFor(site.library, method, firstIsOptions());
    return shape === undefined ? undefined : { ...shape, client: site };
  }

  private shapeFor(
    library: HttpLibrary,
    method: string | undefined,
    firstIsOptions: boolean,
  ): { library: HttpLibrary; url?: number; options?: number } | undefined {
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
  private isGlobal(unit: SourceUnit, identifier: ts.Identifier): boolean {
    if (this.symbols.importsOf(unit).has(identifier.text)) return false;
    if (resolveValue(this.symbols, unit, identifier) !== undefined) return false;
    for (const statement of unit.sourceFile.statements) {
      if (ts.isFunctionDeclaration(statement) && statement.name?.text === identifier.text) {
        return false;
      }
    }
    return true;
  }

  /** superagent's builder and `http.request(...)`'s returned request: `.set()`, `.timeout()`. */
  private readChain(site: HttpSite, call: ts.CallExpression): void {
    let current: ts.Node = call;
    for (let i = 0; i < 12; i++) {
      const parent: ts.Node = current.parent;
      if (!ts.isPropertyAccessExpression(parent) || !ts.isCallExpression(parent.parent)) break;
      const chained = parent.parent;
      const method = parent.name.text;
      const [first, second] = chained.arguments;
      if (method === 'set' && first !== undefined && ts.isStringLiteralLike(first)) {
        this.addHeader(site, first.text, site.unit, chained, second);
      } else if (method === 'set' && first !== undefined) {
        this.collectHeaders(site, site.unit, first);
      } else if (method === 'timeout' || method === 'setTimeout') {
        site.timeouts.push({ unit: site.unit, node: chained });
      } else if (method === 'retry') {
        site.retries.push({ unit: site.unit, node: chained });
      } else if (method === 'disableTLSCerts') {
        this.insecureTls.push({ unit: site.unit, node: chained });
      } else if (method === 'cert' || method === 'pfx') {
        site.clientCerts.push({ unit: site.unit, node: chained });
      }
      current = chained;
    }
    // `const req = https.request(…); req.setTimeout(5000)`.
    const declaration = call.parent;
    if (ts.isVariableDeclaration(declaration) && ts.isIdentifier(declaration.name)) {
      const name = declaration.name.text;
      const scope = enclosingFunction(call) ?? site.unit.sourceFile;
      const file = this.factsByUnit.get(site.unit);
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
  }

  // ---- pass 4: defaults, interceptors, retries on instances -------------------------------

  private collectMutations(file: FileFacts): void {
    const { unit } = file;
    for (const assignment of file.assignments) {
      // `axios.defaults.headers.common['x-internal'] = 'true'`, `client.defaults.timeout = 5000`.
      let node: ts.Expression = unwrap(assignment.left);
      const names: string[] = [];
      while (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
        const name = ts.isPropertyAccessExpression(node)
          ? node.name.text
          : ts.isStringLiteralLike(node.argumentExpression)
            ? node.argumentExpression.text
            : undefined;
        if (name === undefined) break;
        if (name === 'defaults') {
          const site = this.axiosTarget(unit, node.expression, 'defaults');
          if (site === undefined) break;
          if (names[0] === 'timeout') {
            const value = staticNumber(this.symbols, unit, assignment.right);
            if (value === 0) site.timeoutsDisabled.push({ unit, node: assignment });
            else site.timeouts.push({ unit, node: assignment });
          } else if (names[0] === 'headers' && names.length >= 2) {
            const header = names[names.length - 1] ?? '';
            this.addHeader(site, header, unit, assignment, assignment.right);
          }
          break;
        }
        names.unshift(name);
        node = unwrap(node.expression);
      }
    }
    for (const call of file.calls) {
      const chain = accessChain(call.expression);
      // `client.interceptors.request.use(fn)`.
      if (
        chain !== undefined &&
        chain.length >= 4 &&
        chain.slice(-3).join('.') === 'interceptors.request.use'
      ) {
        const receiver = (
          (
            (call.expression as ts.PropertyAccessExpression)
              .expression as ts.PropertyAccessExpression
          ).expression as ts.PropertyAccessExpression
        ).expression;
        const site = this.axiosTarget(unit, receiver, 'interceptors');
        const fn = call.arguments[0];
        if (site !== undefined && fn !== undefined) this.readInterceptor(site, unit, fn);
        continue;
      }
      const reference = this.reference(unit, call.expression);
      if (reference === undefined) continue;
      const target = call.arguments[0];
      if (reference.module === 'axios-retry' || reference.module === 'retry-axios') {
        const site = target === undefined ? undefined : this.axiosTarget(unit, target, 'defaults');
        site?.retries.push({ unit, node: call });
        if (site === undefined) this.retries.push({ unit, node: call });
      } else if (reference.module === 'undici' && reference.path.at(-1) === 'setGlobalDispatcher') {
        const site = target === undefined ? undefined : this.siteOf(unit, target);
        if (site !== undefined) this.globalDispatchers.push(site);
      }
    }
  }

  /** The site an axios expression configures; the default instance has shared pseudo-sites. */
  private axiosTarget(
    unit: SourceUnit,
    expression: ts.Expression,
    what: 'defaults' | 'interceptors',
  ): HttpSite | undefined {
    const reference = this.reference(unit, expression);
    if (reference?.module === 'axios' && reference.path.length === 0) {
      if (what === 'defaults') {
        this.axiosDefaults ??= this.newSite('dispatcher', 'axios', unit, expression);
        return this.axiosDefaults;
      }
      this.axiosInterceptors ??= this.newSite('dispatcher', 'axios', unit, expression);
      return this.axiosInterceptors;
    }
    const site = this.siteOf(unit, expression);
    return site?.kind === 'client' ? site : undefined;
  }

  // ---- pass 5: project facts -------------------------------------------------------------

  private collectProjectFacts(file: FileFacts): void {
    const { unit } = file;
    for (const module of file.modules) {
      if (DEPRECATED_HTTP_MODULES.includes(module)) {
        this.deprecated.push({ unit, node: this.importNode(file, module) });
      }
      if (PROPAGATION_MODULES.includes(module)) {
        this.propagation.push(evidenceAt(unit, this.importNode(file, module)));
      }
    }
    for (const property of file.properties) {
      const name = propertyNameText(property.name);
      if (!ts.isPropertyAssignment(property)) continue;
      if (
        (name === 'rejectUnauthorized' || name === 'strictSSL') &&
        isFalse(property.initializer) &&
        !serverTlsOptions(property)
      ) {
        this.insecureTls.push({ unit, node: property });
      } else if (name === 'checkServerIdentity' && returnsNothing(property.initializer)) {
        this.insecureTls.push({ unit, node: property });
      } else if (name === 'NODE_TLS_REJECT_UNAUTHORIZED' && isZero(property.initializer)) {
        this.tlsInCode.push({ unit, node: property });
      } else if (name === 'scopes' && this.inServiceMap(unit, property)) {
        this.scopes.push({ unit, node: property });
      } else if (
        name === 'scheme' &&
        /https/i.test(property.initializer.getText(unit.sourceFile))
      ) {
        this.guards.push({ unit, node: property });
      }
    }
    for (const assignment of file.assignments) {
      const chain = accessChain(assignment.left);
      if (chain?.at(-1) === 'rejectUnauthorized' && isFalse(assignment.right)) {
        this.insecureTls.push({ unit, node: assignment });
      } else if (
        envName(assignment.left) === 'NODE_TLS_REJECT_UNAUTHORIZED' &&
        isZero(assignment.right)
      ) {
        this.tlsInCode.push({ unit, node: assignment });
      }
    }
    for (const statement of file.ifs) {
      const condition = statement.expression.getText(unit.sourceFile);
      if (!/https/i.test(condition)) continue;
      if (refuses(statement.thenStatement)) this.guards.push({ unit, node: statement });
    }
    for (const call of file.calls) {
      const name = calleeName(call) ?? '';
      const args = () => call.arguments.map((a) => a.getText(unit.sourceFile)).join(' ');
      if (/^(assert|ok|invariant|strictEqual|equal|match)$/.test(name) && /https/i.test(args())) {
        this.guards.push({ unit, node: call });
      } else if (
        /^(startsWith|regex|pattern|refine|url)$/.test(name) &&
        /https/i.test(args()) &&
        ts.isPropertyAccessExpression(call.expression) &&
        ts.isCallExpression(unwrap(call.expression.expression))
      ) {
        this.guards.push({ unit, node: call });
      }
      const reference = this.reference(unit, call.expression);
      if (reference?.module === '@tessera/client' && reference.path.at(-1) === 'createServiceMap') {
        const options = this.objectArgument(unit, call.arguments[1]);
        const insecure =
          options === undefined ? undefined : optionOf(this.symbols, options, 'allowInsecureHttp');
        if (insecure !== undefined && unwrap(insecure.node).kind === ts.SyntaxKind.TrueKeyword) {
          this.insecureMaps.push({ unit, node: insecure.node });
        } else {
          this.guards.push({ unit, node: call });
        }
      }
      if (reference !== undefined && RETRY_MODULES.has(reference.module)) {
        this.retries.push({ unit, node: call });
        this.wrappers.push({
          library: reference.module,
          unit,
          node: call,
          breaker: false,
          timeout: false,
          retry: true,
          functions: this.functionsOf(unit, call.arguments[0]),
        });
      }
      if (reference?.module === 'p-timeout' || reference?.module === 'promise-timeout') {
        this.wrappers.push({
          library: reference.module,
          unit,
          node: call,
          breaker: false,
          timeout: true,
          retry: false,
          functions: call.arguments[0] === undefined ? [] : [call.arguments[0]],
        });
      }
      const chain = accessChain(call.expression);
      if (chain?.join('.') === 'Promise.race') {
        const list = call.arguments[0] === undefined ? undefined : unwrap(call.arguments[0]);
        if (
          list !== undefined &&
          ts.isArrayLiteralExpression(list) &&
          /setTimeout\s*\(/.test(list.getText(unit.sourceFile))
        ) {
          this.wrappers.push({
            library: 'Promise.race',
            unit,
            node: call,
            breaker: false,
            timeout: true,
            retry: false,
            functions: [...list.elements],
          });
        }
      }
      if (reference?.module === 'cockatiel' && reference.path.at(-1) === 'wrap') {
        const flags = { breaker: false, timeout: false, retry: false };
        for (const argument of call.arguments) {
          const policy = this.policyOf(unit, argument);
          flags.breaker ||= policy?.breaker ?? false;
          flags.timeout ||= policy?.timeout ?? false;
          flags.retry ||= policy?.retry ?? false;
        }
        this.policies.set(call, flags);
      }
    }
    // `policy.execute(() => client.get(…))` after every policy of every file is known.
    for (const call of file.calls) {
      const callee = unwrap(call.expression);
      if (!ts.isPropertyAccessExpression(callee) || callee.name.text !== 'execute') continue;
      const policy = this.policyOf(unit, callee.expression);
      if (policy === undefined) continue;
      if (policy.breaker) this.breakerNodes.set(call, unit);
      if (policy.retry) this.retries.push({ unit, node: call });
      this.wrappers.push({
        library: 'cockatiel',
        unit,
        node: call,
        ...policy,
        functions: this.functionsOf(unit, call.arguments[0]),
      });
    }
  }

  private policyOf(
    unit: SourceUnit,
    expression: ts.Expression,
  ): { breaker: boolean; timeout: boolean; retry: boolean } | undefined {
    const node = unwrap(expression);
    const direct = this.policies.get(node);
    if (direct !== undefined) return direct;
    const final = unwrap(resolveFinal(this.symbols, unit, node).expression);
    const policy = this.policies.get(final);
    if (policy !== undefined) return policy;
    // cockatiel 2: `Policy.handleAll().circuitBreaker(…)`.
    if (ts.isCallExpression(final)) {
      const text = final.getText();
      if (/\bPolicy\s*\./.test(text)) {
        const name = calleeName(final) ?? '';
        return {
          breaker: name === 'circuitBreaker',
          timeout: name === 'timeout',
          retry: name === 'retry',
        };
      }
    }
    return undefined;
  }

  private inServiceMap(unit: SourceUnit, property: ts.Node): boolean {
    for (const current of ancestors(property)) {
      if (ts.isCallExpression(current)) {
        const reference = this.reference(unit, current.expression);
        return (
          reference?.module === '@tessera/client' && reference.path.at(-1) === 'createServiceMap'
        );
      }
      if (ts.isFunctionLike(current)) return false;
    }
    return false;
  }

  private importNode(file: FileFacts, module: string): ts.Node {
    for (const statement of file.unit.sourceFile.statements) {
      if (
        ts.isImportDeclaration(statement) &&
        ts.isStringLiteral(statement.moduleSpecifier) &&
        statement.moduleSpecifier.text === module
      ) {
        return statement;
      }
    }
    for (const call of file.calls) {
      const first = call.arguments[0];
      if (first !== undefined && ts.isStringLiteralLike(first) && first.text === module)
        return call;
    }
    return file.unit.sourceFile.statements[0] ?? file.unit.sourceFile;
  }

  /** Global axios defaults and undici's global dispatcher apply to the calls they cover. */
  private applyGlobals(): void {
    for (const site of this.sites) {
      if (
        site.library === 'axios' &&
        site !== this.axiosDefaults &&
        site !== this.axiosInterceptors
      ) {
        if (this.axiosDefaults !== undefined) site.via.push(this.axiosDefaults);
        if (
          this.axiosInterceptors !== undefined &&
          site.kind === 'call' &&
          site.client === undefined
        ) {
          site.via.push(this.axiosInterceptors);
        }
      }
      if (
        site.kind === 'call' &&
        (site.library === 'fetch' || site.library === 'undici') &&
        site.client === undefined &&
        !site.via.some((v) => v.library === 'undici' || v.library === 'tessera')
      ) {
        site.via.push(...this.globalDispatchers);
      }
    }
  }

  // ---- pass 6: hand-rolled retries, failure logging ---------------------------------------

  private collectHandRolledRetries(
    file: FileFacts,
    callsByUnit: ReadonlyMap<SourceUnit, readonly HttpSite[]>,
  ): void {
    const calls = callsByUnit.get(file.unit) ?? [];
    if (calls.length === 0) return;
    for (const loop of file.loops) {
      if (!calls.some((call) => containsNode(loop.statement, call.node))) continue;
      const text = loop.statement.getText(file.unit.sourceFile);
      const delays = file.calls.some(
        (call) => containsNode(loop.statement, call) && DELAY_CALLS.test(calleeName(call) ?? ''),
      );
      if (delays && EXPONENTIAL.test(text)) this.retries.push({ unit: file.unit, node: loop });
    }
  }

  /** `breaker.fire(…)` on an opossum breaker, or `policy.execute(…)` on a cockatiel breaker. */
  private firesBreaker(unit: SourceUnit, call: ts.CallExpression): boolean {
    if (this.breakerNodes.has(call)) return true;
    const callee = unwrap(call.expression);
    if (!ts.isPropertyAccessExpression(callee) || callee.name.text !== 'fire') return false;
    const final = unwrap(resolveFinal(this.symbols, unit, callee.expression).expression);
    return this.breakerNodes.has(final);
  }

  /** Log calls in a block, or one level down in the project's own helpers it calls. */
  private logsIn(unit: SourceUnit, node: ts.Node): Located<ts.CallExpression>[] {
    const direct = logCallsWithin(node).map((call) => ({ unit, node: call }));
    if (direct.length > 0) return direct;
    const out: Located<ts.CallExpression>[] = [];
    const visit = (child: ts.Node): void => {
      if (ts.isCallExpression(child)) {
        const helper = functionDeclarationFor(this.symbols, unit, child.expression);
        const body = helper?.node.body;
        if (helper !== undefined && body !== undefined) {
          for (const call of logCallsWithin(body)) out.push({ unit: helper.unit, node: call });
        }
      }
      ts.forEachChild(child, visit);
    };
    visit(node);
    return out;
  }

  private collectFailureLogging(): void {
    const seen = new Set<ts.Node>();
    const record = (logs: readonly Located<ts.CallExpression>[], auth: boolean) => {
      const first = logs[0];
      if (first === undefined || seen.has(first.node)) return;
      seen.add(first.node);
      this.failureLogging.push({ at: first, auth });
    };
    const calls = this.sites.filter((site) => site.kind === 'call');
    const visitAuthChecks = (unit: SourceUnit, scope: ts.Node): void => {
      const visit = (node: ts.Node): void => {
        if (
          ts.isIfStatement(node) &&
          /\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(node.expression.getText(unit.sourceFile))
        ) {
          record(this.logsIn(unit, node.thenStatement), true);
        }
        ts.forEachChild(node, visit);
      };
      visit(scope);
    };
    // Functions that make outbound calls: a failure of `upstreams.call()` is a failed call too.
    const wrappers = new Set<string>();
    for (const site of calls) {
      const scope = enclosingFunction(site.node);
      const name = scope === undefined ? undefined : functionName(scope);
      if (name !== undefined) wrappers.add(name);
    }
    for (const site of calls) {
      // try { await call } catch { log }
      for (const current of ancestors(site.node)) {
        if (ts.isTryStatement(current) && containsNode(current.tryBlock, site.node)) {
          if (current.catchClause !== undefined) {
            record(this.logsIn(site.unit, current.catchClause.block), false);
          }
          break;
        }
        if (ts.isFunctionLike(current)) break;
      }
      // call.catch((err) => log(err)), call.then(ok, (err) => log(err))
      let outer: ts.Node = site.node;
      while (
        ts.isPropertyAccessExpression(outer.parent) &&
        ts.isCallExpression(outer.parent.parent)
      ) {
        const method = outer.parent.name.text;
        const chained = outer.parent.parent;
        const handler =
          method === 'catch'
            ? chained.arguments[0]
            : method === 'then'
              ? chained.arguments[1]
              : undefined;
        if (handler !== undefined) record(this.logsIn(site.unit, handler), false);
        outer = chained;
      }
      // if (response.status === 401) log(...) in the function making the call.
      const scope = enclosingFunction(site.node);
      if (scope !== undefined) visitAuthChecks(site.unit, scope);
    }
    for (const file of this.facts) {
      // try { await upstreams.call(…) } catch (error) { return unavailable(request, reply, error) }
      for (const statement of file.tries) {
        if (statement.catchClause === undefined) continue;
        const callsWrapper = file.calls.some(
          (call) =>
            containsNode(statement.tryBlock, call) &&
            (wrappers.has(calleeName(call) ?? '') || this.firesBreaker(file.unit, call)),
        );
        if (callsWrapper) record(this.logsIn(file.unit, statement.catchClause.block), false);
      }
      // `const answer = await upstreams.call(…); return relay(request, reply, answer)`: the
      // function that receives the upstream's answer, one helper deep, may log its 401/403.
      const scopesSeen = new Set<ts.Node>();
      for (const call of file.calls) {
        if (!wrappers.has(calleeName(call) ?? '')) continue;
        const scope = enclosingFunction(call);
        // A function calling several wrappers is searched once.
        if (scope === undefined || scopesSeen.has(scope)) continue;
        scopesSeen.add(scope);
        visitAuthChecks(file.unit, scope);
        for (const inner of file.calls) {
          if (!containsNode(scope, inner)) continue;
          const helper = functionDeclarationFor(this.symbols, file.unit, inner.expression);
          if (helper?.node.body !== undefined) visitAuthChecks(helper.unit, helper.node.body);
        }
      }
      for (const call of file.calls) {
        const chain = accessChain(call.expression);
        // client.interceptors.response.use(ok, (error) => { log … })
        if (chain?.slice(-3).join('.') === 'interceptors.response.use') {
          const handler = call.arguments[1];
          if (handler !== undefined) {
            record(
              this.logsIn(file.unit, handler),
              /\b(401|403)\b/.test(handler.getText(file.unit.sourceFile)),
            );
          }
        }
        // breaker.on('failure', (err) => log(…))
        const event = call.arguments[0];
        if (
          chain?.at(-1) === 'on' &&
          event !== undefined &&
          ts.isStringLiteralLike(event) &&
          /^(failure|reject|timeout|open)$/.test(event.text) &&
          call.arguments[1] !== undefined
        ) {
          const receiver = (call.expression as ts.PropertyAccessExpression).expression;
          const final = unwrap(resolveFinal(this.symbols, file.unit, receiver).expression);
          if (this.breakerNodes.has(final))
            record(this.logsIn(file.unit, call.arguments[1]), false);
        }
      }
    }
  }

  /** `--require @opentelemetry/auto-instrumentations-node/register` in scripts or images. */
  private collectTextPropagation(): void {
    const pattern =
      /auto-instrumentations-node\/register|dd-trace\/init|elastic-apm-node\/start|--require\s+newrelic/;
    for (const file of this.ctx.project.textFiles) {
      const match = pattern.exec(file.text);
      if (match === null) continue;
      this.propagation.push(
        evidenceAtLine(file.path, file.text, lineAtOffset(file.text, match.index)),
      );
    }
  }
}

function returnsNothing(expression: ts.Expression): boolean {
  const node = unwrap(expression);
  if (!ts.isArrowFunction(node) && !ts.isFunctionExpression(node)) return false;
  if (!ts.isBlock(node.body)) {
    const body = unwrap(node.body);
    return (
      (ts.isIdentifier(body) && body.text === 'undefined') ||
      body.kind === ts.SyntaxKind.NullKeyword ||
      ts.isVoidExpression(body)
    );
  }
  return node.body.statements.every(
    (statement) =>
      ts.isReturnStatement(statement) &&
      (statement.expression === undefined ||
        (ts.isIdentifier(statement.expression) && statement.expression.text === 'undefined')),
  );
}

function isZero(expression: ts.Expression): boolean {
  const node = unwrap(expression);
  return (ts.isStringLiteralLike(node) || ts.isNumericLiteral(node)) && node.text === '0';
}

/** Does a branch refuse to go on (throw, exit, or answer with an error)? */
function refuses(statement: ts.Statement): boolean {
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (ts.isThrowStatement(node)) found = true;
    else if (ts.isCallExpression(node)) {
      const chain = accessChain(node.expression);
      if (chain?.join('.') === 'process.exit') found = true;
    }
    if (!ts.isFunctionLike(node)) ts.forEachChild(node, visit);
  };
  visit(statement);
  return found;
}

/** The name a function is known by: its own, its variable's, or its property's. */
function functionName(fn: ts.SignatureDeclaration): string | undefined {
  if (
    (ts.isFunctionDeclaration(fn) || ts.isMethodDeclaration(fn) || ts.isFunctionExpression(fn)) &&
    fn.name !== undefined
  ) {
    return propertyNameText(fn.name);
  }
  const parent = fn.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyAssignment(parent)) return propertyNameText(parent.name);
  return undefined;
}
