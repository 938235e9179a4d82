/**
 * The inbound side of a service, built once per audit and shared by the SE, SV, PH and FS rules:
 * servers, routes and what protects them, JWT verifiers, Tessera, TLS, and the per-function
 * facts behind them.
 */
import ts from 'typescript';
import { evidenceAt, evidenceAtLine, objectProperty, unwrap } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import { isTestPath } from '../../project/paths.ts';
import type { AuditContext } from '../context.ts';
import { workloadIdentityFacts } from '../identity.ts';
import { booleanValue } from './ast.ts';
import { authenticates, Coverage, type Protection } from './coverage.ts';
import { collectFileFacts, type FileFacts, type FunctionFacts, type Site } from './facts.ts';
import { FunctionIndex, type Summary, type Target } from './functions.ts';
import { collectVerifiers, type JwtVerifier } from './jwt.ts';
import { buildScopes, markedPublic, type Route, type ScopeGraph } from './scopes.ts';
import { readTesseraUses, type TesseraUse } from './tessera.ts';
import { publicByNature, type PublicByNature } from './public-routes.ts';
import { tlsOption } from './tls-options.ts';
import { PROXY_MODULES } from './vocabulary.ts';

export interface RouteView {
  readonly route: Route;
  /** Full path with plugin and router prefixes, when static. */
  readonly path: string | undefined;
  readonly protection: Protection;
  /** A probe or metrics path (`/health`, `/ready`, `/metrics`, …) conventionally left open. */
  readonly health: boolean;
  /** Why the route needs no credential (sign-in, probe, JWKS…), when it is public by nature. */
  readonly publicByNature: PublicByNature | undefined;
  /** Route config says it needs no authentication (`config: { public: true }`). */
  readonly markedPublic: boolean;
}

/** A mutual-TLS server configuration (`requestCert`). */
export interface MutualTls {
  readonly site: Site;
  readonly requestCert: boolean;
  /** `rejectUnauthorized: false` makes the client certificate optional. */
  readonly optional: Site | undefined;
  readonly ca: Site | undefined;
  /**
   * Set by Tessera's workload identity (`tlsServerOptions()`, `attachServer()`): a client
   * certificate is required and must chain to the trust domain's bundle from the authority.
   */
  readonly tessera: boolean;
}

export interface InboundModel {
  /** Facts of the service's own files (tests excluded). */
  readonly files: readonly FileFacts[];
  readonly functions: readonly FunctionFacts[];
  readonly index: FunctionIndex;
  readonly coverage: Coverage;
  readonly graph: ScopeGraph;
  readonly routes: readonly RouteView[];
  readonly verifiers: readonly JwtVerifier[];
  readonly tessera: readonly TesseraUse[];
  /** App creations, routes or servers: the service receives HTTP requests. */
  readonly serverSites: readonly Site[];
  /** A framework the analysis does not model (NestJS, Koa, …), when no modelled server exists. */
  readonly unmodelled: { readonly framework: string; readonly site: Site } | undefined;
  /** What every hook, middleware and handler that authenticates does. */
  readonly authSummaries: readonly { readonly site: Site; readonly summary: Summary }[];
  readonly tlsServers: readonly Site[];
  readonly mutualTls: readonly MutualTls[];
  /**
   * Where the server's certificate is replaced at run time (`setSecureContext`, a file watch,
   * a workload identity attached to the server).
   */
  readonly certificateReloads: readonly Site[];
  /** A service-mesh manifest that enforces mTLS (Istio `PeerAuthentication` STRICT). */
  readonly mesh: Evidence | undefined;
  /** Fastify apps created with a logger (`logger: true`, `loggerInstance`). */
  readonly fastifyLoggers: readonly {
    readonly site: Site;
    readonly options: ts.ObjectLiteralExpression;
  }[];
  /** Where requests are proxied upstream (the service is a gateway). */
  readonly proxies: readonly Site[];
}

/** The inbound model of the audited project, computed once per audit. */
export function inbound(ctx: AuditContext): InboundModel {
  return ctx.memo('inbound', () => analyseInbound(ctx));
}

/** Turns a site into report evidence. */
export function ev(site: Site): Evidence {
  return evidenceAt(site.unit, site.node);
}

function analyseInbound(ctx: AuditContext): InboundModel {
  const { project, symbols } = ctx;
  const all: FileFacts[] = [];
  for (const unit of project.units) {
    all.push(collectFileFacts(unit, symbols, isTestPath(unit.path)));
  }
  const files = all.filter((f) => !f.test);
  const byUnit = new Map(all.map((f) => [f.unit, f]));
  const decorators = new Map<string, Site[]>();
  for (const file of files) {
    for (const call of file.apiCalls) {
      if (call.method !== 'decorate') continue;
      const [nameArg, value] = call.node.arguments;
      if (nameArg === undefined || value === undefined || !ts.isStringLiteralLike(nameArg))
        continue;
      const list = decorators.get(nameArg.text) ?? [];
      list.push({ unit: call.unit, node: value });
      decorators.set(nameArg.text, list);
    }
  }
  const index = new FunctionIndex(project, symbols, byUnit, decorators);
  const graph = buildScopes(files, symbols, index);
  const coverage = new Coverage(index);
  const routes: RouteView[] = graph.routes.map((route) => {
    const path = coverage.fullPath(route);
    const open = publicByNature(route, path, index);
    const protection = coverage.protection(route);
    return {
      route,
      path,
      protection,
      health: open?.kind === 'probe' || open?.kind === 'metrics',
      publicByNature: open,
      // A NestJS route that skips the global guard but carries its own is not open.
      markedPublic:
        markedPublic(route) && !(route.publicMark !== undefined && authenticates(protection.level)),
    };
  });
  const verifiers = collectVerifiers(files, graph.registrations, symbols, index);
  const tessera = readTesseraUses(graph.registrations, project, symbols);

  const serverSites: Site[] = [
    ...graph.creations.filter((c) => c.kind !== 'router'),
    ...graph.apps.servers,
    ...graph.routes.slice(0, 1).map((r) => r.site),
  ];
  const unmodelledUse = files.flatMap((f) => f.unmodelled)[0];

  const authSummaries: { site: Site; summary: Summary }[] = [];
  const seen = new Set<Summary>();
  const addTargets = (site: Site, targets: readonly Target[], failureHandler = false): void => {
    for (const target of targets) {
      if (target.kind !== 'function') continue;
      const summary = index.summary(target.facts);
      if (seen.has(summary)) continue;
      if (
        !failureHandler &&
        coverage.verdict([target]).level === 'none' &&
        summary.allowWhenUnset.length === 0
      )
        continue;
      seen.add(summary);
      authSummaries.push({ site, summary });
    }
  };
  for (const hook of graph.hooks) addTargets(hook.site, hook.targets);
  // A passport guard's `handleRequest` refuses for the strategy that authenticates.
  for (const handler of graph.errorHandlers) {
    if (handler.kind === 'filter' && ts.isMethodDeclaration(handler.site.node)) {
      addTargets(handler.site, handler.targets, true);
    }
  }
  for (const route of graph.routes) {
    for (const hook of route.routeHooks) addTargets(hook.site, hook.targets);
    addTargets(route.site, route.handler);
  }

  const tlsServers: Site[] = [...graph.apps.tlsServers];
  const fastifyLoggers: { site: Site; options: ts.ObjectLiteralExpression }[] = [
    ...graph.apps.fastifyLoggers,
  ];
  for (const creation of graph.creations) {
    if (creation.kind === 'node-https') tlsServers.push(creation);
    if (creation.kind !== 'fastify') continue;
    const first = creation.node.arguments?.[0];
    if (first === undefined) continue;
    const value = symbols.finalValue(creation.unit, first);
    const options = unwrap(value.expression);
    if (!ts.isObjectLiteralExpression(options)) continue;
    const https = objectProperty(options, 'https');
    if (https !== undefined && booleanValue(https) !== false) tlsServers.push(creation);
    const logger = objectProperty(options, 'logger') ?? objectProperty(options, 'loggerInstance');
    if (logger !== undefined && booleanValue(logger) !== false) {
      fastifyLoggers.push({ site: { unit: value.unit, node: options }, options });
    }
  }
  const mutualTls: MutualTls[] = files.flatMap((file) =>
    file.tlsOptions.map(({ site, object }) => {
      const requestCert = objectProperty(object, 'requestCert');
      const reject = objectProperty(object, 'rejectUnauthorized');
      const ca = tlsOption(symbols, index, file.unit, object, 'ca');
      return {
        site,
        requestCert: requestCert !== undefined && booleanValue(requestCert) !== false,
        optional:
          reject !== undefined && booleanValue(reject) === false
            ? { unit: file.unit, node: reject }
            : undefined,
        ca,
        tessera: false,
      };
    }),
  );
  const identity = workloadIdentityFacts(ctx);
  // attachServer only swaps certificates: the server's own options decide about client certificates.
  for (const server of identity.servers.filter((s) => !s.attached)) {
    mutualTls.push({
      site: server.site,
      requestCert: true,
      optional: server.optional,
      ca: server.site,
      tessera: true,
    });
  }
  const certificateReloads: Site[] = [
    ...files.flatMap((f) => f.secureContextReloads),
    ...identity.servers.filter((s) => s.attached).map((s) => s.site),
  ];
  return {
    files,
    functions: files.flatMap((f) => f.functions),
    index,
    coverage,
    graph,
    routes,
    verifiers,
    tessera,
    serverSites,
    unmodelled: serverSites.length === 0 ? unmodelledUse : undefined,
    authSummaries,
    tlsServers,
    mutualTls,
    certificateReloads,
    mesh: meshEvidence(ctx),
    fastifyLoggers,
    proxies: [
      ...files.flatMap((f) => f.proxies),
      ...graph.registrations.filter((r) => PROXY_MODULES.has(r.module)).map((r) => r.site),
    ],
  };
}

/** Istio `PeerAuthentication` with `mode: STRICT` in the repository's manifests. */
function meshEvidence(ctx: AuditContext): Evidence | undefined {
  for (const file of ctx.project.textFiles) {
    if (!/kind:\s*PeerAuthentication/.test(file.text)) continue;
    const lines = file.text.split('\n');
    const index = lines.findIndex((line) => /mode:\s*["']?STRICT/.test(line));
    if (index >= 0) return evidenceAtLine(file.path, file.text, index + 1);
  }
  return undefined;
}
