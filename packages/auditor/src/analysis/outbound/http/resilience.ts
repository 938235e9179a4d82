import ts from 'typescript';
import { accessChain, unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import {
  calleeName,
  functionDeclarationFor,
  optionOf,
  resolveFinal,
  staticNumber,
} from '../expressions.ts';
import type { HttpSite } from '../model.ts';
import type { FileFacts } from '../scan.ts';
import { containsNode, isFalse, type HttpBuild, type PolicyFlags } from './build.ts';

const BREAKER_MODULES = new Set(['opossum', 'brakes']);
const RETRY_MODULES = new Set([
  'p-retry',
  'async-retry',
  'promise-retry',
  'exponential-backoff',
  'retry',
  'ts-retry-promise',
  'retry-axios',
]);
const TIMEOUT_MODULES = new Set(['p-timeout', 'promise-timeout']);
const COCKATIEL_POLICIES = new Set(['circuitBreaker', 'retry', 'timeout']);
const DELAY_CALLS = /^(setTimeout|sleep|delay|wait|pause|backoff|setTimeoutPromise)$/i;
const EXPONENTIAL = /2\s*\*\*|\*\*\s*\w|Math\.pow\(\s*2|\*\s*2\b|<<|\*=\s*2|exponential|backoff/i;

/**
 * Circuit breakers and policies declared in a file: `new CircuitBreaker(fn, options)` (opossum,
 * brakes) and cockatiel's `circuitBreaker(…)`, `retry(…)`, `timeout(…)`. Runs before the calls
 * are known, so later steps can tell a call made through a breaker.
 */
export function collectBreakers(build: HttpBuild, file: FileFacts): void {
  const { unit } = file;
  for (const expression of file.news) {
    const reference = build.reference(unit, expression.expression);
    if (reference === undefined || !BREAKER_MODULES.has(reference.module)) continue;
    const args = expression.arguments ?? [];
    const options = build.objectArgument(unit, args[1]);
    const timeoutOption =
      options === undefined ? undefined : optionOf(build.symbols, options, 'timeout');
    const timeout =
      timeoutOption === undefined ||
      !(isFalse(timeoutOption.node) || staticNumber(build.symbols, unit, timeoutOption.node) === 0);
    build.breakerNodes.set(expression, unit);
    build.wrappers.push({
      library: reference.module,
      unit,
      node: expression,
      breaker: true,
      timeout,
      retry: false,
      functions: build.functionsOf(unit, args[0]),
    });
  }
  for (const call of file.calls) {
    const reference = build.reference(unit, call.expression);
    const name = reference?.path.at(-1);
    if (reference?.module !== 'cockatiel' || name === undefined) continue;
    if (COCKATIEL_POLICIES.has(name)) {
      build.policies.set(call, {
        breaker: name === 'circuitBreaker',
        timeout: name === 'timeout',
        retry: name === 'retry',
      });
    }
  }
}

/**
 * Retry and timeout wrappers (p-retry and friends, p-timeout, `Promise.race` with a timer),
 * cockatiel's `wrap(…)`, then `policy.execute(() => client.get(…))` with the policies known.
 */
export function collectWrappers(build: HttpBuild, file: FileFacts): void {
  for (const call of file.calls) wrapperCall(build, file.unit, call);
}

/**
 * `policy.execute(() => client.get(…))` once the policies of every file are known: a policy is
 * often built in a module of its own (`lib/resilience.ts`) and used by the clients.
 */
export function collectPolicyExecutions(build: HttpBuild, file: FileFacts): void {
  for (const call of file.calls) policyExecution(build, file.unit, call);
}

function wrapperCall(build: HttpBuild, unit: SourceUnit, call: ts.CallExpression): void {
  const reference = build.reference(unit, call.expression);
  const wrapper = (library: string, flags: PolicyFlags, functions: readonly ts.Node[]) =>
    build.wrappers.push({ library, unit, node: call, ...flags, functions });
  if (reference !== undefined && RETRY_MODULES.has(reference.module)) {
    build.retries.push({ unit, node: call });
    wrapper(
      reference.module,
      { breaker: false, timeout: false, retry: true },
      build.functionsOf(unit, call.arguments[0]),
    );
  }
  if (reference !== undefined && TIMEOUT_MODULES.has(reference.module)) {
    wrapper(
      reference.module,
      { breaker: false, timeout: true, retry: false },
      call.arguments[0] === undefined ? [] : [call.arguments[0]],
    );
  }
  if (accessChain(call.expression)?.join('.') === 'Promise.race') {
    const list = call.arguments[0] === undefined ? undefined : unwrap(call.arguments[0]);
    if (
      list !== undefined &&
      ts.isArrayLiteralExpression(list) &&
      /setTimeout\s*\(/.test(list.getText(unit.sourceFile))
    ) {
      wrapper('Promise.race', { breaker: false, timeout: true, retry: false }, [...list.elements]);
    }
  }
  if (reference?.module === 'cockatiel' && reference.path.at(-1) === 'wrap') {
    const flags = { breaker: false, timeout: false, retry: false };
    for (const argument of call.arguments) {
      const policy = policyOf(build, unit, argument);
      flags.breaker ||= policy?.breaker ?? false;
      flags.timeout ||= policy?.timeout ?? false;
      flags.retry ||= policy?.retry ?? false;
    }
    build.policies.set(call, flags);
  }
}

/** `policy.execute(() => client.get(…))` on a known cockatiel policy. */
function policyExecution(build: HttpBuild, unit: SourceUnit, call: ts.CallExpression): void {
  const callee = unwrap(call.expression);
  if (!ts.isPropertyAccessExpression(callee) || callee.name.text !== 'execute') return;
  const policy = policyOf(build, unit, callee.expression);
  if (policy === undefined) return;
  if (policy.breaker) build.breakerNodes.set(call, unit);
  if (policy.retry) build.retries.push({ unit, node: call });
  build.wrappers.push({
    library: 'cockatiel',
    unit,
    node: call,
    ...policy,
    functions: build.functionsOf(unit, call.arguments[0]),
  });
}

function policyOf(
  build: HttpBuild,
  unit: SourceUnit,
  expression: ts.Expression,
  depth = 0,
): PolicyFlags | undefined {
  const node = unwrap(expression);
  const direct = build.policies.get(node);
  if (direct !== undefined) return direct;
  const resolved = resolveFinal(build.symbols, unit, node);
  const final = unwrap(resolved.expression);
  const policy = build.policies.get(final);
  if (policy !== undefined) return policy;
  // `const policy = resilientPolicy('warehouse')`: a project function that builds and returns it.
  if (ts.isCallExpression(final) && depth < 3) {
    const factory = functionDeclarationFor(build.symbols, resolved.unit, final.expression);
    const body = factory?.node.body;
    if (factory !== undefined && body !== undefined) {
      for (const returned of returnedExpressions(body)) {
        const flags = policyOf(build, factory.unit, returned, depth + 1);
        if (flags !== undefined) return flags;
      }
    }
  }
  // cockatiel 2: `Policy.handleAll().circuitBreaker(…)`.
  if (ts.isCallExpression(final)) {
    const text = final.getText();
    if (/\bPolicy\s*\./.test(text)) {
      const name = calleeName(final) ?? '';
      return {
        breaker: name === 'circuitBreaker',
        timeout: name === 'timeout',
        retry: name === 'retry',
      };
    }
  }
  return undefined;
}

/** What a function body returns (an arrow's expression, or its `return` statements). */
function returnedExpressions(body: ts.ConciseBody): ts.Expression[] {
  if (!ts.isBlock(body)) return [body];
  const out: ts.Expression[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node)) return;
    if (ts.isReturnStatement(node) && node.expression !== undefined) out.push(node.expression);
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(body, visit);
  return out;
}

/** A loop around a request that waits longer each time: a retry written by hand. */
export function collectHandRolledRetries(
  build: HttpBuild,
  file: FileFacts,
  callsByUnit: ReadonlyMap<SourceUnit, readonly HttpSite[]>,
): void {
  const calls = callsByUnit.get(file.unit) ?? [];
  if (calls.length === 0) return;
  for (const loop of file.loops) {
    if (!calls.some((call) => containsNode(loop.statement, call.node))) continue;
    const text = loop.statement.getText(file.unit.sourceFile);
    const delays = file.calls.some(
      (call) => containsNode(loop.statement, call) && DELAY_CALLS.test(calleeName(call) ?? ''),
    );
    if (delays && EXPONENTIAL.test(text)) build.retries.push({ unit: file.unit, node: loop });
  }
}

/** `breaker.fire(…)` on an opossum breaker, or `policy.execute(…)` on a cockatiel breaker. */
export function firesBreaker(build: HttpBuild, unit: SourceUnit, call: ts.CallExpression): boolean {
  if (build.breakerNodes.has(call)) return true;
  const callee = unwrap(call.expression);
  if (!ts.isPropertyAccessExpression(callee) || callee.name.text !== 'fire') return false;
  const final = unwrap(resolveFinal(build.symbols, unit, callee.expression).expression);
  return build.breakerNodes.has(final);
}
