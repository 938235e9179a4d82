/**
 * The services of a repository: workspace packages (or nested packages) with a server entry
 * point, each with the files a report about it covers.
 */
import path from 'node:path';
import ts from 'typescript';
import { forEachNode } from '../ast/syntax.ts';
import { SymbolTable } from '../ast/symbols.ts';
import { collectFileFacts } from '../analysis/inbound/facts.ts';
import { SERVER_FRAMEWORK_MODULES } from '../analysis/inbound/vocabulary.ts';
import { packageDependencies, type Project, type SourceUnit, type TextFile } from './load.ts';
import { isTestPath } from './paths.ts';
import type { WorkspacePackage } from './workspace.ts';
import { pythonServiceRoots } from '../python/services.ts';

/** One service found in a repository. */
export interface ServiceScope {
  /** The package name without its npm scope (the full name when that would be ambiguous). */
  readonly name: string;
  /** `name` from its package.json, when it has one. */
  readonly packageName: string | undefined;
  /** Directory relative to the repository root (`.` for the root). */
  readonly dir: string;
  /** The project as this service sees it: its own files plus the workspace packages it imports. */
  readonly project: Project;
}

/** Directories whose code is tooling, tests or documentation, never a service. */
const NOT_SERVICE_DIRECTORY =
  /(^|\/)(tools|tooling|scripts?|bench|benchmarks?|test|tests|__tests__|e2e|fixtures?|mocks?|docs?)(\/|$)/i;

/** Calls that consume a message queue (amqplib, kafkajs, BullMQ, NATS, SQS pollers). */
const CONSUME_METHODS = new Set(['consume', 'subscribe', 'eachMessage', 'process']);
const QUEUE_MODULE =
  /^(amqplib|amqplib\/callback_api|amqp-connection-manager|@cloudamqp\/amqp-client|rascal|rabbitmq-client|kafkajs|node-rdkafka|@confluentinc\/kafka-javascript|bullmq|bull|nats|@aws-sdk\/client-sqs|sqs-consumer|@google-cloud\/pubsub)$/;

/** Calls that start serving in the frameworks the inbound analysis names as unmodelled. */
const SERVE_METHODS = new Set(['serve', 'listen', 'listenAsync', 'startAllMicroservices']);

const within = (file: string, dir: string): boolean => dir === '.' || file.startsWith(`${dir}/`);

/**
 * The services of the project, when it holds more than one; an empty list when it is a single
 * service (or none), which is then audited as a whole exactly as before.
 */
export function detectServices(project: Project): ServiceScope[] {
  const { workspace } = project;
  const declared = workspace.packages.filter((p) => p.declared);
  const candidates = (declared.length > 0 ? declared : workspace.packages).filter(
    (p) => !NOT_SERVICE_DIRECTORY.test(p.dir),
  );
  const symbols = new SymbolTable(project);
  const ownerOf = (file: string): WorkspacePackage | undefined => workspace.packageOf(file);
  const servicePackages = candidates.filter((pkg) =>
    project.units.some(
      (unit) =>
        ownerOf(unit.path) === pkg &&
        !isTestPath(unit.path) &&
        !NOT_SERVICE_DIRECTORY.test(unit.path.slice(pkg.dir.length + 1)) &&
        isEntryPoint(unit, symbols),
    ),
  );
  const python = pythonServiceRoots(
    project,
    (dir) => NOT_SERVICE_DIRECTORY.test(dir) || servicePackages.some((p) => p.dir === dir),
  );
  if (servicePackages.length + python.length < 2) return [];
  const names = servicePackages.map((p) => shortName(p));
  const scopes: ServiceScope[] = servicePackages.map((pkg, i) => {
    const short = names[i] ?? pkg.dir;
    const name = names.filter((n) => n === short).length > 1 ? (pkg.name ?? pkg.dir) : short;
    return {
      name,
      packageName: pkg.name,
      dir: pkg.dir,
      project: serviceProject(project, symbols, pkg, new Set(servicePackages), name),
    };
  });
  const serviceDirs = [...servicePackages.map((p) => p.dir), ...python.map((p) => p.dir)];
  for (const root of python) {
    // Its own files, and the repository's files outside every service (compose, manifests, CI).
    const keep = (file: string): boolean =>
      within(file, root.dir) ||
      (!serviceDirs.some((d) => d !== '.' && within(file, d)) &&
        workspace.packageOf(file) === undefined &&
        !NOT_SERVICE_DIRECTORY.test(path.posix.dirname(file)));
    const pythonFiles = (project.pythonFiles ?? []).filter((f) => within(f.path, root.dir));
    const textFiles = project.textFiles.filter((f) => keep(f.path));
    scopes.push({
      name: root.name,
      packageName: undefined,
      dir: root.dir,
      project: restrictProject(project, [], textFiles, root.name, pythonFiles),
    });
  }
  return scopes;
}

const shortName = (pkg: WorkspacePackage): string =>
  pkg.name?.replace(/^@[^/]+\//, '') ?? path.posix.basename(pkg.dir);

/**
 * A server entry point: an app or server listens (`app.listen`, `server.listen`, Hono's
 * `serve()`, a NestJS microservice's `listen`/`listenAsync` or a hybrid app's
 * `startAllMicroservices`), or a queue is consumed.
 */
function isEntryPoint(unit: SourceUnit, symbols: SymbolTable): boolean {
  const facts = collectFileFacts(unit, symbols, false);
  if (facts.apiCalls.some((call) => call.method === 'listen')) return true;
  const imports = [...symbols.importsOf(unit).values()].map((b) => b.module);
  const framework = imports.some((m) => SERVER_FRAMEWORK_MODULES.has(m));
  const queue = imports.some((m) => QUEUE_MODULE.test(m));
  if (!framework && !queue) return false;
  if (framework && exportsFetchHandler(unit)) return true;
  let found = false;
  forEachNode(unit.sourceFile, (node) => {
    if (found || !ts.isCallExpression(node)) return;
    const callee = node.expression;
    const name = ts.isPropertyAccessExpression(callee)
      ? callee.name.text
      : ts.isIdentifier(callee)
        ? callee.text
        : undefined;
    if (name === undefined) return;
    if (framework && SERVE_METHODS.has(name)) found = true;
    if (queue && (CONSUME_METHODS.has(name) || name === 'run')) found = true;
  });
  return found;
}

/** `export default { port, fetch: app.fetch }`: the entry point Bun and Workers serve (Hono). */
function exportsFetchHandler(unit: SourceUnit): boolean {
  return unit.sourceFile.statements.some((statement) => {
    if (!ts.isExportAssignment(statement) || statement.isExportEquals === true) return false;
    const value = statement.expression;
    return (
      ts.isObjectLiteralExpression(value) &&
      value.properties.some((p) => p.name?.getText(unit.sourceFile) === 'fetch')
    );
  });
}

/**
 * The files a service's report covers: its own package (less nested packages), the files of
 * workspace packages it reaches through imports (transitively; never another service's) with
 * those packages' configuration files, and the repository's files outside every package (CI,
 * compose, manifests), less tooling and test directories.
 */
function serviceProject(
  project: Project,
  symbols: SymbolTable,
  pkg: WorkspacePackage,
  services: ReadonlySet<WorkspacePackage>,
  name: string,
): Project {
  const { workspace } = project;
  // Follow imports file by file: a shared package counts with the files the service reaches.
  const queue = project.units.filter((u) => workspace.packageOf(u.path) === pkg);
  const reached = new Set<SourceUnit>(queue);
  const packages = new Set<WorkspacePackage>([pkg]);
  // A for-of over an array visits what is pushed while it runs: the queue drains in order.
  for (const unit of queue) {
    for (const specifier of importSpecifiers(unit, symbols)) {
      const target = project.resolveImport(unit, specifier);
      if (target === undefined || reached.has(target)) continue;
      const owner = workspace.packageOf(target.path);
      if (owner === undefined ? NOT_SERVICE_DIRECTORY.test(target.path) : services.has(owner)) {
        continue;
      }
      reached.add(target);
      queue.push(target);
      if (owner !== undefined) packages.add(owner);
    }
  }
  const keep = (file: string): boolean => {
    const owner = workspace.packageOf(file);
    if (owner !== undefined) return packages.has(owner);
    return !NOT_SERVICE_DIRECTORY.test(path.posix.dirname(file));
  };
  const units = project.units.filter(
    (u) => reached.has(u) || (workspace.packageOf(u.path) === undefined && keep(u.path)),
  );
  const textFiles = project.textFiles.filter((f) => keep(f.path));
  const pythonFiles = (project.pythonFiles ?? []).filter((f) => within(f.path, pkg.dir));
  return restrictProject(project, units, textFiles, name, pythonFiles);
}

/** Every module specifier a file imports, re-exports or requires. */
function importSpecifiers(unit: SourceUnit, symbols: SymbolTable): string[] {
  const out = new Set<string>([...symbols.importsOf(unit).values()].map((b) => b.module));
  for (const statement of unit.sourceFile.statements) {
    if (
      (ts.isExportDeclaration(statement) || ts.isImportDeclaration(statement)) &&
      statement.moduleSpecifier !== undefined &&
      ts.isStringLiteral(statement.moduleSpecifier)
    ) {
      out.add(statement.moduleSpecifier.text);
    }
  }
  return [...out];
}

/** The project limited to some of its files; imports resolve only to the files kept. */
export function restrictProject(
  project: Project,
  units: readonly SourceUnit[],
  textFiles: readonly TextFile[],
  name: string,
  pythonFiles: readonly TextFile[] = [],
): Project {
  const unitSet = new Set(units);
  const byRelPath = new Map(units.map((u) => [u.path, u]));
  const kept = new Set([
    ...units.map((u) => u.path),
    ...textFiles.map((f) => f.path),
    ...pythonFiles.map((f) => f.path),
  ]);
  const dependencies = new Set<string>();
  for (const file of textFiles) {
    if (path.posix.basename(file.path) !== 'package.json') continue;
    try {
      const pkg = JSON.parse(file.text) as Record<string, unknown>;
      for (const dep of packageDependencies(pkg)) dependencies.add(dep);
    } catch {
      // The whole-project load already noted it.
    }
  }
  const lines = [...units, ...textFiles, ...pythonFiles].reduce(
    (sum, f) => sum + countLines(f.text),
    0,
  );
  // Notes about files this service does not cover belong to other reports.
  const notes = project.notes.filter((note) => {
    const file = /^([^\s:]+):/.exec(note)?.[1];
    if (!(file?.includes('/') ?? false) || file === undefined) return true;
    const owner = project.workspace.packageOf(file);
    return owner === undefined || [...kept].some((k) => within(k, owner.dir));
  });
  return {
    root: project.root,
    name,
    units,
    textFiles,
    pythonFiles,
    dependencies,
    notes,
    lines,
    workspace: project.workspace,
    unit: (relPath) => byRelPath.get(relPath),
    resolveImport(from, specifier) {
      const hit = project.resolveImport(from, specifier);
      return hit !== undefined && unitSet.has(hit) ? hit : undefined;
    },
  };
}

function countLines(text: string): number {
  let count = text.length > 0 ? 1 : 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) count++;
  return count;
}
