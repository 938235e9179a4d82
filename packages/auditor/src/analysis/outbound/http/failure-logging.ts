import ts from 'typescript';
import { accessChain, enclosingFunction, propertyNameText, unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import {
  ancestors,
  calleeName,
  functionAt,
  functionDeclarationFor,
  resolveFinal,
  type Located,
} from '../expressions.ts';
import { logCallsWithin } from '../logs.ts';
import type { HttpSite } from '../model.ts';
import type { FileFacts } from '../scan.ts';
import { containsNode, type HttpBuild } from './build.ts';
import { firesBreaker } from './resilience.ts';

const AUTH_FAILURE = /\b(401|403)\b|unauthori[sz]ed|forbidden/i;
const BREAKER_EVENTS = /^(failure|reject|timeout|open)$/;

/**
 * Log calls that report failed outbound calls (SC7): in error handling around a call, or on a
 * 401/403 answer (`auth`). Each log call is recorded once, in the order found.
 */
export function collectFailureLogging(build: HttpBuild): void {
  const log = new FailureLog(build);
  const calls = build.sites.filter((site) => site.kind === 'call');
  const wrappers = callingFunctions(calls);
  for (const site of calls) {
    log.catchAround(site);
    log.promiseHandlers(site);
    // if (response.status === 401) log(...) in the function making the call.
    const scope = enclosingFunction(site.node);
    if (scope !== undefined) log.authChecks(site.unit, scope);
  }
  for (const hook of build.proxyHooks) log.proxyHook(hook.unit, hook.node, hook.answer);
  for (const file of build.facts) {
    log.catchAroundWrappers(file, wrappers);
    log.answersOfWrappers(file, wrappers);
    for (const call of file.calls) {
      log.responseInterceptor(file.unit, call);
      log.breakerEvent(file.unit, call);
    }
  }
}

/** Functions that make outbound calls: a failure of `upstreams.call()` is a failed call too. */
function callingFunctions(calls: readonly HttpSite[]): ReadonlySet<string> {
  const names = new Set<string>();
  for (const site of calls) {
    const scope = enclosingFunction(site.node);
    const name = scope === undefined ? undefined : functionName(scope);
    if (name !== undefined) names.add(name);
  }
  return names;
}

class FailureLog {
  private readonly seen = new Set<ts.Node>();

  constructor(private readonly build: HttpBuild) {}

  private record(logs: readonly Located<ts.CallExpression>[], auth: boolean): void {
    const first = logs[0];
    if (first === undefined || this.seen.has(first.node)) return;
    this.seen.add(first.node);
    this.build.failureLogging.push({ at: first, auth });
  }

  /** `try { await call } catch { log }`. */
  catchAround(site: HttpSite): void {
    for (const current of ancestors(site.node)) {
      if (ts.isTryStatement(current) && containsNode(current.tryBlock, site.node)) {
        if (current.catchClause !== undefined) {
          this.record(this.logsIn(site.unit, current.catchClause.block), false);
        }
        return;
      }
      if (ts.isFunctionLike(current)) return;
    }
  }

  /** `call.catch((err) => log(err))`, `call.then(ok, (err) => log(err))`. */
  promiseHandlers(site: HttpSite): void {
    let outer: ts.Node = site.node;
    while (
      ts.isPropertyAccessExpression(outer.parent) &&
      ts.isCallExpression(outer.parent.parent)
    ) {
      const method = outer.parent.name.text;
      const chained = outer.parent.parent;
      const handler =
        method === 'catch'
          ? chained.arguments[0]
          : method === 'then'
            ? chained.arguments[1]
            : undefined;
      if (handler !== undefined) this.record(this.logsIn(site.unit, handler), false);
      outer = chained;
    }
  }

  /** `if (status === 401 || status === 403) log(…)` anywhere in a scope. */
  authChecks(unit: SourceUnit, scope: ts.Node): void {
    const visit = (node: ts.Node): void => {
      if (ts.isIfStatement(node) && AUTH_FAILURE.test(node.expression.getText(unit.sourceFile))) {
        this.record(this.logsIn(unit, node.thenStatement), true);
      }
      ts.forEachChild(node, visit);
    };
    visit(scope);
  }

  /** `try { await upstreams.call(…) } catch (error) { return unavailable(request, reply, error) }`. */
  catchAroundWrappers(file: FileFacts, wrappers: ReadonlySet<string>): void {
    for (const statement of file.tries) {
      if (statement.catchClause === undefined) continue;
      const callsWrapper = file.calls.some(
        (call) =>
          containsNode(statement.tryBlock, call) &&
          (wrappers.has(calleeName(call) ?? '') || firesBreaker(this.build, file.unit, call)),
      );
      if (callsWrapper) this.record(this.logsIn(file.unit, statement.catchClause.block), false);
    }
  }

  /**
   * `const answer = await upstreams.call(…); return relay(request, reply, answer)`: the
   * function that receives the upstream's answer, one helper deep, may log its 401/403.
   */
  answersOfWrappers(file: FileFacts, wrappers: ReadonlySet<string>): void {
    const scopesSeen = new Set<ts.Node>();
    for (const call of file.calls) {
      if (!wrappers.has(calleeName(call) ?? '')) continue;
      const scope = enclosingFunction(call);
      // A function calling several wrappers is searched once.
      if (scope === undefined || scopesSeen.has(scope)) continue;
      scopesSeen.add(scope);
      this.authChecks(file.unit, scope);
      for (const inner of file.calls) {
        if (!containsNode(scope, inner)) continue;
        const helper = functionDeclarationFor(this.build.symbols, file.unit, inner.expression);
        if (helper?.node.body !== undefined) this.authChecks(helper.unit, helper.node.body);
      }
    }
  }

  /**
   * A reverse proxy's hooks: `proxyRes` logging a 401/403 of the upstream, `error` logging a
   * request that failed.
   */
  proxyHook(unit: SourceUnit, handler: ts.Expression, answer: boolean): void {
    const fn = functionAt(this.build.symbols, unit, handler);
    const body = fn?.node.body;
    if (fn === undefined || body === undefined) return;
    if (answer) this.authChecks(fn.unit, body);
    else this.record(this.logsIn(fn.unit, body), false);
  }

  /** `client.interceptors.response.use(ok, (error) => { log … })`. */
  responseInterceptor(unit: SourceUnit, call: ts.CallExpression): void {
    const chain = accessChain(call.expression);
    if (chain?.slice(-3).join('.') !== 'interceptors.response.use') return;
    const handler = call.arguments[1];
    if (handler === undefined) return;
    this.record(this.logsIn(unit, handler), /\b(401|403)\b/.test(handler.getText(unit.sourceFile)));
  }

  /** `breaker.on('failure', (err) => log(…))` on an opossum breaker. */
  breakerEvent(unit: SourceUnit, call: ts.CallExpression): void {
    const chain = accessChain(call.expression);
    const [event, listener] = call.arguments;
    if (
      chain?.at(-1) !== 'on' ||
      event === undefined ||
      !ts.isStringLiteralLike(event) ||
      !BREAKER_EVENTS.test(event.text) ||
      listener === undefined
    ) {
      return;
    }
    const receiver = (call.expression as ts.PropertyAccessExpression).expression;
    const final = unwrap(resolveFinal(this.build.symbols, unit, receiver).expression);
    if (this.build.breakerNodes.has(final)) this.record(this.logsIn(unit, listener), false);
  }

  /** Log calls in a block, or one level down in the project's own helpers it calls. */
  private logsIn(unit: SourceUnit, node: ts.Node): Located<ts.CallExpression>[] {
    const direct = logCallsWithin(node).map((call) => ({ unit, node: call }));
    if (direct.length > 0) return direct;
    const out: Located<ts.CallExpression>[] = [];
    const visit = (child: ts.Node): void => {
      if (ts.isCallExpression(child)) {
        const helper = functionDeclarationFor(this.build.symbols, unit, child.expression);
        const body = helper?.node.body;
        if (helper !== undefined && body !== undefined) {
          for (const call of logCallsWithin(body)) out.push({ unit: helper.unit, node: call });
        }
      }
      ts.forEachChild(child, visit);
    };
    visit(node);
    return out;
  }
}

/** The name a function is known by: its own, its variable's, or its property's. */
function functionName(fn: ts.SignatureDeclaration): string | undefined {
  if (
    (ts.isFunctionDeclaration(fn) || ts.isMethodDeclaration(fn) || ts.isFunctionExpression(fn)) &&
    fn.name !== undefined
  ) {
    return propertyNameText(fn.name);
  }
  const parent = fn.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyAssignment(parent)) return propertyNameText(parent.name);
  return undefined;
}
