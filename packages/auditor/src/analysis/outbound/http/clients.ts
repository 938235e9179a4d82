import ts from 'typescript';
import { unwrap } from '../../../ast/syntax.ts';
import { workloadIdentityFacts } from '../../identity.ts';
import { optionOf, resolveFinal } from '../expressions.ts';
import type { HttpSite } from '../model.ts';
import type { FileFacts } from '../scan.ts';
import { isFalse, type HttpBuild } from './build.ts';
import { gotDefaults, readOptions, setUrl } from './options.ts';
import { isNestHttpModule, nestHttpModuleOptions } from '../nest.ts';

const UNDICI_DISPATCHERS = new Set([
  'Agent',
  'ProxyAgent',
  'RetryAgent',
  'EnvHttpProxyAgent',
  'MockAgent',
]);
export const UNDICI_CLIENTS = new Set(['Pool', 'Client', 'BalancedPool', 'RoundRobinPool']);
const TESSERA_INTERCEPTORS = new Set([
  'auth',
  'timeout',
  'retry',
  'circuitBreakerPerUpstream',
  'trace',
]);

/**
 * Instances calls go through and transport configuration: undici `Pool`/`Client`/`Agent`,
 * `https.Agent`, `axios.create`, `got.extend`, Tessera's `createServiceDispatcher`; and the
 * client-credentials token sources of `@tessera/client`.
 */
export function collectClients(build: HttpBuild, file: FileFacts): void {
  const { unit } = file;
  for (const expression of file.news) {
    const reference = build.reference(unit, expression.expression);
    if (reference === undefined) continue;
    const name = reference.path.at(-1);
    if (reference.module === 'undici' && name !== undefined) {
      if (UNDICI_CLIENTS.has(name)) build.newSite('client', 'undici', unit, expression);
      else if (UNDICI_DISPATCHERS.has(name)) {
        const site = build.newSite('dispatcher', 'undici', unit, expression);
        if (name === 'RetryAgent') site.retries.push({ unit, node: expression });
      }
    } else if ((reference.module === 'https' || reference.module === 'http') && name === 'Agent') {
      build.newSite('dispatcher', reference.module, unit, expression);
    } else if (reference.module === '@tessera/client' && name === 'ClientCredentialsTokenSource') {
      build.tokenSources.push({ unit, node: expression });
    }
  }
  for (const call of file.calls) {
    const reference = build.reference(unit, call.expression);
    if (reference === undefined) continue;
    const name = reference.path.at(-1);
    if (reference.module === 'axios' && reference.path.length === 1 && name === 'create') {
      build.newSite('client', 'axios', unit, call);
    } else if (reference.module === 'got' && reference.path.length === 1 && name === 'extend') {
      build.newSite('client', 'got', unit, call);
    } else if (isNestHttpModule(build.symbols, unit, call)) {
      build.nestHttpModules.push(build.newSite('client', 'axios', unit, call));
    } else if (reference.module === '@tessera/client' && name === 'createServiceDispatcher') {
      build.newSite('dispatcher', 'tessera', unit, call);
    }
  }
}

/** A Tessera workload identity's dispatcher presents the service's SVID: a client certificate. */
export function collectIdentityDispatchers(build: HttpBuild): void {
  for (const dispatcher of workloadIdentityFacts(build.ctx).dispatchers) {
    if (build.isSite(dispatcher.node)) continue;
    const site = build.newSite('dispatcher', 'undici', dispatcher.unit, dispatcher.node);
    site.clientCerts.push(dispatcher);
  }
}

/** `client.extend(…)`, `agent.compose(…)`: new sites derived from known ones. */
export function collectDerived(build: HttpBuild): void {
  for (let round = 0; round < 4; round++) {
    let added = false;
    for (const file of build.facts) {
      for (const call of file.calls) {
        if (build.isSite(call)) continue;
        const callee = unwrap(call.expression);
        if (!ts.isPropertyAccessExpression(callee)) continue;
        const method = callee.name.text;
        if (method !== 'extend' && method !== 'compose') continue;
        const base = build.siteOf(file.unit, callee.expression);
        const inlineAgent =
          base === undefined &&
          method === 'compose' &&
          ts.isNewExpression(unwrap(callee.expression));
        if (base === undefined && !inlineAgent) continue;
        if (method === 'extend' && base?.library !== 'got') continue;
        const site = build.newSite(
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

/** Reads the options each client and dispatcher of a file is created with. */
export function configureClients(build: HttpBuild, file: FileFacts): void {
  for (const site of build.sites) {
    if (site.unit !== file.unit) continue;
    const node = site.node;
    if (ts.isNewExpression(node)) configureConstructed(build, site, node);
    else if (ts.isCallExpression(node)) configureCreated(build, site, node);
  }
}

/** `new Pool(origin, options)`, `new RetryAgent(agent)`, `new Agent(options)`. */
function configureConstructed(build: HttpBuild, site: HttpSite, node: ts.NewExpression): void {
  const { unit } = site;
  const args = node.arguments ?? [];
  const name = build.reference(unit, node.expression)?.path.at(-1) ?? '';
  if (site.library === 'undici' && UNDICI_CLIENTS.has(name)) {
    const origin = args[0];
    if (origin !== undefined) setUrl(build, site, unit, origin);
    const options = build.objectArgument(unit, args[1]);
    if (options !== undefined) readOptions(build, site, options);
  } else if (name === 'RetryAgent') {
    const inner = args[0] === undefined ? undefined : build.siteOf(unit, args[0]);
    if (inner !== undefined) site.via.push(inner);
  } else {
    const options = build.objectArgument(unit, args[0]);
    if (options !== undefined) readOptions(build, site, options);
  }
}

/** `axios.create(options)`, `got.extend(options)`, `agent.compose(…)`, Tessera's dispatcher. */
function configureCreated(build: HttpBuild, site: HttpSite, node: ts.CallExpression): void {
  const callee = unwrap(node.expression);
  const method = ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
  if (site.library === 'tessera') {
    configureTessera(build, site, node);
  } else if (build.nestHttpModules.includes(site)) {
    const options = nestHttpModuleOptions(build.symbols, site.unit, node);
    if (options !== undefined) readOptions(build, site, options);
  } else if (method === 'compose') {
    configureCompose(build, site, node);
  } else {
    for (const argument of node.arguments) {
      const options = build.objectArgument(site.unit, argument);
      if (options !== undefined) readOptions(build, site, options);
    }
    if (site.library === 'got') gotDefaults(build, site, node.arguments);
  }
}

function configureTessera(build: HttpBuild, site: HttpSite, call: ts.CallExpression): void {
  const options = build.objectArgument(site.unit, call.arguments[0]);
  const disabled = (name: string) => {
    const value = options === undefined ? undefined : optionOf(build.symbols, options, name);
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
  const agent = options === undefined ? undefined : optionOf(build.symbols, options, 'agent');
  const agentSite = agent === undefined ? undefined : build.siteOf(agent.unit, agent.node);
  if (agentSite !== undefined) site.via.push(agentSite);
}

/** `agent.compose(auth(…), retry(…))`: Tessera's interceptors and undici's retry. */
function configureCompose(build: HttpBuild, site: HttpSite, call: ts.CallExpression): void {
  const flags = { auth: false, timeout: false, retry: false, breaker: false, trace: false };
  let tessera = false;
  for (const argument of call.arguments) {
    const value = unwrap(resolveFinal(build.symbols, site.unit, argument).expression);
    if (!ts.isCallExpression(value)) continue;
    const reference = build.reference(site.unit, value.expression);
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
