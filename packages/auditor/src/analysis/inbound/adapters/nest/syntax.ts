/**
 * Reading NestJS source: decorators (`@Get(':id')`, `@UseGuards(A)`), the classes they name,
 * and the types of injected constructor parameters (`private readonly jwt: JwtService`).
 */
import ts from 'typescript';
import type { SymbolTable } from '../../../../ast/symbols.ts';
import { objectProperty, propertyNameText, unwrap } from '../../../../ast/syntax.ts';
import { isProjectImport, type SourceUnit } from '../../../../project/load.ts';
import { calleeName, isFunctionNode } from '../../ast.ts';
import type { FileFacts, Site } from '../../facts.ts';
import type { FunctionIndex } from '../../functions.ts';
import { firstArgumentObject } from '../options.ts';

/** What the NestJS readers need: every file's facts, symbols and function resolution. */
export interface NestSources {
  readonly files: readonly FileFacts[];
  readonly symbols: SymbolTable;
  readonly index: FunctionIndex;
}

/** A class declared in the project. */
export interface ClassRef {
  readonly unit: SourceUnit;
  readonly node: ts.ClassLikeDeclaration;
}

/** One decorator on a class or method, with the module its name comes from. */
export interface DecoratorUse {
  /** The `@…` written on the class or method (for a composed decorator, the composition's). */
  readonly site: Site;
  /** The file the decorator's call is written in (the composing function's file, if composed). */
  readonly unit: SourceUnit;
  readonly name: string;
  /** `@nestjs/common` for `@Get`, undefined for the project's own decorators. */
  readonly module: string | undefined;
  readonly args: readonly ts.Expression[];
  /** The call or name the decorator is written as (`Get(':id')`). */
  readonly expression: ts.Expression;
}

const MAX_DEPTH = 4;

/** The decorators written on a node, with `applyDecorators(...)` compositions expanded. */
export function decoratorsOf(
  sources: NestSources,
  unit: SourceUnit,
  node: ts.Node,
): DecoratorUse[] {
  if (!ts.canHaveDecorators(node)) return [];
  const found: DecoratorUse[] = [];
  for (const decorator of ts.getDecorators(node) ?? []) {
    collectDecorator(sources, { unit, node: decorator }, unit, decorator.expression, found, 0);
  }
  return found;
}

function collectDecorator(
  sources: NestSources,
  site: Site,
  unit: SourceUnit,
  expression: ts.Expression,
  found: DecoratorUse[],
  depth: number,
): void {
  const node = unwrap(expression);
  const call = ts.isCallExpression(node) ? node : undefined;
  const callee = call === undefined ? node : unwrap(call.expression);
  const name = ts.isIdentifier(callee)
    ? callee.text
    : call === undefined
      ? undefined
      : calleeName(call);
  if (name === undefined) return;
  const reference = sources.symbols.moduleReference(unit, callee);
  const module =
    reference !== undefined && !isProjectImport(sources.symbols.project, unit, reference.module)
      ? reference.module
      : undefined;
  found.push({ site, unit, name, module, args: call?.arguments ?? [], expression });
  if (depth >= MAX_DEPTH) return;
  if (module === '@nestjs/common' && name === 'applyDecorators' && call !== undefined) {
    for (const arg of call.arguments) {
      collectDecorator(sources, site, unit, arg, found, depth + 1);
    }
    return;
  }
  // The project's own decorator (`@Auth('admin')`): what it returns is decorators too.
  if (module === undefined) {
    for (const returned of returnedDecorators(sources, unit, callee)) {
      collectDecorator(sources, site, returned.unit, returned.expression, found, depth + 1);
    }
  }
}

/** What a project decorator factory returns, or what a decorator constant is bound to. */
function returnedDecorators(
  sources: NestSources,
  unit: SourceUnit,
  callee: ts.Expression,
): { unit: SourceUnit; expression: ts.Expression }[] {
  const out: { unit: SourceUnit; expression: ts.Expression }[] = [];
  let targets;
  try {
    targets = sources.index.targets(unit, callee);
  } catch {
    return out;
  }
  for (const target of targets) {
    if (target.kind !== 'function' || ts.isSourceFile(target.facts.node)) continue;
    const body = target.facts.node.body;
    if (body === undefined) continue;
    if (!ts.isBlock(body)) {
      out.push({ unit: target.facts.unit, expression: body });
      continue;
    }
    for (const statement of body.statements) {
      if (ts.isReturnStatement(statement) && statement.expression !== undefined) {
        out.push({ unit: target.facts.unit, expression: statement.expression });
      }
    }
  }
  if (out.length === 0 && ts.isIdentifier(callee)) {
    const value = sources.symbols.finalValue(unit, callee);
    if (value.expression !== callee && ts.isCallExpression(value.expression)) out.push(value);
  }
  return out;
}

/** A decorator from `@nestjs/common` (or another module) by name. */
export function nestDecorator(
  decorators: readonly DecoratorUse[],
  name: string,
  module = '@nestjs/common',
): DecoratorUse | undefined {
  return decorators.find((d) => d.name === name && d.module === module);
}

/** The project class an expression names: `AuthGuard`, `new AuthGuard(reflector)`, an import. */
export function classOf(
  sources: NestSources,
  unit: SourceUnit,
  expression: ts.Expression,
  depth = 0,
): ClassRef | undefined {
  if (depth > MAX_DEPTH) return undefined;
  let node = unwrap(expression);
  if (ts.isNewExpression(node)) node = unwrap(node.expression);
  if (ts.isClassExpression(node)) return { unit, node };
  if (!ts.isIdentifier(node)) return undefined;
  const file = sources.files.find((f) => f.unit === unit);
  const local = file?.classesByName.get(node.text);
  if (local !== undefined) return { unit, node: local };
  const binding = sources.symbols.importsOf(unit).get(node.text);
  if (binding !== undefined) {
    if (!isProjectImport(sources.symbols.project, unit, binding.module)) return undefined;
    const target = sources.symbols.project.resolveImport(unit, binding.module);
    const name = binding.imported === '*' ? 'default' : binding.imported;
    const exported = target === undefined ? undefined : sources.index.exported(target, name);
    if (exported === undefined) return undefined;
    if (ts.isClassLike(exported.node)) return { unit: exported.unit, node: exported.node };
    if (ts.isExpression(exported.node) && exported.node !== node) {
      return classOf(sources, exported.unit, exported.node, depth + 1);
    }
    return undefined;
  }
  const value = sources.symbols.valueOf(unit, node);
  return value === undefined || value.expression === node
    ? undefined
    : classOf(sources, value.unit, value.expression, depth + 1);
}

/** A method of a class (by name), looking into project base classes too. */
export function methodOf(
  sources: NestSources,
  owner: ClassRef,
  name: string,
  depth = 0,
): { unit: SourceUnit; node: ts.MethodDeclaration } | undefined {
  for (const member of owner.node.members) {
    if (
      ts.isMethodDeclaration(member) &&
      member.body !== undefined &&
      propertyNameText(member.name) === name
    ) {
      return { unit: owner.unit, node: member };
    }
  }
  if (depth >= MAX_DEPTH) return undefined;
  const base = baseClass(sources, owner);
  return base === undefined ? undefined : methodOf(sources, base, name, depth + 1);
}

/** The `extends` expression of a class (`AuthGuard('jwt')`, `PassportStrategy(Strategy)`). */
export function extendsExpression(
  node: ts.ClassLikeDeclaration,
): ts.ExpressionWithTypeArguments | undefined {
  for (const clause of node.heritageClauses ?? []) {
    if (clause.token === ts.SyntaxKind.ExtendsKeyword) return clause.types[0];
  }
  return undefined;
}

/** The project class a class extends, if any. */
export function baseClass(sources: NestSources, owner: ClassRef): ClassRef | undefined {
  const heritage = extendsExpression(owner.node);
  return heritage === undefined ? undefined : classOf(sources, owner.unit, heritage.expression);
}

/** The library call a class extends (`AuthGuard('jwt')` from `@nestjs/passport`), through project bases. */
export function extendsLibraryCall(
  sources: NestSources,
  owner: ClassRef,
  module: string,
  name: string,
  depth = 0,
): { unit: SourceUnit; call: ts.CallExpression } | undefined {
  const heritage = extendsExpression(owner.node);
  if (heritage === undefined) return undefined;
  const expression = unwrap(heritage.expression);
  if (ts.isCallExpression(expression)) {
    const reference = sources.symbols.moduleReference(owner.unit, expression.expression);
    if (reference?.module === module && reference.path[reference.path.length - 1] === name) {
      return { unit: owner.unit, call: expression };
    }
    return undefined;
  }
  if (depth >= MAX_DEPTH) return undefined;
  const base = classOf(sources, owner.unit, expression);
  return base === undefined
    ? undefined
    : extendsLibraryCall(sources, base, module, name, depth + 1);
}

/**
 * The declared type of an injected member: `this.jwtService` with
 * `constructor(private readonly jwtService: JwtService)` (or a typed property) is `JwtService`
 * from `@nestjs/jwt`.
 */
export function injectedType(
  symbols: SymbolTable,
  unit: SourceUnit,
  member: ts.Expression,
): { readonly module: string; readonly name: string } | undefined {
  const node = unwrap(member);
  if (!ts.isPropertyAccessExpression(node) || node.expression.kind !== ts.SyntaxKind.ThisKeyword) {
    return undefined;
  }
  const owner = enclosingClass(node);
  if (owner === undefined) return undefined;
  const name = node.name.text;
  for (const element of owner.members) {
    let type: ts.TypeNode | undefined;
    if (ts.isPropertyDeclaration(element)) {
      if (propertyNameText(element.name) === name) type = element.type;
    } else if (ts.isConstructorDeclaration(element)) {
      const parameter = element.parameters.find(
        (p) => ts.isIdentifier(p.name) && p.name.text === name,
      );
      type = parameter?.type;
    }
    if (type === undefined || !ts.isTypeReferenceNode(type)) continue;
    const typeName = type.typeName;
    const root = ts.isIdentifier(typeName) ? typeName : leftmost(typeName);
    const binding = symbols.importsOf(unit).get(root.text);
    if (binding === undefined) return undefined;
    const imported = ts.isIdentifier(typeName) ? binding.imported : typeName.right.text;
    return { module: binding.module, name: imported };
  }
  return undefined;
}

function leftmost(name: ts.QualifiedName): ts.Identifier {
  let current: ts.EntityName = name;
  while (ts.isQualifiedName(current)) current = current.left;
  return current;
}

/** The class a node is written in. */
export function enclosingClass(node: ts.Node): ts.ClassLikeDeclaration | undefined {
  for (let current = node.parent; !ts.isSourceFile(current); current = current.parent) {
    if (ts.isClassLike(current)) return current;
  }
  return undefined;
}

/** A static string, when it is one. */
export function staticText(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression | undefined,
): string | undefined {
  if (expression === undefined) return undefined;
  const value = symbols.staticString(unit, expression);
  return value?.complete === true ? value.text : undefined;
}

/**
 * The options of a dynamic module: the object given to `register`/`forRoot`, or the object
 * the `useFactory` of `registerAsync`/`forRootAsync` returns.
 */
export function dynamicModuleOptions(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
): { readonly unit: SourceUnit; readonly node: ts.ObjectLiteralExpression } | undefined {
  const options = firstArgumentObject(symbols, unit, call);
  if (options === undefined) return undefined;
  if (!(calleeName(call) ?? '').endsWith('Async')) {
    return { unit: options.unit, node: options.object };
  }
  const factory = objectProperty(options.object, 'useFactory');
  const fn = factory === undefined ? undefined : symbols.finalValue(options.unit, factory);
  const node = fn === undefined ? undefined : unwrap(fn.expression);
  if (fn === undefined || node === undefined || !isFunctionNode(node)) return undefined;
  const returned = ts.isBlock(node.body)
    ? node.body.statements.find((s): s is ts.ReturnStatement => ts.isReturnStatement(s))?.expression
    : node.body;
  const object = returned === undefined ? undefined : unwrap(returned);
  return object !== undefined && ts.isObjectLiteralExpression(object)
    ? { unit: fn.unit, node: object }
    : undefined;
}
