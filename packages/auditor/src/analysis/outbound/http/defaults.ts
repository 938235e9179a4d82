import ts from 'typescript';
import { accessChain, unwrap } from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import { staticNumber } from '../expressions.ts';
import type { HttpSite } from '../model.ts';
import type { FileFacts } from '../scan.ts';
import type { HttpBuild } from './build.ts';
import { addHeader, readInterceptor } from './headers.ts';

/**
 * Configuration added to instances after they are made: `defaults` assignments, request
 * interceptors, axios-retry, undici's `setGlobalDispatcher`.
 */
export function collectInstanceConfiguration(build: HttpBuild, file: FileFacts): void {
  for (const assignment of file.assignments) defaultsAssignment(build, file.unit, assignment);
  for (const call of file.calls) instanceCall(build, file.unit, call);
}

/** `axios.defaults.headers.common['x-internal'] = 'true'`, `client.defaults.timeout = 5000`. */
function defaultsAssignment(
  build: HttpBuild,
  unit: SourceUnit,
  assignment: ts.BinaryExpression,
): void {
  let node: ts.Expression = unwrap(assignment.left);
  const names: string[] = [];
  while (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
    const name = ts.isPropertyAccessExpression(node)
      ? node.name.text
      : ts.isStringLiteralLike(node.argumentExpression)
        ? node.argumentExpression.text
        : undefined;
    if (name === undefined) return;
    if (name === 'defaults') {
      const site = axiosTarget(build, unit, node.expression, 'defaults');
      if (site === undefined) return;
      if (names[0] === 'timeout') {
        const value = staticNumber(build.symbols, unit, assignment.right);
        if (value === 0) site.timeoutsDisabled.push({ unit, node: assignment });
        else site.timeouts.push({ unit, node: assignment });
      } else if (names[0] === 'headers' && names.length >= 2) {
        const header = names[names.length - 1] ?? '';
        addHeader(build, site, header, unit, assignment, assignment.right);
      }
      return;
    }
    names.unshift(name);
    node = unwrap(node.expression);
  }
}

function instanceCall(build: HttpBuild, unit: SourceUnit, call: ts.CallExpression): void {
  const chain = accessChain(call.expression);
  // `client.interceptors.request.use(fn)`.
  if (
    chain !== undefined &&
    chain.length >= 4 &&
    chain.slice(-3).join('.') === 'interceptors.request.use'
  ) {
    const receiver = (
      ((call.expression as ts.PropertyAccessExpression).expression as ts.PropertyAccessExpression)
        .expression as ts.PropertyAccessExpression
    ).expression;
    const site = axiosTarget(build, unit, receiver, 'interceptors');
    const fn = call.arguments[0];
    if (site !== undefined && fn !== undefined) readInterceptor(build, site, unit, fn);
    return;
  }
  const reference = build.reference(unit, call.expression);
  if (reference === undefined) return;
  const target = call.arguments[0];
  if (reference.module === 'axios-retry' || reference.module === 'retry-axios') {
    const site = target === undefined ? undefined : axiosTarget(build, unit, target, 'defaults');
    site?.retries.push({ unit, node: call });
    if (site === undefined) build.retries.push({ unit, node: call });
  } else if (reference.module === 'undici' && reference.path.at(-1) === 'setGlobalDispatcher') {
    const site = target === undefined ? undefined : build.siteOf(unit, target);
    if (site !== undefined) build.globalDispatchers.push(site);
  }
}

/** The site an axios expression configures; the default instance has shared pseudo-sites. */
function axiosTarget(
  build: HttpBuild,
  unit: SourceUnit,
  expression: ts.Expression,
  what: 'defaults' | 'interceptors',
): HttpSite | undefined {
  const reference = build.reference(unit, expression);
  if (reference?.module === 'axios' && reference.path.length === 0) {
    if (what === 'defaults') {
      build.axiosDefaults ??= build.newSite('dispatcher', 'axios', unit, expression);
      return build.axiosDefaults;
    }
    build.axiosInterceptors ??= build.newSite('dispatcher', 'axios', unit, expression);
    return build.axiosInterceptors;
  }
  const site = build.siteOf(unit, expression);
  return site?.kind === 'client' ? site : undefined;
}

/** Global axios defaults and undici's global dispatcher apply to the calls they cover. */
export function applyGlobals(build: HttpBuild): void {
  const { axiosDefaults, axiosInterceptors } = build;
  for (const site of build.sites) {
    if (site.library === 'axios' && site !== axiosDefaults && site !== axiosInterceptors) {
      if (axiosDefaults !== undefined) site.via.push(axiosDefaults);
      if (axiosInterceptors !== undefined && site.kind === 'call' && site.client === undefined) {
        site.via.push(axiosInterceptors);
      }
    }
    if (
      site.kind === 'call' &&
      (site.library === 'fetch' || site.library === 'undici') &&
      site.client === undefined &&
      !site.via.some((v) => v.library === 'undici' || v.library === 'tessera')
    ) {
      site.via.push(...build.globalDispatchers);
    }
  }
}
