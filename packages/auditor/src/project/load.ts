import { isUtf8 } from 'node:buffer';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { isPythonProjectFile, isPythonSource } from '../python/files.ts';
import { loadPythonParser } from '../python/parser.ts';
import { readWorkspace, type Workspace } from './workspace.ts';

/** A parsed JavaScript or TypeScript file. */
export interface SourceUnit {
  /** Relative to the project root, `/`-separated. */
  readonly path: string;
  readonly absPath: string;
  readonly text: string;
  readonly sourceFile: ts.SourceFile;
}

/** A non-code file kept for infrastructure and secrets checks (manifests, compose, env, config). */
export interface TextFile {
  readonly path: string;
  readonly text: string;
}

export interface Project {
  readonly root: string;
  /** `name` from the root package.json, else the directory name. */
  readonly name: string;
  readonly units: readonly SourceUnit[];
  readonly textFiles: readonly TextFile[];
  /** Python sources and requirements lists (`src/python/files.ts` says which); parsed on demand. */
  readonly pythonFiles?: readonly TextFile[];
  /** Every dependency name from every package.json found (dependencies, dev, optional, peer). */
  readonly dependencies: ReadonlySet<string>;
  /** Human-readable notes about input that was skipped or only partly understood. */
  readonly notes: readonly string[];
  readonly lines: number;
  /** The repository's own packages (workspaces, nested package.json files, tsconfig `paths`). */
  readonly workspace: Workspace;
  /**
   * The unit an import resolves to, if it is in the project: a relative path, or a bare
   * specifier naming one of the repository's own packages or a tsconfig `paths` entry.
   */
  resolveImport(from: SourceUnit, specifier: string): SourceUnit | undefined;
  unit(relPath: string): SourceUnit | undefined;
}

/** True when `specifier` is an import of the project's own code (relative or a workspace package). */
export function isProjectImport(project: Project, from: SourceUnit, specifier: string): boolean {
  return specifier.startsWith('.') || project.resolveImport(from, specifier) !== undefined;
}

export interface LoadOptions {
  /** Files larger than this are skipped with a note. Default 2 MiB. */
  readonly maxFileBytes?: number;
  /** Stop after this many files (a note says so). Default 20,000. */
  readonly maxFiles?: number;
  /**
   * Files to leave out, by path relative to the root (`/`-separated): for example a test
   * fixture's own answer key, which is not part of the service it describes.
   */
  readonly ignore?: (relPath: string) => boolean;
}

const SOURCE_EXTENSIONS = new Map<string, ts.ScriptKind>([
  ['.ts', ts.ScriptKind.TS],
  ['.mts', ts.ScriptKind.TS],
  ['.cts', ts.ScriptKind.TS],
  ['.tsx', ts.ScriptKind.TSX],
  ['.js', ts.ScriptKind.JS],
  ['.mjs', ts.ScriptKind.JS],
  ['.cjs', ts.ScriptKind.JS],
  ['.jsx', ts.ScriptKind.JSX],
]);

/** Directories that hold generated or third-party code, never the service's own. */
const SKIPPED_DIRECTORIES = new Set([
  'node_modules',
  '.git',
  'dist',
  'build',
  'coverage',
  '.next',
  '.turbo',
  '.cache',
  '.tessera',
  '.venv',
  'venv',
  '__pycache__',
  'site-packages',
]);

const TEXT_FILE =
  /(\.(ya?ml|json|conf|config|properties|toml|ini|env|tf|hcl)$)|(^\.env(\..+)?$)|(^Dockerfile)|(^\.npmrc$)|(^Jenkinsfile$)|(^\.gitlab-ci\.yml$)/i;

const AUDIT_CONFIG_FILE = /^tessera-audit\.(ya?ml|json)$/;

const RESOLVE_SUFFIXES = ['', '.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.jsx'];
const INDEX_FILES = ['index.ts', 'index.tsx', 'index.js', 'index.mjs', 'index.cjs'];

interface ParseDiagnosticsCarrier {
  readonly parseDiagnostics?: readonly ts.Diagnostic[];
}

/**
 * Reads every source and configuration file under `root`. Never throws for bad input: binary,
 * oversized, unreadable and looping entries become notes, and files with syntax errors are
 * analysed as far as they parse (with a note naming the first error).
 */
export async function loadProject(root: string, options: LoadOptions = {}): Promise<Project> {
  const maxFileBytes = options.maxFileBytes ?? 2 * 1024 * 1024;
  const maxFiles = options.maxFiles ?? 20_000;
  const absRoot = path.resolve(root);
  const notes: string[] = [];
  const units: SourceUnit[] = [];
  const textFiles: TextFile[] = [];
  const pythonFiles: TextFile[] = [];
  const dependencies = new Set<string>();
  let lines = 0;
  let name = path.basename(absRoot);
  let fileCount = 0;
  const limit = { reached: false };

  const rootStat = await stat(absRoot).catch(() => undefined);
  if (rootStat === undefined) {
    notes.push(`${root} does not exist or cannot be read; nothing was analysed.`);
  } else if (!rootStat.isDirectory()) {
    notes.push(`${root} is not a directory; nothing was analysed.`);
  }

  const visited = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir).catch(() => undefined);
    if (real === undefined) return;
    if (visited.has(real)) {
      notes.push(`${rel(dir)}: symbolic link loop or repeated directory; skipped.`);
      return;
    }
    visited.add(real);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
    if (entries === undefined) {
      notes.push(`${rel(dir)}: directory cannot be read; skipped.`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (fileCount >= maxFiles) {
        limit.reached = true;
        return;
      }
      const abs = path.join(dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(abs).catch(() => undefined);
        if (target === undefined) {
          notes.push(`${rel(abs)}: broken symbolic link; skipped.`);
          continue;
        }
        isDir = target.isDirectory();
        isFile = target.isFile();
      }
      if (isDir) {
        if (!SKIPPED_DIRECTORIES.has(entry.name)) await walk(abs);
        continue;
      }
      // The audit's own config (waivers and their justifications) is not the service's code.
      if (!isFile || AUDIT_CONFIG_FILE.test(entry.name)) continue;
      if (options.ignore?.(rel(abs)) === true) continue;
      const kind = scriptKindOf(entry.name);
      const isText = kind === undefined && TEXT_FILE.test(entry.name);
      const isPython = kind === undefined && !isText && isPythonProjectFile(rel(abs));
      if (kind === undefined && !isText && !isPython) continue;
      fileCount++;
      await readOne(abs, kind, isPython);
    }
  };

  const rel = (abs: string) => path.relative(absRoot, abs).split(path.sep).join('/') || '.';

  const readOne = async (
    abs: string,
    kind: ts.ScriptKind | undefined,
    isPython = false,
  ): Promise<void> => {
    const relPath = rel(abs);
    const size = (await stat(abs).catch(() => undefined))?.size ?? 0;
    if (size > maxFileBytes) {
      notes.push(
        `${relPath}: ${String(size)} bytes, over the ${String(maxFileBytes)}-byte limit; skipped.`,
      );
      return;
    }
    const buffer = await readFile(abs).catch(() => undefined);
    if (buffer === undefined) {
      notes.push(`${relPath}: cannot be read; skipped.`);
      return;
    }
    if (looksBinary(buffer)) {
      notes.push(`${relPath}: binary content; skipped.`);
      return;
    }
    if (!isUtf8(buffer)) {
      notes.push(`${relPath}: not valid UTF-8; invalid bytes were read as U+FFFD.`);
    }
    const text = buffer.toString('utf8');
    lines += countLines(text);
    if (isPython) {
      pythonFiles.push({ path: relPath, text });
      return;
    }
    if (kind === undefined) {
      textFiles.push({ path: relPath, text });
      if (path.basename(abs) === 'package.json') readPackageJson(relPath, text);
      return;
    }
    const sourceFile = ts.createSourceFile(relPath, text, ts.ScriptTarget.Latest, true, kind);
    const firstError = (sourceFile as unknown as ParseDiagnosticsCarrier).parseDiagnostics?.[0];
    if (firstError !== undefined) {
      const { line } = sourceFile.getLineAndCharacterOfPosition(firstError.start ?? 0);
      const message = ts.flattenDiagnosticMessageText(firstError.messageText, ' ');
      notes.push(
        `${relPath}:${String(line + 1)}: syntax error (${message}); analysed as far as it parses.`,
      );
    }
    units.push({ path: relPath, absPath: abs, text, sourceFile });
  };

  const readPackageJson = (relPath: string, text: string) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      notes.push(`${relPath}: not valid JSON; its dependencies were not read.`);
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    const pkg = parsed as Record<string, unknown>;
    if (relPath === 'package.json' && typeof pkg.name === 'string') name = pkg.name;
    for (const dep of packageDependencies(pkg)) dependencies.add(dep);
  };

  if (rootStat?.isDirectory() === true) await walk(absRoot);
  if (limit.reached)
    notes.push(`Stopped after ${String(maxFiles)} files; the rest was not analysed.`);
  const python = pythonFiles.some((f) => isPythonSource(f.path));
  if (rootStat?.isDirectory() === true && units.length === 0 && !python) {
    notes.push('No JavaScript or TypeScript source files were found.');
  }
  // The grammar loads only when there is Python to read; a failure leaves Python unanalysed.
  const parserError = python ? await loadPythonParser() : undefined;
  if (parserError !== undefined) notes.push(`Python files were not analysed: ${parserError}.`);

  const byAbsPath = new Map(units.map((u) => [u.absPath, u]));
  const byRelPath = new Map(units.map((u) => [u.path, u]));
  const textPaths = new Set(textFiles.map((f) => f.path));
  const workspace = readWorkspace({
    textFiles,
    hasFile: (relPath) => byRelPath.has(relPath) || textPaths.has(relPath),
  });
  const lookup = (base: string): SourceUnit | undefined => {
    // `./x.js` in TypeScript sources names `./x.ts`.
    const stripped = base.replace(/\.(m|c)?js$/, '');
    for (const candidate of [base, stripped]) {
      for (const suffix of RESOLVE_SUFFIXES) {
        const hit = byAbsPath.get(candidate + suffix);
        if (hit !== undefined) return hit;
      }
    }
    for (const index of INDEX_FILES) {
      const hit = byAbsPath.get(path.join(base, index));
      if (hit !== undefined) return hit;
    }
    return undefined;
  };
  const bare = new Map<string, SourceUnit | undefined>();
  return {
    root: absRoot,
    name,
    units,
    textFiles,
    pythonFiles,
    dependencies,
    notes,
    lines,
    workspace,
    unit: (relPath) => byRelPath.get(relPath),
    resolveImport(from, specifier) {
      if (specifier.startsWith('.')) {
        return lookup(path.resolve(path.dirname(from.absPath), specifier));
      }
      const key = `${path.posix.dirname(from.path)}\0${specifier}`;
      if (bare.has(key)) return bare.get(key);
      let found: SourceUnit | undefined;
      for (const candidate of workspace.candidates(from.path, specifier)) {
        found = lookup(path.join(absRoot, ...candidate.split('/')));
        if (found !== undefined) break;
      }
      bare.set(key, found);
      return found;
    },
  };
}

function scriptKindOf(fileName: string): ts.ScriptKind | undefined {
  if (fileName.endsWith('.d.ts') || fileName.endsWith('.d.mts') || fileName.endsWith('.d.cts')) {
    return undefined;
  }
  return SOURCE_EXTENSIONS.get(path.extname(fileName));
}

function looksBinary(buffer: Buffer): boolean {
  const sample = buffer.subarray(0, 8192);
  return sample.includes(0);
}

function countLines(text: string): number {
  let count = text.length > 0 ? 1 : 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

/** The names a package.json depends on, in any of its dependency fields. */
export function packageDependencies(pkg: Record<string, unknown>): string[] {
  return ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'].flatMap(
    (field) => {
      const deps = pkg[field];
      return typeof deps === 'object' && deps !== null ? Object.keys(deps) : [];
    },
  );
}
