/**
 * NestJS JWT verification: `@nestjs/jwt`'s `JwtService.verify/verifyAsync` (options at the
 * call, defaults in `JwtModule.register({ secret, verifyOptions })`), and `@nestjs/passport`
 * strategies built on `passport-jwt`, configured by `super({ secretOrKey, algorithms, … })`.
 */
import ts from 'typescript';
import type { SymbolTable } from '../../../../ast/symbols.ts';
import { unwrap } from '../../../../ast/syntax.ts';
import type { SourceUnit } from '../../../../project/load.ts';
import { calleeName, calleeReceiver } from '../../ast.ts';
import { dynamicModuleOptions, enclosingClass, extendsExpression, injectedType } from './syntax.ts';

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
  const options = ts.isCallExpression(call) ? dynamicModuleOptions(symbols, unit, call) : undefined;
  return options === undefined ? undefined : { unit: options.unit, object: options.node };
}
