/** Finding a labelled service's own directory inside a fixture that holds several services. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const SKIPPED_DIRECTORIES = new Set(['node_modules', 'dist', 'build', 'test', 'tests']);

/** The name a package.json or pyproject.toml gives its project, without an npm scope. */
function manifestName(directory: string): string | undefined {
  const packageJson = path.join(directory, 'package.json');
  if (existsSync(packageJson)) {
    const { name } = JSON.parse(readFileSync(packageJson, 'utf8')) as { name?: unknown };
    if (typeof name === 'string') return name.replace(/^@[^/]+\//, '');
  }
  const pyproject = path.join(directory, 'pyproject.toml');
  if (existsSync(pyproject)) {
    return /^name\s*=\s*["']([^"']+)["']/m.exec(readFileSync(pyproject, 'utf8'))?.[1];
  }
  return undefined;
}

/**
 * The root of a labelled service inside a several-service fixture: the one directory (at most
 * three levels down) whose package.json or pyproject.toml names the service, or failing that
 * the one directory of that name. Undefined when there is none or more than one.
 */
export function findServiceRoot(fixture: string, service: string): string | undefined {
  const byManifest: string[] = [];
  const byDirectoryName: string[] = [];
  const visit = (directory: string, depth: number) => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      if (SKIPPED_DIRECTORIES.has(entry.name)) continue;
      const child = path.join(directory, entry.name);
      if (manifestName(child) === service) byManifest.push(child);
      if (entry.name === service) byDirectoryName.push(child);
      if (depth < 3) visit(child, depth + 1);
    }
  };
  visit(fixture, 1);
  const found = byManifest.length > 0 ? byManifest : byDirectoryName;
  return found.length === 1 ? found[0] : undefined;
}
