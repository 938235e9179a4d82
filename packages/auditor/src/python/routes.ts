/**
 * The HTTP surface of a FastAPI or Starlette service: apps, routers and how they are mounted,
 * every route with the dependencies in front of it, middleware and exception handlers.
 */
import type { PyNode } from './parser.ts';
import type { PyFile, PyFunction, PyProject } from './project.ts';
import { dependsCalls, dependencyScheme, dependencyTarget, type Site } from './facts.ts';
import {
  calleeName,
  calleeText,
  descendants,
  keywordArg,
  positionalArgs,
  stringValue,
} from './syntax.ts';

const APP_CONSTRUCTORS = new Set(['FastAPI', 'Starlette']);
const ROUTER_CONSTRUCTORS = new Set(['APIRouter', 'Router']);
const HTTP_METHODS = new Set([
  'get',
  'post',
  'put',
  'patch',
  'delete',
  'head',
  'options',
  'api_route',
  'websocket',
  'route',
  'trace',
]);

/** What can stand in front of a route: a dependency function or a security scheme. */
export interface Guard {
  readonly site: Site;
  readonly fn: PyFunction | undefined;
  /** The header a security scheme reads (`authorization`, `x-api-key`), if it is one. */
  readonly scheme: string | undefined;
}

export interface PyRoute {
  readonly method: string;
  /** The full path, with router and include prefixes. */
  readonly path: string;
  /** The decorator (or `Route(...)`) line. */
  readonly site: Site;
  readonly handler: PyFunction | undefined;
  /** Dependencies on the route, its routers, the include calls and the app. */
  readonly guards: readonly Guard[];
  /** The app the route ends up in (undefined when its router is never mounted). */
  readonly app: string | undefined;
  /** `@requires("authenticated")` (Starlette) on the handler. */
  readonly requires: boolean;
}

export interface PyMiddleware {
  /** The app key (`file#name`). */
  readonly app: string;
  /** The registration line (`app.add_middleware(...)`, `@app.middleware("http")`). */
  readonly site: Site;
  readonly name: string;
  /** The function that runs per request (`dispatch`, `__call__`, the decorated function). */
  readonly fn: PyFunction | undefined;
}

export interface PyApp {
  readonly key: string;
  readonly kind: 'FastAPI' | 'Starlette';
  readonly site: Site;
  readonly guards: readonly Guard[];
}

export interface HttpSurface {
  readonly apps: readonly PyApp[];
  readonly routes: readonly PyRoute[];
  readonly middleware: readonly PyMiddleware[];
  /** `@app.exception_handler(X)` / `add_exception_handler` functions, with what they handle. */
  readonly exceptionHandlers: readonly {
    readonly handles: string;
    readonly fn: PyFunction | undefined;
    readonly site: Site;
  }[];
}

interface Container {
  readonly key: string;
  readonly file: PyFile;
  readonly kind: 'app' | 'router';
  readonly prefix: string;
  readonly guards: Guard[];
  readonly site: Site;
  readonly appKind: 'FastAPI' | 'Starlette';
}

interface Mount {
  readonly parent: string;
  readonly child: string;
  readonly prefix: string;
  readonly guards: Guard[];
}

/** Reads the HTTP surface of every file. */
export function httpSurface(py: PyProject): HttpSurface {
  const containers = new Map<string, Container>();
  const mounts: Mount[] = [];
  for (const file of py.files) {
    for (const [name, value] of file.assignments) {
      if (value.type !== 'call') continue;
      const ctor = calleeName(value);
      if (!APP_CONSTRUCTORS.has(ctor) && !ROUTER_CONSTRUCTORS.has(ctor)) continue;
      containers.set(`${file.path}#${name}`, {
        key: `${file.path}#${name}`,
        file,
        kind: APP_CONSTRUCTORS.has(ctor) ? 'app' : 'router',
        prefix: stringValue(keywordArg(value, 'prefix')) ?? '',
        guards: guardsOf(py, file, keywordArg(value, 'dependencies')),
        site: { file, line: value.line },
        appKind: ctor === 'Starlette' ? 'Starlette' : 'FastAPI',
      });
    }
  }
  // Apps made by a factory (`def create_app(): app = FastAPI(...)`).
  for (const file of py.files) {
    for (const call of descendants(file.root, 'call')) {
      const ctor = calleeName(call);
      if (!APP_CONSTRUCTORS.has(ctor) && !ROUTER_CONSTRUCTORS.has(ctor)) continue;
      const parent = call.parent;
      const name = parent?.type === 'assignment' ? parent.fields.left?.text : undefined;
      if (name === undefined || containers.has(`${file.path}#${name}`)) continue;
      containers.set(`${file.path}#${name}`, {
        key: `${file.path}#${name}`,
        file,
        kind: APP_CONSTRUCTORS.has(ctor) ? 'app' : 'router',
        prefix: stringValue(keywordArg(call, 'prefix')) ?? '',
        guards: guardsOf(py, file, keywordArg(call, 'dependencies')),
        site: { file, line: call.line },
        appKind: ctor === 'Starlette' ? 'Starlette' : 'FastAPI',
      });
    }
  }

  const containerOf = (file: PyFile, expr: PyNode | undefined): Container | undefined => {
    if (expr === undefined) return undefined;
    const text = expr.text.replace(/\s+/g, '');
    const local = containers.get(`${file.path}#${text}`);
    if (local !== undefined) return local;
    const parts = text.split('.');
    const name = parts.pop() ?? text;
    if (parts.length === 0) {
      const imported = file.imports.get(name);
      if (imported?.name === undefined) return undefined;
      const target = py.moduleFile(file, imported.module);
      if (target !== undefined) return containers.get(`${target.path}#${imported.name}`);
      // `from app.routers import items` then `items` is a module whose `router` is included.
      const sub = py.moduleFile(file, `${imported.module}.${imported.name}`);
      return sub === undefined ? undefined : containers.get(`${sub.path}#router`);
    }
    const head = parts.join('.');
    const imported = file.imports.get(parts[0] ?? '');
    const moduleName =
      imported === undefined
        ? head
        : [
            imported.name === undefined ? imported.module : `${imported.module}.${imported.name}`,
            ...parts.slice(1),
          ].join('.');
    const target = py.moduleFile(file, moduleName);
    return target === undefined ? undefined : containers.get(`${target.path}#${name}`);
  };

  const routes: {
    route: Omit<PyRoute, 'path' | 'guards' | 'app'>;
    owner: Container;
    local: string;
    guards: Guard[];
  }[] = [];
  const middleware: PyMiddleware[] = [];
  const exceptionHandlers: { handles: string; fn: PyFunction | undefined; site: Site }[] = [];

  for (const fn of py.functions) {
    for (const decorator of fn.decorators) {
      const call = decorator.children[0];
      if (call?.type !== 'call') continue;
      const target = call.fields.function;
      if (target?.type !== 'attribute') continue;
      const method = target.fields.attribute?.text ?? '';
      const owner = containerOf(fn.file, target.fields.object);
      if (owner === undefined) continue;
      if (HTTP_METHODS.has(method)) {
        const path = stringValue(positionalArgs(call)[0] ?? keywordArg(call, 'path')) ?? '';
        const verbs =
          method === 'api_route' || method === 'route'
            ? (keywordArg(call, 'methods')
                ?.text.match(/[A-Z]+/g)
                ?.join(',') ?? 'GET')
            : method.toUpperCase();
        routes.push({
          route: {
            method: verbs,
            site: { file: fn.file, line: decorator.line },
            handler: fn,
            requires: requiresDecorator(fn),
          },
          owner,
          local: path,
          guards: [
            ...guardsOf(py, fn.file, keywordArg(call, 'dependencies')),
            ...parameterGuards(py, fn),
          ],
        });
      } else if (method === 'middleware') {
        middleware.push({
          app: owner.key,
          site: { file: fn.file, line: decorator.line },
          name: fn.name,
          fn,
        });
      } else if (method === 'exception_handler') {
        exceptionHandlers.push({
          handles: positionalArgs(call)[0]?.text ?? '',
          fn,
          site: { file: fn.file, line: decorator.line },
        });
      }
    }
  }

  for (const file of py.files) {
    for (const call of descendants(file.root, 'call')) {
      const text = calleeText(call);
      const method = calleeName(call);
      const receiver =
        call.fields.function?.type === 'attribute' ? call.fields.function.fields.object : undefined;
      if (method === 'include_router' && receiver !== undefined) {
        const parent = containerOf(file, receiver);
        const child = containerOf(file, positionalArgs(call)[0] ?? keywordArg(call, 'router'));
        if (parent !== undefined && child !== undefined) {
          mounts.push({
            parent: parent.key,
            child: child.key,
            prefix: stringValue(keywordArg(call, 'prefix')) ?? '',
            guards: guardsOf(py, file, keywordArg(call, 'dependencies')),
          });
        }
      } else if (method === 'add_middleware' && receiver !== undefined) {
        const app = containerOf(file, receiver);
        const cls = positionalArgs(call)[0];
        if (app !== undefined && cls !== undefined)
          middleware.push(middlewareOf(py, file, app.key, cls, call));
      } else if (method === 'add_exception_handler' && receiver !== undefined) {
        const [handles, handler] = positionalArgs(call);
        exceptionHandlers.push({
          handles: handles?.text ?? '',
          fn: handler === undefined ? undefined : py.resolveFunction(file, handler.text),
          site: { file, line: call.line },
        });
      } else if (APP_CONSTRUCTORS.has(method)) {
        const appName =
          call.parent?.type === 'assignment' ? call.parent.fields.left?.text : undefined;
        const app = appName === undefined ? undefined : containers.get(`${file.path}#${appName}`);
        if (app === undefined) continue;
        // `middleware=[Middleware(Cls, ...)]`, or a list built beforehand in the same file.
        const stack = keywordArg(call, 'middleware');
        if (stack !== undefined) {
          const scope = stack.type === 'list' ? stack : file.root;
          for (const entry of descendants(scope, 'call')) {
            if (calleeName(entry) !== 'Middleware') continue;
            const cls = positionalArgs(entry)[0];
            if (cls !== undefined) middleware.push(middlewareOf(py, file, app.key, cls, entry));
          }
        }
        const routeList = keywordArg(call, 'routes');
        const listNode =
          routeList?.type === 'identifier'
            ? py.resolveValue(file, routeList.text)?.value
            : routeList;
        if (listNode !== undefined) collectStarletteRoutes(py, file, listNode, app, '', routes);
      } else if (text.endsWith('.mount') && receiver !== undefined) {
        const app = containerOf(file, receiver);
        const child = containerOf(file, positionalArgs(call)[1] ?? keywordArg(call, 'app'));
        const prefix = stringValue(positionalArgs(call)[0] ?? keywordArg(call, 'path')) ?? '';
        if (app !== undefined && child !== undefined)
          mounts.push({ parent: app.key, child: child.key, prefix, guards: [] });
      }
    }
  }

  const apps: PyApp[] = [...containers.values()]
    .filter((c) => c.kind === 'app')
    .map((c) => ({ key: c.key, kind: c.appKind, site: c.site, guards: c.guards }));
  /** The chain from a container up to its app: prefixes and guards collected on the way. */
  const resolveChain = (
    key: string,
    seen = new Set<string>(),
  ): { prefix: string; guards: Guard[]; app: string | undefined } => {
    const container = containers.get(key);
    if (container === undefined) return { prefix: '', guards: [], app: undefined };
    if (container.kind === 'app') return { prefix: '', guards: [...container.guards], app: key };
    const mount = mounts.find((m) => m.child === key && !seen.has(m.parent));
    if (mount === undefined)
      return { prefix: container.prefix, guards: [...container.guards], app: undefined };
    seen.add(key);
    const up = resolveChain(mount.parent, seen);
    return {
      prefix: up.prefix + mount.prefix + container.prefix,
      guards: [...up.guards, ...mount.guards, ...container.guards],
      app: up.app,
    };
  };
  const resolved: PyRoute[] = routes.map(({ route, owner, local, guards }) => {
    const chain = resolveChain(owner.key);
    return {
      ...route,
      path: joinPath(chain.prefix, local),
      guards: [...chain.guards, ...guards],
      app: chain.app,
    };
  });
  return { apps, routes: resolved, middleware, exceptionHandlers };
}

function joinPath(prefix: string, local: string): string {
  const joined = `${prefix}${local}`.replace(/\/+/g, '/');
  return joined === '' ? '/' : joined;
}

/** `dependencies=[Depends(a), Security(b)]`. */
function guardsOf(py: PyProject, file: PyFile, list: PyNode | undefined): Guard[] {
  if (list === undefined) return [];
  const node =
    list.type === 'identifier' ? (py.resolveValue(file, list.text)?.value ?? list) : list;
  return dependsCalls(node).map((call) => {
    const arg = positionalArgs(call)[0] ?? keywordArg(call, 'dependency');
    return {
      site: { file, line: call.line },
      fn: dependencyTarget(py, file, arg),
      scheme: dependencyScheme(py, file, arg),
    };
  });
}

/** Dependencies declared as handler parameters (`user: User = Depends(get_current_user)`). */
function parameterGuards(py: PyProject, fn: PyFunction): Guard[] {
  const params = fn.node.fields.parameters;
  if (params === undefined) return [];
  const own = dependsCalls(params).map((call) => {
    const arg = positionalArgs(call)[0] ?? keywordArg(call, 'dependency');
    return {
      site: { file: fn.file, line: call.line },
      fn: dependencyTarget(py, fn.file, arg),
      scheme: dependencyScheme(py, fn.file, arg),
    };
  });
  // `current_user: CurrentUser` where `CurrentUser = Annotated[User, Depends(get_current_user)]`.
  const aliased = annotatedAliases(py, fn).map(({ file, call, param }) => {
    const arg = positionalArgs(call)[0] ?? keywordArg(call, 'dependency');
    return {
      site: { file: fn.file, line: param.line },
      fn: dependencyTarget(py, file, arg),
      scheme: dependencyScheme(py, file, arg),
    };
  });
  return [...own, ...aliased];
}

/** `Depends()` calls behind parameter type aliases (`SessionDep = Annotated[Session, Depends(db)]`). */
export function annotatedAliases(
  py: PyProject,
  fn: PyFunction,
): { file: PyFile; call: PyNode; param: PyNode }[] {
  const out: { file: PyFile; call: PyNode; param: PyNode }[] = [];
  for (const param of fn.node.fields.parameters?.children ?? []) {
    const type = param.fields.type?.children[0] ?? param.fields.type;
    if (type === undefined || !/^(identifier|attribute)$/.test(type.type)) continue;
    const alias = py.resolveValue(fn.file, type.text);
    if (!alias?.value.text.startsWith('Annotated[')) continue;
    for (const call of dependsCalls(alias.value)) out.push({ file: alias.file, call, param });
  }
  return out;
}

function requiresDecorator(fn: PyFunction): boolean {
  return fn.decorators.some((d) => /^@\s*requires\(/.test(d.text));
}

function middlewareOf(
  py: PyProject,
  file: PyFile,
  app: string,
  cls: PyNode,
  at: PyNode,
): PyMiddleware {
  const found = py.resolveClass(file, cls.text);
  const fn =
    found === undefined
      ? undefined
      : (found.methods.get('dispatch') ?? found.methods.get('__call__'));
  return { app, site: { file, line: at.line }, name: cls.text, fn };
}

function collectStarletteRoutes(
  py: PyProject,
  file: PyFile,
  list: PyNode,
  app: Container,
  prefix: string,
  out: {
    route: Omit<PyRoute, 'path' | 'guards' | 'app'>;
    owner: Container;
    local: string;
    guards: Guard[];
  }[],
): void {
  for (const entry of list.children) {
    if (entry.type !== 'call') continue;
    const name = calleeName(entry);
    const path = stringValue(positionalArgs(entry)[0] ?? keywordArg(entry, 'path')) ?? '';
    if (name === 'Route' || name === 'WebSocketRoute') {
      const endpoint = positionalArgs(entry)[1] ?? keywordArg(entry, 'endpoint');
      const handler = endpoint === undefined ? undefined : py.resolveFunction(file, endpoint.text);
      const methods =
        keywordArg(entry, 'methods')
          ?.text.match(/[A-Z]+/g)
          ?.join(',') ?? 'GET';
      out.push({
        route: {
          method: methods,
          site: { file, line: entry.line },
          handler,
          requires: handler === undefined ? false : requiresDecorator(handler),
        },
        owner: app,
        local: prefix + path,
        guards: [],
      });
    } else if (name === 'Mount') {
      const routes = keywordArg(entry, 'routes');
      if (routes !== undefined) collectStarletteRoutes(py, file, routes, app, prefix + path, out);
      else {
        // A mounted sub-application (an MCP server, a static files app): one route for its prefix.
        out.push({
          route: {
            method: 'ANY',
            site: { file, line: entry.line },
            handler: undefined,
            requires: false,
          },
          owner: app,
          local: `${prefix}${path}/*`,
          guards: [],
        });
      }
    }
  }
}
