/**
 * The framework instances of a service and what runs before each route.
 *
 * Fastify: a hook applies to every route of its instance, whatever the order, and to plugins
 * registered on it, except plugins that were already loaded (an awaited `register`) before the
 * hook was added. A plugin registered without `fastify-plugin` is its own context: its hooks do
 * not reach the parent or siblings. `fastify-plugin` (and Tessera, which uses it) adds the
 * hooks to the registering instance instead.
 * Express: middleware applies to the routes registered after it, on the same app or router, and
 * to routers mounted after it. Koa and Hono order middleware the same way (see `./adapters/`).
 */
import ts from 'typescript';
import type { SymbolTable } from '../../ast/symbols.ts';
import { objectProperty, propertyNameText, unwrap } from '../../ast/syntax.ts';
import { isProjectImport, type SourceUnit } from '../../project/load.ts';
import { calleeName, calleeReceiver, isFunctionNode, type FunctionNode } from './ast.ts';
import type { ApiCall, Creation, FileFacts, FunctionFacts, Site } from './facts.ts';
import type { FunctionIndex, Target } from './functions.ts';
import {
  catchesDownstream,
  honoBasePath,
  koaMount,
  koaRoute,
  koaRouterPrefix,
  unlessExemption,
  type Exemption,
} from './adapters/index.ts';
import { nestGraph, type NestGraph } from './adapters/nest/index.ts';
import { AUTH_HOOK_NAMES, PROXY_MODULES, ROUTE_METHODS } from './vocabulary.ts';

export type Framework = 'fastify' | 'express' | 'koa' | 'hono' | 'node' | 'nest';

/** A hook or middleware attached somewhere, with what it runs. */
export interface HookUse {
  readonly site: Site;
  /** `onRequest`, `preHandler`, … for Fastify; `middleware` for Express; `tessera` for the plugin. */
  readonly hook: string;
  readonly targets: readonly Target[];
  /** Express path prefix of `app.use('/admin', auth)` (Hono: `app.use('/admin/*', auth)`). */
  readonly prefix: string | undefined;
  /** Paths the middleware skips (`jwt(…).unless({ path })`). */
  readonly unless?: Exemption | undefined;
}

export interface Route {
  readonly site: Site;
  /** Upper-case method, or `ALL`. */
  readonly method: string;
  /** The full path (prefixes included) when it is known statically. */
  readonly path: string | undefined;
  readonly scope: Scope;
  readonly handler: readonly Target[];
  /** Route-level hooks (`preHandler` option) or Express middleware arguments. */
  readonly routeHooks: readonly HookUse[];
  /** Fastify route `config` object, if any. */
  readonly config: ts.ObjectLiteralExpression | undefined;
  /** A public-route flag the authentication honours (NestJS `@Public()`). */
  readonly publicMark?: Site | undefined;
}

type Event =
  | { readonly kind: 'hook'; readonly hook: HookUse; readonly key: number }
  | { readonly kind: 'route'; readonly route: Route; readonly key: number }
  | { readonly kind: 'child'; readonly link: ChildLink; readonly key: number }
  | { readonly kind: 'inline'; readonly child: Scope; readonly key: number }
  | { readonly kind: 'flush'; readonly key: number };

export interface ChildLink {
  readonly parent: Scope;
  readonly child: Scope;
  readonly site: Site;
  /** Registered through `fastify-plugin`: the child's hooks belong to the parent. */
  readonly escape: boolean;
  /** `await app.register(child)`: later hooks of the parent do not reach it. */
  readonly awaited: boolean;
  readonly prefix: string;
  /** Not found in the code: assumed registered on the only app (autoload, dynamic import). */
  readonly assumed: boolean;
}

export interface Scope {
  readonly id: number;
  framework: Framework;
  readonly kind: 'app' | 'router' | 'plugin' | 'server';
  readonly origin: Site;
  readonly events: Event[];
  readonly parents: ChildLink[];
  /** Scopes this one was inlined into (a function called with the instance). */
  readonly inlinedInto: Scope[];
}

/** `setErrorHandler`, an `onError` hook, or Express error middleware. */
export interface ErrorHandlerUse {
  readonly site: Site;
  /** `middleware`: Koa-style `try { await next() } catch (err) { … }`. */
  readonly kind: 'setErrorHandler' | 'onError' | 'express' | 'middleware' | 'filter';
  readonly targets: readonly Target[];
}

/** A `register(plugin, options)` of a library plugin (Tessera, @fastify/jwt, rate limit…). */
export interface Registration {
  readonly site: Site;
  readonly module: string;
  readonly options: ts.ObjectLiteralExpression | undefined;
  readonly optionsUnit: SourceUnit;
  readonly scope: Scope;
}

export interface ScopeGraph {
  readonly scopes: readonly Scope[];
  readonly routes: readonly Route[];
  readonly hooks: readonly HookUse[];
  /** Hooks that run after the handler or around it (`onResponse`, `onSend`), for logging checks. */
  readonly responseHooks: readonly HookUse[];
  /** Servers no `creations` entry stands for (`NestFactory.create`), with their TLS and loggers. */
  readonly apps: Pick<NestGraph, 'servers' | 'tlsServers' | 'fastifyLoggers'>;
  readonly errorHandlers: readonly ErrorHandlerUse[];
  readonly registrations: readonly Registration[];
  readonly creations: readonly Creation[];
}

const CREATION_FRAMEWORK: Readonly<
  Record<Exclude<Creation['kind'], 'node-http' | 'node-https'>, Framework>
> = {
  fastify: 'fastify',
  express: 'express',
  router: 'express',
  koa: 'koa',
  'koa-router': 'koa',
  hono: 'hono',
};

/** Calls that return the instance they are called on (or a view of it). */
const SAME_INSTANCE: ReadonlySet<string> = new Set([
  'withTypeProvider',
  'route',
  'use',
  'routes',
  'middleware',
  'callback',
  'basePath',
]);

/** Hono's `app.on` takes standard and custom methods, upper-case. */
const HTTP_METHOD = /^[A-Z]+$/;

const PUBLIC_FLAG =
  /^(public|skipAuth|skip_auth|noAuth|no_auth|isPublic|anonymous|unauthenticated)$/;

/** Builds the instances, their links and routes for every non-test file. */
export function buildScopes(
  files: readonly FileFacts[],
  symbols: SymbolTable,
  index: FunctionIndex,
): ScopeGraph {
  const scopes: Scope[] = [];
  const byOrigin = new Map<ts.Node, Scope>();
  const creationByNode = new Map<ts.Node, Creation>();
  const routes: Route[] = [];
  const hooks: HookUse[] = [];
  const responseHooks: HookUse[] = [];
  const errorHandlers: ErrorHandlerUse[] = [];
  const registrations: Registration[] = [];
  const creations: Creation[] = [];
  const pendingPlugins: {
    parent: Scope;
    fn: FunctionFacts;
    call: ApiCall;
    escape: boolean;
    awaited: boolean;
    prefix: string;
    key: number;
  }[] = [];
  const paramScopes = new Map<FunctionFacts, Map<number, Scope>>();
  const proxyCalls = new Set<ts.Node>(files.flatMap((f) => f.proxies.map((p) => p.node)));

  const fileOrder = new Map(files.map((f, i) => [f.unit.path, i]));
  // A method call is ordered by its name, so `app.use(a).use(b)` puts `a` before `b`.
  const orderKey = (unit: SourceUnit, node: ts.Node): number =>
    (fileOrder.get(unit.path) ?? 0) * 1e9 +
    (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)
      ? node.expression.name
      : node
    ).getStart(unit.sourceFile);
  /** A Koa router's own `prefix` option. */
  const ownPrefix = new Map<Scope, string>();

  const newScope = (kind: Scope['kind'], framework: Framework, origin: Site): Scope => {
    const scope: Scope = {
      id: scopes.length,
      framework,
      kind,
      origin,
      events: [],
      parents: [],
      inlinedInto: [],
    };
    scopes.push(scope);
    return scope;
  };

  for (const file of files) {
    for (const creation of file.creations) {
      creations.push(creation);
      creationByNode.set(creation.node, creation);
      if (creation.kind === 'node-http' || creation.kind === 'node-https') continue;
      const scope = newScope(
        creation.kind === 'router' || creation.kind === 'koa-router' ? 'router' : 'app',
        CREATION_FRAMEWORK[creation.kind],
        creation,
      );
      byOrigin.set(creation.node, scope);
      if (creation.kind === 'koa-router') {
        const prefix = koaRouterPrefix(symbols, creation.unit, creation.node);
        if (prefix !== undefined) ownPrefix.set(scope, prefix);
      }
    }
  }

  /** The parameter a name refers to, looking outwards through enclosing functions. */
  const parameterOf = (
    node: ts.Identifier,
  ): { fn: FunctionNode; index: number; parameter: ts.ParameterDeclaration } | undefined => {
    for (let current = node.parent; !ts.isSourceFile(current); current = current.parent) {
      if (!isFunctionNode(current)) continue;
      const index = current.parameters.findIndex(
        (p) => ts.isIdentifier(p.name) && p.name.text === node.text,
      );
      const parameter = current.parameters[index];
      if (parameter !== undefined) return { fn: current, index, parameter };
    }
    return undefined;
  };

  /** The instance an expression is: an app or router it was created as, or a plugin parameter. */
  const originScope = (
    unit: SourceUnit,
    expression: ts.Expression,
    depth = 0,
  ): Scope | undefined => {
    if (depth > 8) return undefined;
    const node = unwrap(expression);
    if (ts.isNewExpression(node)) return byOrigin.get(node);
    if (ts.isCallExpression(node)) {
      const creation = byOrigin.get(node);
      if (creation !== undefined) return creation;
      const required = requiredSpecifier(node);
      if (required !== undefined && isProjectImport(symbols.project, unit, required)) {
        const target = symbols.project.resolveImport(unit, required);
        const exported = target === undefined ? undefined : index.exported(target, 'default');
        return exported !== undefined && ts.isExpression(exported.node)
          ? originScope(exported.unit, exported.node, depth + 1)
          : undefined;
      }
      const name = calleeName(node);
      const receiver = calleeReceiver(node);
      // `fastify().withTypeProvider<T>()`, `router.route('/x').get(...)` keep the instance;
      // so do Koa's `router.routes()` and `app.use(a).use(b)`, and Hono's `app.basePath('/api')`.
      if (
        receiver !== undefined &&
        name !== undefined &&
        (SAME_INSTANCE.has(name) || ROUTE_METHODS.has(name))
      ) {
        return originScope(unit, receiver, depth + 1);
      }
      return factoryScope(unit, node, depth);
    }
    if (ts.isIdentifier(node)) {
      const parameter = parameterOf(node);
      if (parameter !== undefined) {
        const facts = index.factsOf(unit, parameter.fn);
        if (facts === undefined) return undefined;
        return paramScope(facts, parameter.index, true);
      }
      const value = symbols.valueOf(unit, node);
      if (value === undefined || value.expression === node) return undefined;
      return originScope(value.unit, value.expression, depth + 1);
    }
    if (ts.isPropertyAccessExpression(node) && node.expression.kind === ts.SyntaxKind.ThisKeyword) {
      const value = symbols.valueOf(unit, node);
      return value === undefined ? undefined : originScope(value.unit, value.expression, depth + 1);
    }
    return undefined;
  };

  /** `app.use('/orders', auth, orderRoutes())`: the router a project function creates and returns. */
  const factoryScope = (
    unit: SourceUnit,
    call: ts.CallExpression,
    depth: number,
  ): Scope | undefined => {
    for (const target of index.calleeTargets(unit, call)) {
      if (target.kind !== 'function' || ts.isSourceFile(target.facts.node)) continue;
      for (const returned of returnedExpressions(target.facts.node)) {
        const scope = originScope(target.facts.unit, returned, depth + 1);
        if (scope?.kind === 'router' || scope?.kind === 'app') return scope;
      }
    }
    return undefined;
  };

  /**
   * Is a middleware a proxy (`createProxyMiddleware(…)`, `proxy(url)`), directly, through a
   * variable, or returned by a project function (`proxyTo(target)`)?
   */
  const isProxy = (unit: SourceUnit, expression: ts.Expression, depth = 0): boolean => {
    if (depth > 3) return false;
    const value = symbols.finalValue(unit, expression);
    if (proxyCalls.has(value.expression)) return true;
    if (!ts.isCallExpression(value.expression)) return false;
    return index
      .calleeTargets(value.unit, value.expression)
      .some(
        (target) =>
          target.kind === 'function' &&
          !ts.isSourceFile(target.facts.node) &&
          returnedExpressions(target.facts.node).some((returned) =>
            isProxy(target.facts.unit, returned, depth + 1),
          ),
      );
  };

  const paramScope = (fn: FunctionFacts, index: number, create: boolean): Scope | undefined => {
    let map = paramScopes.get(fn);
    const existing = map?.get(index);
    if (existing !== undefined || !create) return existing;
    if (map === undefined) {
      map = new Map();
      paramScopes.set(fn, map);
    }
    const node = fn.node;
    const parameter = ts.isSourceFile(node) ? undefined : node.parameters[index];
    const scope = newScope('plugin', 'fastify', { unit: fn.unit, node: parameter ?? node });
    map.set(index, scope);
    return scope;
  };

  const hookUse = (
    unit: SourceUnit,
    node: ts.Node,
    hook: string,
    expression: ts.Expression | undefined,
    prefix?: string,
  ): HookUse => ({
    site: { unit, node },
    hook,
    targets: expression === undefined ? [] : safeTargets(index, unit, expression),
    prefix,
  });

  const staticText = (
    unit: SourceUnit,
    expression: ts.Expression | undefined,
  ): string | undefined => {
    if (expression === undefined) return undefined;
    const value = symbols.staticString(unit, expression);
    return value?.complete === true ? value.text : undefined;
  };

  /** A static string, or the static strings of an array literal. */
  const staticList = (unit: SourceUnit, expression: ts.Expression): string[] => {
    const node = unwrap(expression);
    const items = ts.isArrayLiteralExpression(node) ? [...node.elements] : [node];
    const texts = items.map((item) => staticText(unit, item));
    return texts.every((t) => t !== undefined) ? texts : [];
  };

  /** Route-level hooks from a Fastify route options object. */
  const optionHooks = (unit: SourceUnit, options: ts.ObjectLiteralExpression): HookUse[] => {
    const found: HookUse[] = [];
    for (const name of AUTH_HOOK_NAMES) {
      const value = objectProperty(options, name);
      if (value !== undefined) found.push(hookUse(unit, value, name, value));
    }
    // `...(scoped ? { preHandler: check } : {})`: a hook some registrations get.
    for (const property of options.properties) {
      if (!ts.isSpreadAssignment(property)) continue;
      const spread = unwrap(property.expression);
      const branches = ts.isConditionalExpression(spread)
        ? [spread.whenTrue, spread.whenFalse]
        : [spread];
      for (const branch of branches) {
        const object = unwrap(branch);
        if (ts.isObjectLiteralExpression(object)) found.push(...optionHooks(unit, object));
      }
    }
    return found;
  };

  /** A route call; `shape` gives the method and arguments when they are not the call's own. */
  const addRoute = (
    call: ApiCall,
    scope: Scope,
    shape?: { method: string; args: readonly ts.Expression[] },
  ): void => {
    const { unit, node } = call;
    const args = [...(shape?.args ?? node.arguments)];
    let method = (shape?.method ?? call.method).toUpperCase();
    if (method === 'DEL') method = 'DELETE';
    let path: string | undefined;
    let handler: ts.Expression | undefined;
    let config: ts.ObjectLiteralExpression | undefined;
    const routeHooks: HookUse[] = [];
    const readOptions = (options: ts.ObjectLiteralExpression): void => {
      routeHooks.push(...optionHooks(unit, options));
      handler = objectProperty(options, 'handler') ?? handler;
      const configValue = objectProperty(options, 'config');
      if (configValue !== undefined && ts.isObjectLiteralExpression(unwrap(configValue))) {
        config = unwrap(configValue) as ts.ObjectLiteralExpression;
      }
    };
    if (call.method === 'route') {
      const first = args[0] === undefined ? undefined : unwrap(args[0]);
      if (first === undefined || !ts.isObjectLiteralExpression(first)) return;
      const methodValue = objectProperty(first, 'method');
      if (methodValue !== undefined) {
        const value = unwrap(methodValue);
        method = ts.isArrayLiteralExpression(value)
          ? value.elements.map((e) => staticText(unit, e) ?? '?').join(',')
          : (staticText(unit, value) ?? 'ALL');
        method = method.toUpperCase();
      }
      path = staticText(unit, objectProperty(first, 'url') ?? objectProperty(first, 'path'));
      readOptions(first);
    } else {
      const base = expressRouteBase(node);
      // koa-router's named routes: `router.get('item', '/items/:id', handler)`.
      const named =
        base === undefined &&
        args.length >= 3 &&
        staticText(unit, args[1])?.startsWith('/') === true
          ? 1
          : 0;
      const pathArg = base?.path ?? args[named];
      if (base === undefined && args.length < 2) return;
      path = staticText(unit, pathArg);
      if (path !== undefined) path = joinPath(instancePrefix(scope, unit, call.receiver), path);
      const rest = base === undefined ? args.slice(1 + named) : args;
      const last = rest[rest.length - 1];
      if (path === undefined) {
        if (last === undefined || !isFunctionNode(unwrap(last))) return;
      } else if (!path.startsWith('/') && !path.startsWith('*')) {
        return;
      }
      for (const [i, arg] of rest.entries()) {
        const value = unwrap(arg);
        const isLast = i === rest.length - 1;
        if (ts.isObjectLiteralExpression(value)) {
          readOptions(value);
        } else if (isLast) {
          handler = arg;
        } else {
          routeHooks.push(hookUse(unit, arg, 'middleware', arg));
        }
      }
    }
    const handlerTargets = handler === undefined ? [] : safeTargets(index, unit, handler);
    // On a parameter that may not be a framework instance (`client.post('/orders', body)`), only
    // a call whose last argument is a function is a route.
    if (scope.kind === 'plugin' && !handlerTargets.some((t) => t.kind === 'function')) return;
    const route: Route = {
      site: { unit, node },
      method,
      path,
      scope,
      handler: handlerTargets,
      routeHooks,
      config,
    };
    // `app.all('*', auth)` in Express (and Koa, Hono) is middleware for what follows.
    if (
      scope.framework !== 'fastify' &&
      scope.framework !== 'node' &&
      method === 'ALL' &&
      (path === '*' || path === '/*' || path === '(.*)')
    ) {
      const hook: HookUse = {
        site: route.site,
        hook: 'middleware',
        targets: [...route.routeHooks.flatMap((h) => h.targets), ...route.handler],
        prefix: undefined,
      };
      hooks.push(hook);
      scope.events.push({ kind: 'hook', hook, key: orderKey(unit, node) });
      return;
    }
    routes.push(route);
    scope.events.push({ kind: 'route', route, key: orderKey(unit, node) });
  };

  const registrationOf = (
    call: ApiCall,
    scope: Scope,
    pluginExpression: ts.Expression,
    options: ts.ObjectLiteralExpression | undefined,
    optionsUnit: SourceUnit,
  ): boolean => {
    const required = symbols.moduleReference(call.unit, pluginExpression);
    if (required === undefined || isProjectImport(symbols.project, call.unit, required.module)) {
      return false;
    }
    registrations.push({
      site: call,
      module: required.module,
      options,
      optionsUnit,
      scope,
    });
    const key = orderKey(call.unit, call.node);
    if (PROXY_MODULES.has(required.module)) {
      // A proxy plugin serves every path under its prefix: one route for the hooks to cover.
      const prefix =
        options === undefined ? '' : staticText(optionsUnit, objectProperty(options, 'prefix'));
      const route: Route = {
        site: call,
        method: 'ALL',
        path: prefix === undefined ? undefined : `${prefix === '/' ? '' : prefix}/*`,
        scope,
        handler: [],
        routeHooks: options === undefined ? [] : optionHooks(optionsUnit, options),
        config: undefined,
      };
      routes.push(route);
      scope.events.push({ kind: 'route', route, key });
    } else if (required.module === '@tessera/fastify') {
      const hook: HookUse = {
        site: call,
        hook: 'tessera',
        targets: [{ kind: 'library', library: 'tessera', site: call }],
        prefix: undefined,
      };
      hooks.push(hook);
      scope.events.push({ kind: 'hook', hook, key });
      if (isAwaited(call.node)) scope.events.push({ kind: 'flush', key: key + 0.5 });
    } else if (/bearer-auth|basic-auth/.test(required.module)) {
      const hook: HookUse = {
        site: call,
        hook: 'plugin:onRequest',
        targets: [
          {
            kind: 'library',
            library: required.module.includes('bearer') ? 'bearer-auth' : 'basic-auth',
            site: call,
          },
        ],
        prefix: undefined,
      };
      hooks.push(hook);
      scope.events.push({ kind: 'hook', hook, key });
    }
    return true;
  };

  const onApiCall = (call: ApiCall): void => {
    const scope = originScope(call.unit, call.receiver);
    if (scope === undefined) return;
    const { unit, node } = call;
    const args = node.arguments;
    const key = orderKey(unit, node);
    switch (call.method) {
      case 'addHook': {
        const name = staticText(unit, args[0]);
        const fn = args[1];
        if (name === undefined || fn === undefined) return;
        scope.framework = 'fastify';
        const hook = hookUse(unit, node, name, fn);
        if (AUTH_HOOK_NAMES.has(name)) {
          hooks.push(hook);
          scope.events.push({ kind: 'hook', hook, key });
        } else if (name === 'onError') {
          errorHandlers.push({ site: call, kind: 'onError', targets: hook.targets });
        } else if (name === 'onResponse' || name === 'onSend') {
          responseHooks.push(hook);
        }
        return;
      }
      case 'setErrorHandler': {
        const fn = args[0];
        if (fn !== undefined) {
          errorHandlers.push({
            site: call,
            kind: 'setErrorHandler',
            targets: safeTargets(index, unit, fn),
          });
        }
        return;
      }
      case 'use': {
        const base = instancePrefix(scope, unit, call.receiver);
        let prefix: string | undefined = base === '' ? undefined : base;
        // Middleware earlier in the same call: `app.use('/admin', authorize(rule), proxy)`.
        const earlier: HookUse[] = [];
        for (const [i, arg] of args.entries()) {
          const text = i === 0 ? staticText(unit, arg) : undefined;
          if (text !== undefined) {
            prefix = joinPath(base, text);
            continue;
          }
          // koa-route: `app.use(route.get('/pets/:id', show))` is a route, not middleware.
          const routed = koaRoute(symbols, unit, arg);
          if (routed !== undefined) {
            addRoute({ ...call, node: routed.call }, scope, {
              method: routed.method,
              args: routed.call.arguments,
            });
            continue;
          }
          // koa-mount: `app.use(mount('/admin', admin))` mounts an app or middleware under a prefix.
          const mount = koaMount(symbols, unit, arg);
          const mounted = mount?.mounted ?? arg;
          const at = mount === undefined ? prefix : joinPath(prefix ?? '', mount.prefix);
          const child = originScope(unit, mounted);
          if (child !== undefined && child !== scope) {
            linkChild(scope, child, call, at ?? '', key + i / 100);
            continue;
          }
          if (isProxy(unit, mounted)) {
            // A proxy serves every path under its mount: one route for the middleware to cover.
            const route: Route = {
              site: { unit, node: mounted },
              method: 'ALL',
              path: prefixed(at, i, args),
              scope,
              handler: [],
              routeHooks: [...earlier],
              config: undefined,
            };
            routes.push(route);
            scope.events.push({ kind: 'route', route, key: key + i / 100 });
            continue;
          }
          const hook: HookUse = {
            ...hookUse(unit, mounted, 'middleware', mounted, at === '' ? undefined : at),
            unless: unlessExemption(symbols, unit, mounted),
          };
          const errorHandler = hook.targets.some(
            (t) =>
              t.kind === 'function' &&
              !ts.isSourceFile(t.facts.node) &&
              t.facts.node.parameters.length === 4,
          );
          if (errorHandler) {
            errorHandlers.push({ site: call, kind: 'express', targets: hook.targets });
            continue;
          }
          if (hook.targets.some((t) => t.kind === 'function' && catchesDownstream(t.facts))) {
            errorHandlers.push({ site: call, kind: 'middleware', targets: hook.targets });
          }
          hooks.push(hook);
          if (i > 0 || prefix !== undefined) earlier.push(hook);
          scope.events.push({ kind: 'hook', hook, key: key + i / 100 });
        }
        return;
      }
      case 'register': {
        const plugin = args[0];
        if (plugin === undefined) return;
        scope.framework = 'fastify';
        const optionsArg = args[1];
        let options: ts.ObjectLiteralExpression | undefined;
        let optionsUnit = unit;
        if (optionsArg !== undefined) {
          const value = symbols.finalValue(unit, optionsArg);
          const expression = unwrap(value.expression);
          if (ts.isObjectLiteralExpression(expression)) {
            options = expression;
            optionsUnit = value.unit;
          }
        }
        if (registrationOf(call, scope, plugin, options, optionsUnit)) return;
        const prefix =
          options === undefined
            ? ''
            : (staticText(optionsUnit, objectProperty(options, 'prefix')) ?? '');
        const awaited = isAwaited(node);
        for (const target of safeTargets(index, unit, plugin)) {
          if (target.kind !== 'function') continue;
          pendingPlugins.push({
            parent: scope,
            fn: target.facts,
            call,
            escape: target.viaFp,
            awaited,
            prefix,
            key,
          });
        }
        if (awaited) scope.events.push({ kind: 'flush', key: key + 0.5 });
        return;
      }
      case 'on': {
        const event = staticText(unit, args[0]);
        // Koa: `app.on('error', (err, ctx) => log(err))` is where errors are logged.
        if (event === 'error' && args[1] !== undefined && scope.framework !== 'hono') {
          errorHandlers.push({
            site: call,
            kind: 'onError',
            targets: safeTargets(index, unit, args[1]),
          });
          return;
        }
        // Hono: `app.on('PURGE', '/cache', handler)`, `app.on(['GET', 'POST'], path, handler)`.
        const methods = args[0] === undefined ? [] : staticList(unit, args[0]);
        if (methods.length > 0 && methods.every((m) => HTTP_METHOD.test(m))) {
          addRoute(call, scope, { method: methods.join(','), args: args.slice(1) });
        }
        return;
      }
      case 'onError': {
        // Hono: `app.onError((err, c) => …)`.
        const fn = args[0];
        if (fn !== undefined) {
          errorHandlers.push({
            site: call,
            kind: 'onError',
            targets: safeTargets(index, unit, fn),
          });
        }
        return;
      }
      case 'after':
      case 'listen':
      case 'ready':
        if (isAwaited(node)) scope.events.push({ kind: 'flush', key });
        return;
      case 'decorate':
      case 'decorateRequest':
      case 'setNotFoundHandler':
        return;
      default: {
        // Hono: `app.route('/books', books)` mounts a sub-application under a prefix.
        const mounted = call.method === 'route' ? args[1] : undefined;
        const child = mounted === undefined ? undefined : originScope(unit, mounted);
        if (child !== undefined && child !== scope) {
          const prefix = staticText(unit, args[0]) ?? '';
          linkChild(
            scope,
            child,
            call,
            joinPath(instancePrefix(scope, unit, call.receiver), prefix),
            key,
          );
          return;
        }
        if (ROUTE_METHODS.has(call.method) || call.method === 'route') addRoute(call, scope);
      }
    }
  };

  /** A router or sub-application mounted in order, like Express's `app.use('/x', router)`. */
  const linkChild = (parent: Scope, child: Scope, call: ApiCall, prefix: string, key: number) => {
    const link: ChildLink = {
      parent,
      child,
      site: call,
      escape: false,
      awaited: false,
      prefix,
      assumed: false,
    };
    child.parents.push(link);
    parent.events.push({ kind: 'child', link, key });
  };

  /** The prefix routes registered through `receiver` get: a Koa router's, a Hono base path. */
  const instancePrefix = (scope: Scope, unit: SourceUnit, receiver: ts.Expression): string =>
    joinPath(ownPrefix.get(scope) ?? '', honoBasePath(symbols, unit, receiver));

  const allApiCalls = files.flatMap((f) => f.apiCalls);
  for (const call of allApiCalls) {
    try {
      onApiCall(call);
    } catch {
      // Unusual code around one call must not stop the rest.
    }
  }

  // Plugins registered with `register(fn)`: child scopes (or the parent itself with fastify-plugin).
  for (const pending of pendingPlugins) {
    const child = paramScope(pending.fn, 0, true);
    if (child === undefined || child === pending.parent) continue;
    const link: ChildLink = {
      parent: pending.parent,
      child,
      site: pending.call,
      escape: pending.escape,
      awaited: pending.awaited,
      prefix: pending.prefix,
      assumed: false,
    };
    child.parents.push(link);
    child.framework = 'fastify';
    pending.parent.events.push({ kind: 'child', link, key: pending.key });
  }

  // Functions called with an instance (`routes(app)`), directly or as a callback parameter.
  const invocationsOfParameter = (
    fn: FunctionFacts,
    parameterIndex: number,
  ): ts.CallExpression[] => {
    if (ts.isSourceFile(fn.node)) return [];
    const parameter = fn.node.parameters[parameterIndex];
    if (parameter === undefined || !ts.isIdentifier(parameter.name)) return [];
    const name = parameter.name.text;
    const found: ts.CallExpression[] = [];
    const visit = (facts: FunctionFacts): void => {
      for (const call of facts.calls) {
        if (ts.isIdentifier(call.expression) && call.expression.text === name) found.push(call);
      }
      for (const nested of facts.nested) visit(nested);
    };
    visit(fn);
    return found;
  };

  const inline = (child: Scope, parent: Scope, unit: SourceUnit, call: ts.CallExpression): void => {
    if (child === parent || child.inlinedInto.includes(parent)) return;
    child.inlinedInto.push(parent);
    child.framework = parent.framework;
    parent.events.push({ kind: 'inline', child, key: orderKey(unit, call) });
  };

  // Only calls passing something that can be an instance (or a plugin-like callback) can link
  // scopes; filtering on names first keeps this pass cheap on large codebases.
  const instanceNames = new Set<string>();
  for (const file of files) for (const name of file.receiverNames) instanceNames.add(name);
  for (const creation of creations) {
    const parent = creation.node.parent;
    if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) {
      instanceNames.add(parent.name.text);
    }
  }
  for (const fn of paramScopes.keys()) {
    const name = declaredName(fn.node);
    if (name !== undefined) instanceNames.add(name);
  }
  const mayCarryInstance = (unit: SourceUnit, arg: ts.Expression): boolean => {
    const value = unwrap(arg);
    if (ts.isIdentifier(value)) return instanceNames.has(value.text);
    if (isFunctionNode(value)) {
      const facts = index.factsOf(unit, value);
      return facts !== undefined && paramScopes.has(facts);
    }
    return (
      ts.isPropertyAccessExpression(value) && value.expression.kind === ts.SyntaxKind.ThisKeyword
    );
  };

  for (const file of files) {
    for (const fn of file.functions) {
      for (const call of fn.calls) {
        if (!call.arguments.some((arg) => mayCarryInstance(file.unit, arg))) continue;
        let targets: Target[];
        try {
          targets = index.calleeTargets(file.unit, call);
        } catch {
          continue;
        }
        for (const target of targets) {
          if (target.kind !== 'function') continue;
          const callee = target.facts;
          for (const [j, arg] of call.arguments.entries()) {
            const calleeScope = paramScope(callee, j, false);
            if (calleeScope !== undefined) {
              const argScope = safeOrigin(originScope, file.unit, arg);
              if (argScope !== undefined) inline(calleeScope, argScope, file.unit, call);
            }
            const value = unwrap(arg);
            if (!isFunctionNode(value) && !ts.isIdentifier(value)) continue;
            const callbacks = safeTargets(index, file.unit, arg).filter(
              (t): t is Extract<Target, { kind: 'function' }> =>
                t.kind === 'function' && paramScopes.has(t.facts),
            );
            if (callbacks.length === 0) continue;
            for (const invocation of invocationsOfParameter(callee, j)) {
              for (const callback of callbacks) {
                for (const [i, scope] of paramScopes.get(callback.facts) ?? []) {
                  const passed = invocation.arguments[i];
                  if (passed === undefined) continue;
                  const argScope = safeOrigin(originScope, callee.unit, passed);
                  if (argScope !== undefined) inline(scope, argScope, callee.unit, invocation);
                }
              }
            }
          }
        }
      }
    }
  }

  // Plugins never registered in the code (autoload, dynamic registration) are assumed to hang
  // off the only application, when there is exactly one.
  const roots = scopes.filter((s) => s.kind === 'app');
  for (const scope of scopes) {
    if (scope.kind !== 'plugin' || scope.parents.length > 0 || scope.inlinedInto.length > 0) {
      continue;
    }
    if (!plausiblePlugin(scope)) continue;
    const sameFramework = roots.filter((r) => r.framework === inferFramework(scope));
    // A function given a Koa or Hono instance reads as Express (middleware) or Fastify (routes).
    const candidates =
      sameFramework.length > 0
        ? sameFramework
        : roots.filter((r) => r.framework === 'koa' || r.framework === 'hono');
    const only = candidates.length === 1 ? candidates[0] : undefined;
    if (only === undefined) continue;
    if (only.framework !== 'fastify') {
      only.events.push({ kind: 'inline', child: scope, key: Number.MAX_SAFE_INTEGER });
      scope.inlinedInto.push(only);
    } else {
      const link: ChildLink = {
        parent: only,
        child: scope,
        site: scope.origin,
        escape: false,
        awaited: false,
        prefix: '',
        assumed: true,
      };
      scope.parents.push(link);
      only.events.push({ kind: 'child', link, key: Number.MAX_SAFE_INTEGER });
    }
  }
  for (const scope of scopes) {
    if (scope.kind === 'plugin' && scope.parents.length === 0 && scope.inlinedInto.length === 0) {
      scope.framework = inferFramework(scope);
    }
    scope.events.sort((a, b) => a.key - b.key);
  }

  // Routes in scopes that are neither linked nor plausible plugins are not routes (a client's `.get`).
  const live = new Set(
    scopes.filter(
      (s) =>
        s.kind !== 'plugin' ||
        s.parents.length > 0 ||
        s.inlinedInto.length > 0 ||
        plausiblePlugin(s),
    ),
  );
  const keptRoutes = routes.filter((r) => live.has(r.scope));
  const keptHooks = hooks.filter((h) =>
    scopes.some((s) => live.has(s) && s.events.some((e) => e.kind === 'hook' && e.hook === h)),
  );

  // Plain Node servers: the request listener is the one route.
  for (const creation of creations) {
    if (creation.kind !== 'node-http' && creation.kind !== 'node-https') continue;
    const listener = (creation.node.arguments ?? []).find((a) => {
      const value = unwrap(a);
      return !ts.isObjectLiteralExpression(value);
    });
    if (listener === undefined) continue;
    if (safeOrigin(originScope, creation.unit, listener) !== undefined) continue;
    const targets = safeTargets(index, creation.unit, listener);
    if (!targets.some((t) => t.kind === 'function')) continue;
    const scope = newScope('server', 'node', creation);
    const route: Route = {
      site: creation,
      method: 'ALL',
      path: '*',
      scope,
      handler: targets,
      routeHooks: [],
      config: undefined,
    };
    scope.events.push({ kind: 'route', route, key: 0 });
    keptRoutes.push(route);
    live.add(scope);
  }

  const nest = nestGraph({ files, symbols, index }, (origin) => newScope('app', 'nest', origin));
  for (const scope of nest.scopes) live.add(scope);
  keptRoutes.push(...nest.routes);
  keptHooks.push(...nest.hooks);
  responseHooks.push(...nest.responseHooks);
  errorHandlers.push(...nest.errorHandlers);

  return {
    scopes: scopes.filter((s) => live.has(s)),
    routes: keptRoutes,
    hooks: keptHooks,
    responseHooks,
    apps: nest,
    errorHandlers,
    registrations,
    creations,
  };
}

function safeTargets(index: FunctionIndex, unit: SourceUnit, expression: ts.Expression): Target[] {
  try {
    return index.targets(unit, expression);
  } catch {
    return [];
  }
}

function safeOrigin(
  originScope: (unit: SourceUnit, expression: ts.Expression) => Scope | undefined,
  unit: SourceUnit,
  expression: ts.Expression,
): Scope | undefined {
  try {
    return originScope(unit, expression);
  } catch {
    return undefined;
  }
}

/** The name a function is declared or assigned under, if any. */
function declaredName(node: ts.Node): string | undefined {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.name !== undefined) {
    return propertyNameText(node.name);
  }
  const parent = node.parent as ts.Node | undefined;
  if (parent === undefined) return undefined;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyAssignment(parent)) return propertyNameText(parent.name);
  return undefined;
}

/**
 * The catch-all path a mounted proxy serves: `/auth/*` under `app.use('/auth', proxy)`, `/*`
 * with no mount path, unknown when the mount path is computed.
 */
function prefixed(
  prefix: string | undefined,
  at: number,
  args: ts.NodeArray<ts.Expression>,
): string | undefined {
  if (prefix !== undefined) return `${prefix === '/' ? '' : prefix.replace(/\/$/, '')}/*`;
  const first = args[0];
  const mountPath =
    first !== undefined &&
    at > 0 &&
    (ts.isStringLiteralLike(first) ||
      ts.isTemplateExpression(first) ||
      ts.isArrayLiteralExpression(first) ||
      ts.isPropertyAccessExpression(first) ||
      ts.isIdentifier(first));
  return mountPath ? undefined : '/*';
}

/** What a function returns: its expression body, or its own `return` statements. */
function returnedExpressions(fn: FunctionNode): ts.Expression[] {
  const body = fn.body;
  if (body === undefined) return [];
  if (!ts.isBlock(body)) return [body];
  const found: ts.Expression[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunctionNode(node) || ts.isClassLike(node)) return;
    if (ts.isReturnStatement(node) && node.expression !== undefined) found.push(node.expression);
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(body, visit);
  return found;
}

/** `require('./routes')`: the module it loads. */
function requiredSpecifier(call: ts.CallExpression): string | undefined {
  const first = call.arguments[0];
  if (
    ts.isIdentifier(call.expression) &&
    call.expression.text === 'require' &&
    first !== undefined &&
    ts.isStringLiteralLike(first)
  ) {
    return first.text;
  }
  return undefined;
}

/** `await x.register(...)` (possibly in parentheses). */
function isAwaited(node: ts.Node): boolean {
  let current = node.parent;
  while (ts.isParenthesizedExpression(current)) current = current.parent;
  return ts.isAwaitExpression(current);
}

/** `router.route('/x').get(handler)`: the path given to `route`. */
function expressRouteBase(call: ts.CallExpression): { path: ts.Expression } | undefined {
  let receiver = calleeReceiver(call);
  while (receiver !== undefined) {
    const node = unwrap(receiver);
    if (!ts.isCallExpression(node)) return undefined;
    const name = calleeName(node);
    if (name === 'route') {
      const first = node.arguments[0];
      return first !== undefined && !ts.isObjectLiteralExpression(unwrap(first))
        ? { path: first }
        : undefined;
    }
    if (name === undefined || !ROUTE_METHODS.has(name)) return undefined;
    receiver = calleeReceiver(node);
  }
  return undefined;
}

/** Does an unlinked parameter scope look like a framework plugin rather than a client wrapper? */
function plausiblePlugin(scope: Scope): boolean {
  return scope.events.some(
    (e) =>
      (e.kind === 'route' && e.route.path !== undefined) ||
      e.kind === 'hook' ||
      e.kind === 'child' ||
      e.kind === 'inline',
  );
}

function inferFramework(scope: Scope): Framework {
  if (scope.framework !== 'fastify') return scope.framework;
  const expressLike = scope.events.some((e) => e.kind === 'hook' && e.hook.hook === 'middleware');
  const fastifyLike = scope.events.some(
    (e) => (e.kind === 'hook' && e.hook.hook !== 'middleware') || e.kind === 'child',
  );
  return expressLike && !fastifyLike ? 'express' : 'fastify';
}

/** Is the route's config marked as not needing authentication (`config: { public: true }`)? */
export function markedPublic(route: Route): boolean {
  if (route.publicMark !== undefined) return true;
  const config = route.config;
  if (config === undefined) return false;
  for (const property of config.properties) {
    if (!ts.isPropertyAssignment(property)) continue;
    const name = propertyNameText(property.name);
    if (name === undefined) continue;
    const value = unwrap(property.initializer);
    if (PUBLIC_FLAG.test(name) && value.kind === ts.SyntaxKind.TrueKeyword) return true;
    if (
      /^(auth|authenticate|requireAuth)$/.test(name) &&
      value.kind === ts.SyntaxKind.FalseKeyword
    ) {
      return true;
    }
  }
  return false;
}

export type { Event as ScopeEvent };

/** `prefix` + `path`, one slash between them; `''` and `'/'` add nothing. */
function joinPath(prefix: string, path: string): string {
  if (prefix === '' || prefix === '/') return path;
  const left = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (path === '/' || path === '') return left;
  return path.startsWith('/') ? left + path : `${left}/${path}`;
}
