/**
 * How a NestJS application is put together outside its controllers: `NestFactory.create` in
 * `main.ts` (the server, its TLS and logger options, the global prefix, `app.use` and
 * `app.useGlobalGuards`), and the modules (`APP_GUARD`/`APP_INTERCEPTOR` providers,
 * `configure(consumer)` middleware).
 */
import ts from 'typescript';
import { objectProperty, propertyNameText, unwrap } from '../../../../ast/syntax.ts';
import type { SourceUnit } from '../../../../project/load.ts';
import { booleanValue, calleeName, calleeReceiver } from '../../ast.ts';
import type { Site } from '../../facts.ts';
import { decoratorsOf, nestDecorator, staticText, type NestSources } from './syntax.ts';

/** `NestFactory.create(AppModule, options)` and what its result is configured with. */
export interface NestApp {
  readonly site: Site;
  readonly call: ts.CallExpression;
  /** `httpsOptions` given to the factory or to a `FastifyAdapter({ https })`. */
  readonly tls: Site | undefined;
  /** `new FastifyAdapter({ logger: … })` options that turn Fastify's request logger on. */
  readonly fastifyLogger:
    { readonly site: Site; readonly options: ts.ObjectLiteralExpression } | undefined;
  /** Calls on the application object (`app.use`, `app.useGlobalGuards`, `app.setGlobalPrefix`). */
  readonly calls: readonly AppCall[];
}

export interface AppCall {
  readonly unit: SourceUnit;
  readonly node: ts.CallExpression;
  readonly method: string;
}

/** A provider registered under a NestJS token (`{ provide: APP_GUARD, useClass: X }`). */
export interface GlobalProvider {
  readonly token: 'APP_GUARD' | 'APP_INTERCEPTOR' | 'APP_FILTER' | 'APP_PIPE';
  readonly unit: SourceUnit;
  readonly site: ts.ObjectLiteralExpression;
  readonly value: ts.Expression;
}

/** `consumer.apply(M).exclude(...).forRoutes(...)` in a module's `configure`. */
export interface MiddlewareBinding {
  readonly unit: SourceUnit;
  readonly site: ts.CallExpression;
  readonly middleware: readonly ts.Expression[];
  readonly forRoutes: readonly ts.Expression[];
  readonly exclude: readonly ts.Expression[];
}

const FACTORY_METHODS = new Set(['create']);
const GLOBAL_TOKENS = new Set(['APP_GUARD', 'APP_INTERCEPTOR', 'APP_FILTER', 'APP_PIPE']);

/** Every `NestFactory.create(...)` of the project with the calls made on its result. */
export function nestApps(sources: NestSources): NestApp[] {
  const { symbols } = sources;
  const creations: { site: Site; call: ts.CallExpression }[] = [];
  for (const file of sources.files) {
    for (const fn of file.functions) {
      for (const call of fn.calls) {
        const reference = symbols.moduleReference(file.unit, call.expression);
        if (
          reference?.module === '@nestjs/core' &&
          reference.path[0] === 'NestFactory' &&
          FACTORY_METHODS.has(reference.path[1] ?? '')
        ) {
          creations.push({ site: { unit: file.unit, node: call }, call });
        }
      }
    }
  }
  if (creations.length === 0) return [];
  const callsOf = new Map<ts.CallExpression, AppCall[]>(creations.map((c) => [c.call, []]));
  for (const file of sources.files) {
    for (const fn of file.functions) {
      for (const call of fn.calls) {
        const receiver = calleeReceiver(call);
        const method = calleeName(call);
        if (receiver === undefined || method === undefined || !ts.isIdentifier(unwrap(receiver))) {
          continue;
        }
        const value = symbols.finalValue(file.unit, receiver).expression;
        const list = ts.isCallExpression(value) ? callsOf.get(value) : undefined;
        list?.push({ unit: file.unit, node: call, method });
      }
    }
  }
  return creations.map(({ site, call }) => {
    const { tls, fastifyLogger } = factoryOptions(sources, site.unit, call);
    return { site, call, tls, fastifyLogger, calls: callsOf.get(call) ?? [] };
  });
}

/** TLS and logger settings passed to the factory (`httpsOptions`, a `FastifyAdapter`). */
function factoryOptions(
  sources: NestSources,
  unit: SourceUnit,
  call: ts.CallExpression,
): Pick<NestApp, 'tls' | 'fastifyLogger'> {
  let tls: Site | undefined;
  let fastifyLogger: NestApp['fastifyLogger'];
  for (const arg of call.arguments.slice(1)) {
    const value = sources.symbols.finalValue(unit, arg);
    const node = unwrap(value.expression);
    if (ts.isObjectLiteralExpression(node)) {
      const https = objectProperty(node, 'httpsOptions');
      if (https !== undefined) tls = { unit: value.unit, node: https };
    } else if (ts.isNewExpression(node)) {
      const reference = sources.symbols.moduleReference(value.unit, node.expression);
      if (reference?.path[reference.path.length - 1] !== 'FastifyAdapter') continue;
      const first = node.arguments?.[0];
      const options = first === undefined ? undefined : unwrap(first);
      if (options === undefined || !ts.isObjectLiteralExpression(options)) continue;
      const https = objectProperty(options, 'https');
      if (https !== undefined && booleanValue(https) !== false) {
        tls = { unit: value.unit, node: https };
      }
      const logger = objectProperty(options, 'logger') ?? objectProperty(options, 'loggerInstance');
      if (logger !== undefined && booleanValue(logger) !== false) {
        fastifyLogger = { site: { unit: value.unit, node: options }, options };
      }
    }
  }
  return { tls, fastifyLogger };
}

/** The static global prefix of an app (`app.setGlobalPrefix('api', { exclude })`). */
export function globalPrefix(
  sources: NestSources,
  app: NestApp,
):
  | {
      readonly prefix: string;
      readonly exclude: readonly ts.Expression[];
      readonly unit: SourceUnit;
    }
  | undefined {
  const call = app.calls.find((c) => c.method === 'setGlobalPrefix');
  if (call === undefined) return undefined;
  const prefix = staticText(sources.symbols, call.unit, call.node.arguments[0]);
  if (prefix === undefined) return undefined;
  const options = call.node.arguments[1];
  const object = options === undefined ? undefined : unwrap(options);
  const exclude =
    object !== undefined && ts.isObjectLiteralExpression(object)
      ? objectProperty(object, 'exclude')
      : undefined;
  const list = exclude === undefined ? undefined : unwrap(exclude);
  return {
    prefix,
    exclude: list !== undefined && ts.isArrayLiteralExpression(list) ? [...list.elements] : [],
    unit: call.unit,
  };
}

/** URI versioning (`app.enableVersioning({ type: VersioningType.URI })`): the segment prefix. */
export function uriVersioning(sources: NestSources, app: NestApp): string | undefined {
  const call = app.calls.find((c) => c.method === 'enableVersioning');
  if (call === undefined) return undefined;
  const first = call.node.arguments[0];
  const options = first === undefined ? undefined : unwrap(first);
  if (options === undefined || !ts.isObjectLiteralExpression(options)) return 'v';
  const type = objectProperty(options, 'type');
  if (type !== undefined && !type.getText(call.unit.sourceFile).endsWith('URI')) return undefined;
  const prefix = objectProperty(options, 'prefix');
  if (prefix !== undefined && unwrap(prefix).kind === ts.SyntaxKind.FalseKeyword) return '';
  return staticText(sources.symbols, call.unit, prefix) ?? 'v';
}

/** `{ provide: APP_GUARD, useClass: JwtAuthGuard }` in any module's `providers`. */
export function globalProviders(sources: NestSources): GlobalProvider[] {
  const found: GlobalProvider[] = [];
  for (const file of sources.files) {
    for (const node of file.classesByName.values()) {
      const module = nestDecorator(decoratorsOf(sources, file.unit, node), 'Module');
      const options = module?.args[0] === undefined ? undefined : unwrap(module.args[0]);
      if (module === undefined || options === undefined || !ts.isObjectLiteralExpression(options)) {
        continue;
      }
      const providers = objectProperty(options, 'providers');
      if (providers === undefined) continue;
      for (const element of arrayElements(sources, module.unit, providers, 0)) {
        const provider = globalProvider(sources, element.unit, element.expression);
        if (provider !== undefined) found.push(provider);
      }
    }
  }
  return found;
}

function globalProvider(
  sources: NestSources,
  unit: SourceUnit,
  expression: ts.Expression,
): GlobalProvider | undefined {
  const value = sources.symbols.finalValue(unit, expression);
  const object = unwrap(value.expression);
  if (!ts.isObjectLiteralExpression(object)) return undefined;
  const provide = objectProperty(object, 'provide');
  if (provide === undefined) return undefined;
  const reference = sources.symbols.moduleReference(value.unit, provide);
  const token = reference?.module === '@nestjs/core' ? reference.path[0] : undefined;
  if (token === undefined || !GLOBAL_TOKENS.has(token)) return undefined;
  const provided =
    objectProperty(object, 'useClass') ??
    objectProperty(object, 'useExisting') ??
    objectProperty(object, 'useValue') ??
    objectProperty(object, 'useFactory');
  if (provided === undefined) return undefined;
  return {
    token: token as GlobalProvider['token'],
    unit: value.unit,
    site: object,
    value: provided,
  };
}

/** The elements of an array (through constants and spreads). */
function arrayElements(
  sources: NestSources,
  unit: SourceUnit,
  expression: ts.Expression,
  depth: number,
): { unit: SourceUnit; expression: ts.Expression }[] {
  if (depth > 3) return [];
  const value = sources.symbols.finalValue(unit, expression);
  const node = unwrap(value.expression);
  if (!ts.isArrayLiteralExpression(node)) return [];
  return node.elements.flatMap((element) =>
    ts.isSpreadElement(element)
      ? arrayElements(sources, value.unit, element.expression, depth + 1)
      : [{ unit: value.unit, expression: element }],
  );
}

/** Every `consumer.apply(...).forRoutes(...)` in a module's `configure(consumer)`. */
export function middlewareBindings(sources: NestSources): MiddlewareBinding[] {
  const found: MiddlewareBinding[] = [];
  for (const file of sources.files) {
    for (const fn of file.functions) {
      if (!ts.isMethodDeclaration(fn.node)) continue;
      if (propertyNameText(fn.node.name) !== 'configure') continue;
      for (const call of fn.calls) {
        if (calleeName(call) !== 'forRoutes') continue;
        const binding = bindingOf(file.unit, call);
        if (binding !== undefined) found.push(binding);
      }
    }
  }
  return found;
}

function bindingOf(unit: SourceUnit, forRoutes: ts.CallExpression): MiddlewareBinding | undefined {
  const exclude: ts.Expression[] = [];
  let receiver = calleeReceiver(forRoutes);
  for (let i = 0; i < 8 && receiver !== undefined; i++) {
    const node = unwrap(receiver);
    if (!ts.isCallExpression(node)) return undefined;
    const name = calleeName(node);
    if (name === 'exclude') exclude.push(...node.arguments);
    else if (name === 'apply') {
      return {
        unit,
        site: node,
        middleware: [...node.arguments],
        forRoutes: [...forRoutes.arguments],
        exclude,
      };
    } else return undefined;
    receiver = calleeReceiver(node);
  }
  return undefined;
}
