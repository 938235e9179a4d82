import ts from 'typescript';
import {
  accessChain,
  enclosingFunction,
  lineOf,
  propertyNameText,
  unwrap,
} from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import {
  calleeName,
  definitionOf,
  functionAt,
  inboundReference,
  optionOf,
  resolveObject,
  returnedObjects,
  type Located,
} from '../expressions.ts';
import type { HeaderFact, HttpSite } from '../model.ts';
import { containsNode, type HttpBuild } from './build.ts';

/** Records one header a site sends, with where its value comes from. */
export function addHeader(
  build: HttpBuild,
  site: HttpSite,
  name: string,
  unit: SourceUnit,
  node: ts.Node,
  value: ts.Expression | undefined,
  atRequestTime?: boolean,
): void {
  const plain = value === undefined ? undefined : unwrap(value);
  const fact: HeaderFact = {
    name: name.toLowerCase(),
    unit,
    node,
    origins: value === undefined ? new Set(['dynamic']) : build.origins.of(unit, value),
    literal: plain !== undefined && ts.isStringLiteralLike(plain) ? plain.text : undefined,
    atRequestTime: atRequestTime ?? enclosingFunction(node) !== undefined,
    source: value === undefined ? undefined : sourceOf(build, unit, node, value),
    obtainedFrom: undefined,
  };
  site.headers.push(fact);
  if (value !== undefined) build.headerValues.set(fact, { unit, node: value });
}

/** The definition of a header value when it is on another line than the header itself. */
function sourceOf(
  build: HttpBuild,
  unit: SourceUnit,
  at: ts.Node,
  value: ts.Expression,
): Located<ts.Node> | undefined {
  const definition = definitionOf(build.symbols, unit, value);
  if (definition.unit === unit && lineOf(unit, definition.node) === lineOf(unit, at))
    return undefined;
  return definition;
}

/** The headers of a `headers` option: an object, a variable, a call returning one, `req.headers`. */
export function collectHeaders(
  build: HttpBuild,
  site: HttpSite,
  unit: SourceUnit,
  expression: ts.Expression,
  atRequestTime?: boolean,
  depth = 0,
): void {
  if (depth > 4) return;
  const node = unwrap(expression);
  if (inboundReference(node) === 'headers') {
    addHeader(build, site, '*', unit, node, node, atRequestTime);
    return;
  }
  if (ts.isCallExpression(node)) {
    for (const object of returnedObjects(build.symbols, unit, node)) {
      headersFromObject(build, site, object, atRequestTime, depth + 1);
    }
    return;
  }
  const object = resolveObject(build.symbols, unit, node);
  if (object !== undefined) headersFromObject(build, site, object, atRequestTime, depth + 1);
  if (ts.isIdentifier(node)) headerMutations(build, site, unit, node, atRequestTime);
}

function headersFromObject(
  build: HttpBuild,
  site: HttpSite,
  object: Located<ts.ObjectLiteralExpression>,
  atRequestTime: boolean | undefined,
  depth: number,
): void {
  for (const property of object.node.properties) {
    if (ts.isPropertyAssignment(property) || ts.isShorthandPropertyAssignment(property)) {
      const name = propertyNameText(property.name);
      if (name === undefined) continue;
      const value = ts.isPropertyAssignment(property) ? property.initializer : property.name;
      if (
        ['common', 'get', 'post', 'put', 'patch', 'delete'].includes(name) &&
        resolveObject(build.symbols, object.unit, value) !== undefined
      ) {
        collectHeaders(build, site, object.unit, value, atRequestTime, depth + 1);
        continue;
      }
      addHeader(build, site, name, object.unit, property, value, atRequestTime);
    } else if (ts.isSpreadAssignment(property)) {
      collectHeaders(build, site, object.unit, property.expression, atRequestTime, depth + 1);
    }
  }
}

/** `headers['x-correlation-id'] = id`, `headers.set('traceparent', …)` on a local header object. */
function headerMutations(
  build: HttpBuild,
  site: HttpSite,
  unit: SourceUnit,
  identifier: ts.Identifier,
  atRequestTime: boolean | undefined,
): void {
  const file = build.factsByUnit.get(unit);
  if (file === undefined) return;
  const scope = enclosingFunction(identifier) ?? unit.sourceFile;
  for (const assignment of file.assignments) {
    if (!containsNode(scope, assignment)) continue;
    const chain = accessChain(assignment.left);
    if (chain?.length === 2 && chain[0] === identifier.text && chain[1] !== undefined) {
      addHeader(build, site, chain[1], unit, assignment, assignment.right, atRequestTime);
    }
  }
  for (const call of file.calls) {
    if (!containsNode(scope, call)) continue;
    const chain = accessChain(call.expression);
    const [name, value] = call.arguments;
    if (
      chain?.length === 2 &&
      chain[0] === identifier.text &&
      (chain[1] === 'set' || chain[1] === 'append') &&
      name !== undefined &&
      ts.isStringLiteralLike(name)
    ) {
      addHeader(build, site, name.text, unit, call, value, atRequestTime);
    } else if (
      calleeName(call) === 'inject' &&
      call.arguments.some((a) => ts.isIdentifier(a) && a.text === identifier.text)
    ) {
      addHeader(build, site, 'traceparent', unit, call, undefined, true);
    }
  }
}

/** A request interceptor or `beforeRequest` hook: headers set on its config parameter. */
export function readInterceptor(
  build: HttpBuild,
  site: HttpSite,
  unit: SourceUnit,
  fn: ts.Expression,
): void {
  const declaration = functionAt(build.symbols, unit, fn);
  if (declaration?.node.body === undefined) return;
  const parameter = declaration.node.parameters[0];
  const config =
    parameter !== undefined && ts.isIdentifier(parameter.name) ? parameter.name.text : undefined;
  const body = declaration.node.body;
  const onConfig = (chain: string[] | undefined): chain is string[] =>
    chain !== undefined && config !== undefined && chain[0] === config;
  const visit = (child: ts.Node): void => {
    if (ts.isBinaryExpression(child) && child.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
      const chain = accessChain(child.left);
      if (onConfig(chain)) {
        if (chain[1] === 'headers' && chain.length >= 3) {
          const name = chain[chain.length - 1] ?? '';
          addHeader(build, site, name, declaration.unit, child, child.right, true);
        } else if (chain[1] === 'timeout' && chain.length === 2) {
          site.timeouts.push({ unit: declaration.unit, node: child });
        }
      }
    } else if (ts.isCallExpression(child)) {
      const chain = accessChain(child.expression);
      const [first, second] = child.arguments;
      if (
        onConfig(chain) &&
        chain[1] === 'headers' &&
        (chain[2] === 'set' || chain[2] === 'append') &&
        first !== undefined &&
        ts.isStringLiteralLike(first)
      ) {
        addHeader(build, site, first.text, declaration.unit, child, second, true);
      } else if (onConfig(chain) && chain[1] === 'headers' && chain[2] === 'setAuthorization') {
        addHeader(build, site, 'authorization', declaration.unit, child, first, true);
      } else if (calleeName(child) === 'inject') {
        addHeader(build, site, 'traceparent', declaration.unit, child, undefined, true);
      } else if (
        chain?.[0] === 'Object' &&
        chain[1] === 'assign' &&
        first !== undefined &&
        accessChain(first)?.join('.') === `${String(config)}.headers` &&
        second !== undefined
      ) {
        collectHeaders(build, site, declaration.unit, second, true);
      }
    } else if (ts.isReturnStatement(child) && child.expression !== undefined) {
      const object = resolveObject(build.symbols, declaration.unit, child.expression);
      const headers = object === undefined ? undefined : optionOf(build.symbols, object, 'headers');
      if (headers !== undefined) collectHeaders(build, site, headers.unit, headers.node, true);
    }
    ts.forEachChild(child, visit);
  };
  visit(body);
}

/** Headers a function returns (`rewriteRequestHeaders: (req, headers) => ({ ... })`). */
export function headersFromFunction(
  build: HttpBuild,
  site: HttpSite,
  unit: SourceUnit,
  expression: ts.Expression,
): void {
  const fn = functionAt(build.symbols, unit, expression);
  const body = fn?.node.body;
  if (fn === undefined || body === undefined) return;
  if (!ts.isBlock(body)) {
    collectHeaders(build, site, fn.unit, body, true);
    return;
  }
  const visit = (child: ts.Node): void => {
    if (ts.isFunctionLike(child)) return;
    if (ts.isReturnStatement(child) && child.expression !== undefined) {
      collectHeaders(build, site, fn.unit, child.expression, true);
    }
    ts.forEachChild(child, visit);
  };
  ts.forEachChild(body, visit);
}
