import type { SourceUnit } from '../../project/load.ts';
import type { AuditContext } from '../context.ts';
import { HttpBuild } from './http/build.ts';
import { collectCalls } from './http/calls.ts';
import {
  collectClients,
  collectDerived,
  collectIdentityDispatchers,
  configureClients,
} from './http/clients.ts';
import { applyGlobals, collectInstanceConfiguration } from './http/defaults.ts';
import { collectFailureLogging } from './http/failure-logging.ts';
import {
  collectBreakers,
  collectHandRolledRetries,
  collectPolicyExecutions,
  collectWrappers,
} from './http/resilience.ts';
import {
  collectHttpsGuards,
  collectModules,
  collectTextPropagation,
  collectTlsSettings,
} from './http/transport.ts';
import { collectTokenRequests, linkObtainedTokens } from './http/token-requests.ts';
import type { HttpModel, HttpSite } from './model.ts';
import { productionFacts } from './scan.ts';

export { DEPRECATED_HTTP_MODULES } from './http/transport.ts';

/**
 * Builds the outbound HTTP model of a project; see {@link HttpModel}. The steps run in this
 * order because each reads what the ones before it found: calls are recognised through the
 * clients already known, and resilience and logging are judged around the calls.
 */
export function analyseHttp(ctx: AuditContext): HttpModel {
  const build = new HttpBuild(ctx.symbols, productionFacts(ctx), ctx);
  const { facts } = build;
  for (const file of facts) {
    collectClients(build, file);
    collectBreakers(build, file);
  }
  collectIdentityDispatchers(build);
  collectDerived(build);
  for (const file of facts) configureClients(build, file);
  build.hasInstances = build.sites.length > 0;
  for (const file of facts) collectCalls(build, file);
  collectTokenRequests(build);
  for (const file of facts) collectInstanceConfiguration(build, file);
  for (const file of facts) {
    collectModules(build, file);
    collectTlsSettings(build, file);
    collectHttpsGuards(build, file);
    collectWrappers(build, file);
  }
  for (const file of facts) collectPolicyExecutions(build, file);
  applyGlobals(build);
  const callsByUnit = callsPerFile(build.sites);
  for (const file of facts) collectHandRolledRetries(build, file, callsByUnit);
  collectFailureLogging(build);
  collectTextPropagation(build);
  linkObtainedTokens(build);
  return modelOf(build);
}

function callsPerFile(sites: readonly HttpSite[]): Map<SourceUnit, HttpSite[]> {
  const callsByUnit = new Map<SourceUnit, HttpSite[]>();
  for (const site of sites) {
    if (site.kind !== 'call') continue;
    const list = callsByUnit.get(site.unit) ?? [];
    list.push(site);
    callsByUnit.set(site.unit, list);
  }
  return callsByUnit;
}

function modelOf(build: HttpBuild): HttpModel {
  const channels = build.sites.filter(
    (site) => site.kind === 'client' || (site.kind === 'call' && site.client?.kind !== 'client'),
  );
  return {
    sites: build.sites,
    channels,
    wrappers: build.wrappers,
    retries: build.retries,
    deprecatedClients: build.deprecated,
    httpsGuards: build.guards,
    insecureServiceMaps: build.insecureMaps,
    tokenSources: build.tokenSources,
    requestedScopes: build.scopes,
    globalPropagation: build.propagation,
    insecureTls: build.insecureTls,
    tlsDisabledInCode: build.tlsInCode,
    failureLogging: build.failureLogging,
  };
}
