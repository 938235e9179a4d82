/**
 * The NestJS adapter: controllers and their routes, with what runs before each route (global
 * and module middleware, global guards, `@UseGuards` on the controller and the method, global
 * and `@UseInterceptors` interceptors), as scopes, routes and hooks of the shared model.
 *
 * Nest runs middleware, then guards (global, controller, method), then interceptors, whatever
 * the registration order, so each route's scope lists its hooks in that order before the route.
 * A guard that reads a public-route flag with `Reflector` (`@Public()`) lets the routes that
 * carry the flag through: for them it is left out, and the route is marked public.
 */
import ts from 'typescript';
import { objectProperty, unwrap } from '../../../../ast/syntax.ts';
import type { SourceUnit } from '../../../../project/load.ts';
import type { Site } from '../../facts.ts';
import type { Target } from '../../functions.ts';
import type { ErrorHandlerUse, HookUse, Route, Scope } from '../../scopes.ts';
import {
  globalPrefix,
  globalProviders,
  middlewareBindings,
  nestApps,
  uriVersioning,
  type MiddlewareBinding,
  type NestApp,
} from './bootstrap.ts';
import { Enhancers, publicMarks } from './enhancers.ts';
import {
  classOf,
  decoratorsOf,
  nestDecorator,
  staticText,
  type ClassRef,
  type DecoratorUse,
  type NestSources,
} from './syntax.ts';

export type { NestSources } from './syntax.ts';

/** What the adapter adds to the scope graph. */
export interface NestGraph {
  readonly scopes: readonly Scope[];
  readonly routes: readonly Route[];
  /** App-wide middleware, guards and interceptors. */
  readonly hooks: readonly HookUse[];
  /** Interceptors (app-wide or on controllers): they wrap the handler and see its outcome. */
  readonly responseHooks: readonly HookUse[];
  /** Exception filters and passport guards' `handleRequest`: where failures are answered. */
  readonly errorHandlers: readonly ErrorHandlerUse[];
  /** `NestFactory.create` calls: the service receives HTTP requests. */
  readonly servers: readonly Site[];
  readonly tlsServers: readonly Site[];
  readonly fastifyLoggers: readonly NonNullable<NestApp['fastifyLogger']>[];
}

const ROUTE_DECORATORS: ReadonlyMap<string, string> = new Map([
  ['Get', 'GET'],
  ['Post', 'POST'],
  ['Put', 'PUT'],
  ['Patch', 'PATCH'],
  ['Delete', 'DELETE'],
  ['All', 'ALL'],
  ['Options', 'OPTIONS'],
  ['Head', 'HEAD'],
  ['Search', 'SEARCH'],
]);

/** A controller method with its paths before the app-wide hooks are known. */
interface NestRoute {
  readonly route: Omit<Route, 'scope'>;
  readonly controller: ClassRef;
  /** Controller and method path without the global prefix (what middleware routes match). */
  readonly localPath: string | undefined;
  readonly publicMarks: ReadonlyMap<string, Site>;
}

const EMPTY: NestGraph = {
  scopes: [],
  routes: [],
  hooks: [],
  responseHooks: [],
  errorHandlers: [],
  servers: [],
  tlsServers: [],
  fastifyLoggers: [],
};

/** Builds the NestJS part of the scope graph; `newScope` makes a scope of the shared graph. */
export function nestGraph(sources: NestSources, newScope: (origin: Site) => Scope): NestGraph {
  const apps = nestApps(sources);
  const controllers = controllerClasses(sources);
  if (apps.length === 0 && controllers.length === 0) return EMPTY;
  const enhancers = new Enhancers(sources);
  const app = apps[0];
  const prefix = app === undefined ? undefined : globalPrefix(sources, app);
  const versioning = app === undefined ? undefined : uriVersioning(sources, app);

  const appMiddleware = (app?.calls ?? [])
    .filter((c) => c.method === 'use')
    .flatMap((c) => c.node.arguments.map((arg) => enhancers.middleware(c.unit, arg)));
  const bindings = middlewareBindings(sources).map((binding) => ({
    binding,
    hooks: binding.middleware.map((m) => enhancers.middleware(binding.unit, m)),
  }));
  const providers = globalProviders(sources);
  const globalGuards = [
    ...appEnhancers(app, 'useGlobalGuards', (unit, arg) => enhancers.guard(unit, arg)),
    ...providers
      .filter((p) => p.token === 'APP_GUARD')
      .map((p) => withSite(enhancers.guard(p.unit, p.value), { unit: p.unit, node: p.site })),
  ];
  const globalInterceptors = [
    ...appEnhancers(app, 'useGlobalInterceptors', (unit, arg) => enhancers.interceptor(unit, arg)),
    ...providers
      .filter((p) => p.token === 'APP_INTERCEPTOR')
      .map((p) => withSite(enhancers.interceptor(p.unit, p.value), { unit: p.unit, node: p.site })),
  ];

  const filters = [
    ...appEnhancers(app, 'useGlobalFilters', (unit, arg) => enhancers.filter(unit, arg)),
    ...providers
      .filter((p) => p.token === 'APP_FILTER')
      .map((p) => withSite(enhancers.filter(p.unit, p.value), { unit: p.unit, node: p.site })),
  ];

  const nestRoutes = controllers.flatMap((controller) =>
    controllerRoutes(sources, enhancers, controller, prefix, versioning),
  );

  const scopes: Scope[] = [];
  const routes: Route[] = [];
  const byHooks = new Map<string, Scope>();
  const allGlobal = [
    ...appMiddleware,
    ...bindings.flatMap((b) => b.hooks),
    ...globalGuards,
    ...globalInterceptors,
  ];
  for (const nestRoute of nestRoutes) {
    const middleware = bindings
      .filter((b) => bindingCovers(sources, b.binding, nestRoute))
      .flatMap((b) => b.hooks);
    const guards = globalGuards.filter((g) => !letsThrough(enhancers, g, nestRoute));
    const hooks = [...appMiddleware, ...middleware, ...guards, ...globalInterceptors];
    const key = hooks.map((h) => allGlobal.indexOf(h)).join(',');
    let scope = byHooks.get(key);
    if (scope === undefined) {
      scope = newScope(
        app?.site ?? { unit: nestRoute.controller.unit, node: nestRoute.controller.node },
      );
      scope.framework = 'nest';
      for (const [i, hook] of hooks.entries()) scope.events.push({ kind: 'hook', hook, key: i });
      byHooks.set(key, scope);
      scopes.push(scope);
    }
    const routeHooks = nestRoute.route.routeHooks.filter(
      (h) => h.hook !== 'guard' || !letsThrough(enhancers, h, nestRoute),
    );
    const bypassed =
      routeHooks.length < nestRoute.route.routeHooks.length || guards.length < globalGuards.length;
    const route: Route = {
      ...nestRoute.route,
      routeHooks,
      scope,
      publicMark: bypassed ? [...nestRoute.publicMarks.values()][0] : undefined,
    };
    scope.events.push({ kind: 'route', route, key: 1e6 + routes.length });
    routes.push(route);
  }
  const routeFilters = nestRoutes.flatMap((r) =>
    r.route.routeHooks.filter((h) => h.hook === 'filter'),
  );
  const errorHandlers: ErrorHandlerUse[] = [
    ...[...filters, ...routeFilters].map((f) => ({
      site: f.site,
      kind: 'filter' as const,
      targets: f.targets,
    })),
    ...enhancers.failureHandlers.map((h) => ({
      site: h.site,
      kind: 'filter' as const,
      targets: h.targets,
    })),
  ];
  const routeInterceptors = nestRoutes.flatMap((r) =>
    r.route.routeHooks.filter((h) => h.hook === 'interceptor'),
  );
  return {
    scopes,
    routes,
    hooks: allGlobal,
    responseHooks: [...globalInterceptors, ...routeInterceptors],
    errorHandlers,
    servers: apps.map((a) => a.site),
    tlsServers: apps.flatMap((a) => (a.tls === undefined ? [] : [a.site])),
    fastifyLoggers: apps.flatMap((a) => (a.fastifyLogger === undefined ? [] : [a.fastifyLogger])),
  };
}

/** `app.useGlobalGuards(new A(), new B())`: one hook per argument. */
function appEnhancers(
  app: NestApp | undefined,
  method: string,
  make: (unit: SourceUnit, arg: ts.Expression) => HookUse,
): HookUse[] {
  return (app?.calls ?? [])
    .filter((c) => c.method === method)
    .flatMap((c) => c.node.arguments.map((arg) => make(c.unit, arg)));
}

function withSite(hook: HookUse, site: Site): HookUse {
  return { ...hook, site };
}

/** Does a guard let this route through because of the route's public flag? */
function letsThrough(enhancers: Enhancers, guard: HookUse, route: NestRoute): boolean {
  if (route.publicMarks.size === 0) return false;
  const read = enhancers.publicKeysRead(guard);
  return [...route.publicMarks.keys()].some((key) => read.has(key));
}

/** Every class decorated with `@Controller` from `@nestjs/common`. */
function controllerClasses(sources: NestSources): ClassRef[] {
  const found: ClassRef[] = [];
  for (const file of sources.files) {
    for (const node of file.classesByName.values()) {
      if (nestDecorator(decoratorsOf(sources, file.unit, node), 'Controller') !== undefined) {
        found.push({ unit: file.unit, node });
      }
    }
  }
  return found;
}

/** The routes of one controller: each method with a route decorator. */
function controllerRoutes(
  sources: NestSources,
  enhancers: Enhancers,
  controller: ClassRef,
  prefix: ReturnType<typeof globalPrefix>,
  versioning: string | undefined,
): NestRoute[] {
  const { unit, node } = controller;
  const classDecorators = decoratorsOf(sources, unit, node);
  const controllerDecorator = nestDecorator(classDecorators, 'Controller');
  const base = controllerPath(sources, controllerDecorator);
  const classVersion = versionOf(sources, controllerDecorator, classDecorators);
  const classGuards = enhancerHooks(classDecorators, 'UseGuards', (u, e) => enhancers.guard(u, e));
  const classInterceptors = enhancerHooks(classDecorators, 'UseInterceptors', (u, e) =>
    enhancers.interceptor(u, e),
  );
  const classFilters = enhancerHooks(classDecorators, 'UseFilters', (u, e) =>
    enhancers.filter(u, e),
  );
  const classMarks = publicMarks(sources, classDecorators);
  const out: NestRoute[] = [];
  for (const member of node.members) {
    if (!ts.isMethodDeclaration(member) || member.body === undefined) continue;
    const decorators = decoratorsOf(sources, unit, member);
    const routeDecorator = decorators.find(
      (d) => d.module === '@nestjs/common' && ROUTE_DECORATORS.has(d.name),
    );
    if (routeDecorator === undefined) continue;
    const methodPath = pathArgument(sources, routeDecorator.unit, routeDecorator.args[0]);
    const version = versionOf(sources, undefined, decorators) ?? classVersion;
    const localPath =
      base === undefined || methodPath === undefined ? undefined : joinSegments([base, methodPath]);
    const versionSegment =
      versioning === undefined || version === undefined ? '' : `${versioning}${version}`;
    const path =
      localPath === undefined
        ? undefined
        : joinSegments([
            prefix === undefined || excludedFromPrefix(sources, prefix, localPath)
              ? ''
              : prefix.prefix,
            versionSegment,
            localPath,
          ]);
    const facts = sources.index.factsOf(unit, member);
    const handler: Target[] =
      facts === undefined ? [] : [{ kind: 'function', facts, viaFp: false }];
    const marks = new Map([...classMarks, ...publicMarks(sources, decorators)]);
    out.push({
      controller,
      localPath,
      publicMarks: marks,
      route: {
        site: routeDecorator.site,
        method: ROUTE_DECORATORS.get(routeDecorator.name) ?? 'ALL',
        path,
        handler,
        routeHooks: [
          ...classGuards,
          ...enhancerHooks(decorators, 'UseGuards', (u, e) => enhancers.guard(u, e)),
          ...classInterceptors,
          ...enhancerHooks(decorators, 'UseInterceptors', (u, e) => enhancers.interceptor(u, e)),
          ...classFilters,
          ...enhancerHooks(decorators, 'UseFilters', (u, e) => enhancers.filter(u, e)),
        ],
        config: undefined,
      },
    });
  }
  return out;
}

/** `@UseGuards(A, B)`: one hook per argument. */
function enhancerHooks(
  decorators: readonly DecoratorUse[],
  name: string,
  make: (unit: SourceUnit, expression: ts.Expression) => HookUse,
): HookUse[] {
  return decorators
    .filter((d) => d.name === name && d.module === '@nestjs/common')
    .flatMap((d) => d.args.map((arg) => make(d.unit, arg)));
}

/** `@Controller('orders')`, `@Controller({ path: 'orders' })`, `@Controller()`. */
function controllerPath(
  sources: NestSources,
  decorator: DecoratorUse | undefined,
): string | undefined {
  const first = decorator?.args[0];
  if (decorator === undefined || first === undefined) return '';
  const node = unwrap(first);
  if (ts.isObjectLiteralExpression(node)) {
    return pathArgument(sources, decorator.unit, objectProperty(node, 'path'));
  }
  return pathArgument(sources, decorator.unit, node);
}

/** A path argument: absent is the root; a string; the first of an array. */
function pathArgument(
  sources: NestSources,
  unit: SourceUnit,
  expression: ts.Expression | undefined,
): string | undefined {
  if (expression === undefined) return '';
  const node = unwrap(expression);
  if (ts.isArrayLiteralExpression(node)) {
    const first = node.elements[0];
    return first === undefined ? '' : pathArgument(sources, unit, first);
  }
  return staticText(sources.symbols, unit, node);
}

/** `@Version('2')` or `@Controller({ version: '1' })`. */
function versionOf(
  sources: NestSources,
  controller: DecoratorUse | undefined,
  decorators: readonly DecoratorUse[],
): string | undefined {
  const version = nestDecorator(decorators, 'Version');
  if (version !== undefined) return pathArgument(sources, version.unit, version.args[0]);
  const first = controller?.args[0];
  const node = first === undefined ? undefined : unwrap(first);
  if (controller === undefined || node === undefined || !ts.isObjectLiteralExpression(node)) {
    return undefined;
  }
  const value = objectProperty(node, 'version');
  return value === undefined ? undefined : pathArgument(sources, controller.unit, value);
}

/** `/a/b` from segments that may have or lack slashes. */
function joinSegments(segments: readonly string[]): string {
  const parts = segments.flatMap((s) => s.split('/')).filter((s) => s !== '');
  return `/${parts.join('/')}`;
}

/** Is a route listed in `setGlobalPrefix(…, { exclude })`? */
function excludedFromPrefix(
  sources: NestSources,
  prefix: NonNullable<ReturnType<typeof globalPrefix>>,
  localPath: string,
): boolean {
  return prefix.exclude.some((entry) => {
    const path = routeInfoPath(sources, prefix.unit, entry);
    return path !== undefined && pathMatches(path, localPath);
  });
}

/** Does `consumer.apply(M).exclude(…).forRoutes(…)` apply to a route? */
function bindingCovers(
  sources: NestSources,
  binding: MiddlewareBinding,
  route: NestRoute,
): boolean {
  const matches = (entry: ts.Expression): boolean => {
    const owner = classOf(sources, binding.unit, entry);
    if (owner !== undefined) return owner.node === route.controller.node;
    const path = routeInfoPath(sources, binding.unit, entry);
    if (path === undefined) return true;
    return route.localPath === undefined ? isWildcard(path) : pathMatches(path, route.localPath);
  };
  const excluded = binding.exclude.some((entry) => {
    const path = routeInfoPath(sources, binding.unit, entry);
    return (
      path !== undefined && route.localPath !== undefined && pathMatches(path, route.localPath)
    );
  });
  return !excluded && binding.forRoutes.some(matches);
}

/** The path of a route entry: `'orders'` or `{ path: 'orders', method: RequestMethod.GET }`. */
function routeInfoPath(
  sources: NestSources,
  unit: SourceUnit,
  entry: ts.Expression,
): string | undefined {
  const value = sources.symbols.finalValue(unit, entry);
  const node = unwrap(value.expression);
  if (ts.isObjectLiteralExpression(node)) {
    return staticText(sources.symbols, value.unit, objectProperty(node, 'path'));
  }
  return staticText(sources.symbols, value.unit, node);
}

/** Nest route patterns for "every path": `*`, `(.*)`, `*path`, `{*splat}`, `/*`. */
function isWildcard(pattern: string): boolean {
  return /^\/?(\*\w*|\(\.\*\)|\{\*\w*\})$/.test(pattern);
}

/** Does a middleware or exclude pattern match a route path (`orders/*` matches `/orders/:id`)? */
function pathMatches(pattern: string, path: string): boolean {
  if (isWildcard(pattern)) return true;
  const clean = joinSegments([pattern]);
  const wildcard = /\/(\*\w*|\(\.\*\)|\{\*\w*\})$/.exec(clean);
  if (wildcard !== null) {
    const base = clean.slice(0, wildcard.index);
    return path === base || path.startsWith(`${base}/`);
  }
  return clean === path;
}
