import ts from 'typescript';
import { enclosingFunction, evidenceAt, forEachNode } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import { isProjectImport, type Project, type SourceUnit } from '../../project/load.ts';
import type { HttpSite } from './model.ts';

/** How many callers up a chain is followed before giving up (and not calling it start-up). */
const MAX_DEPTH = 8;

/** The direct calls of one function in the project's production code. */
type Callers = readonly { readonly unit: SourceUnit; readonly call: ts.CallExpression }[];

/**
 * Decides which outbound requests are made only while the process starts: every call of the
 * channel sits in code that runs once, before or outside any request handling. That is module
 * top-level code, or a named function (or an immediately invoked one) all of whose callers in the
 * project are direct calls made from such code, following callers across relative imports.
 *
 * It answers "start-up only" only when it can see every caller. Anything it cannot follow counts
 * as possibly on a request path: a function passed as a value (a route handler, a `setInterval`
 * callback, a promise callback), a method, a function with no caller in the project (a library
 * export whose users are elsewhere), a re-export, a namespace import, an `import()` or
 * `require` of the file, the same name imported from a package (in a workspace, possibly this
 * file), and a call inside a `while`, `do`, counting `for` or `for await` loop (a poll or a
 * message stream repeats; iterating a list does not). Test files are not callers: what a test
 * does is not what the service does.
 */
export class StartupAnalysis {
  private readonly memo = new Map<ts.Node, Evidence[] | null>();
  private readonly units: ReadonlySet<SourceUnit>;

  constructor(
    private readonly project: Project,
    production: readonly SourceUnit[],
  ) {
    this.units = new Set(production);
  }

  /**
   * For a channel used only at start-up, where that start-up begins (the outermost calls that
   * reach it, or the channel itself when it is top-level code); `undefined` when any of its
   * requests may be made while serving.
   */
  startupOnly(site: HttpSite): Evidence[] | undefined {
    const nodes = site.kind === 'client' ? site.calls.map((c) => c.node) : [site.node];
    if (nodes.length === 0) return undefined;
    const roots: Evidence[] = [];
    for (const node of nodes) {
      const found = this.context(site.unit, node, 0, new Set());
      if (found === null) return undefined;
      roots.push(...(found.length === 0 ? [evidenceAt(site.unit, node)] : found));
    }
    return roots;
  }

  /**
   * Whether code at `node` runs only at start-up: `[]` for module top-level code, the outermost
   * calls for code in a start-up function, `null` otherwise.
   */
  private context(
    unit: SourceUnit,
    node: ts.Node,
    depth: number,
    visiting: Set<ts.Node>,
  ): Evidence[] | null {
    const fn = enclosingFunction(node);
    if (repeatedBetween(node, fn)) return null;
    if (fn === undefined) return [];
    return this.startupFunction(unit, fn, depth, visiting);
  }

  private startupFunction(
    unit: SourceUnit,
    fn: ts.SignatureDeclaration,
    depth: number,
    visiting: Set<ts.Node>,
  ): Evidence[] | null {
    const known = this.memo.get(fn);
    if (known !== undefined) return known;
    if (depth > MAX_DEPTH || visiting.has(fn)) return null;
    visiting.add(fn);
    let result: Evidence[] | null = null;
    const callers = this.callersOf(unit, fn);
    if (callers !== undefined && callers.length > 0) {
      result = [];
      for (const caller of callers) {
        const outer = this.context(caller.unit, caller.call, depth + 1, visiting);
        if (outer === null) {
          result = null;
          break;
        }
        result.push(...(outer.length === 0 ? [evidenceAt(caller.unit, caller.call)] : outer));
      }
    }
    visiting.delete(fn);
    // Only complete answers are kept: one cut short by depth or a cycle may differ elsewhere.
    if (result !== null || depth === 0) this.memo.set(fn, result);
    return result;
  }

  /** Every call of `fn` in the project's production code, or `undefined` if one is not a call. */
  private callersOf(unit: SourceUnit, fn: ts.SignatureDeclaration): Callers | undefined {
    const invoked = immediateCall(fn);
    if (invoked !== undefined) return [{ unit, call: invoked }];
    const declared = declaredName(fn);
    if (declared === undefined) return undefined;
    const callers: { unit: SourceUnit; call: ts.CallExpression }[] = [];
    const local = directCalls(unit.sourceFile, declared.name.text, declared.name);
    if (local === undefined) return undefined;
    for (const call of local) callers.push({ unit, call });
    if (!declared.exported) return callers;
    for (const other of this.units) {
      if (other === unit) continue;
      const names = this.importedNames(other, unit, declared.name.text, declared.isDefault);
      if (names === undefined) return undefined;
      for (const name of names) {
        const calls = directCalls(other.sourceFile, name, undefined);
        if (calls === undefined) return undefined;
        for (const call of calls) callers.push({ unit: other, call });
      }
    }
    return callers;
  }

  /**
   * The local names under which `from` imports `name` of `target`; `undefined` for imports it
   * cannot follow: a namespace import, a re-export, `require` or `import()` of the file, or the
   * same name imported from a package (in a workspace, that may be this very file).
   */
  private importedNames(
    from: SourceUnit,
    target: SourceUnit,
    name: string,
    isDefault: boolean,
  ): string[] | undefined {
    const names: string[] = [];
    for (const statement of from.sourceFile.statements) {
      if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
      const module = statement.moduleSpecifier;
      if (module === undefined || !ts.isStringLiteral(module)) continue;
      const relative = isProjectImport(this.project, from, module.text);
      if (relative && this.project.resolveImport(from, module.text) !== target) continue;
      if (ts.isExportDeclaration(statement)) {
        if (relative) return undefined;
        continue;
      }
      const clause = statement.importClause;
      const bindings = clause?.namedBindings;
      const imported =
        bindings !== undefined && ts.isNamedImports(bindings)
          ? bindings.elements.filter((e) => (e.propertyName ?? e.name).text === name)
          : [];
      if (!relative) {
        if (imported.length > 0) return undefined;
        continue;
      }
      if (bindings !== undefined && ts.isNamespaceImport(bindings)) return undefined;
      if (clause?.name !== undefined && isDefault) names.push(clause.name.text);
      for (const element of imported) names.push(element.name.text);
    }
    if (from.sourceFile.text.includes('require(') || from.sourceFile.text.includes('import(')) {
      // CommonJS and dynamic imports are not followed: one of this file is an unseen caller.
      const found = { loaded: false };
      forEachNode(from.sourceFile, (node) => {
        if (
          ts.isCallExpression(node) &&
          (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
            (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
          node.arguments[0] !== undefined &&
          ts.isStringLiteral(node.arguments[0]) &&
          isProjectImport(this.project, from, node.arguments[0].text) &&
          this.project.resolveImport(from, node.arguments[0].text) === target
        ) {
          found.loaded = true;
        }
      });
      if (found.loaded) return undefined;
    }
    return names;
  }
}

/** `(function () {...})()` or `(async () => {...})()`: the call that runs it. */
function immediateCall(fn: ts.SignatureDeclaration): ts.CallExpression | undefined {
  if (!ts.isFunctionExpression(fn) && !ts.isArrowFunction(fn)) return undefined;
  let node: ts.Node = fn;
  while (ts.isParenthesizedExpression(node.parent)) node = node.parent;
  const parent = node.parent;
  return ts.isCallExpression(parent) && parent.expression === node ? parent : undefined;
}

/** The name a function is declared under (a function declaration, or a `const` bound to it). */
function declaredName(
  fn: ts.SignatureDeclaration,
): { name: ts.Identifier; exported: boolean; isDefault: boolean } | undefined {
  if (ts.isFunctionDeclaration(fn)) {
    if (fn.name === undefined || fn.body === undefined) return undefined;
    const modifiers = ts.getModifiers(fn) ?? [];
    return {
      name: fn.name,
      exported:
        modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ||
        exportedByName(fn.getSourceFile(), fn.name.text),
      isDefault: modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword),
    };
  }
  if (!ts.isFunctionExpression(fn) && !ts.isArrowFunction(fn)) return undefined;
  const declaration = fn.parent;
  if (
    !ts.isVariableDeclaration(declaration) ||
    declaration.initializer !== fn ||
    !ts.isIdentifier(declaration.name)
  ) {
    return undefined;
  }
  const list = declaration.parent;
  if (!ts.isVariableDeclarationList(list) || (list.flags & ts.NodeFlags.Const) === 0) {
    return undefined;
  }
  const statement = list.parent;
  const exported =
    ts.isVariableStatement(statement) &&
    (ts.getModifiers(statement) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  return {
    name: declaration.name,
    exported: exported || exportedByName(fn.getSourceFile(), declaration.name.text),
    isDefault: false,
  };
}

/** `export { name }` or `export default name` elsewhere in the file. */
function exportedByName(file: ts.SourceFile, name: string): boolean {
  return file.statements.some(
    (s) =>
      (ts.isExportDeclaration(s) &&
        s.moduleSpecifier === undefined &&
        s.exportClause !== undefined &&
        ts.isNamedExports(s.exportClause) &&
        s.exportClause.elements.some((e) => (e.propertyName ?? e.name).text === name)) ||
      (ts.isExportAssignment(s) && ts.isIdentifier(s.expression) && s.expression.text === name),
  );
}

/**
 * Every direct call `name(...)` in the file; `undefined` if the name is used any other way (passed
 * as a value, assigned, a method of something). Its declaration, import and export specifiers
 * and type positions are not uses.
 */
function directCalls(
  file: ts.SourceFile,
  name: string,
  declaration: ts.Identifier | undefined,
): ts.CallExpression[] | undefined {
  const calls: ts.CallExpression[] = [];
  const state = { escapes: false };
  forEachNode(file, (node) => {
    if (state.escapes || !ts.isIdentifier(node) || node.text !== name || node === declaration)
      return;
    const parent = node.parent;
    if (ts.isCallExpression(parent) && parent.expression === node) {
      calls.push(parent);
      return;
    }
    if (
      ts.isImportSpecifier(parent) ||
      ts.isImportClause(parent) ||
      ts.isExportSpecifier(parent) ||
      (ts.isExportAssignment(parent) && parent.expression === node) ||
      ts.isTypeQueryNode(parent) ||
      ts.isTypeReferenceNode(parent) ||
      (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
      (ts.isPropertyAssignment(parent) && parent.name === node) ||
      (ts.isMethodDeclaration(parent) && parent.name === node) ||
      (ts.isPropertyDeclaration(parent) && parent.name === node) ||
      (ts.isPropertySignature(parent) && parent.name === node)
    ) {
      return;
    }
    state.escapes = true;
  });
  return state.escapes ? undefined : calls;
}

/**
 * A `while`, `do`, counting `for` or `for await` loop between `node` and `fn` (or the file): a
 * poll, or a stream of messages, rather than a walk over a list.
 */
function repeatedBetween(node: ts.Node, fn: ts.Node | undefined): boolean {
  for (let current = node.parent as ts.Node | undefined; current; current = current.parent) {
    if (current === fn) return false;
    if (
      ts.isWhileStatement(current) ||
      ts.isDoStatement(current) ||
      ts.isForStatement(current) ||
      (ts.isForOfStatement(current) && current.awaitModifier !== undefined)
    ) {
      return true;
    }
  }
  return false;
}
