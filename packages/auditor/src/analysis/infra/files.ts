import { existsSync, readFileSync } from 'node:fs';
import nodePath from 'node:path';
import type { TextFile } from '../../project/load.ts';
import { isTestPath } from '../../project/paths.ts';
import type { AuditContext } from '../context.ts';
import { get, parseYamlDocuments, str, type YNode } from './yaml.ts';

/**
 * What a non-code file is, for the checks that read it:
 * - `ci`: a CI/CD pipeline (GitHub Actions, GitLab CI, Jenkinsfile, CircleCI …);
 * - `compose`: docker-compose;
 * - `dockerfile`;
 * - `kubernetes`: YAML with `apiVersion` and `kind` (Helm templates included);
 * - `helm-values`: a chart's `values*.yaml`;
 * - `env`: a `.env` file; `env-example`: `.env.example`, `.env.sample`, `.env.template`;
 * - `rabbitmq`: `rabbitmq.conf`; `rabbitmq-definitions`: a definitions export (users, permissions);
 * - `kafka`: broker properties (`server.properties`);
 * - `terraform`: `.tf`/`.hcl` (IAM policies, Vault policies, rotation);
 * - `package`: package manifests and lock files; `config`: any other configuration.
 */
export type TextKind =
  | 'ci'
  | 'compose'
  | 'dockerfile'
  | 'kubernetes'
  | 'helm-values'
  | 'env'
  | 'env-example'
  | 'rabbitmq'
  | 'rabbitmq-definitions'
  | 'kafka'
  | 'terraform'
  | 'package'
  | 'config';

export interface InfraFile {
  readonly file: TextFile;
  readonly kind: TextKind;
  /** Parsed YAML/JSON documents (empty for other formats or invalid input). */
  readonly documents: readonly YNode[];
  /** A test fixture or test-only configuration. */
  readonly isTest: boolean;
  /** Named for development only (`docker-compose.dev.yml`, `.env.local`, `values-dev.yaml`). */
  readonly isDevelopment: boolean;
  /** Listed in `.gitignore`, so not in version control (a local `.env`). */
  readonly ignored: boolean;
}

const CI_PATH =
  /(^|\/)(\.github\/workflows\/[^/]+\.ya?ml|\.gitlab-ci\.yml|Jenkinsfile|\.circleci\/config\.ya?ml|bitbucket-pipelines\.yml|azure-pipelines\.ya?ml|\.travis\.yml|\.drone\.yml|buildspec\.ya?ml|cloudbuild\.ya?ml|appveyor\.ya?ml|\.buildkite\/[^/]+\.ya?ml|\.woodpecker\.ya?ml)$/i;
const COMPOSE = /(^|\/)(docker-)?compose[\w.-]*\.ya?ml$/i;
const DEVELOPMENT =
  /(^|[/._-])(dev|development|local|test|testing|e2e|ci|sandbox|example|sample)([/._-]|$)/i;
const LOCK =
  /(^|\/)(package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|composer\.lock|Gemfile\.lock)$/i;
const PACKAGE =
  /(^|\/)(package\.json|tsconfig[\w.-]*\.json|jsconfig\.json|\.eslintrc[\w.]*|\.prettierrc[\w.]*|lerna\.json|nx\.json|turbo\.json|renovate\.json|\.npmrc)$/i;
const KAFKA_BROKER_KEYS =
  /^\s*(broker\.id|node\.id|listeners|advertised\.listeners|zookeeper\.connect|process\.roles|log\.dirs|authorizer\.class\.name)\s*=/m;
/** Above this size YAML/JSON is not parsed (generated data, lock files). */
const MAX_PARSE_BYTES = 512 * 1024;

function baseKind(path: string): TextKind | 'yaml' | 'json' {
  const name = nodePath.posix.basename(path);
  if (CI_PATH.test(path)) return 'ci';
  if (COMPOSE.test(path)) return 'compose';
  if (/^Dockerfile/i.test(name) || /\.dockerfile$/i.test(name)) return 'dockerfile';
  if (
    /^\.env\.(example|sample|template|dist|defaults)$/i.test(name) ||
    /\.env\.example$/i.test(name)
  ) {
    return 'env-example';
  }
  if (/^\.env(\..+)?$/i.test(name) || /\.env$/i.test(name)) return 'env';
  if (/^rabbitmq(-env)?\.conf$/i.test(name) || /^advanced\.config$/i.test(name)) return 'rabbitmq';
  if (LOCK.test(path) || PACKAGE.test(path)) return 'package';
  if (/\.(tf|hcl)$/i.test(name)) return 'terraform';
  if (/\.properties$/i.test(name)) return 'kafka';
  if (/\.ya?ml$/i.test(name)) return 'yaml';
  if (/\.json$/i.test(name)) return 'json';
  return 'config';
}

/** Patterns from `.gitignore` that match `.env`-style files (anchored to the project root). */
function ignoredEnvFiles(root: string): (path: string) => boolean {
  const file = nodePath.join(root, '.gitignore');
  if (!existsSync(file)) return () => false;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return () => false;
  }
  const patterns = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('!'))
    .filter((line) => /env/i.test(line))
    .map((line) => {
      const body = line.replace(/^\//, '').replace(/\/$/, '');
      const regex = body
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '.');
      return new RegExp(`(^|/)${regex}$`);
    });
  return (path) => patterns.some((pattern) => pattern.test(path));
}

function classify(file: TextFile, ignored: (path: string) => boolean): InfraFile {
  const kind = baseKind(file.path);
  const isTest = isTestPath(file.path);
  // A pipeline file is CI configuration whatever it is called (`ci.yml`, `test.yml`).
  const isDevelopment =
    kind !== 'ci' && (DEVELOPMENT.test(nodePath.posix.basename(file.path)) || isTest);
  let documents: YNode[] = [];
  const parseable =
    (kind === 'yaml' || kind === 'json' || kind === 'ci' || kind === 'compose') &&
    !file.path.endsWith('Jenkinsfile') &&
    file.text.length <= MAX_PARSE_BYTES;
  if (parseable) documents = parseYamlDocuments(file.text);
  let resolved: TextKind;
  if (kind === 'yaml' || kind === 'json') {
    const name = nodePath.posix.basename(file.path);
    if (
      documents.some(
        (d) => str(get(d, 'apiVersion')) !== undefined && str(get(d, 'kind')) !== undefined,
      )
    ) {
      resolved = 'kubernetes';
    } else if (/^values[\w.-]*\.ya?ml$/i.test(name) || /(^|\/)(charts?|helm)\//i.test(file.path)) {
      resolved = 'helm-values';
    } else if (
      kind === 'json' &&
      documents.some((d) => get(d, 'permissions') !== undefined && get(d, 'users') !== undefined)
    ) {
      resolved = 'rabbitmq-definitions';
    } else {
      resolved = 'config';
    }
  } else if (kind === 'kafka') {
    resolved = KAFKA_BROKER_KEYS.test(file.text) ? 'kafka' : 'config';
  } else {
    resolved = kind;
  }
  return {
    file,
    kind: resolved,
    documents,
    isTest,
    isDevelopment,
    ignored: (resolved === 'env' || resolved === 'config') && ignored(file.path),
  };
}

/** Every non-code file, classified and parsed once per audit. */
export function infraFiles(ctx: AuditContext): readonly InfraFile[] {
  return ctx.memo('infra.files', () => {
    const ignored = ignoredEnvFiles(ctx.project.root);
    return ctx.project.textFiles.map((file) => classify(file, ignored));
  });
}

/** Files that describe deployment or CI (the SM4 and NW scope). */
export function isDeploymentKind(kind: TextKind): boolean {
  return (
    kind === 'ci' ||
    kind === 'compose' ||
    kind === 'dockerfile' ||
    kind === 'kubernetes' ||
    kind === 'helm-values' ||
    kind === 'terraform'
  );
}
