/**
 * NestJS JWT verification: `@nestjs/jwt`'s `JwtService.verify/verifyAsync` (options at the
 * call, defaults in `JwtModule.register({ secret, verifyOptions })`), and `@nestjs/passport`
 * strategies built on `passport-jwt`, configured by `super({ secretOrKey, algorithms, … })`.
 */
import ts from 'typescript';
import type { SymbolTable } from '../../../../ast/symbols.ts';
import { objectProperty, unwrap } from '../../../../ast/syntax.ts';
import type { SourceUnit } from '../../../../project/load.ts';
import { calleeName, calleeReceiver, isFunctionNode } from '../../ast.ts';
import { enclosingClass, extendsExpression, injectedType } from './syntax.ts';

export type NestJwtCall =
  /** `super(options)` of a `PassportStrategy(Strategy)` from `passport-jwt`. */
  | 'passport-jwt'
  | 'jwt-service-verify'
  | 'jwt-service-decode'
  /** `JwtModule.register(options)` or `registerAsync({ useFactory })`. */
  | 'jwt-module';

const SERVICE_METHODS = new Set(['verify', 'verifyAsync', 'decode']);
const MODULE_METHODS = new Set(['register', 'registerAsync']);

/** What a call does for NestJS JWT handling, if anything. Cheap for unrelated calls. */
export function nestJwtCall(
  unit: SourceUnit,
  symbols: SymbolTable,
  call: ts.CallExpression,
): NestJwtCall | undefined {
  if (call.expression.kind === ts.SyntaxKind.SuperKeyword) {
    return passportJwtSuper(unit, symbols, call) ? 'passport-jwt' : undefined;
  }
  const name = calleeName(call);
  const receiver = calleeReceiver(call);
  if (name === undefined || receiver === undefined) return undefined;
  if (SERVICE_METHODS.has(name) && isJwtService(unit, symbols, receiver)) {
    return name === 'decode' ? 'jwt-service-decode' : 'jwt-service-verify';
  }
  if (MODULE_METHODS.has(name)) {
    const reference = symbols.moduleReference(unit, call.expression);
    if (reference?.module === '@nestjs/jwt' && reference.path[0] === 'JwtModule') {
      return 'jwt-module';
    }
  }
  return undefined;
}

function passportJwtSuper(
  unit: SourceUnit,
  symbols: SymbolTable,
  call: ts.CallExpression,
): boolean {
  const owner = enclosingClass(call);
  const heritage = owner === undefined ? undefined : extendsExpression(owner);
  const base = heritage === undefined ? undefined : unwrap(heritage.expression);
  if (base === undefined || !ts.isCallExpression(base)) return false;
  const reference = symbols.moduleReference(unit, base.expression);
  if (reference?.module !== '@nestjs/passport') return false;
  const strategy = base.arguments[0];
  return (
    strategy !== undefined && symbols.moduleReference(unit, strategy)?.module === 'passport-jwt'
  );
}

/** `this.jwtService` injected as `JwtService`, or a local `new JwtService(…)`. */
function isJwtService(unit: SourceUnit, symbols: SymbolTable, receiver: ts.Expression): boolean {
  const injected = injectedType(symbols, unit, receiver);
  if (injected !== undefined)
    return injected.module === '@nestjs/jwt' && injected.name === 'JwtService';
  const value = symbols.finalValue(unit, receiver);
  const node = unwrap(value.expression);
  return (
    ts.isNewExpression(node) &&
    symbols.moduleReference(value.unit, node.expression)?.module === '@nestjs/jwt'
  );
}

/**
 * The options object of `JwtModule.register({ … })`, or the object `registerAsync`'s
 * `useFactory` returns.
 */
export function jwtModuleOptions(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression | ts.NewExpression,
): { unit: SourceUnit; object: ts.ObjectLiteralExpression } | undefined {
  const first = call.arguments?.[0];
  if (first === undefined) return undefined;
  const value = symbols.finalValue(unit, first);
  const options = unwrap(value.expression);
  if (!ts.isObjectLiteralExpression(options)) return undefined;
  if (calleeName(call) !== 'registerAsync') return { unit: value.unit, object: options };
  const factory = objectProperty(options, 'useFactory');
  const fn = factory === undefined ? undefined : symbols.finalValue(value.unit, factory);
  const node = fn === undefined ? undefined : unwrap(fn.expression);
  if (fn === undefined || node === undefined || !isFunctionNode(node)) {
    return undefined;
  }
  const returned = ts.isBlock(node.body)
    ? node.body.statements.find((s): s is ts.ReturnStatement => ts.isReturnStatement(s))?.expression
    : node.body;
  const object = returned === undefined ? undefined : unwrap(returned);
  return object !== undefined && ts.isObjectLiteralExpression(object)
    ? { unit: fn.unit, object }
    : undefined;
}
