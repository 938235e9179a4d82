import ts from 'typescript';
import { propertyNameText, unwrap } from '../../../ast/syntax.ts';
import { isProjectImport, type SourceUnit } from '../../../project/load.ts';
import {
  functionDeclarationFor,
  resolveFinal,
  resolveValue,
  type Located,
} from '../expressions.ts';
import type { TokenRequest } from '../model.ts';
import { containsNode, type HttpBuild } from './build.ts';

/** The OAuth 2.0 token request parameter (RFC 6749 §4.4.2) and its form-encoded spelling. */
const GRANT_FIELD = 'grant_type';
const GRANT_TEXT = /\bgrant_type=/;
const CLIENT_SECRET_FIELD = /^(client_secret|clientSecret)$/;

/**
 * Requests to an OAuth token endpoint: a call whose body (or form, or query) carries
 * `grant_type`, written in the call or in a value the call sends. They obtain the token other
 * calls carry; the client secret they send, if any, is the service's stored credential.
 */
export function collectTokenRequests(build: HttpBuild): void {
  for (const site of build.sites) {
    if (site.kind !== 'call') continue;
    const call = site.node as ts.CallExpression;
    const found = { grant: false, secret: undefined as Located | undefined };
    for (const argument of call.arguments) readGrant(build, site.unit, argument, found, 0);
    if (!found.grant) continue;
    const secret = found.secret;
    site.tokenRequest = {
      site,
      secret,
      secretOrigins: secret === undefined ? new Set() : build.origins.of(secret.unit, secret.node),
    };
  }
}

function readGrant(
  build: HttpBuild,
  unit: SourceUnit,
  node: ts.Node,
  found: { grant: boolean; secret: Located | undefined },
  depth: number,
): void {
  if (depth > 3) return;
  const visit = (child: ts.Node): void => {
    if (ts.isPropertyAssignment(child) || ts.isShorthandPropertyAssignment(child)) {
      const name = propertyNameText(child.name);
      if (name === GRANT_FIELD) found.grant = true;
      if (name !== undefined && CLIENT_SECRET_FIELD.test(name) && found.secret === undefined) {
        found.secret = {
          unit,
          node: ts.isPropertyAssignment(child) ? child.initializer : child.name,
        };
      }
    } else if (ts.isStringLiteralLike(child) && GRANT_TEXT.test(child.text)) {
      found.grant = true;
    } else if (ts.isIdentifier(child) && isValueReference(child)) {
      const value = resolveValue(build.symbols, unit, child);
      if (value !== undefined && value.expression !== child) {
        readGrant(build, value.unit, value.expression, found, depth + 1);
      }
    }
    if (!ts.isFunctionLike(child)) ts.forEachChild(child, visit);
  };
  visit(node);
}

/** An identifier read as a value (not a property's name, not the name after a dot). */
function isValueReference(identifier: ts.Identifier): boolean {
  const parent = identifier.parent;
  if (ts.isPropertyAssignment(parent) && parent.name === identifier) return false;
  if (ts.isPropertyAccessExpression(parent) && parent.name === identifier) return false;
  return true;
}

/**
 * Marks the headers whose value is a token a token request of this project obtained:
 * `Bearer ${await tokens.get(aud)}` where `tokens` is an instance of a class (or a function of
 * a file) that makes the request. The class or file around the request is the token source,
 * as for a client-credentials token source's expiry and renewal.
 */
export function linkObtainedTokens(build: HttpBuild): void {
  const requests = build.sites
    .map((site) => site.tokenRequest)
    .filter((request): request is TokenRequest => request !== undefined);
  if (requests.length === 0) return;
  for (const [fact, value] of build.headerValues) {
    if (fact.origins.has('inbound')) continue;
    const scopes = tokenSourceScopes(build, value.unit, value.node, 0);
    fact.obtainedFrom = requests.find((request) =>
      scopes.some((scope) => containsNode(scope, request.site.node)),
    );
  }
}

/** The classes and files whose functions produce a value (its calls, followed through consts). */
function tokenSourceScopes(
  build: HttpBuild,
  unit: SourceUnit,
  expression: ts.Expression,
  depth: number,
): ts.Node[] {
  if (depth > 4) return [];
  const out: ts.Node[] = [];
  const visit = (child: ts.Node): void => {
    if (ts.isFunctionLike(child)) return;
    if (ts.isCallExpression(child)) {
      const scope = calleeScope(build, unit, child.expression);
      if (scope !== undefined) out.push(scope);
    } else if (ts.isIdentifier(child) && isValueReference(child)) {
      const value = resolveValue(build.symbols, unit, child);
      if (value !== undefined && value.expression !== child) {
        out.push(...tokenSourceScopes(build, value.unit, value.expression, depth + 1));
      }
    }
    ts.forEachChild(child, visit);
  };
  visit(unwrap(expression));
  return out;
}

/** The class (or else the file) of the function a callee names. */
function calleeScope(
  build: HttpBuild,
  unit: SourceUnit,
  callee: ts.Expression,
): ts.Node | undefined {
  const declaration = functionDeclarationFor(build.symbols, unit, callee);
  if (declaration !== undefined) return classOrFile(declaration.node);
  // `tokens.get(aud)` on `export const tokens = new TokenSource()`.
  const node = unwrap(callee);
  if (!ts.isPropertyAccessExpression(node)) return undefined;
  const receiver = resolveFinal(build.symbols, unit, node.expression);
  const created = unwrap(receiver.expression);
  if (!ts.isNewExpression(created) || !ts.isIdentifier(created.expression)) return undefined;
  return classNamed(build, receiver.unit, created.expression.text);
}

function classOrFile(node: ts.Node): ts.Node {
  for (let current: ts.Node = node; !ts.isSourceFile(current); current = current.parent) {
    if (ts.isClassLike(current)) return current;
  }
  return node.getSourceFile();
}

/** A class declared in a file or imported into it from the project. */
function classNamed(build: HttpBuild, unit: SourceUnit, name: string): ts.Node | undefined {
  const local = unit.sourceFile.statements.find(
    (s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === name,
  );
  if (local !== undefined) return local;
  const binding = build.symbols.importsOf(unit).get(name);
  if (binding === undefined || !isProjectImport(build.symbols.project, unit, binding.module)) {
    return undefined;
  }
  const target = build.symbols.project.resolveImport(unit, binding.module);
  return target?.sourceFile.statements.find(
    (s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === binding.imported,
  );
}
