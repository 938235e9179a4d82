/**
 * Python services in a repository: a directory with its own dependency list (pyproject.toml,
 * requirements.txt, setup.py) or workspace package.json whose Python code creates a FastAPI or
 * Starlette app.
 */
import path from 'node:path';
import type { Project } from '../project/load.ts';
import { isPythonSource } from './files.ts';

export interface PythonServiceRoot {
  /** Directory relative to the repository root (`.` for the root). */
  readonly dir: string;
  /** `[project] name` or `[tool.poetry] name` of its pyproject.toml, else the directory name. */
  readonly name: string;
}

const MANIFEST =
  /(^|\/)(pyproject\.toml|setup\.py|setup\.cfg|requirements[^/]*\.txt|package\.json)$/;
const APP = /\b(FastAPI|Starlette)\s*\(/;
const within = (file: string, dir: string): boolean => dir === '.' || file.startsWith(`${dir}/`);

/**
 * The Python service roots of `project`, innermost first wins: a root whose files all belong to
 * deeper roots (a repository-level pyproject.toml for tooling) is not a service. `notService`
 * says which directories are tooling, tests or already JavaScript services.
 */
export function pythonServiceRoots(
  project: Project,
  notService: (dir: string) => boolean,
): PythonServiceRoot[] {
  const python = (project.pythonFiles ?? []).filter((f) => isPythonSource(f.path));
  if (python.length === 0) return [];
  const manifests = [...project.textFiles, ...(project.pythonFiles ?? [])].filter((f) =>
    MANIFEST.test(f.path),
  );
  const dirs = [...new Set(manifests.map((f) => path.posix.dirname(f.path)))].filter(
    (d) => !notService(d),
  );
  // Deeper roots first, so each Python file belongs to its nearest root.
  dirs.sort((a, b) => depth(b) - depth(a));
  const owned = new Map<string, string[]>();
  for (const file of python) {
    const root = dirs.find((d) => within(file.path, d));
    if (root === undefined) continue;
    const list = owned.get(root) ?? [];
    list.push(file.text);
    owned.set(root, list);
  }
  const roots: PythonServiceRoot[] = [];
  for (const dir of dirs) {
    const texts = owned.get(dir) ?? [];
    if (!texts.some((t) => APP.test(t))) continue;
    roots.push({ dir, name: serviceName(project, dir) });
  }
  return roots.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
}

const depth = (dir: string): number => (dir === '.' ? 0 : dir.split('/').length);

function serviceName(project: Project, dir: string): string {
  const prefix = dir === '.' ? '' : `${dir}/`;
  const pyproject = project.textFiles.find((f) => f.path === `${prefix}pyproject.toml`);
  const fromToml =
    pyproject === undefined
      ? undefined
      : /^\s*name\s*=\s*["']([^"']+)["']/m.exec(pyproject.text)?.[1];
  if (fromToml !== undefined) return fromToml;
  const pkg = project.textFiles.find((f) => f.path === `${prefix}package.json`);
  const fromPackage = pkg === undefined ? undefined : /"name"\s*:\s*"([^"]+)"/.exec(pkg.text)?.[1];
  if (fromPackage !== undefined) return fromPackage.replace(/^@[^/]+\//, '');
  return dir === '.' ? project.name : path.posix.basename(dir);
}
