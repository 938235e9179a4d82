import ts from 'typescript';
import {
  accessChain,
  evidenceAt,
  evidenceAtLine,
  lineAtOffset,
  propertyNameText,
  unwrap,
} from '../../../ast/syntax.ts';
import type { SourceUnit } from '../../../project/load.ts';
import { ancestors, calleeName, optionOf } from '../expressions.ts';
import { envName, type FileFacts } from '../scan.ts';
import { isFalse, type HttpBuild } from './build.ts';

/** The deprecated `request` package and its wrappers (SC14). */
export const DEPRECATED_HTTP_MODULES: readonly string[] = [
  'request',
  'request-promise',
  'request-promise-native',
  'request-promise-any',
  'requestretry',
];

const PROPAGATION_MODULES = [
  '@opentelemetry/auto-instrumentations-node',
  '@opentelemetry/auto-instrumentations-node/register',
  '@opentelemetry/instrumentation-http',
  '@opentelemetry/instrumentation-undici',
  'dd-trace',
  'dd-trace/init',
  'elastic-apm-node',
  'elastic-apm-node/start',
  'newrelic',
];
const TEXT_PROPAGATION =
  /auto-instrumentations-node\/register|dd-trace\/init|elastic-apm-node\/start|--require\s+newrelic/;

/** Imports of the deprecated `request` family, and instrumentation that propagates traces. */
export function collectModules(build: HttpBuild, file: FileFacts): void {
  for (const module of file.modules) {
    if (DEPRECATED_HTTP_MODULES.includes(module)) {
      build.deprecated.push({ unit: file.unit, node: importNode(file, module) });
    }
    if (PROPAGATION_MODULES.includes(module)) {
      build.propagation.push(evidenceAt(file.unit, importNode(file, module)));
    }
  }
}

/** `--require @opentelemetry/auto-instrumentations-node/register` in scripts or images. */
export function collectTextPropagation(build: HttpBuild): void {
  for (const file of build.ctx.project.textFiles) {
    const match = TEXT_PROPAGATION.exec(file.text);
    if (match === null) continue;
    build.propagation.push(
      evidenceAtLine(file.path, file.text, lineAtOffset(file.text, match.index)),
    );
  }
}

/**
 * Certificate checks switched off (`rejectUnauthorized: false`, `strictSSL: false`,
 * `checkServerIdentity: () => undefined`) and `NODE_TLS_REJECT_UNAUTHORIZED = '0'` in code.
 */
export function collectTlsSettings(build: HttpBuild, file: FileFacts): void {
  const { unit } = file;
  for (const property of file.properties) {
    if (!ts.isPropertyAssignment(property)) continue;
    const name = propertyNameText(property.name);
    if (
      (name === 'rejectUnauthorized' || name === 'strictSSL') &&
      isFalse(property.initializer) &&
      !serverTlsOptions(property)
    ) {
      build.insecureTls.push({ unit, node: property });
    } else if (name === 'checkServerIdentity' && returnsNothing(property.initializer)) {
      build.insecureTls.push({ unit, node: property });
    } else if (name === 'NODE_TLS_REJECT_UNAUTHORIZED' && isZero(property.initializer)) {
      build.tlsInCode.push({ unit, node: property });
    }
  }
  for (const assignment of file.assignments) {
    const chain = accessChain(assignment.left);
    if (chain?.at(-1) === 'rejectUnauthorized' && isFalse(assignment.right)) {
      build.insecureTls.push({ unit, node: assignment });
    } else if (
      envName(assignment.left) === 'NODE_TLS_REJECT_UNAUTHORIZED' &&
      isZero(assignment.right)
    ) {
      build.tlsInCode.push({ unit, node: assignment });
    }
  }
}

/**
 * Code that refuses non-https URLs (`if (!url.startsWith('https://')) throw …`, schema
 * checks, a `scheme: 'https'` setting), and Tessera service maps: https-only unless
 * `allowInsecureHttp: true`, with the scopes they request.
 */
export function collectHttpsGuards(build: HttpBuild, file: FileFacts): void {
  const { unit } = file;
  for (const property of file.properties) {
    if (!ts.isPropertyAssignment(property)) continue;
    const name = propertyNameText(property.name);
    if (name === 'scopes' && inServiceMap(build, unit, property)) {
      build.scopes.push({ unit, node: property });
    } else if (name === 'scheme' && /https/i.test(property.initializer.getText(unit.sourceFile))) {
      build.guards.push({ unit, node: property });
    }
  }
  for (const statement of file.ifs) {
    const condition = statement.expression.getText(unit.sourceFile);
    if (!/https/i.test(condition)) continue;
    if (refuses(statement.thenStatement)) build.guards.push({ unit, node: statement });
  }
  for (const call of file.calls) {
    if (isHttpsAssertion(unit, call)) build.guards.push({ unit, node: call });
    const reference = build.reference(unit, call.expression);
    if (reference?.module === '@tessera/client' && reference.path.at(-1) === 'createServiceMap') {
      const options = build.objectArgument(unit, call.arguments[1]);
      const insecure =
        options === undefined ? undefined : optionOf(build.symbols, options, 'allowInsecureHttp');
      if (insecure !== undefined && unwrap(insecure.node).kind === ts.SyntaxKind.TrueKeyword) {
        build.insecureMaps.push({ unit, node: insecure.node });
      } else {
        build.guards.push({ unit, node: call });
      }
    }
  }
}

/** `assert(url.startsWith('https:'))`, `z.string().url().startsWith('https://')`. */
function isHttpsAssertion(unit: SourceUnit, call: ts.CallExpression): boolean {
  const name = calleeName(call) ?? '';
  const args = () => call.arguments.map((a) => a.getText(unit.sourceFile)).join(' ');
  if (/^(assert|ok|invariant|strictEqual|equal|match)$/.test(name)) return /https/i.test(args());
  return (
    /^(startsWith|regex|pattern|refine|url)$/.test(name) &&
    /https/i.test(args()) &&
    ts.isPropertyAccessExpression(call.expression) &&
    ts.isCallExpression(unwrap(call.expression.expression))
  );
}

function inServiceMap(build: HttpBuild, unit: SourceUnit, property: ts.Node): boolean {
  for (const current of ancestors(property)) {
    if (ts.isCallExpression(current)) {
      const reference = build.reference(unit, current.expression);
      return (
        reference?.module === '@tessera/client' && reference.path.at(-1) === 'createServiceMap'
      );
    }
    if (ts.isFunctionLike(current)) return false;
  }
  return false;
}

function importNode(file: FileFacts, module: string): ts.Node {
  for (const statement of file.unit.sourceFile.statements) {
    if (
      ts.isImportDeclaration(statement) &&
      ts.isStringLiteral(statement.moduleSpecifier) &&
      statement.moduleSpecifier.text === module
    ) {
      return statement;
    }
  }
  for (const call of file.calls) {
    const first = call.arguments[0];
    if (first !== undefined && ts.isStringLiteralLike(first) && first.text === module) return call;
  }
  return file.unit.sourceFile.statements[0] ?? file.unit.sourceFile;
}

/**
 * Is the property part of a server's TLS options (the object also sets `requestCert`)? There
 * `rejectUnauthorized: false` makes client certificates optional (SV1), it does not switch off
 * a client's check of the server.
 */
function serverTlsOptions(property: ts.PropertyAssignment): boolean {
  const object = property.parent;
  return object.properties.some(
    (p) => p.name !== undefined && propertyNameText(p.name) === 'requestCert',
  );
}

function returnsNothing(expression: ts.Expression): boolean {
  const node = unwrap(expression);
  if (!ts.isArrowFunction(node) && !ts.isFunctionExpression(node)) return false;
  if (!ts.isBlock(node.body)) {
    const body = unwrap(node.body);
    return (
      (ts.isIdentifier(body) && body.text === 'undefined') ||
      body.kind === ts.SyntaxKind.NullKeyword ||
      ts.isVoidExpression(body)
    );
  }
  return node.body.statements.every(
    (statement) =>
      ts.isReturnStatement(statement) &&
      (statement.expression === undefined ||
        (ts.isIdentifier(statement.expression) && statement.expression.text === 'undefined')),
  );
}

function isZero(expression: ts.Expression): boolean {
  const node = unwrap(expression);
  return (ts.isStringLiteralLike(node) || ts.isNumericLiteral(node)) && node.text === '0';
}

/** Does a branch refuse to go on (throw, exit, or answer with an error)? */
function refuses(statement: ts.Statement): boolean {
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (ts.isThrowStatement(node)) found = true;
    else if (ts.isCallExpression(node)) {
      const chain = accessChain(node.expression);
      if (chain?.join('.') === 'process.exit') found = true;
    }
    if (!ts.isFunctionLike(node)) ts.forEachChild(node, visit);
  };
  visit(statement);
  return found;
}
