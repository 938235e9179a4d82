/**
 * What NestJS runs before a handler, as hooks the coverage model understands: guards
 * (`canActivate`, `@nestjs/passport`'s `AuthGuard('jwt')` with its `PassportStrategy`),
 * middleware (`use(req, res, next)` or a function) and interceptors (`intercept`). Also the
 * public-route convention: `@Public()` sets metadata that a guard reads with `Reflector` and
 * then lets the request through.
 */
import ts from 'typescript';
import { unwrap } from '../../../../ast/syntax.ts';
import type { SourceUnit } from '../../../../project/load.ts';
import { calleeName, calleeReceiver, isFunctionNode, looseChain } from '../../ast.ts';
import type { Site } from '../../facts.ts';
import type { Target } from '../../functions.ts';
import type { HookUse } from '../../scopes.ts';
import {
  classOf,
  decoratorsOf,
  extendsLibraryCall,
  methodOf,
  staticText,
  type ClassRef,
  type DecoratorUse,
  type NestSources,
} from './syntax.ts';

/** A `PassportStrategy(Strategy, name)` subclass: how `AuthGuard(name)` authenticates. */
export interface PassportStrategyClass {
  readonly name: string;
  /** The passport strategy package (`passport-jwt`, `passport-http-bearer`, …). */
  readonly module: string;
  readonly owner: ClassRef;
  readonly site: Site;
}

/** Strategy names packages register under when no name is given. */
const DEFAULT_STRATEGY_NAMES: ReadonlyMap<string, string> = new Map([
  ['passport-jwt', 'jwt'],
  ['passport-local', 'local'],
  ['passport-http-bearer', 'bearer'],
  ['passport-headerapikey', 'headerapikey'],
  ['passport-http', 'basic'],
  ['passport-azure-ad', 'oauth-bearer'],
  ['passport-oauth2', 'oauth2'],
  ['passport-custom', 'custom'],
]);

/**
 * Strategies whose `validate` callback is the whole check (it receives the raw key or
 * credentials); for the others the package verifies something before `validate` runs.
 */
const CALLBACK_STRATEGIES = new Set([
  'passport-local',
  'passport-http-bearer',
  'passport-headerapikey',
  'passport-http',
  'passport-custom',
]);

/** Metadata keys that mean "no authentication here" (`IS_PUBLIC_KEY = 'isPublic'`). */
const PUBLIC_KEY =
  /^(public(route|endpoint|api)?|(allow)?anonymous|skipauth\w*|noauth|unauthenticated|unprotected|auth(disabled|optional|skip))$/;

function isPublicKey(key: string): boolean {
  return PUBLIC_KEY.test(key);
}

/** Reflector methods that read route metadata. */
const REFLECTOR_READS = new Set(['get', 'getAllAndOverride', 'getAllAndMerge']);

/** Every `class X extends PassportStrategy(Strategy, 'name')` of the project. */
export function passportStrategies(sources: NestSources): PassportStrategyClass[] {
  const found: PassportStrategyClass[] = [];
  for (const file of sources.files) {
    for (const node of file.classesByName.values()) {
      const owner: ClassRef = { unit: file.unit, node };
      const base = extendsLibraryCall(sources, owner, '@nestjs/passport', 'PassportStrategy');
      if (base === undefined) continue;
      const [strategy, nameArg] = base.call.arguments;
      const module =
        strategy === undefined
          ? undefined
          : sources.symbols.moduleReference(base.unit, strategy)?.module;
      if (module === undefined) continue;
      const name =
        staticText(sources.symbols, base.unit, nameArg) ??
        DEFAULT_STRATEGY_NAMES.get(module) ??
        module.replace(/^passport-/, '');
      found.push({ name, module, owner, site: { unit: base.unit, node: base.call } });
    }
  }
  return found;
}

/** Builds the hooks of guards, middleware and interceptors given as expressions. */
export class Enhancers {
  private readonly strategies: readonly PassportStrategyClass[];
  /** `handleRequest` overrides of passport guards: where authentication failures are answered. */
  readonly failureHandlers: { readonly site: Site; readonly targets: readonly Target[] }[] = [];

  constructor(private readonly sources: NestSources) {
    this.strategies = passportStrategies(sources);
  }

  /** A guard: `JwtAuthGuard`, `new ApiKeyGuard()`, `AuthGuard('jwt')`. */
  guard(unit: SourceUnit, expression: ts.Expression): HookUse {
    return this.hook(unit, expression, 'guard', this.guardTargets(unit, expression));
  }

  /** Middleware: a class with `use(req, res, next)` or a function. */
  middleware(unit: SourceUnit, expression: ts.Expression, hook = 'middleware'): HookUse {
    const owner = classOf(this.sources, unit, expression);
    const method = owner === undefined ? undefined : methodOf(this.sources, owner, 'use');
    const targets =
      method !== undefined ? this.functionTargets(method) : this.targets(unit, expression);
    return this.hook(unit, expression, hook, targets);
  }

  /** An exception filter: a class with `catch(exception, host)`. */
  filter(unit: SourceUnit, expression: ts.Expression): HookUse {
    const owner = classOf(this.sources, unit, expression);
    const method = owner === undefined ? undefined : methodOf(this.sources, owner, 'catch');
    return this.hook(
      unit,
      expression,
      'filter',
      method === undefined ? [] : this.functionTargets(method),
    );
  }

  /** An interceptor: a class with `intercept(context, next)`; it authenticates only if it refuses. */
  interceptor(unit: SourceUnit, expression: ts.Expression): HookUse {
    const owner = classOf(this.sources, unit, expression);
    const method = owner === undefined ? undefined : methodOf(this.sources, owner, 'intercept');
    return this.hook(
      unit,
      expression,
      'interceptor',
      method === undefined ? [] : this.functionTargets(method),
    );
  }

  /**
   * The metadata keys a hook's code reads with `Reflector` and then lets the request through
   * for (`if (isPublic) return true`), or that are named like a public flag
   * (`getAllAndOverride(IS_PUBLIC_KEY, …)`): a route carrying one of them skips that hook.
   */
  publicKeysRead(hook: HookUse): ReadonlySet<string> {
    const keys = new Set<string>();
    for (const target of hook.targets) {
      if (target.kind !== 'function') continue;
      for (const fn of this.sources.index.summary(target.facts).functions) {
        for (const call of fn.calls) {
          const name = calleeName(call);
          const receiver = calleeReceiver(call);
          if (name === undefined || !REFLECTOR_READS.has(name) || receiver === undefined) continue;
          if (!looseChain(receiver).some((part) => /reflector/i.test(part))) continue;
          const key = metadataKey(this.sources, fn.unit, call.arguments[0]);
          if (key !== undefined && (isPublicKey(key) || allowsWhenSet(call))) keys.add(key);
        }
      }
    }
    return keys;
  }

  private guardTargets(unit: SourceUnit, expression: ts.Expression): Target[] {
    const passport = this.passportGuard(unit, expression);
    if (passport !== undefined) return this.strategyTargets(passport, { unit, node: expression });
    const owner = classOf(this.sources, unit, expression);
    if (owner === undefined) return this.libraryClassTargets(unit, expression);
    const targets: Target[] = [];
    const canActivate = methodOf(this.sources, owner, 'canActivate');
    if (canActivate !== undefined) targets.push(...this.functionTargets(canActivate));
    const base = extendsLibraryCall(this.sources, owner, '@nestjs/passport', 'AuthGuard');
    if (base !== undefined) {
      // A guard that lets a marker header through before `super.canActivate` is as weak as
      // the marker: the strategy never runs for those requests.
      const bypassed = targets.some(
        (t) => t.kind === 'function' && this.sources.index.summary(t.facts).markerChecks.length > 0,
      );
      if (!bypassed) {
        targets.push(
          ...this.strategyTargets(base.call.arguments, { unit: base.unit, node: base.call }),
        );
      }
      const handleRequest = methodOf(this.sources, owner, 'handleRequest');
      if (handleRequest !== undefined) {
        const handler = this.functionTargets(handleRequest);
        targets.push(...handler);
        if (!this.failureHandlers.some((h) => h.site.node === handleRequest.node)) {
          this.failureHandlers.push({ site: handleRequest, targets: handler });
        }
      }
    }
    return targets;
  }

  /** `AuthGuard('jwt')` from `@nestjs/passport`: its strategy names. */
  private passportGuard(
    unit: SourceUnit,
    expression: ts.Expression,
  ): readonly ts.Expression[] | undefined {
    const node = ts.isCallExpression(expression) ? expression : undefined;
    if (node === undefined) return undefined;
    const reference = this.sources.symbols.moduleReference(unit, node.expression);
    return reference?.module === '@nestjs/passport' &&
      reference.path[reference.path.length - 1] === 'AuthGuard'
      ? node.arguments
      : undefined;
  }

  /** What `AuthGuard(names)` runs: the strategies registered under those names. */
  private strategyTargets(args: readonly ts.Expression[], site: Site): Target[] {
    const names = strategyNames(this.sources, site.unit, args);
    const matching = this.strategies.filter((s) => names === undefined || names.includes(s.name));
    if (matching.length === 0) return [{ kind: 'library', library: 'passport', site }];
    const targets: Target[] = [];
    for (const strategy of matching) {
      const validate = methodOf(this.sources, strategy.owner, 'validate');
      const validation = validate === undefined ? [] : this.functionTargets(validate);
      if (CALLBACK_STRATEGIES.has(strategy.module)) {
        targets.push(...validation);
        continue;
      }
      targets.push(
        {
          kind: 'library',
          library: strategy.module === 'passport-jwt' ? 'passport-jwt' : 'passport',
          site: strategy.site,
        },
        ...validation,
      );
    }
    return targets;
  }

  /** A guard class from a package: a rate limiter is no authentication; others go by name. */
  private libraryClassTargets(unit: SourceUnit, expression: ts.Expression): Target[] {
    let node = expression;
    if (ts.isNewExpression(node)) node = node.expression;
    const reference = this.sources.symbols.moduleReference(unit, node);
    if (reference !== undefined && /throttl|rate-?limit/i.test(reference.module)) return [];
    return this.targets(unit, node);
  }

  private functionTargets(method: { unit: SourceUnit; node: ts.Node }): Target[] {
    const facts = this.sources.index.factsOf(method.unit, method.node);
    return facts === undefined ? [] : [{ kind: 'function', facts, viaFp: false }];
  }

  private targets(unit: SourceUnit, expression: ts.Expression): Target[] {
    try {
      return this.sources.index.targets(unit, expression);
    } catch {
      return [];
    }
  }

  private hook(unit: SourceUnit, node: ts.Node, hook: string, targets: Target[]): HookUse {
    return { site: { unit, node }, hook, targets, prefix: undefined };
  }
}

/** `AuthGuard('jwt')`, `AuthGuard(['jwt', 'api-key'])`; undefined for `AuthGuard()` (any). */
function strategyNames(
  sources: NestSources,
  unit: SourceUnit,
  args: readonly ts.Expression[],
): string[] | undefined {
  const first = args[0];
  if (first === undefined) return undefined;
  const value = sources.symbols.finalValue(unit, first);
  const node = value.expression;
  const elements = ts.isArrayLiteralExpression(node) ? [...node.elements] : [node];
  const names = elements.map((e) => staticText(sources.symbols, value.unit, e));
  return names.every((n): n is string => n !== undefined) ? names : undefined;
}

/**
 * The key of `SetMetadata(KEY, …)` or `reflector.get(KEY, …)`, normalised so that a key
 * resolved to its value (`'isPublic'`) and one known only by its constant's name
 * (`IS_PUBLIC_KEY`) compare equal.
 */
function metadataKey(
  sources: NestSources,
  unit: SourceUnit,
  expression: ts.Expression | undefined,
): string | undefined {
  if (expression === undefined) return undefined;
  const key =
    staticText(sources.symbols, unit, expression) ??
    (ts.isIdentifier(expression) ? expression.text : undefined);
  return key
    ?.toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .replace(/key$/, '')
    .replace(/^is/, '');
}

/**
 * `const skip = reflector.get(KEY, …); if (skip) return true;` (or the read itself as the
 * condition): the flag lets the request through.
 */
function allowsWhenSet(read: ts.CallExpression): boolean {
  let holder: ts.Node = read;
  while (ts.isAwaitExpression(holder.parent) || ts.isParenthesizedExpression(holder.parent)) {
    holder = holder.parent;
  }
  const declaration = holder.parent;
  const name =
    ts.isVariableDeclaration(declaration) && ts.isIdentifier(declaration.name)
      ? declaration.name.text
      : undefined;
  const body = enclosingBody(read);
  if (body === undefined) return false;
  let allows = false;
  const visit = (node: ts.Node): void => {
    if (allows) return;
    if (ts.isIfStatement(node) && returnsTrue(node.thenStatement)) {
      const condition = unwrap(node.expression);
      if (condition === holder || condition === read) allows = true;
      else if (name !== undefined && ts.isIdentifier(condition) && condition.text === name) {
        allows = true;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(body);
  return allows;
}

/** `return true;` as the statement or the first statement of its block. */
function returnsTrue(statement: ts.Statement): boolean {
  const first = ts.isBlock(statement) ? statement.statements[0] : statement;
  return (
    first !== undefined &&
    ts.isReturnStatement(first) &&
    first.expression !== undefined &&
    unwrap(first.expression).kind === ts.SyntaxKind.TrueKeyword
  );
}

function enclosingBody(node: ts.Node): ts.Node | undefined {
  for (let current = node.parent; !ts.isSourceFile(current); current = current.parent) {
    if (isFunctionNode(current)) return current.body;
  }
  return undefined;
}

/**
 * Metadata keys a class or method sets to something other than `false` (`@Public()`,
 * `@SetMetadata('isPublic', true)`), with the decorator that sets each.
 */
export function publicMarks(
  sources: NestSources,
  decorators: readonly DecoratorUse[],
): Map<string, Site> {
  const marks = new Map<string, Site>();
  for (const decorator of decorators) {
    if (decorator.name !== 'SetMetadata' || decorator.module !== '@nestjs/common') continue;
    const [keyArg, valueArg] = decorator.args;
    if (valueArg?.kind === ts.SyntaxKind.FalseKeyword) continue;
    const key = metadataKey(sources, decorator.unit, keyArg);
    if (key !== undefined) marks.set(key, decorator.site);
  }
  return marks;
}

export { decoratorsOf };
