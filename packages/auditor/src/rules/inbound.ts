/**
 * Questions several inbound rules ask of the inbound model: is there a server at all, which routes are
 * open, which decodes are unverified, what the logs carry. Kept here so the SE, SV, PH and FS
 * rules answer them the same way.
 */
import { SPOOFABLE_HEADERS } from '@tessera/core';
import ts from 'typescript';
import type { Evidence, Outcome } from '../model.ts';
import type { AuditContext } from './rule.ts';
import { outcome } from './rule.ts';
import { calleeName, contains, isFunctionNode, looseChain } from '../analysis/inbound/ast.ts';
import { authenticates } from '../analysis/inbound/coverage.ts';
import type { ClaimRead, Decode, FunctionFacts, LogCall, Site } from '../analysis/inbound/facts.ts';
import type { Summary } from '../analysis/inbound/functions.ts';
import { ev, inbound, type InboundModel, type RouteView } from '../analysis/inbound/model.ts';
import { CORRELATION_LOG_FIELD, IDENTITY_LOG_FIELD } from '../analysis/inbound/vocabulary.ts';
import {
  IDENTITY_HEADERS,
  INTERNAL_MARKER_HEADERS,
  STATIC_SECRET_HEADERS,
  isHeader,
} from '../analysis/names.ts';

const MAX_EVIDENCE = 10;

/** Evidence for sites, one per line, at most ten. */
export function evidenceOf(sites: readonly Site[], max = MAX_EVIDENCE): Evidence[] {
  const seen = new Set<string>();
  const out: Evidence[] = [];
  for (const site of sites) {
    const evidence = ev(site);
    const key = `${evidence.file}:${String(evidence.line)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(evidence);
    if (out.length >= max) break;
  }
  return out;
}

/** `file:line` of a site, for sentences. */
export function where(site: Site): string {
  const evidence = ev(site);
  return `${evidence.file}:${String(evidence.line)}`;
}

/** How a route is named in a sentence: `GET /events/:id (src/routes.ts:12)`. */
export function routeName(view: RouteView): string {
  return `${view.route.method} ${view.path ?? '(dynamic path)'} (${where(view.route.site)})`;
}

/** A list of names for a sentence, cut after `max`. */
export function listed(items: readonly string[], max = 3): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown} and ${String(items.length - max)} more` : shown;
}

/** The model plus an N/A outcome when the service receives no HTTP requests. */
export function withServer(ctx: AuditContext): { model: InboundModel; na: Outcome | undefined } {
  const model = inbound(ctx);
  if (model.serverSites.length > 0 || model.routes.length > 0) return { model, na: undefined };
  if (model.unmodelled !== undefined) {
    return {
      model,
      na: outcome(
        'N/A',
        `The service is built on ${model.unmodelled.framework}, which this auditor does not model, so its inbound side cannot be judged from the code.`,
        [ev(model.unmodelled.site)],
      ),
    };
  }
  return {
    model,
    na: outcome(
      'N/A',
      'No inbound HTTP server (Fastify, Express, NestJS, Koa, Hono or node:http/https) was found in this code.',
    ),
  };
}

/** Routes that need authentication: all but those public by nature (probes, sign-in, JWKS…). */
export function guardedRoutes(model: InboundModel): RouteView[] {
  return model.routes.filter((r) => r.publicByNature === undefined);
}

/** Routes public by nature (sign-in, token, probes, metrics, well-known documents). */
export function publicRoutes(model: InboundModel): RouteView[] {
  return model.routes.filter((r) => r.publicByNature !== undefined);
}

/** For a sentence: "public by nature: POST /auth/login (authentication endpoint), GET /health (health probe)". */
export function publicNote(model: InboundModel): string {
  const named = publicRoutes(model).map(
    (r) => `${r.route.method} ${r.path ?? '(dynamic path)'} (${r.publicByNature?.reason ?? ''})`,
  );
  return named.length === 0 ? '' : `public by nature: ${listed(named, 4)}`;
}

/**
 * N/A when every route the service serves is public by nature: there is no authenticated HTTP
 * API to judge (a worker whose only listener answers probes and metrics).
 */
export function noAuthenticatedApi(model: InboundModel): Outcome | undefined {
  if (model.routes.length === 0 || guardedRoutes(model).length > 0 || usesTessera(model)) {
    return undefined;
  }
  return outcome(
    'N/A',
    `The service has no authenticated HTTP API: its only routes are ${publicNote(model)}.`,
    evidenceOf(publicRoutes(model).map((r) => r.route.site)),
  );
}

/** Routes reachable without authentication (those public by nature excepted). */
export function openRoutes(model: InboundModel): RouteView[] {
  return guardedRoutes(model).filter((r) => r.markedPublic || !authenticates(r.protection.level));
}

/** Does the service register Tessera's Fastify plugin? */
export function usesTessera(model: InboundModel): boolean {
  return model.tessera.length > 0;
}

/** JWT decodes whose function (with its callees) never verifies a signature. */
export function unverifiedDecodes(model: InboundModel): Decode[] {
  const bad: Decode[] = [];
  for (const fn of model.functions) {
    if (fn.decodes.length === 0) continue;
    const summary = model.index.summary(fn);
    const verifies = summary.verifications.some((v) => v.kind !== 'timing-safe');
    if (!verifies) bad.push(...fn.decodes);
  }
  return bad;
}

/** Does the service accept JWTs at all (verifying or only decoding them)? */
export function handlesJwt(model: InboundModel): boolean {
  return model.verifiers.length > 0 || unverifiedDecodes(model).length > 0 || usesTessera(model);
}

/** Every function of the service (tests excluded) with a given fact. */
export function sitesOf<T>(model: InboundModel, pick: (fn: FunctionFacts) => readonly T[]): T[] {
  return model.functions.flatMap(pick);
}

/** Does a log call name the caller? */
export function logsIdentity(log: LogCall): boolean {
  return [...log.fields].some((f) => IDENTITY_LOG_FIELD.test(f));
}

/** Does a log call carry a correlation or trace id? */
export function logsCorrelation(log: LogCall): boolean {
  return [...log.fields].some((f) => CORRELATION_LOG_FIELD.test(f));
}

/** Summaries of the scope-wide hooks and middleware (run for every request), and response hooks. */
export function requestHookSummaries(model: InboundModel): Summary[] {
  const summaries: Summary[] = [];
  for (const hook of [...model.graph.hooks, ...model.graph.responseHooks]) {
    for (const target of hook.targets) {
      if (target.kind === 'function') summaries.push(model.index.summary(target.facts));
    }
  }
  return summaries;
}

/** Summaries of route handlers and route-level hooks. */
export function handlerSummaries(view: RouteView, model: InboundModel): Summary[] {
  const summaries: Summary[] = [];
  for (const target of [
    ...view.route.handler,
    ...view.route.routeHooks.flatMap((h) => h.targets),
  ]) {
    if (target.kind === 'function') summaries.push(model.index.summary(target.facts));
  }
  return summaries;
}

/** Modules the service's own files import (ESM or CommonJS). */
export function importedModules(ctx: AuditContext): ReadonlySet<string> {
  return ctx.memo('inbound:imports', () => {
    const model = inbound(ctx);
    const modules = new Set<string>();
    for (const file of model.files) {
      for (const binding of ctx.symbols.importsOf(file.unit).values()) modules.add(binding.module);
    }
    return modules;
  });
}

/** Fastify options that turn the per-request log lines off. */
export function requestLoggingDisabled(model: InboundModel): Site | undefined {
  for (const logger of model.fastifyLoggers) {
    let found: Site | undefined;
    const visit = (node: ts.Node): void => {
      if (found !== undefined) return;
      if (
        ts.isPropertyAssignment(node) &&
        node.name.getText(logger.site.unit.sourceFile) === 'disableRequestLogging' &&
        node.initializer.kind === ts.SyntaxKind.TrueKeyword
      ) {
        found = { unit: logger.site.unit, node };
      }
      ts.forEachChild(node, visit);
    };
    visit(logger.options);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Calls in a summary that do work (not just answering through `reply`/`res`). */
export function workCalls(summary: Summary): ts.CallExpression[] {
  return summary.functions
    .flatMap((f) => f.calls)
    .filter((call) => {
      const chain = looseChain(call.expression);
      const root = chain[0] ?? '';
      const name = calleeName(call) ?? '';
      return (
        !/^(reply|res|response|request|req|JSON|Object|Math|String|Number|Date|console)$/.test(
          root,
        ) &&
        !/^(send|code|status|json|header|type|log|info|debug)$/.test(name) &&
        !answersThroughContext(chain)
      );
    });
}

/**
 * Koa's `ctx.set(…)`, `ctx.throw(…)`, Hono's `c.text('ok')`, `c.req.header(…)`: the request
 * context answering or reading the request, not a dependency (`ctx.db.ping()` is one).
 */
function answersThroughContext(chain: readonly string[]): boolean {
  if (!/^(c|ctx|context)$/.test(chain[0] ?? '')) return false;
  return (
    chain.length === 2 ||
    (chain.length === 3 && /^(req|request|res|response)$/.test(chain[1] ?? ''))
  );
}

/** Headers that carry identity, "internal" markers or shared secrets: never to be trusted inbound. */
export function isInternalHeader(header: string): boolean {
  return (
    isHeader(INTERNAL_MARKER_HEADERS, header) ||
    isHeader(IDENTITY_HEADERS, header) ||
    isHeader(STATIC_SECRET_HEADERS, header)
  );
}

/**
 * Headers the service removes from incoming requests: explicitly, or by registering
 * `@tessera/fastify`, which strips `spoofableHeaders` or else `@tessera/core`'s
 * `SPOOFABLE_HEADERS` (the plugin's default is that very array).
 */
export function strippedHeaders(model: InboundModel): { headers: Set<string>; sites: Site[] } {
  const headers = new Set<string>();
  const sites: Site[] = [];
  for (const file of model.files) {
    const dynamic = file.headerStrips.some((s) => s.header === undefined);
    for (const strip of file.headerStrips) {
      if (strip.header !== undefined && isInternalHeader(strip.header)) {
        headers.add(strip.header);
        sites.push(strip);
      }
    }
    if (dynamic) {
      for (const listed of file.listedHeaders) {
        headers.add(listed.header);
        sites.push(listed.site);
      }
      if (file.listedHeaders.length > 0) {
        sites.push(...file.headerStrips.filter((s) => s.header === undefined));
      }
    }
  }
  for (const use of model.tessera) {
    for (const header of use.spoofableHeaders ?? SPOOFABLE_HEADERS) headers.add(header);
    sites.push(use.site);
  }
  return { headers, sites };
}

const USER_CONTEXT = /user|account|customer|member|person|player|owner/i;
const SERVICE_CONTEXT = /service|caller|client|spiffe|actor|workload|app/i;

/**
 * Reads of verified identity claims, split by whose identity they are: `sub` stored as a user id
 * (`request.user = { id: claims.sub }`) names an end user, `azp`/`client_id`/`caller` or `sub`
 * stored as a caller names the calling service. A `sub` with no telling context counts as the
 * caller's.
 */
export function identityReads(model: InboundModel): { service: ClaimRead[]; user: ClaimRead[] } {
  const service: ClaimRead[] = [];
  const user: ClaimRead[] = [];
  for (const read of sitesOf(model, (f) => f.claimReads)) {
    // `typeof claims.sub !== 'string'` checks a shape, it does not use the identity.
    if (ts.isTypeOfExpression(read.node.parent)) continue;
    if (read.name === 'user') {
      user.push(read);
    } else if (/^(azp|client_id|clientId|spiffeId|caller|act)$/.test(read.name)) {
      service.push(read);
    } else if (read.name === 'sub') {
      const context = contextNames(read.node);
      if (USER_CONTEXT.test(context) && !SERVICE_CONTEXT.test(context)) user.push(read);
      else service.push(read);
    }
  }
  return { service, user };
}

/** Names around an expression: the property, variable or assignment target it ends up in. */
function contextNames(node: ts.Node): string {
  const names: string[] = [];
  let current = node;
  for (let i = 0; i < 5 && !ts.isSourceFile(current); i++) {
    const parent = current.parent;
    if (ts.isPropertyAssignment(parent) || ts.isVariableDeclaration(parent)) {
      names.push(parent.name.getText());
    } else if (
      ts.isBinaryExpression(parent) &&
      parent.operatorToken.kind === ts.SyntaxKind.EqualsToken
    ) {
      names.push(parent.left.getText());
    } else if (ts.isCallExpression(parent) || ts.isBlock(parent)) {
      break;
    }
    current = parent;
  }
  return names.join(' ');
}

/**
 * A log call that only runs when the request is refused (it shares its block with a 401/403 or
 * a throw): it records failures, not every request.
 */
export function onRefusalOnly(log: LogCall, summary: Summary): boolean {
  let block: ts.Node | undefined;
  for (let current = log.node.parent; !ts.isSourceFile(current); current = current.parent) {
    if (ts.isBlock(current) || ts.isCatchClause(current)) {
      block = current;
      break;
    }
    if (isFunctionNode(current)) break;
  }
  if (block === undefined || isFunctionNode(block.parent)) return false;
  const scope = block;
  return summary.rejections.some((r) => r.unit === log.unit && contains(scope, r.node));
}

/** Middleware that keeps a browser session in a cookie. */
const SESSION_MODULES: ReadonlySet<string> = new Set([
  'cookie-session',
  'express-session',
  'koa-session',
  '@fastify/session',
  '@fastify/secure-session',
]);

/** CORS middleware: with `credentials: true` it lets browsers send their cookies cross-origin. */
const CORS_MODULES: ReadonlySet<string> = new Set(['cors', '@fastify/cors', '@koa/cors']);

/** Claims and fields that name a calling service rather than a user. */
const SERVICE_IDENTITY_CLAIM = /^(azp|client_?id|clientId|spiffe_?id|spiffeId|act|caller)$/;

/**
 * The service's callers are end users' browsers, not services: it keeps a cookie session or lets
 * browsers send credentials cross-origin (CORS `credentials: true`), and nothing in it
 * authenticates a service (no shared secret, signature, client certificate, service identity
 * claim or Tessera). The service-caller checks (SE8, SE10, SE13, SE23) are then N/A. Returns the
 * N/A outcome, or undefined when services may call.
 */
export function endUserCallersOnly(ctx: AuditContext, model: InboundModel): Outcome | undefined {
  if (usesTessera(model) || serviceCredentials(model)) return undefined;
  const sites = browserSessionSites(ctx, model);
  if (sites.length === 0) return undefined;
  return outcome(
    'N/A',
    'The callers are end users in browsers (cookie session or CORS with credentials), and no service credential is accepted, so there is no calling service to identify, allow, log or rate-limit.',
    evidenceOf(sites),
  );
}

/** Anything that authenticates a calling service. */
function serviceCredentials(model: InboundModel): boolean {
  if (model.mutualTls.some((m) => m.requestCert)) return true;
  const levels = model.routes.map((r) => r.protection.level);
  if (levels.includes('shared-secret') || levels.includes('marker')) return true;
  if (
    model.authSummaries.some(
      (a) =>
        a.summary.secretComparisons.length > 0 ||
        a.summary.constantTime.length > 0 ||
        a.summary.hmacs.length > 0,
    )
  ) {
    return true;
  }
  return sitesOf(model, (f) => f.claimReads).some((c) => SERVICE_IDENTITY_CLAIM.test(c.name));
}

/** Cookie-session middleware and CORS configured with `credentials: true`. */
function browserSessionSites(ctx: AuditContext, model: InboundModel): Site[] {
  const sites: Site[] = [];
  for (const fn of model.functions) {
    for (const call of fn.calls) {
      const module = ctx.symbols.moduleReference(fn.unit, call.expression)?.module;
      if (module === undefined) continue;
      const site = { unit: fn.unit, node: call };
      if (SESSION_MODULES.has(module)) sites.push(site);
      else if (CORS_MODULES.has(module) && call.arguments.some(allowsCredentials)) {
        sites.push(site);
      }
    }
  }
  for (const registration of model.graph.registrations) {
    if (SESSION_MODULES.has(registration.module)) sites.push(registration.site);
    if (
      CORS_MODULES.has(registration.module) &&
      registration.options !== undefined &&
      allowsCredentials(registration.options)
    ) {
      sites.push(registration.site);
    }
  }
  return sites;
}

/** An options object with `credentials: true`. */
function allowsCredentials(node: ts.Node): boolean {
  if (!ts.isObjectLiteralExpression(node)) return false;
  return node.properties.some(
    (p) =>
      ts.isPropertyAssignment(p) &&
      p.name.getText() === 'credentials' &&
      p.initializer.kind === ts.SyntaxKind.TrueKeyword,
  );
}
