import type { Evidence } from '../../model.ts';
import { packageDependencies } from '../../project/load.ts';
import type { AuditContext } from '../context.ts';
import { serviceDeployment, type DeployedVariable } from '../infra/deployment.ts';
import { infraModel } from '../infra/index.ts';
import { typescriptSecretReads } from './code-reads.ts';
import { urlPassword } from './literals.ts';
import { pythonSecretReads } from './python-reads.ts';
import {
  isSecretVariable,
  type EnvironmentSecret,
  type SecretRead,
  type SecretSourceModel,
} from './model.ts';
import { secretSources } from './index.ts';

/**
 * The readers of each language the auditor understands. A new language adds its reader here;
 * nothing else in the secret-management checks changes.
 */
const CODE_READERS: readonly ((ctx: AuditContext) => readonly SecretRead[])[] = [
  typescriptSecretReads,
  pythonSecretReads,
];

/**
 * Where the audited service's secrets come from, decided once: the code's reads (environment,
 * files, secrets-manager fetches), what the deployment sets (compose `environment:`, Kubernetes
 * `env` with `secretKeyRef`, `*_FILE` variables, secret volumes), and operators that inject
 * from a secrets manager (External Secrets, the CSI driver, the Vault agent).
 */
export function secretSourceModel(ctx: AuditContext): SecretSourceModel {
  return ctx.memo('secrets.provenance', () => buildModel(ctx));
}

/**
 * Workspace packages other than the service's own that at least two of the repository's packages
 * depend on (by their manifests), keyed by directory, with the names of those dependents.
 */
function sharedPackages(ctx: AuditContext, own: string): Map<string, string[]> {
  const { packages } = ctx.project.workspace;
  const shared = new Map<string, string[]>();
  for (const library of packages) {
    if (library.dir === own || library.dir === '.' || library.name === undefined) continue;
    const users = packages
      .filter((p) => p !== library && packageDependencies(p.manifest).includes(library.name ?? ''))
      .map((p) => p.name ?? p.dir);
    if (users.length >= 2) shared.set(library.dir, users);
  }
  return shared;
}

/** Evidence without repeats of the same file and line. */
function distinct(evidence: readonly Evidence[]): Evidence[] {
  const seen = new Set<string>();
  return evidence.filter((e) => {
    const key = `${e.file}:${String(e.line)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function buildModel(ctx: AuditContext): SecretSourceModel {
  const reads = CODE_READERS.flatMap((reader) => reader(ctx));
  const deployment = serviceDeployment(ctx);
  const deployed = new Map<string, DeployedVariable>();
  for (const variable of deployment.environment) deployed.set(variable.name, variable);
  const isSecret = (name: string) => {
    const variable = deployed.get(name);
    return (
      isSecretVariable(name) ||
      variable?.from === 'secret' ||
      (variable?.value !== undefined && urlPassword(variable.value) !== undefined)
    );
  };
  // The deployment may hand a secret over as a file instead (`JWT_SECRET_FILE=/run/secrets/…`).
  const asFile = (name: string) => deployed.has(`${name}_FILE`) && !deployed.has(name);

  const sources = secretSources(ctx);
  const platform = infraModel(ctx).platform;
  const managed = distinct([
    ...reads.filter((r) => r.via === 'manager').map((r) => r.evidence),
    ...sources.managers.map((m) => m.evidence),
    ...platform.externalSecrets,
  ]);

  const environment = new Map<string, { evidence: Evidence[]; kubernetesSecret: boolean }>();
  const addEnvironment = (name: string, evidence: Evidence, kubernetesSecret: boolean) => {
    const entry = environment.get(name) ?? { evidence: [], kubernetesSecret: false };
    if (!entry.evidence.some((e) => e.file === evidence.file && e.line === evidence.line)) {
      entry.evidence.push(evidence);
    }
    entry.kubernetesSecret ||= kubernetesSecret;
    environment.set(name, entry);
  };
  const files: Evidence[] = [];
  const fallbacks: { name: string; evidence: Evidence }[] = [];
  const developmentEnvironment: SecretRead[] = [];
  for (const read of reads) {
    if (read.name === undefined || read.via !== 'env') {
      if (read.via === 'file' && (read.name === undefined || isSecret(read.name))) {
        files.push(read.evidence);
      }
      continue;
    }
    if (!isSecret(read.name)) continue;
    if (read.developmentOnly) {
      developmentEnvironment.push(read);
      continue;
    }
    if (read.fallback !== undefined)
      fallbacks.push({ name: read.name, evidence: read.fallback.evidence });
    if (asFile(read.name)) {
      files.push(deployed.get(`${read.name}_FILE`)?.evidence ?? read.evidence);
      continue;
    }
    addEnvironment(read.name, read.evidence, deployed.get(read.name)?.from === 'secret');
  }
  // What the deployment sets counts even where the code's reads are not visible (another
  // language, a framework's settings class): a secret in the environment is one there.
  for (const variable of deployment.environment) {
    if (variable.name.endsWith('_FILE')) {
      if (isSecretVariable(variable.name.slice(0, -'_FILE'.length))) files.push(variable.evidence);
      continue;
    }
    if (!isSecret(variable.name)) continue;
    if (variable.from === 'literal' && (variable.value ?? '') === '') continue;
    addEnvironment(variable.name, variable.evidence, variable.from === 'secret');
  }
  files.push(...deployment.secretMounts);

  const dependents = sharedPackages(ctx, deployment.directory);
  const environmentSecrets: EnvironmentSecret[] = [...environment].map(([name, entry]) => ({
    name,
    evidence: entry.evidence,
    kubernetesSecret: entry.kubernetesSecret,
    sharedBy: [
      ...new Set(
        entry.evidence.flatMap(
          (e) => dependents.get(ctx.project.workspace.packageOf(e.file)?.dir ?? '') ?? [],
        ),
      ),
    ],
  }));
  return {
    reads,
    managed,
    environment: environmentSecrets,
    developmentEnvironment,
    files,
    fallbacks,
    inUse: [
      ...managed,
      ...environmentSecrets.flatMap((e) => e.evidence),
      ...files,
      ...developmentEnvironment.map((r) => r.evidence),
    ],
  };
}
