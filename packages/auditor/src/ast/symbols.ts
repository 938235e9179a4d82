import ts from 'typescript';
import { isProjectImport, type Project, type SourceUnit } from '../project/load.ts';
import { forEachNode, propertyNameText, unwrap } from './syntax.ts';

/** What a local name was imported as: `import jwt from 'jsonwebtoken'` → jsonwebtoken, default. */
export interface ImportBinding {
  readonly module: string;
  /** `default`, `*` (namespace or whole CommonJS module), or the exported name. */
  readonly imported: string;
}

/**
 * A reference to something a module exports, as the path of names below the module:
 * `jwt.decode` with `import jwt from 'jsonwebtoken'` is `{ module: 'jsonwebtoken', path: ['decode'] }`.
 * Default imports and CommonJS `require` are flattened onto the module itself, because for CommonJS
 * libraries (axios, jsonwebtoken, amqplib) `default.x` and `x` are the same thing.
 */
export interface ModuleReference {
  readonly module: string;
  readonly path: readonly string[];
}

/**
 * Per-project symbol facts, computed lazily per file and cached: import bindings, top-level
 * and local single-assignment values, and exports. Enough for "simple data flow": following a
 * name to the expression that gave it its value, across relative imports, a bounded number of
 * hops.
 */
export class SymbolTable {
  private readonly bindings = new Map<SourceUnit, Map<string, ImportBinding>>();
  private readonly declarations = new Map<SourceUnit, Map<string, ts.Expression[]>>();
  private readonly exportsOf = new Map<SourceUnit, Map<string, ts.Expression | ts.Declaration>>();

  constructor(readonly project: Project) {}

  /** Import bindings of a file (ESM `import`, `import x = require()`, CommonJS `require`). */
  importsOf(unit: SourceUnit): ReadonlyMap<string, ImportBinding> {
    let map = this.bindings.get(unit);
    if (map !== undefined) return map;
    map = new Map();
    const found = map;
    for (const statement of unit.sourceFile.statements) {
      if (ts.isImportDeclaration(statement) && ts.isStringLiteral(statement.moduleSpecifier)) {
        const module = statement.moduleSpecifier.text;
        const clause = statement.importClause;
        if (clause === undefined) continue;
        if (clause.name) found.set(clause.name.text, { module, imported: 'default' });
        const named = clause.namedBindings;
        if (named && ts.isNamespaceImport(named)) {
          found.set(named.name.text, { module, imported: '*' });
        } else if (named) {
          for (const element of named.elements) {
            const imported = (element.propertyName ?? element.name).text;
            found.set(element.name.text, { module, imported });
          }
        }
      } else if (
        ts.isImportEqualsDeclaration(statement) &&
        ts.isExternalModuleReference(statement.moduleReference) &&
        ts.isStringLiteral(statement.moduleReference.expression)
      ) {
        found.set(statement.name.text, {
          module: statement.moduleReference.expression.text,
          imported: '*',
        });
      }
    }
    forEachNode(unit.sourceFile, (node) => {
      if (!ts.isVariableDeclaration(node) || node.initializer === undefined) return;
      const module = requiredModule(node.initializer);
      if (module === undefined) return;
      if (ts.isIdentifier(node.name)) {
        found.set(node.name.text, { module: module.module, imported: module.path[0] ?? '*' });
      } else if (ts.isObjectBindingPattern(node.name)) {
        for (const element of node.name.elements) {
          if (!ts.isIdentifier(element.name)) continue;
          const imported =
            element.propertyName === undefined
              ? element.name.text
              : propertyNameText(element.propertyName);
          if (imported !== undefined)
            found.set(element.name.text, { module: module.module, imported });
        }
      }
    });
    this.bindings.set(unit, found);
    return found;
  }

  /**
   * Resolves an expression to a module reference when its root is an imported name (or a direct
   * `require()`), following local aliases: `const { decode } = jwt` or `const v = jose.jwtVerify`.
   */
  moduleReference(
    unit: SourceUnit,
    expression: ts.Expression,
    depth = 0,
  ): ModuleReference | undefined {
    const node = unwrap(expression);
    if (depth > 6) return undefined;
    const direct = requiredModule(node);
    if (direct !== undefined) return direct;
    if (ts.isIdentifier(node)) {
      const binding = this.importsOf(unit).get(node.text);
      if (binding !== undefined) {
        return {
          module: binding.module,
          path:
            binding.imported === 'default' || binding.imported === '*' ? [] : [binding.imported],
        };
      }
      const value = this.valueOf(unit, node, depth + 1);
      if (value !== undefined && value.expression !== node) {
        return this.moduleReference(value.unit, value.expression, depth + 1);
      }
      return undefined;
    }
    if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
      const name = ts.isPropertyAccessExpression(node)
        ? node.name.text
        : ts.isStringLiteralLike(node.argumentExpression)
          ? node.argumentExpression.text
          : undefined;
      if (name === undefined) return undefined;
      const base = this.moduleReference(unit, node.expression, depth + 1);
      if (base === undefined) return undefined;
      // `axios.default.create` and `axios.create` are the same function.
      if (name === 'default' && base.path.length === 0) return base;
      return { module: base.module, path: [...base.path, name] };
    }
    return undefined;
  }

  /**
   * The expression that gave a name its value, when that is knowable without running the code:
   * a `const` (or a `let`/`var` assigned once) in the same file, an export of a project file
   * imported by a relative path, or `this.x` assigned once in the enclosing class.
   */
  valueOf(
    unit: SourceUnit,
    expression: ts.Expression,
    depth = 0,
  ): { unit: SourceUnit; expression: ts.Expression } | undefined {
    const node = unwrap(expression);
    if (depth > 6) return undefined;
    if (ts.isIdentifier(node)) {
      const local = this.declarationsOf(unit).get(node.text);
      const only = local?.length === 1 ? local[0] : undefined;
      if (only !== undefined) return { unit, expression: only };
      const binding = this.importsOf(unit).get(node.text);
      if (binding !== undefined && isProjectImport(this.project, unit, binding.module)) {
        const target = this.project.resolveImport(unit, binding.module);
        if (target === undefined) return undefined;
        const exported = this.exportedValue(target, binding.imported);
        return exported === undefined ? undefined : { unit: target, expression: exported };
      }
      return undefined;
    }
    if (ts.isPropertyAccessExpression(node) && node.expression.kind === ts.SyntaxKind.ThisKeyword) {
      const value = thisPropertyValue(node);
      return value === undefined ? undefined : { unit, expression: value };
    }
    return undefined;
  }

  /** Follows `valueOf` until it stops, returning the last expression reached. */
  finalValue(
    unit: SourceUnit,
    expression: ts.Expression,
  ): { unit: SourceUnit; expression: ts.Expression } {
    let current = { unit, expression: unwrap(expression) };
    for (let i = 0; i < 8; i++) {
      const next = this.valueOf(current.unit, current.expression);
      if (next === undefined) return current;
      current = { unit: next.unit, expression: unwrap(next.expression) };
    }
    return current;
  }

  /** A string a value is known to be, with `${…}` for parts that are not known statically. */
  staticString(unit: SourceUnit, expression: ts.Expression, depth = 0): StaticString | undefined {
    const node = unwrap(expression);
    if (depth > 6) return undefined;
    if (ts.isStringLiteralLike(node)) return { text: node.text, complete: true };
    if (ts.isTemplateExpression(node)) {
      let text = node.head.text;
      let complete = true;
      for (const span of node.templateSpans) {
        const part = this.staticString(unit, span.expression, depth + 1);
        text += part?.text ?? '${…}';
        complete &&= part?.complete ?? false;
        text += span.literal.text;
      }
      return { text, complete };
    }
    if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      const left = this.staticString(unit, node.left, depth + 1);
      const right = this.staticString(unit, node.right, depth + 1);
      if (left === undefined && right === undefined) return undefined;
      return {
        text: (left?.text ?? '${…}') + (right?.text ?? '${…}'),
        complete: (left?.complete ?? false) && (right?.complete ?? false),
      };
    }
    if (
      ts.isBinaryExpression(node) &&
      (node.operatorToken.kind === ts.SyntaxKind.BarBarToken ||
        node.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken)
    ) {
      // `process.env.URL || 'http://billing:3000'`: the fallback is what runs when unset.
      return this.staticString(unit, node.right, depth + 1);
    }
    const value = this.valueOf(unit, node, depth + 1);
    if (value !== undefined) return this.staticString(value.unit, value.expression, depth + 1);
    return undefined;
  }

  private declarationsOf(unit: SourceUnit): Map<string, ts.Expression[]> {
    let map = this.declarations.get(unit);
    if (map !== undefined) return map;
    map = new Map();
    const found = map;
    const add = (name: string, value: ts.Expression) => {
      const list = found.get(name);
      if (list === undefined) found.set(name, [value]);
      else list.push(value);
    };
    forEachNode(unit.sourceFile, (node) => {
      if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
        add(node.name.text, node.initializer);
      } else if (
        ts.isBinaryExpression(node) &&
        node.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
        ts.isIdentifier(node.left)
      ) {
        add(node.left.text, node.right);
      }
    });
    this.declarations.set(unit, found);
    return found;
  }

  private exportedValue(unit: SourceUnit, name: string): ts.Expression | undefined {
    let map = this.exportsOf.get(unit);
    if (map === undefined) {
      map = new Map();
      for (const statement of unit.sourceFile.statements) {
        collectExports(statement, map);
      }
      this.exportsOf.set(unit, map);
    }
    const found = map.get(name);
    if (found === undefined) return undefined;
    if (ts.isExpression(found)) return found;
    return undefined;
  }
}

export interface StaticString {
  readonly text: string;
  /** False when some part is only known at run time (shown as `${…}`). */
  readonly complete: boolean;
}

/** `require('m')` or `require('m').x.y` as a module reference. */
function requiredModule(expression: ts.Expression): ModuleReference | undefined {
  const path: string[] = [];
  let node = unwrap(expression);
  while (ts.isPropertyAccessExpression(node)) {
    path.unshift(node.name.text);
    node = unwrap(node.expression);
  }
  if (
    ts.isCallExpression(node) &&
    ts.isIdentifier(node.expression) &&
    node.expression.text === 'require' &&
    node.arguments.length === 1 &&
    node.arguments[0] !== undefined &&
    ts.isStringLiteralLike(node.arguments[0])
  ) {
    const rest = path[0] === 'default' ? path.slice(1) : path;
    return { module: node.arguments[0].text, path: rest };
  }
  return undefined;
}

function collectExports(statement: ts.Statement, map: Map<string, ts.Expression | ts.Declaration>) {
  const exported = ts.canHaveModifiers(statement)
    ? (ts.getModifiers(statement) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
    : false;
  const isDefault = ts.canHaveModifiers(statement)
    ? (ts.getModifiers(statement) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)
    : false;
  if (ts.isVariableStatement(statement) && exported) {
    for (const declaration of statement.declarationList.declarations) {
      if (ts.isIdentifier(declaration.name) && declaration.initializer) {
        map.set(declaration.name.text, declaration.initializer);
      }
    }
  } else if (ts.isExportAssignment(statement)) {
    map.set('default', statement.expression);
  } else if (
    (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) &&
    exported
  ) {
    if (statement.name) map.set(isDefault ? 'default' : statement.name.text, statement);
  } else if (
    ts.isExpressionStatement(statement) &&
    ts.isBinaryExpression(statement.expression) &&
    statement.expression.operatorToken.kind === ts.SyntaxKind.EqualsToken
  ) {
    // CommonJS: module.exports = x; module.exports.name = x; exports.name = x.
    const left = statement.expression.left;
    const text = left.getText();
    if (text === 'module.exports') map.set('default', statement.expression.right);
    const match = /^(?:module\.)?exports\.([A-Za-z_$][\w$]*)$/.exec(text);
    if (match?.[1] !== undefined) map.set(match[1], statement.expression.right);
  }
}

/** `this.x`: the single value assigned to `x` in the class (initializer or constructor). */
function thisPropertyValue(access: ts.PropertyAccessExpression): ts.Expression | undefined {
  let current: ts.Node = access.parent;
  while (!ts.isClassLike(current)) {
    if (ts.isSourceFile(current)) return undefined;
    current = current.parent;
  }
  const name = access.name.text;
  const values: ts.Expression[] = [];
  for (const member of current.members) {
    if (
      ts.isPropertyDeclaration(member) &&
      propertyNameText(member.name) === name &&
      member.initializer
    ) {
      values.push(member.initializer);
    }
  }
  forEachNode(current, (node) => {
    if (
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      ts.isPropertyAccessExpression(node.left) &&
      node.left.expression.kind === ts.SyntaxKind.ThisKeyword &&
      node.left.name.text === name
    ) {
      values.push(node.right);
    }
  });
  return values.length === 1 ? values[0] : undefined;
}
