/**
 * The repository's own packages: npm, yarn and pnpm workspaces and TypeScript `paths`, so that
 * `import { verify } from '@shop/auth'` in one app resolves to the shared package's source.
 */
import path from 'node:path';
import ts from 'typescript';

/** A package of the repository (a workspace member, or any nested package.json). */
export interface WorkspacePackage {
  /** `name` from its package.json (may be absent for an unnamed nested package). */
  readonly name: string | undefined;
  /** Directory relative to the project root, `/`-separated (`.` for the root). */
  readonly dir: string;
  /** Declared by the root's `workspaces` or pnpm-workspace.yaml (not only found). */
  readonly declared: boolean;
  readonly manifest: Readonly<Record<string, unknown>>;
}

/** The parts of a project the workspace model is built from. */
export interface WorkspaceInput {
  readonly textFiles: readonly { readonly path: string; readonly text: string }[];
  readonly hasFile: (relPath: string) => boolean;
}

export interface Workspace {
  readonly packages: readonly WorkspacePackage[];
  /**
   * Files (relative, without trying extensions) a bare specifier may name, in preference order,
   * or an empty list when the specifier is not one of the repository's own packages or paths.
   */
  candidates(fromRelPath: string, specifier: string): string[];
  /** The package whose directory holds `relPath` (the innermost one), if any. */
  packageOf(relPath: string): WorkspacePackage | undefined;
}

const parseJson = (text: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
};

/** tsconfig files allow comments and trailing commas. */
const parseJsonc = (text: string): Record<string, unknown> | undefined => {
  const { config } = ts.parseConfigFileTextToJson('tsconfig.json', text) as { config?: unknown };
  return typeof config === 'object' && config !== null
    ? (config as Record<string, unknown>)
    : undefined;
};

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/** The `packages:` list of a pnpm-workspace.yaml (a flat YAML sequence of strings). */
export function pnpmWorkspaceGlobs(text: string): string[] {
  const globs: string[] = [];
  let inPackages = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trimEnd();
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    if (/^\S/.test(line)) {
      inPackages = /^packages\s*:\s*$/.test(line);
      const inline = /^packages\s*:\s*\[(.*)\]\s*$/.exec(line);
      if (inline?.[1] !== undefined) {
        globs.push(
          ...inline[1]
            .split(',')
            .map(unquote)
            .filter((g) => g !== ''),
        );
      }
      continue;
    }
    const item = /^\s*-\s*(.+)$/.exec(line);
    if (inPackages && item?.[1] !== undefined) globs.push(unquote(item[1]));
  }
  return globs;
}

const unquote = (text: string): string => text.trim().replace(/^(['"])(.*)\1$/, '$2');

/** A workspace glob (`packages/*`, `apps/**`, `services/api`) as a matcher for directories. */
function globMatcher(glob: string): (dir: string) => boolean {
  const clean = glob.replace(/^\.\//, '').replace(/\/+$/, '');
  let source = '';
  for (let i = 0; i < clean.length; i++) {
    const c = clean.charAt(i);
    if (c === '*' && clean.charAt(i + 1) === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const re = new RegExp(`^${source}$`);
  return (dir) => re.test(dir);
}

/** Builds the workspace model from the package.json, pnpm-workspace.yaml and tsconfig files. */
export function readWorkspace(input: WorkspaceInput): Workspace {
  const manifests = new Map<string, Record<string, unknown>>();
  for (const file of input.textFiles) {
    if (path.posix.basename(file.path) !== 'package.json') continue;
    const parsed = parseJson(file.text);
    if (parsed !== undefined) manifests.set(path.posix.dirname(file.path), parsed);
  }
  const root = manifests.get('.');
  const globs: string[] = [];
  const workspaces = root?.workspaces;
  globs.push(...strings(workspaces));
  if (typeof workspaces === 'object' && workspaces !== null && !Array.isArray(workspaces)) {
    globs.push(...strings((workspaces as Record<string, unknown>).packages)); // yarn object form
  }
  const pnpm = input.textFiles.find((f) => /^pnpm-workspace\.ya?ml$/.test(f.path));
  if (pnpm !== undefined) globs.push(...pnpmWorkspaceGlobs(pnpm.text));
  const include = globs.filter((g) => !g.startsWith('!')).map(globMatcher);
  const exclude = globs.filter((g) => g.startsWith('!')).map((g) => globMatcher(g.slice(1)));
  const packages: WorkspacePackage[] = [];
  for (const [dir, manifest] of manifests) {
    if (dir === '.') continue;
    const declared = include.some((m) => m(dir)) && !exclude.some((m) => m(dir));
    packages.push({
      name: typeof manifest.name === 'string' ? manifest.name : undefined,
      dir,
      declared,
      manifest,
    });
  }
  packages.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  // Only declared members resolve by name when the repository declares workspaces; without a
  // declaration, nested packages still link by name (a repository of sibling services).
  const hasDeclaration = globs.length > 0;
  const byName = new Map<string, WorkspacePackage>();
  for (const pkg of packages) {
    if (pkg.name === undefined || (hasDeclaration && !pkg.declared)) continue;
    if (!byName.has(pkg.name)) byName.set(pkg.name, pkg);
  }
  const tsconfigs = new Map<string, TsPaths | null>();
  const tsconfigText = new Map(
    input.textFiles
      .filter((f) => /(^|\/)tsconfig[^/]*\.json$/.test(f.path))
      .map((f) => [f.path, f.text]),
  );

  const owners = new Map<string, WorkspacePackage | undefined>();
  const packageOf = (relPath: string): WorkspacePackage | undefined => {
    if (owners.has(relPath)) return owners.get(relPath);
    let best: WorkspacePackage | undefined;
    for (const pkg of packages) {
      if (
        relPath.startsWith(`${pkg.dir}/`) &&
        (best === undefined || pkg.dir.length > best.dir.length)
      ) {
        best = pkg;
      }
    }
    owners.set(relPath, best);
    return best;
  };

  const pathsFor = (dir: string): TsPaths | undefined => {
    for (let current = dir; ; current = path.posix.dirname(current)) {
      const file = current === '.' ? 'tsconfig.json' : `${current}/tsconfig.json`;
      if (tsconfigText.has(file)) {
        let cached = tsconfigs.get(file);
        if (cached === undefined) {
          cached = readTsPaths(file, tsconfigText, 0) ?? null;
          tsconfigs.set(file, cached);
        }
        if (cached !== null) return cached;
      }
      if (current === '.') return undefined;
    }
  };

  return {
    packages,
    packageOf,
    candidates(fromRelPath, specifier) {
      if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.includes(':')) {
        return [];
      }
      // The auditor models Tessera's packages by name; in Tessera's own repository their
      // source must not replace that model.
      if (specifier.startsWith('@tessera/')) return [];
      const out: string[] = [];
      const parts = specifier.split('/');
      const nameLength = specifier.startsWith('@') ? 2 : 1;
      const name = parts.slice(0, nameLength).join('/');
      const pkg = byName.get(name);
      if (pkg !== undefined) {
        const subpath = parts.slice(nameLength).join('/');
        out.push(...packageEntries(pkg, subpath, input.hasFile));
      }
      const paths = pathsFor(path.posix.dirname(fromRelPath));
      if (paths !== undefined) out.push(...pathCandidates(paths, specifier));
      return out;
    },
  };
}

interface TsPaths {
  /** Directory the `paths` targets are relative to. */
  readonly base: string;
  readonly paths: ReadonlyMap<string, readonly string[]>;
  /** `baseUrl`, when set: bare specifiers may name files under it. */
  readonly baseUrl: string | undefined;
}

function readTsPaths(
  file: string,
  texts: ReadonlyMap<string, string>,
  depth: number,
): TsPaths | undefined {
  const text = texts.get(file);
  if (text === undefined || depth > 5) return undefined;
  const config = parseJsonc(text);
  if (config === undefined) return undefined;
  const dir = path.posix.dirname(file);
  let inherited: TsPaths | undefined;
  for (const parent of strings(Array.isArray(config.extends) ? config.extends : [config.extends])) {
    if (!parent.startsWith('.')) continue;
    let target = path.posix.normalize(path.posix.join(dir, parent));
    if (!target.endsWith('.json')) target += '.json';
    inherited = readTsPaths(target, texts, depth + 1) ?? inherited;
  }
  const options = config.compilerOptions;
  const compilerOptions =
    typeof options === 'object' && options !== null ? (options as Record<string, unknown>) : {};
  const baseUrl =
    typeof compilerOptions.baseUrl === 'string'
      ? path.posix.normalize(path.posix.join(dir, compilerOptions.baseUrl))
      : undefined;
  const rawPaths = compilerOptions.paths;
  if (typeof rawPaths === 'object' && rawPaths !== null) {
    const paths = new Map<string, string[]>();
    for (const [pattern, targets] of Object.entries(rawPaths as Record<string, unknown>)) {
      paths.set(pattern, strings(targets));
    }
    return { base: baseUrl ?? dir, paths, baseUrl };
  }
  if (inherited !== undefined) {
    return baseUrl === undefined ? inherited : { ...inherited, baseUrl };
  }
  return baseUrl === undefined ? undefined : { base: baseUrl, paths: new Map(), baseUrl };
}

function pathCandidates(paths: TsPaths, specifier: string): string[] {
  const out: string[] = [];
  for (const [pattern, targets] of paths.paths) {
    const star = pattern.indexOf('*');
    let captured: string | undefined;
    if (star === -1) captured = pattern === specifier ? '' : undefined;
    else {
      const prefix = pattern.slice(0, star);
      const suffix = pattern.slice(star + 1);
      if (
        specifier.startsWith(prefix) &&
        specifier.endsWith(suffix) &&
        specifier.length >= prefix.length + suffix.length
      ) {
        captured = specifier.slice(prefix.length, specifier.length - suffix.length);
      }
    }
    if (captured === undefined) continue;
    for (const target of targets) {
      out.push(joinRel(paths.base, target.replace('*', captured)));
    }
  }
  if (paths.baseUrl !== undefined) out.push(joinRel(paths.baseUrl, specifier));
  return out;
}

const joinRel = (dir: string, file: string): string =>
  path.posix.normalize(dir === '.' ? file : `${dir}/${file}`).replace(/^\.\//, '');

/** Export conditions, most source-like first. */
const CONDITIONS = [
  'source',
  'tessera-source',
  'development',
  'types',
  'import',
  'module',
  'node',
  'require',
  'default',
];

function conditionTargets(value: unknown, depth = 0): string[] {
  if (depth > 5) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap((v) => conditionTargets(v, depth + 1));
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  const keys = [
    ...CONDITIONS.filter((c) => c in record),
    ...Object.keys(record).filter((k) => !CONDITIONS.includes(k)),
  ];
  return keys.flatMap((k) => conditionTargets(record[k], depth + 1));
}

/** The files a workspace package's entry (or `subpath`) may be, in preference order. */
function packageEntries(
  pkg: WorkspacePackage,
  subpath: string,
  hasFile: (relPath: string) => boolean,
): string[] {
  const manifest = pkg.manifest;
  const targets: string[] = [];
  const key = subpath === '' ? '.' : `./${subpath}`;
  const exportsField = manifest.exports;
  if (exportsField !== undefined) {
    const isMap =
      typeof exportsField === 'object' &&
      exportsField !== null &&
      !Array.isArray(exportsField) &&
      Object.keys(exportsField).some((k) => k.startsWith('.'));
    if (!isMap) {
      if (key === '.') targets.push(...conditionTargets(exportsField));
    } else {
      const map = exportsField as Record<string, unknown>;
      if (key in map) targets.push(...conditionTargets(map[key]));
      for (const [pattern, value] of Object.entries(map)) {
        const star = pattern.indexOf('*');
        if (star === -1) continue;
        const prefix = pattern.slice(0, star);
        const suffix = pattern.slice(star + 1);
        if (key.startsWith(prefix) && key.endsWith(suffix)) {
          const captured = key.slice(prefix.length, key.length - suffix.length);
          targets.push(...conditionTargets(value).map((t) => t.replace('*', captured)));
        }
      }
    }
  }
  if (subpath === '') {
    for (const field of ['source', 'types', 'typings', 'module', 'main']) {
      const value = manifest[field];
      if (typeof value === 'string') targets.push(value);
    }
    targets.push('src/index', 'index');
  } else {
    targets.push(subpath, `src/${subpath}`);
  }
  const out: string[] = [];
  for (const target of targets) {
    const file = joinRel(pkg.dir, target.replace(/^\.\//, ''));
    out.push(file);
    // A build output (dist/, build/, lib/, out/) is not analysed: its source by convention is
    // src/ with the same relative path, used when the built file is not itself a project file.
    const mapped = /^(dist|build|lib|out|esm|cjs)\/(.+)$/.exec(target.replace(/^\.\//, ''));
    if (mapped?.[2] !== undefined && !hasFile(file)) {
      const rest = mapped[2].replace(/\.d\.(m|c)?ts$/, '').replace(/\.(m|c)?js$/, '');
      out.push(joinRel(pkg.dir, `src/${rest}`));
      const inner = /^(?:esm|cjs|src)\/(.+)$/.exec(rest);
      if (inner?.[1] !== undefined) out.push(joinRel(pkg.dir, `src/${inner[1]}`));
    }
  }
  return out;
}
