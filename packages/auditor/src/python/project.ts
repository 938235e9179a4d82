/**
 * The Python side of a project: each file parsed once, its imports, module-level assignments,
 * functions and classes, and name resolution across files (`from app.deps import get_user`).
 */
import type { Evidence } from '../model.ts';
import type { Project } from '../project/load.ts';
import { isPythonSource } from './files.ts';
import { parsePython, type PyNode } from './parser.ts';
import { walk } from './syntax.ts';

export interface PyFile {
  /** Relative to the audited root, `/`-separated. */
  readonly path: string;
  readonly text: string;
  readonly root: PyNode;
  readonly lines: readonly string[];
  /** Local name → where it comes from (`from a.b import c as d` gives d → {module a.b, name c}). */
  readonly imports: ReadonlyMap<string, PyImport>;
  /** Module-level `name = value` assignments (the last one wins). */
  readonly assignments: ReadonlyMap<string, PyNode>;
}

export interface PyImport {
  /** The module as written, with leading dots for relative imports. */
  readonly module: string;
  /** The imported name (`undefined` for `import a.b as c`). */
  readonly name: string | undefined;
}

export interface PyFunction {
  readonly name: string;
  /** The enclosing class, for methods. */
  readonly className: string | undefined;
  readonly file: PyFile;
  /** The `function_definition` node. */
  readonly node: PyNode;
  /** Decorators, outermost first. */
  readonly decorators: readonly PyNode[];
  /** The line of the `def` (or of the first decorator, for decorated definitions). */
  readonly line: number;
}

export interface PyClass {
  readonly name: string;
  readonly file: PyFile;
  readonly node: PyNode;
  /** Base class expressions as written (`BaseHTTPMiddleware`, `pydantic.BaseSettings`). */
  readonly bases: readonly string[];
  readonly methods: ReadonlyMap<string, PyFunction>;
}

export interface PyProject {
  readonly files: readonly PyFile[];
  readonly functions: readonly PyFunction[];
  readonly classes: readonly PyClass[];
  /** Dependency names from pyproject.toml and requirements lists, lower-case. */
  readonly dependencies: ReadonlySet<string>;
  /** Notes for the report (files that did not parse). */
  readonly notes: readonly string[];
  /** The module file `module` (dotted, maybe relative) names, seen from `from`. */
  moduleFile(from: PyFile, module: string): PyFile | undefined;
  /** The function a name or dotted reference in `from` denotes (`get_user`, `deps.get_user`). */
  resolveFunction(from: PyFile, reference: string): PyFunction | undefined;
  resolveClass(from: PyFile, reference: string): PyClass | undefined;
  /** The module-level value `reference` names in `from` (following imports). */
  resolveValue(from: PyFile, reference: string): { file: PyFile; value: PyNode } | undefined;
  evidence(file: PyFile, line: number): Evidence;
}

/** True when the project has Python source to analyse. */
export const hasPython = (project: Project): boolean =>
  (project.pythonFiles ?? []).some((f) => isPythonSource(f.path));

/** Parses every Python file of the project (files that fail to parse become notes). */
export function loadPythonProject(project: Project): PyProject {
  const notes: string[] = [];
  const files: PyFile[] = [];
  for (const source of project.pythonFiles ?? []) {
    if (!isPythonSource(source.path)) continue;
    const parsed = parsePython(source.text);
    if (parsed === undefined) {
      notes.push(`${source.path}: the Python parser could not read this file; not analysed.`);
      continue;
    }
    if (parsed.errorLine !== undefined) {
      notes.push(
        `${source.path}:${String(parsed.errorLine)}: Python syntax error; analysed as far as it parses.`,
      );
    }
    files.push({
      path: source.path,
      text: source.text,
      root: parsed.root,
      lines: source.text.split('\n'),
      imports: importsOf(parsed.root),
      assignments: assignmentsOf(parsed.root),
    });
  }
  const functions: PyFunction[] = [];
  const classes: PyClass[] = [];
  for (const file of files) collectDefinitions(file, functions, classes);
  const dependencies = new Set<string>();
  for (const text of [...project.textFiles, ...(project.pythonFiles ?? [])]) {
    if (/(^|\/)pyproject\.toml$/.test(text.path)) {
      for (const dep of pyprojectDependencies(text.text)) dependencies.add(dep);
    } else if (!isPythonSource(text.path) && text.path.includes('requirements')) {
      for (const dep of requirementNames(text.text)) dependencies.add(dep);
    }
  }

  const byModulePath = new Map<string, PyFile>();
  for (const file of files) byModulePath.set(file.path, file);
  const moduleFile = (from: PyFile, module: string): PyFile | undefined => {
    const dots = /^\.*/.exec(module)?.[0].length ?? 0;
    const rest = module.slice(dots).split('.').filter(Boolean).join('/');
    const candidates: string[] = [];
    if (dots > 0) {
      const parts = from.path.split('/').slice(0, -1);
      const base = parts.slice(0, parts.length - (dots - 1)).join('/');
      const joined = [base, rest].filter(Boolean).join('/');
      candidates.push(`${joined}.py`, `${joined}/__init__.py`);
    } else if (rest !== '') {
      candidates.push(`${rest}.py`, `${rest}/__init__.py`);
    }
    for (const candidate of candidates) {
      const hit = byModulePath.get(candidate);
      if (hit !== undefined) return hit;
    }
    if (dots > 0 || rest === '') return undefined;
    // An absolute import from a package root below the audited root (`src/`, `backend/`).
    return files.find(
      (f) => f.path.endsWith(`/${rest}.py`) || f.path.endsWith(`/${rest}/__init__.py`),
    );
  };

  const functionsByFile = new Map<PyFile, Map<string, PyFunction>>();
  for (const fn of functions) {
    if (fn.className !== undefined) continue;
    let map = functionsByFile.get(fn.file);
    if (map === undefined) functionsByFile.set(fn.file, (map = new Map<string, PyFunction>()));
    map.set(fn.name, fn);
  }
  const classesByFile = new Map<PyFile, Map<string, PyClass>>();
  for (const cls of classes) {
    let map = classesByFile.get(cls.file);
    if (map === undefined) classesByFile.set(cls.file, (map = new Map<string, PyClass>()));
    map.set(cls.name, cls);
  }

  /** Finds `reference` in `from`: a local definition, an import, or `module.name`. */
  const locate = <T>(
    from: PyFile,
    reference: string,
    local: (file: PyFile, name: string) => T | undefined,
    depth = 0,
  ): T | undefined => {
    if (depth > 5) return undefined;
    const parts = reference.split('.');
    const name = parts[parts.length - 1] ?? reference;
    if (parts.length === 1) {
      const own = local(from, name);
      if (own !== undefined) return own;
      const imported = from.imports.get(name);
      if (imported?.name !== undefined) {
        const target = moduleFile(from, imported.module);
        if (target !== undefined) return locate(target, imported.name, local, depth + 1);
      }
      return undefined;
    }
    const head = parts.slice(0, -1).join('.');
    const imported = from.imports.get(parts[0] ?? '');
    let target: PyFile | undefined;
    if (imported !== undefined) {
      const base =
        imported.name === undefined ? imported.module : `${imported.module}.${imported.name}`;
      target = moduleFile(from, [base, ...parts.slice(1, -1)].join('.'));
    } else {
      target = moduleFile(from, head);
    }
    return target === undefined ? undefined : locate(target, name, local, depth + 1);
  };

  // Names defined once in the whole project (functions and methods): the fallback when an import
  // or an attribute's type cannot be followed (`self.verifier.verify`, `auth.require_caller`).
  const counts = new Map<string, number>();
  for (const fn of functions) counts.set(fn.name, (counts.get(fn.name) ?? 0) + 1);
  const byName = new Map<string, PyFunction>();
  for (const fn of functions)
    if (counts.get(fn.name) === 1 && !fn.name.startsWith('__')) byName.set(fn.name, fn);

  return {
    files,
    functions,
    classes,
    dependencies,
    notes,
    moduleFile,
    resolveFunction(from, reference) {
      const found = locate(from, reference, (file, name) => functionsByFile.get(file)?.get(name));
      if (found !== undefined) return found;
      // Unresolvable imports (installed packages, dynamic paths): a unique project function.
      const parts = reference.split('.');
      const name = parts.pop() ?? reference;
      // A bare name that is not defined or imported here is a builtin or an installed package's.
      if (parts.length === 0 && !from.imports.has(name)) return undefined;
      return byName.get(name);
    },
    resolveClass(from, reference) {
      return locate(from, reference, (file, name) => classesByFile.get(file)?.get(name));
    },
    resolveValue(from, reference) {
      return locate(from, reference, (file, name) => {
        const value = file.assignments.get(name);
        return value === undefined ? undefined : { file, value };
      });
    },
    evidence(file, line) {
      return { file: file.path, line, snippet: (file.lines[line - 1] ?? '').trim().slice(0, 200) };
    },
  };
}

function importsOf(root: PyNode): Map<string, PyImport> {
  const imports = new Map<string, PyImport>();
  walk(root, (node) => {
    if (node.type === 'function_definition' || node.type === 'class_definition') return false;
    if (node.type === 'import_statement') {
      for (const child of node.children) {
        if (child.type === 'dotted_name') {
          imports.set(child.text.split('.')[0] ?? child.text, {
            module: child.text.split('.')[0] ?? child.text,
            name: undefined,
          });
        } else if (child.type === 'aliased_import') {
          const alias = child.fields.alias?.text;
          const module = child.fields.name?.text;
          if (alias !== undefined && module !== undefined) {
            imports.set(alias, { module, name: undefined });
          }
        }
      }
      return false;
    }
    if (node.type === 'import_from_statement') {
      const module = node.fields.module_name?.text ?? '';
      for (const child of node.children) {
        if (child === node.fields.module_name) continue;
        if (child.type === 'dotted_name') {
          imports.set(child.text, { module, name: child.text });
        } else if (child.type === 'aliased_import') {
          const alias = child.fields.alias?.text;
          const name = child.fields.name?.text;
          if (alias !== undefined && name !== undefined) imports.set(alias, { module, name });
        }
      }
      return false;
    }
    return true;
  });
  return imports;
}

function assignmentsOf(root: PyNode): Map<string, PyNode> {
  const out = new Map<string, PyNode>();
  for (const statement of root.children) {
    const expr = statement.type === 'expression_statement' ? statement.children[0] : undefined;
    if (expr?.type !== 'assignment') continue;
    const left = expr.fields.left;
    const right = expr.fields.right;
    if (left?.type === 'identifier' && right !== undefined) out.set(left.text, right);
  }
  return out;
}

function collectDefinitions(file: PyFile, functions: PyFunction[], classes: PyClass[]): void {
  const visit = (
    node: PyNode,
    className: string | undefined,
    methods?: Map<string, PyFunction>,
  ) => {
    for (const statement of node.children) {
      let definition = statement;
      let decorators: PyNode[] = [];
      if (statement.type === 'decorated_definition') {
        decorators = statement.children.filter((c) => c.type === 'decorator');
        definition = statement.fields.definition ?? statement;
      }
      if (definition.type === 'function_definition') {
        const fn: PyFunction = {
          name: definition.fields.name?.text ?? '',
          className,
          file,
          node: definition,
          decorators,
          line: statement.line,
        };
        functions.push(fn);
        methods?.set(fn.name, fn);
        const body = definition.fields.body;
        // Nested functions (closures returned by dependency factories) are functions too; inside
        // a method they still see `self`.
        if (body !== undefined) visit(body, className);
      } else if (definition.type === 'class_definition') {
        const name = definition.fields.name?.text ?? '';
        const own = new Map<string, PyFunction>();
        const bases =
          definition.fields.superclasses?.children
            .filter((c) => c.type !== 'keyword_argument')
            .map((c) => c.text.replace(/\s+/g, '')) ?? [];
        const body = definition.fields.body;
        if (body !== undefined) visit(body, name, own);
        classes.push({ name, file, node: definition, bases, methods: own });
      } else if (
        definition.type === 'if_statement' ||
        definition.type === 'try_statement' ||
        definition.type === 'block' ||
        definition.type === 'else_clause' ||
        definition.type === 'except_clause' ||
        definition.type === 'finally_clause' ||
        definition.type === 'elif_clause' ||
        definition.type === 'with_statement'
      ) {
        visit(definition, className, methods);
      }
    }
  };
  visit(file.root, undefined);
}

/** Names from `[project] dependencies` and `[tool.poetry.dependencies]` (no TOML parser needed). */
function pyprojectDependencies(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/^\s*"([A-Za-z0-9_.-]+)\s*(\[[^\]]*\])?\s*[<>=!~;,"\s]/gm)) {
    if (match[1] !== undefined) out.push(match[1].toLowerCase());
  }
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^\s*\[([^\]]+)\]/.exec(line);
    if (header?.[1] !== undefined) {
      section = header[1];
      continue;
    }
    if (
      /^tool\.poetry\.(dev-)?dependencies$|^tool\.poetry\.group\..*\.dependencies$/.test(section)
    ) {
      const name = /^\s*([A-Za-z0-9_.-]+)\s*=/.exec(line)?.[1];
      if (name !== undefined && name !== 'python') out.push(name.toLowerCase());
    }
  }
  return out;
}

function requirementNames(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const name = /^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)/.exec(line)?.[1];
    if (name !== undefined && !line.trimStart().startsWith('-')) out.push(name.toLowerCase());
  }
  return out;
}
