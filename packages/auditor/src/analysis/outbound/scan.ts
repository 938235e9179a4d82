import ts from 'typescript';
import type { SourceUnit } from '../../project/load.ts';
import { isTestPath } from '../../project/paths.ts';
import type { AuditContext } from '../context.ts';
import { propertyNameText, unwrap } from '../../ast/syntax.ts';

/** A read of an environment variable: `process.env.X`, `process.env['X']`, `const { X } = process.env`. */
export interface EnvRead {
  readonly name: string;
  readonly node: ts.Node;
}

/**
 * The nodes of one file that the outbound, secrets and token analyses look at, gathered in a
 * single walk so that every analysis after the first costs a pass over short lists, not over
 * the syntax tree again.
 */
export interface FileFacts {
  readonly unit: SourceUnit;
  /** Test code (test directories, `*.test.*`, `*.spec.*`): excluded from secret findings. */
  readonly isTest: boolean;
  readonly calls: readonly ts.CallExpression[];
  readonly news: readonly ts.NewExpression[];
  readonly strings: readonly (ts.StringLiteral | ts.NoSubstitutionTemplateLiteral)[];
  readonly templates: readonly ts.TemplateExpression[];
  readonly properties: readonly (ts.PropertyAssignment | ts.ShorthandPropertyAssignment)[];
  readonly variables: readonly ts.VariableDeclaration[];
  /** `a = b` (not declarations). */
  readonly assignments: readonly ts.BinaryExpression[];
  /** `===`, `==`, `!==`, `!=`. */
  readonly comparisons: readonly ts.BinaryExpression[];
  /** Parameters and class properties with an initializer (`secret = '…'`). */
  readonly initialized: readonly (ts.ParameterDeclaration | ts.PropertyDeclaration)[];
  readonly envReads: readonly EnvRead[];
  readonly loops: readonly ts.IterationStatement[];
  readonly ifs: readonly ts.IfStatement[];
  readonly tries: readonly ts.TryStatement[];
  /** Reads of a query-string parameter: `req.query.x`, `const { x } = request.query`. */
  readonly queryReads: readonly { readonly name: string; readonly node: ts.Node }[];
  /** Module specifiers this file imports or requires (bare and relative). */
  readonly modules: ReadonlySet<string>;
}

function scanUnit(unit: SourceUnit): FileFacts {
  const calls: ts.CallExpression[] = [];
  const news: ts.NewExpression[] = [];
  const strings: (ts.StringLiteral | ts.NoSubstitutionTemplateLiteral)[] = [];
  const templates: ts.TemplateExpression[] = [];
  const properties: (ts.PropertyAssignment | ts.ShorthandPropertyAssignment)[] = [];
  const variables: ts.VariableDeclaration[] = [];
  const assignments: ts.BinaryExpression[] = [];
  const comparisons: ts.BinaryExpression[] = [];
  const initialized: (ts.ParameterDeclaration | ts.PropertyDeclaration)[] = [];
  const envReads: EnvRead[] = [];
  const loops: ts.IterationStatement[] = [];
  const ifs: ts.IfStatement[] = [];
  const tries: ts.TryStatement[] = [];
  const queryReads: { name: string; node: ts.Node }[] = [];
  const modules = new Set<string>();

  const visit = (node: ts.Node): void => {
    switch (node.kind) {
      case ts.SyntaxKind.CallExpression: {
        const call = node as ts.CallExpression;
        calls.push(call);
        const first = call.arguments[0];
        if (
          (call.expression.kind === ts.SyntaxKind.ImportKeyword ||
            (ts.isIdentifier(call.expression) && call.expression.text === 'require')) &&
          first !== undefined &&
          ts.isStringLiteralLike(first)
        ) {
          modules.add(first.text);
        }
        break;
      }
      case ts.SyntaxKind.NewExpression:
        news.push(node as ts.NewExpression);
        break;
      case ts.SyntaxKind.StringLiteral:
      case ts.SyntaxKind.NoSubstitutionTemplateLiteral:
        strings.push(node as ts.StringLiteral | ts.NoSubstitutionTemplateLiteral);
        break;
      case ts.SyntaxKind.TemplateExpression:
        templates.push(node as ts.TemplateExpression);
        break;
      case ts.SyntaxKind.PropertyAssignment:
      case ts.SyntaxKind.ShorthandPropertyAssignment:
        properties.push(node as ts.PropertyAssignment | ts.ShorthandPropertyAssignment);
        break;
      case ts.SyntaxKind.VariableDeclaration: {
        const declaration = node as ts.VariableDeclaration;
        variables.push(declaration);
        if (ts.isObjectBindingPattern(declaration.name) && declaration.initializer !== undefined) {
          const fromEnv = isProcessEnv(declaration.initializer);
          const fromQuery = isQuery(declaration.initializer);
          if (fromEnv || fromQuery) {
            for (const element of declaration.name.elements) {
              const name =
                element.propertyName === undefined
                  ? ts.isIdentifier(element.name)
                    ? element.name.text
                    : undefined
                  : propertyNameText(element.propertyName);
              if (name === undefined) continue;
              if (fromEnv) envReads.push({ name, node: element });
              else queryReads.push({ name, node: element });
            }
          }
        }
        break;
      }
      case ts.SyntaxKind.BinaryExpression: {
        const binary = node as ts.BinaryExpression;
        const operator = binary.operatorToken.kind;
        if (operator === ts.SyntaxKind.EqualsToken) assignments.push(binary);
        else if (
          operator === ts.SyntaxKind.EqualsEqualsEqualsToken ||
          operator === ts.SyntaxKind.EqualsEqualsToken ||
          operator === ts.SyntaxKind.ExclamationEqualsEqualsToken ||
          operator === ts.SyntaxKind.ExclamationEqualsToken
        ) {
          comparisons.push(binary);
        }
        break;
      }
      case ts.SyntaxKind.Parameter:
      case ts.SyntaxKind.PropertyDeclaration:
        if ((node as ts.ParameterDeclaration | ts.PropertyDeclaration).initializer !== undefined) {
          initialized.push(node as ts.ParameterDeclaration | ts.PropertyDeclaration);
        }
        break;
      case ts.SyntaxKind.PropertyAccessExpression:
      case ts.SyntaxKind.ElementAccessExpression: {
        const name = envName(node as ts.Expression);
        if (name !== undefined) envReads.push({ name, node });
        else {
          const access = node as ts.PropertyAccessExpression | ts.ElementAccessExpression;
          if (isQuery(access.expression)) {
            const parameter = ts.isPropertyAccessExpression(access)
              ? access.name.text
              : ts.isStringLiteralLike(access.argumentExpression)
                ? access.argumentExpression.text
                : undefined;
            if (parameter !== undefined) queryReads.push({ name: parameter, node });
          }
        }
        break;
      }
      case ts.SyntaxKind.ForStatement:
      case ts.SyntaxKind.ForOfStatement:
      case ts.SyntaxKind.ForInStatement:
      case ts.SyntaxKind.WhileStatement:
      case ts.SyntaxKind.DoStatement:
        loops.push(node as ts.IterationStatement);
        break;
      case ts.SyntaxKind.IfStatement:
        ifs.push(node as ts.IfStatement);
        break;
      case ts.SyntaxKind.TryStatement:
        tries.push(node as ts.TryStatement);
        break;
      case ts.SyntaxKind.ImportDeclaration:
      case ts.SyntaxKind.ExportDeclaration: {
        const specifier = (node as ts.ImportDeclaration | ts.ExportDeclaration).moduleSpecifier;
        if (specifier !== undefined && ts.isStringLiteral(specifier)) modules.add(specifier.text);
        break;
      }
      case ts.SyntaxKind.ExternalModuleReference: {
        const expression = (node as ts.ExternalModuleReference).expression;
        if (ts.isStringLiteral(expression)) modules.add(expression.text);
        break;
      }
      default:
        break;
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(unit.sourceFile, visit);
  return {
    unit,
    isTest: isTestPath(unit.path),
    calls,
    news,
    strings,
    templates,
    properties,
    variables,
    assignments,
    comparisons,
    initialized,
    envReads,
    loops,
    ifs,
    tries,
    queryReads,
    modules,
  };
}

/** `req.query`, `ctx.request.query`: the parsed query string of the request being served. */
function isQuery(expression: ts.Expression): boolean {
  const node = unwrap(expression);
  return ts.isPropertyAccessExpression(node) && node.name.text === 'query';
}

/** `process.env` or `import.meta.env`. */
export function isProcessEnv(expression: ts.Expression): boolean {
  const node = unwrap(expression);
  // Checked on every property access of every file: cheap tests first.
  if (!ts.isPropertyAccessExpression(node) || node.name.text !== 'env') return false;
  const base = unwrap(node.expression);
  return (ts.isIdentifier(base) && base.text === 'process') || ts.isMetaProperty(base);
}

/** The variable name of `process.env.X` / `process.env['X']` / `import.meta.env.X`. */
export function envName(expression: ts.Expression): string | undefined {
  const node = unwrap(expression);
  if (ts.isPropertyAccessExpression(node) && isProcessEnv(node.expression)) return node.name.text;
  if (
    ts.isElementAccessExpression(node) &&
    ts.isStringLiteralLike(node.argumentExpression) &&
    isProcessEnv(node.expression)
  ) {
    return node.argumentExpression.text;
  }
  return undefined;
}

/** The facts of every file, scanned once per audit (in parallel to nothing: one walk each). */
function fileFacts(ctx: AuditContext): readonly FileFacts[] {
  return ctx.memo('s2s.scan', () => ctx.project.units.map(scanUnit));
}

/** The facts of project files that are not tests. */
export function productionFacts(ctx: AuditContext): readonly FileFacts[] {
  return ctx.memo('s2s.scan.production', () => fileFacts(ctx).filter((f) => !f.isTest));
}
