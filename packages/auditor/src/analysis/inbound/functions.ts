/**
 * Following a handler or hook expression to the code it runs (through identifiers, imports,
 * exports, decorators, `fastify-plugin`, factories and class methods), and summarising what that
 * code does, including the project functions it calls.
 */
import ts from 'typescript';
import type { SymbolTable } from '../../ast/symbols.ts';
import { propertyNameText, unwrap } from '../../ast/syntax.ts';
import { isProjectImport, type Project, type SourceUnit } from '../../project/load.ts';
import { honoAllowsAnonymous, koaJwtPassthrough } from './adapters/index.ts';
import { calleeName, calleeReceiver, isFunctionNode, lastName, namesUnder } from './ast.ts';
import type {
  ClaimRead,
  Decode,
  FileFacts,
  FunctionFacts,
  HeaderRead,
  HmacUse,
  LogCall,
  Site,
  TimeWindow,
  Verification,
} from './facts.ts';

/** Libraries that are authentication middleware by themselves. */
export type AuthLibrary =
  | 'tessera'
  | 'passport'
  | 'passport-jwt'
  | 'express-jwt'
  | 'koa-jwt'
  | 'hono-jwt'
  | 'bearer-auth'
  | 'basic-auth';

/** What a hook, middleware or handler expression runs. */
export type Target =
  | { readonly kind: 'function'; readonly facts: FunctionFacts; readonly viaFp: boolean }
  | { readonly kind: 'library'; readonly library: AuthLibrary; readonly site: Site }
  | { readonly kind: 'unresolved'; readonly name: string; readonly site: Site };

/** Everything a function does, with the functions it calls (a bounded depth). */
export interface Summary {
  readonly functions: readonly FunctionFacts[];
  readonly verifications: readonly Verification[];
  readonly decodes: readonly Decode[];
  readonly secretComparisons: readonly Site[];
  readonly constantTime: readonly Site[];
  readonly markerChecks: readonly HeaderRead[];
  readonly rejections: readonly Site[];
  readonly logs: readonly LogCall[];
  readonly allowWhenUnset: readonly Site[];
  readonly failOpen: readonly Site[];
  readonly claimReads: readonly ClaimRead[];
  readonly headerReads: readonly HeaderRead[];
  readonly hmacs: readonly HmacUse[];
  readonly digestInputs: readonly Site[];
  readonly timeWindows: readonly TimeWindow[];
  readonly authzCalls: readonly Site[];
}

const LIBRARY_MODULES: ReadonlyMap<string, AuthLibrary> = new Map([
  ['@tessera/fastify', 'tessera'],
  ['express-jwt', 'express-jwt'],
  ['@fastify/bearer-auth', 'bearer-auth'],
  ['fastify-bearer-auth', 'bearer-auth'],
  ['@fastify/basic-auth', 'basic-auth'],
  ['fastify-basic-auth', 'basic-auth'],
  ['express-basic-auth', 'basic-auth'],
  ['koa-jwt', 'koa-jwt'],
  ['koa-basic-auth', 'basic-auth'],
  ['hono/jwt', 'hono-jwt'],
  ['hono/jwk', 'hono-jwt'],
  ['hono/bearer-auth', 'bearer-auth'],
  ['hono/basic-auth', 'basic-auth'],
]);

/** Calls that return the middleware they are given, run in sequence (`module:export`). */
const MIDDLEWARE_WRAPPERS: ReadonlySet<string> = new Set([
  'koa-compose:',
  'hono/combine:every',
  'hono/factory:createMiddleware',
]);

const MAX_DEPTH = 8;
const MAX_SUMMARY_FUNCTIONS = 300;
const CALL_DEPTH = 3;

interface Exported {
  readonly unit: SourceUnit;
  readonly node: ts.Node;
}

/** Resolution and summaries over the facts of every file, cached. */
export class FunctionIndex {
  private readonly summaries = new Map<FunctionFacts, Summary>();
  private readonly exportTables = new Map<SourceUnit, Map<string, ts.Node>>();
  private readonly reExports = new Map<SourceUnit, string[]>();

  constructor(
    private readonly project: Project,
    private readonly symbols: SymbolTable,
    private readonly files: ReadonlyMap<SourceUnit, FileFacts>,
    /** `decorate('authenticate', fn)` values by decorator name. */
    private readonly decorators: ReadonlyMap<string, readonly Site[]>,
  ) {}

  /** The facts of a function node. */
  factsOf(unit: SourceUnit, node: ts.Node): FunctionFacts | undefined {
    return this.files.get(unit)?.functionOf.get(node);
  }

  /** What an expression used as a hook, middleware, handler or plugin runs. */
  targets(unit: SourceUnit, expression: ts.Expression): Target[] {
    const found: Target[] = [];
    const seen = new Set<ts.Node>();
    this.resolve(unit, expression, 0, false, seen, found);
    return found;
  }

  private resolve(
    unit: SourceUnit,
    expression: ts.Node,
    depth: number,
    viaFp: boolean,
    seen: Set<ts.Node>,
    found: Target[],
  ): void {
    if (depth > MAX_DEPTH || seen.has(expression)) return;
    seen.add(expression);
    const node = ts.isExpression(expression) ? unwrap(expression) : expression;
    const next = (u: SourceUnit, n: ts.Node, fp = viaFp): void => {
      this.resolve(u, n, depth + 1, fp, seen, found);
    };
    const site: Site = { unit, node };

    if (isFunctionNode(node)) {
      const facts = this.factsOf(unit, node);
      if (facts !== undefined) found.push({ kind: 'function', facts, viaFp });
      return;
    }
    if (ts.isVariableDeclaration(node)) {
      if (node.initializer !== undefined) next(unit, node.initializer);
      return;
    }
    if (ts.isArrayLiteralExpression(node)) {
      for (const element of node.elements) next(unit, element);
      return;
    }
    if (ts.isConditionalExpression(node)) {
      next(unit, node.whenTrue);
      next(unit, node.whenFalse);
      return;
    }
    if (ts.isIdentifier(node)) {
      this.resolveIdentifier(unit, node, site, next, found);
      return;
    }
    if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
      this.resolveMember(unit, node, site, next, found);
      return;
    }
    if (ts.isCallExpression(node)) {
      this.resolveCall(unit, node, site, next, found);
    }
  }

  private resolveIdentifier(
    unit: SourceUnit,
    node: ts.Identifier,
    site: Site,
    next: (u: SourceUnit, n: ts.Node, fp?: boolean) => void,
    found: Target[],
  ): void {
    const local = this.files.get(unit)?.functionsByName.get(node.text);
    if (local !== undefined && local.length > 0) {
      for (const fn of local) next(unit, fn);
      return;
    }
    const binding = this.symbols.importsOf(unit).get(node.text);
    if (binding !== undefined) {
      if (isProjectImport(this.project, unit, binding.module)) {
        const target = this.project.resolveImport(unit, binding.module);
        const name = binding.imported === '*' ? 'default' : binding.imported;
        const exported = target === undefined ? undefined : this.exported(target, name);
        if (exported !== undefined) next(exported.unit, exported.node);
        else found.push({ kind: 'unresolved', name: node.text, site });
        return;
      }
      const library = LIBRARY_MODULES.get(binding.module);
      if (library !== undefined) found.push({ kind: 'library', library, site });
      else found.push({ kind: 'unresolved', name: node.text, site });
      return;
    }
    const value = this.symbols.valueOf(unit, node);
    if (value !== undefined && value.expression !== node) {
      next(value.unit, value.expression);
      return;
    }
    found.push({ kind: 'unresolved', name: node.text, site });
  }

  private resolveMember(
    unit: SourceUnit,
    node: ts.PropertyAccessExpression | ts.ElementAccessExpression,
    site: Site,
    next: (u: SourceUnit, n: ts.Node, fp?: boolean) => void,
    found: Target[],
  ): void {
    const name = lastName(node);
    if (name === undefined) return;
    const ref = this.symbols.moduleReference(unit, node);
    if (ref !== undefined) {
      if (isProjectImport(this.project, unit, ref.module)) {
        const target = this.project.resolveImport(unit, ref.module);
        let exported =
          target === undefined ? undefined : this.exported(target, ref.path[0] ?? 'default');
        // `const { authJwt } = require('./middleware')` then `authJwt.verifyToken`: the rest of the
        // path names members of exported objects, possibly through further `require`s.
        for (const member of ref.path.slice(1)) {
          if (exported === undefined) break;
          exported = this.memberOf(exported, member);
        }
        if (exported !== undefined) {
          next(exported.unit, exported.node);
          return;
        }
      } else {
        const library = LIBRARY_MODULES.get(ref.module);
        if (library !== undefined) {
          found.push({ kind: 'library', library, site });
          return;
        }
      }
    }
    const receiver = unwrap(node.expression);
    if (receiver.kind === ts.SyntaxKind.ThisKeyword) {
      const method = classMember(node, name);
      if (method !== undefined) {
        next(unit, method);
        return;
      }
      const value = this.symbols.valueOf(unit, node);
      if (value !== undefined) {
        next(value.unit, value.expression);
        return;
      }
    }
    // `this.orders.refund(…)` with `constructor(private readonly orders: OrdersService)`: the
    // injected class's method (NestJS and other constructor injection).
    const injected = injectedClassName(receiver);
    if (injected !== undefined) {
      const method = this.classMethod(unit, injected, name);
      if (method !== undefined) {
        next(method.unit, method.node);
        return;
      }
    }
    const decorated = nearest(this.decorators.get(name) ?? [], unit);
    if (decorated.length > 0) {
      for (const value of decorated) next(value.unit, value.node);
      return;
    }
    if (ts.isIdentifier(receiver)) {
      const owner = this.symbols.finalValue(unit, receiver);
      const value = unwrap(owner.expression);
      if (ts.isObjectLiteralExpression(value)) {
        const member = objectMember(value, name);
        if (member !== undefined) {
          next(owner.unit, member);
          return;
        }
      } else if (ts.isNewExpression(value)) {
        const method = this.classMethod(owner.unit, value.expression, name);
        if (method !== undefined) {
          next(method.unit, method.node);
          return;
        }
      } else if (value === receiver) {
        const method = this.classMethod(unit, receiver, name);
        if (method !== undefined) {
          next(method.unit, method.node);
          return;
        }
      }
    }
    found.push({ kind: 'unresolved', name, site });
  }

  private resolveCall(
    unit: SourceUnit,
    node: ts.CallExpression,
    site: Site,
    next: (u: SourceUnit, n: ts.Node, fp?: boolean) => void,
    found: Target[],
  ): void {
    if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const specifier = node.arguments[0];
      if (specifier !== undefined && ts.isStringLiteralLike(specifier)) {
        this.nextModule(unit, specifier.text, next);
      }
      return;
    }
    const ref = this.symbols.moduleReference(unit, node.expression);
    if (ref?.module === 'fastify-plugin') {
      const plugin = node.arguments[0];
      if (plugin !== undefined) next(unit, plugin, true);
      return;
    }
    if (
      (ref?.module === 'passport' || ref?.module === 'koa-passport') &&
      ref.path[ref.path.length - 1] === 'authenticate'
    ) {
      found.push({ kind: 'library', library: 'passport', site });
      return;
    }
    // koa-jwt with `passthrough: true` verifies a token when there is one but requires none.
    if (ref?.module === 'koa-jwt' && koaJwtPassthrough(this.symbols, unit, node)) return;
    // hono/jwk with `allow_anon: true` lets requests without a token through.
    if (ref?.module === 'hono/jwk' && honoAllowsAnonymous(this.symbols, unit, node)) return;
    if (ref !== undefined && LIBRARY_MODULES.has(ref.module)) {
      found.push({ kind: 'library', library: LIBRARY_MODULES.get(ref.module) ?? 'passport', site });
      return;
    }
    if (
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'require' &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      this.nextModule(unit, node.arguments[0].text, next);
      return;
    }
    const name = calleeName(node);
    const receiver = calleeReceiver(node);
    // Middleware composed or wrapped: koa-compose's `compose([a, b])`, hono/combine's
    // `every(a, b)`, Hono's `createMiddleware(async (c, next) => …)`.
    if (ref !== undefined && MIDDLEWARE_WRAPPERS.has(`${ref.module}:${ref.path.join('.')}`)) {
      for (const argument of node.arguments) next(unit, argument);
      return;
    }
    if (name === 'createMiddleware' && node.arguments[0] !== undefined) {
      next(unit, node.arguments[0]);
      return;
    }
    // `jwt({ … }).unless({ path })`: the middleware itself (the skipped paths are read by the scopes).
    if ((name === 'bind' || name === 'unless') && receiver !== undefined) {
      next(unit, receiver);
      return;
    }
    // @fastify/auth: `fastify.auth([fastify.verifyJwt, fastify.verifyKey])`.
    if (name === 'auth' && node.arguments[0] !== undefined) {
      next(unit, node.arguments[0]);
      return;
    }
    // A factory (`requireScope('x')`): its summary includes the middleware it returns.
    next(unit, node.expression);
  }

  private nextModule(
    unit: SourceUnit,
    specifier: string,
    next: (u: SourceUnit, n: ts.Node, fp?: boolean) => void,
  ): void {
    if (!isProjectImport(this.project, unit, specifier)) return;
    const target = this.project.resolveImport(unit, specifier);
    const exported = target === undefined ? undefined : this.exported(target, 'default');
    if (exported !== undefined) next(exported.unit, exported.node);
  }

  private classMethod(
    unit: SourceUnit,
    classExpression: ts.Expression,
    name: string,
  ): Exported | undefined {
    const className = lastName(classExpression);
    if (className === undefined) return undefined;
    let declaration: ts.ClassLikeDeclaration | undefined = this.files
      .get(unit)
      ?.classesByName.get(className);
    let owner = unit;
    if (declaration === undefined) {
      const binding = this.symbols.importsOf(unit).get(className);
      if (binding !== undefined && isProjectImport(this.project, unit, binding.module)) {
        const target = this.project.resolveImport(unit, binding.module);
        const exported =
          target === undefined
            ? undefined
            : this.exported(target, binding.imported === '*' ? 'default' : binding.imported);
        if (exported !== undefined && ts.isClassLike(exported.node)) {
          declaration = exported.node;
          owner = exported.unit;
        }
      }
    }
    if (declaration === undefined) return undefined;
    for (const member of declaration.members) {
      if (member.name === undefined || propertyNameText(member.name) !== name) continue;
      if (ts.isMethodDeclaration(member)) return { unit: owner, node: member };
      if (ts.isPropertyDeclaration(member) && member.initializer !== undefined) {
        return { unit: owner, node: member.initializer };
      }
    }
    return undefined;
  }

  /**
   * The member `name` of an exported value: a property of an object literal (also one assigned to
   * a constant first, `const authJwt = { verifyToken }; module.exports = authJwt`), or the export
   * `name` of a project module the value requires (`module.exports = { authJwt: require('./a') }`).
   */
  private memberOf(found: Exported, name: string, depth = 0): Exported | undefined {
    if (depth > 4) return undefined;
    let { unit } = found;
    let node: ts.Node = found.node;
    if (ts.isIdentifier(node)) {
      const value = this.symbols.finalValue(unit, node);
      unit = value.unit;
      node = value.expression;
    }
    const value = ts.isExpression(node) ? unwrap(node) : node;
    if (ts.isObjectLiteralExpression(value)) {
      const member = objectMember(value, name);
      return member === undefined ? undefined : { unit, node: member };
    }
    const specifier = requiredSpecifier(value);
    if (specifier === undefined || !isProjectImport(this.project, unit, specifier))
      return undefined;
    const target = this.project.resolveImport(unit, specifier);
    return target === undefined ? undefined : this.exported(target, name, depth + 1);
  }

  /** What a module exports under `name` (`default` for the default export or `module.exports`). */
  exported(unit: SourceUnit, name: string, depth = 0): Exported | undefined {
    if (depth > 4) return undefined;
    const table = this.exportTable(unit);
    const direct = table.get(name);
    if (direct !== undefined) {
      // A named re-export (`export { f } from './f.ts'`) keeps the node of the file it is in.
      const home = direct.getSourceFile();
      if (home !== unit.sourceFile) {
        const owner = this.project.unit(home.fileName);
        return owner === undefined ? undefined : { unit: owner, node: direct };
      }
      if (ts.isIdentifier(direct)) {
        const local = this.files.get(unit)?.functionsByName.get(direct.text)?.[0];
        if (local !== undefined) return { unit, node: local };
        const value = this.symbols.valueOf(unit, direct);
        if (value !== undefined && value.expression !== direct) {
          return { unit: value.unit, node: value.expression };
        }
        const cls = this.files.get(unit)?.classesByName.get(direct.text);
        if (cls !== undefined) return { unit, node: cls };
      }
      return { unit, node: direct };
    }
    for (const specifier of this.reExports.get(unit) ?? []) {
      const target = this.project.resolveImport(unit, specifier);
      const hit = target === undefined ? undefined : this.exported(target, name, depth + 1);
      if (hit !== undefined) return hit;
    }
    // `module.exports = { authenticate }` imported as `{ authenticate }`.
    // `module.exports = authJwt` with `const authJwt = { verifyToken }`, likewise.
    const fallback = table.get('default');
    if (name !== 'default' && fallback !== undefined) {
      return this.memberOf({ unit, node: fallback }, name, depth + 1);
    }
    return undefined;
  }

  private exportTable(unit: SourceUnit): Map<string, ts.Node> {
    const cached = this.exportTables.get(unit);
    if (cached !== undefined) return cached;
    const table = new Map<string, ts.Node>();
    const reExports: string[] = [];
    for (const statement of unit.sourceFile.statements) {
      const modifiers = ts.canHaveModifiers(statement) ? (ts.getModifiers(statement) ?? []) : [];
      const exported = modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      const isDefault = modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
      if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && exported) {
        if (isDefault) table.set('default', statement);
        if (statement.name !== undefined) table.set(statement.name.text, statement);
      } else if (ts.isVariableStatement(statement) && exported) {
        for (const declaration of statement.declarationList.declarations) {
          if (ts.isIdentifier(declaration.name) && declaration.initializer !== undefined) {
            table.set(declaration.name.text, declaration.initializer);
          }
        }
      } else if (ts.isExportAssignment(statement)) {
        table.set('default', statement.expression);
      } else if (ts.isExportDeclaration(statement)) {
        const specifier = statement.moduleSpecifier;
        const clause = statement.exportClause;
        if (specifier !== undefined && ts.isStringLiteral(specifier)) {
          if (clause === undefined) {
            reExports.push(specifier.text);
          } else if (ts.isNamedExports(clause)) {
            const target = this.project.resolveImport(unit, specifier.text);
            for (const element of clause.elements) {
              const original = (element.propertyName ?? element.name).text;
              const hit = target === undefined ? undefined : this.exported(target, original, 1);
              if (hit !== undefined) table.set(element.name.text, hit.node);
            }
          }
        } else if (clause !== undefined && ts.isNamedExports(clause)) {
          for (const element of clause.elements) {
            table.set(element.name.text, element.propertyName ?? element.name);
          }
        }
      } else if (
        ts.isExpressionStatement(statement) &&
        ts.isBinaryExpression(statement.expression) &&
        statement.expression.operatorToken.kind === ts.SyntaxKind.EqualsToken
      ) {
        const text = statement.expression.left.getText(unit.sourceFile);
        if (text === 'module.exports') table.set('default', statement.expression.right);
        const match = /^(?:module\.)?exports\.([A-Za-z_$][\w$]*)$/.exec(text);
        if (match?.[1] !== undefined) table.set(match[1], statement.expression.right);
      }
    }
    this.exportTables.set(unit, table);
    this.reExports.set(unit, reExports);
    return table;
  }

  /** What a function does, including nested functions and project functions it calls. */
  summary(facts: FunctionFacts): Summary {
    const cached = this.summaries.get(facts);
    if (cached !== undefined) return cached;
    const collected = new Set<FunctionFacts>();
    const addTree = (fn: FunctionFacts, depth: number): void => {
      if (collected.has(fn) || collected.size >= MAX_SUMMARY_FUNCTIONS) return;
      collected.add(fn);
      for (const child of fn.nested) addTree(child, depth);
      if (depth >= CALL_DEPTH) return;
      for (const call of fn.calls) {
        for (const target of this.calleeTargets(fn.unit, call)) {
          if (target.kind === 'function') addTree(target.facts, depth + 1);
        }
      }
    };
    addTree(facts, 0);
    const functions = [...collected];
    const all = <T>(pick: (fn: FunctionFacts) => readonly T[]): T[] => functions.flatMap(pick);
    // A call to a project function that logs (`logSecurityEvent('x', { userId })`) is a log entry
    // whose fields are what the caller passes.
    const wrapperLogs: LogCall[] = [];
    for (const fn of functions) {
      for (const call of fn.calls) {
        const logs = this.calleeTargets(fn.unit, call).some(
          (t) => t.kind === 'function' && t.facts !== fn && t.facts.logs.length > 0,
        );
        if (!logs) continue;
        const fields = new Set<string>();
        for (const arg of call.arguments) for (const name of namesUnder(arg)) fields.add(name);
        wrapperLogs.push({
          unit: fn.unit,
          node: call,
          method: calleeName(call) ?? 'log',
          fields,
          console: false,
          structured: call.arguments.some((a) => !ts.isStringLiteralLike(unwrap(a))),
        });
      }
    }
    const summary: Summary = {
      functions,
      verifications: all((f) => f.verifications),
      decodes: all((f) => f.decodes),
      secretComparisons: all((f) => f.secretComparisons),
      constantTime: all((f) => f.constantTime),
      markerChecks: all((f) => f.markerChecks),
      rejections: all((f) => f.rejections),
      logs: [...all((f) => f.logs), ...wrapperLogs],
      allowWhenUnset: all((f) => f.allowWhenUnset),
      failOpen: all((f) => f.failOpen),
      claimReads: all((f) => f.claimReads),
      headerReads: all((f) => f.headerReads),
      hmacs: all((f) => f.hmacs),
      digestInputs: all((f) => f.digestInputs),
      timeWindows: all((f) => f.timeWindows),
      authzCalls: all((f) => f.authzCalls),
    };
    this.summaries.set(facts, summary);
    return summary;
  }

  private readonly calleeCache = new Map<ts.CallExpression, Target[]>();

  /** Project functions a call may run (library calls resolve to nothing). */
  calleeTargets(unit: SourceUnit, call: ts.CallExpression): Target[] {
    const cached = this.calleeCache.get(call);
    if (cached !== undefined) return cached;
    let targets: Target[] = [];
    try {
      targets = this.targets(unit, call.expression).filter((t) => t.kind === 'function');
    } catch {
      targets = [];
    }
    this.calleeCache.set(call, targets);
    return targets;
  }
}

/**
 * The decorators closest to a file in the directory tree: in a repository of several services,
 * `app.authenticate` means the decorator of the same service, not every one of that name.
 */
function nearest(sites: readonly Site[], unit: SourceUnit): Site[] {
  if (sites.length <= 1) return [...sites];
  const from = unit.path.split('/');
  const shared = (site: Site): number => {
    const to = site.unit.path.split('/');
    let i = 0;
    while (i < from.length - 1 && i < to.length - 1 && from[i] === to[i]) i++;
    return i;
  };
  const best = Math.max(...sites.map(shared));
  return sites.filter((site) => shared(site) === best);
}

/** The declared class of `this.x` (a typed constructor parameter or property), by its name. */
function injectedClassName(receiver: ts.Expression): ts.Identifier | undefined {
  if (!ts.isPropertyAccessExpression(receiver)) return undefined;
  if (receiver.expression.kind !== ts.SyntaxKind.ThisKeyword) return undefined;
  let owner: ts.Node = receiver;
  while (!ts.isClassLike(owner)) {
    if (ts.isSourceFile(owner)) return undefined;
    owner = owner.parent;
  }
  const name = receiver.name.text;
  for (const member of owner.members) {
    let type: ts.TypeNode | undefined;
    if (ts.isPropertyDeclaration(member) && propertyNameText(member.name) === name) {
      type = member.type;
    } else if (ts.isConstructorDeclaration(member)) {
      type = member.parameters.find((p) => ts.isIdentifier(p.name) && p.name.text === name)?.type;
    }
    if (type !== undefined && ts.isTypeReferenceNode(type) && ts.isIdentifier(type.typeName)) {
      return type.typeName;
    }
  }
  return undefined;
}

/** A method or property value of the class that contains `node`. */
function classMember(node: ts.Node, name: string): ts.Node | undefined {
  let current: ts.Node = node;
  while (!ts.isClassLike(current)) {
    if (ts.isSourceFile(current)) return undefined;
    current = current.parent;
  }
  for (const member of current.members) {
    if (member.name === undefined || propertyNameText(member.name) !== name) continue;
    if (ts.isMethodDeclaration(member)) return member;
    if (ts.isPropertyDeclaration(member) && member.initializer !== undefined) {
      return member.initializer;
    }
  }
  return undefined;
}

/** A property's value or method in an object literal. */
/** The module a `require('…')` call loads, if `node` is one. */
function requiredSpecifier(node: ts.Node): string | undefined {
  if (!ts.isCallExpression(node) || !ts.isIdentifier(node.expression)) return undefined;
  if (node.expression.text !== 'require') return undefined;
  const first = node.arguments[0];
  return first !== undefined && ts.isStringLiteralLike(first) ? first.text : undefined;
}

function objectMember(object: ts.ObjectLiteralExpression, name: string): ts.Node | undefined {
  for (const property of object.properties) {
    if (ts.isSpreadAssignment(property)) continue;
    if (propertyNameText(property.name) !== name) continue;
    if (ts.isPropertyAssignment(property)) return property.initializer;
    if (ts.isShorthandPropertyAssignment(property)) return property.name;
    if (ts.isMethodDeclaration(property)) return property;
  }
  return undefined;
}
