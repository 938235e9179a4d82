import ts from 'typescript';
import { evidenceAt, propertyNameText, unwrap } from '../../ast/syntax.ts';
import type { SourceUnit } from '../../project/load.ts';
import type { AuditContext } from '../context.ts';
import {
  ancestors,
  calleeName,
  functionDeclarationFor,
  resolveFinal,
  type Located,
} from '../outbound/expressions.ts';
import { isProcessEnv, productionFacts, type FileFacts } from '../outbound/scan.ts';
import type { SecretRead } from './model.ts';
import { secretSources } from './index.ts';
import { inDevelopmentBranch } from './sources.ts';

/**
 * The secrets TypeScript and JavaScript code reads, from the environment and from files:
 * - `process.env.X` (with `?? 'literal'` fallbacks and destructuring defaults);
 * - helpers taking the variable's name, `required('JWT_SECRET')`, `readSecret('API_KEY')`, whose
 *   body reads `process.env[name]` (and `process.env[`${name}_FILE`]` for a mounted file);
 * - environment schemas parsed from `process.env` (zod `z.object({…}).parse(process.env)`,
 *   envalid `cleanEnv(process.env, {…})`);
 * - NestJS `configService.get('JWT_SECRET')`, which reads the environment;
 * - secrets-manager fetches (from the existing source analysis).
 * Names are kept whatever they are; which ones hold secrets is decided by the model.
 */
export function typescriptSecretReads(ctx: AuditContext): SecretRead[] {
  const accessors = new EnvAccessors(ctx);
  const reads: SecretRead[] = [];
  for (const file of productionFacts(ctx)) {
    const { unit } = file;
    for (const read of file.envReads) {
      if (read.name.endsWith('_FILE')) {
        reads.push(fileRead(unit, read.node, read.name.slice(0, -'_FILE'.length)));
        continue;
      }
      reads.push({
        via: 'env',
        name: read.name,
        evidence: evidenceAt(unit, read.node),
        developmentOnly: inDevelopmentBranch(unit, read.node),
        fallback: fallbackOf(unit, read.node),
        fileAlternative: false,
      });
    }
    for (const call of file.calls) {
      reads.push(...helperReads(accessors, file, call));
      reads.push(...schemaReads(ctx, unit, call));
    }
  }
  const sources = secretSources(ctx);
  for (const fetch of sources.fetches) {
    reads.push({
      via: 'manager',
      name: fetch.path,
      evidence: fetch.evidence,
      developmentOnly: false,
      fallback: undefined,
      fileAlternative: false,
    });
  }
  for (const evidence of sources.secretFiles) {
    reads.push({
      via: 'file',
      name: undefined,
      evidence,
      developmentOnly: false,
      fallback: undefined,
      fileAlternative: false,
    });
  }
  return reads;
}

function fileRead(unit: SourceUnit, node: ts.Node, name: string): SecretRead {
  return {
    via: 'file',
    name,
    evidence: evidenceAt(unit, node),
    developmentOnly: inDevelopmentBranch(unit, node),
    fallback: undefined,
    fileAlternative: false,
  };
}

const ENV_NAME = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/;

/** `required('JWT_SECRET')`, `configService.get('JWT_SECRET')`. */
function helperReads(
  accessors: EnvAccessors,
  file: FileFacts,
  call: ts.CallExpression,
): SecretRead[] {
  const { unit } = file;
  const first = call.arguments[0];
  if (first === undefined || !ts.isStringLiteralLike(first) || !ENV_NAME.test(first.text)) {
    return [];
  }
  const name = first.text;
  const method = calleeName(call) ?? '';
  const callee = unwrap(call.expression);
  // NestJS ConfigService (`@nestjs/config`) reads process.env, .env files and `load` factories.
  const configService =
    /^(get|getOrThrow)$/.test(method) &&
    ts.isPropertyAccessExpression(callee) &&
    /config/i.test(callee.expression.getText(unit.sourceFile));
  const accessor = configService ? { value: true, file: false } : accessors.of(unit, call);
  if (accessor === undefined) return [];
  const second = call.arguments[1];
  const fallback =
    second !== undefined && ts.isStringLiteralLike(second) && second.text !== ''
      ? { value: second.text, evidence: evidenceAt(unit, second) }
      : undefined;
  return [
    {
      via: accessor.value ? 'env' : 'file',
      name,
      evidence: evidenceAt(unit, call),
      developmentOnly: inDevelopmentBranch(unit, call),
      fallback,
      fileAlternative: accessor.file,
    },
  ];
}

/** What a helper does with the variable name it is given. */
interface Accessor {
  /** Reads `process.env[name]`. */
  readonly value: boolean;
  /** Reads `process.env[`${name}_FILE`]` (a mounted file's path). */
  readonly file: boolean;
}

/** Project functions that read the environment variable named by their first parameter. */
class EnvAccessors {
  private readonly known = new Map<ts.Node, Accessor | undefined>();

  constructor(private readonly ctx: AuditContext) {}

  of(unit: SourceUnit, call: ts.CallExpression, depth = 0): Accessor | undefined {
    if (depth > 3) return undefined;
    const target = functionDeclarationFor(this.ctx.symbols, unit, call.expression);
    if (target === undefined) return undefined;
    if (this.known.has(target.node)) return this.known.get(target.node);
    this.known.set(target.node, undefined);
    const accessor = this.analyse(target, depth);
    this.known.set(target.node, accessor);
    return accessor;
  }

  private analyse(
    target: Located<ts.SignatureDeclaration & { body?: ts.ConciseBody | undefined }>,
    depth: number,
  ): Accessor | undefined {
    const parameter = target.node.parameters[0];
    const body = target.node.body;
    if (parameter === undefined || !ts.isIdentifier(parameter.name) || body === undefined) {
      return undefined;
    }
    const name = parameter.name.text;
    const isParameter = (node: ts.Node) => ts.isIdentifier(node) && node.text === name;
    const found = { value: false, file: false };
    const visit = (node: ts.Node): void => {
      if (ts.isElementAccessExpression(node) && isProcessEnv(node.expression)) {
        const key = unwrap(node.argumentExpression);
        if (isParameter(key)) found.value = true;
        else if (
          ts.isTemplateExpression(key) &&
          key.head.text === '' &&
          key.templateSpans.length === 1 &&
          key.templateSpans[0] !== undefined &&
          isParameter(unwrap(key.templateSpans[0].expression)) &&
          key.templateSpans[0].literal.text === '_FILE'
        ) {
          found.file = true;
        }
      } else if (ts.isCallExpression(node) && node.arguments[0] !== undefined) {
        const argument = unwrap(node.arguments[0]);
        if (isParameter(argument)) {
          const inner = this.of(target.unit, node, depth + 1);
          if (inner !== undefined) {
            found.value ||= inner.value;
            found.file ||= inner.file;
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(body);
    return found.value || found.file ? found : undefined;
  }
}

/**
 * Environment schemas: a call given `process.env` whose schema object (an argument, or the
 * receiver chain `z.object({…}).parse`) lists the variables.
 */
function schemaReads(ctx: AuditContext, unit: SourceUnit, call: ts.CallExpression): SecretRead[] {
  if (!call.arguments.some((a) => isProcessEnv(a))) return [];
  const objects: Located<ts.ObjectLiteralExpression>[] = [];
  const collect = (expression: ts.Expression) => {
    const final = resolveFinal(ctx.symbols, unit, expression);
    const node = unwrap(final.expression);
    if (ts.isObjectLiteralExpression(node)) objects.push({ unit: final.unit, node });
    else if (ts.isCallExpression(node)) {
      for (const argument of node.arguments) {
        const inner = unwrap(argument);
        if (ts.isObjectLiteralExpression(inner)) objects.push({ unit: final.unit, node: inner });
      }
      const callee = unwrap(node.expression);
      if (ts.isPropertyAccessExpression(callee)) collect(callee.expression);
    } else if (ts.isPropertyAccessExpression(node)) collect(node.expression);
  };
  for (const argument of call.arguments) if (!isProcessEnv(argument)) collect(argument);
  const callee = unwrap(call.expression);
  if (ts.isPropertyAccessExpression(callee)) collect(callee.expression);
  const reads: SecretRead[] = [];
  for (const object of objects) {
    for (const property of object.node.properties) {
      if (!ts.isPropertyAssignment(property)) continue;
      const name = propertyNameText(property.name);
      if (name === undefined || !ENV_NAME.test(name)) continue;
      const fallback = schemaDefault(property.initializer);
      reads.push({
        via: 'env',
        name,
        evidence: evidenceAt(object.unit, property),
        developmentOnly: false,
        fallback:
          fallback === undefined
            ? undefined
            : { value: fallback.text, evidence: evidenceAt(object.unit, fallback) },
        fileAlternative: false,
      });
    }
  }
  return reads;
}

/** `z.string().default('x')`, envalid `str({ default: 'x' })` (not `devDefault`). */
function schemaDefault(initializer: ts.Expression): ts.StringLiteralLike | undefined {
  let found: ts.StringLiteralLike | undefined;
  const visit = (node: ts.Node): void => {
    if (found !== undefined) return;
    if (ts.isCallExpression(node) && calleeName(node) === 'default') {
      const value = node.arguments[0];
      if (value !== undefined && ts.isStringLiteralLike(value) && value.text !== '') found = value;
    } else if (
      ts.isPropertyAssignment(node) &&
      propertyNameText(node.name) === 'default' &&
      ts.isStringLiteralLike(node.initializer) &&
      node.initializer.text !== ''
    ) {
      found = node.initializer;
    }
    ts.forEachChild(node, visit);
  };
  visit(initializer);
  return found;
}

/**
 * The literal an environment read falls back to: `process.env.X ?? 'v'`, `process.env.X || 'v'`,
 * `process.env.X ? process.env.X : 'v'`, `const { X = 'v' } = process.env`.
 */
function fallbackOf(unit: SourceUnit, node: ts.Node): SecretRead['fallback'] {
  if (ts.isBindingElement(node)) {
    const initializer = node.initializer === undefined ? undefined : unwrap(node.initializer);
    return initializer !== undefined &&
      ts.isStringLiteralLike(initializer) &&
      initializer.text !== ''
      ? { value: initializer.text, evidence: evidenceAt(unit, node) }
      : undefined;
  }
  let child: ts.Node = node;
  for (const parent of ancestors(node)) {
    if (ts.isParenthesizedExpression(parent) || ts.isAsExpression(parent)) {
      child = parent;
      continue;
    }
    let alternative: ts.Expression | undefined;
    if (
      ts.isBinaryExpression(parent) &&
      parent.left === child &&
      (parent.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken ||
        parent.operatorToken.kind === ts.SyntaxKind.BarBarToken)
    ) {
      alternative = parent.right;
    } else if (ts.isConditionalExpression(parent) && parent.condition === child) {
      alternative = parent.whenFalse;
    }
    const literal = alternative === undefined ? undefined : unwrap(alternative);
    if (literal !== undefined && ts.isStringLiteralLike(literal) && literal.text !== '') {
      return { value: literal.text, evidence: evidenceAt(unit, parent) };
    }
    return undefined;
  }
  return undefined;
}
