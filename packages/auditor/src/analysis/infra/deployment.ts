import nodePath from 'node:path';
import type { Evidence } from '../../model.ts';
import type { AuditContext } from '../context.ts';
import { infraModel } from './index.ts';
import type { ComposeService, KubernetesWorkload, PlatformModel } from './platform.ts';

/**
 * How the audited service is deployed, read from the repository's compose files and Kubernetes
 * manifests: which of their services and workloads are this service, and what environment they
 * give it. Checks decided by infrastructure read this rather than every manifest in the
 * repository, so a database container's settings are not taken for the service's own.
 */
export interface ServiceDeployment {
  /** The service's directory in the repository (`.` for a single-service repository). */
  readonly directory: string;
  /** Compose services that build or name this service. */
  readonly composeServices: readonly ComposeService[];
  /** Every service of the compose files that deploy this one (its neighbours on the network). */
  readonly composeStack: readonly ComposeService[];
  /**
   * The compose files describe how the service runs: not named for development, not headed
   * "local development only", and no Kubernetes manifests beside them (those then deploy it).
   */
  readonly composeDeploys: boolean;
  /** Kubernetes workloads of this service (every workload in a single-service repository). */
  readonly workloads: readonly KubernetesWorkload[];
  /** The environment the deployment gives the service. */
  readonly environment: readonly DeployedVariable[];
  /** Secrets mounted as files (compose `secrets:`, Kubernetes secret volumes). */
  readonly secretMounts: readonly Evidence[];
}

/** One environment variable a deployment sets for the service. */
export interface DeployedVariable {
  readonly name: string;
  /** The value when the repository holds it (a literal, or the committed Secret's value). */
  readonly value: string | undefined;
  /**
   * - `literal`: written in the file;
   * - `interpolated`: `${NAME}` filled from the deployer's environment or an `.env` file;
   * - `secret`: a Kubernetes Secret key (`secretKeyRef`, `envFrom.secretRef`);
   * - `config-map`, `field`: other Kubernetes references.
   */
  readonly from: 'literal' | 'interpolated' | 'secret' | 'config-map' | 'field';
  readonly evidence: Evidence;
  /** Where the value itself is written, when not at `evidence` (a committed Secret's key). */
  readonly valueEvidence: Evidence | undefined;
  readonly platform: 'compose' | 'kubernetes';
}

const INTERPOLATION = /\$\{?[A-Za-z_]/;

/** The deployment of the audited service, computed once per audit. */
export function serviceDeployment(ctx: AuditContext): ServiceDeployment {
  return ctx.memo('infra.deployment', () => {
    const platform = infraModel(ctx).platform;
    const directory = serviceDirectory(ctx);
    const names = new Set([
      ctx.project.name.replace(/^@[^/]+\//, ''),
      nodePath.posix.basename(directory),
    ]);
    const composeServices = ownComposeServices(platform, directory, names);
    const productionWorkloads = platform.workloads.filter((w) => !w.development);
    const workloads =
      directory === '.'
        ? productionWorkloads
        : productionWorkloads.filter((w) => [...names].some((n) => w.name.includes(n)));
    const files = new Set(composeServices.map((s) => s.file));
    const composeStack = platform.composeServices.filter((s) => files.has(s.file));
    const composeDeploys =
      composeServices.length > 0 &&
      productionWorkloads.length === 0 &&
      composeServices.every((s) => !s.development && !platform.composeForDevelopment.has(s.file));
    const environment: DeployedVariable[] = [];
    if (composeDeploys) {
      for (const service of composeServices) {
        for (const [name, entry] of service.environment) {
          environment.push({
            name,
            value: INTERPOLATION.test(entry.value) ? undefined : entry.value,
            from: INTERPOLATION.test(entry.value) ? 'interpolated' : 'literal',
            evidence: entry.evidence,
            valueEvidence: undefined,
            platform: 'compose',
          });
        }
      }
    }
    for (const workload of workloads) {
      for (const variable of workload.env) {
        const data =
          variable.from === 'secret' || variable.from === 'config-map'
            ? committedValue(platform, variable.from, variable.ref)
            : undefined;
        environment.push({
          name: variable.name,
          value: variable.from === 'value' ? variable.value : data?.value,
          from: variable.from === 'value' ? 'literal' : variable.from,
          evidence: variable.evidence,
          valueEvidence: data?.evidence,
          platform: 'kubernetes',
        });
      }
    }
    return {
      directory,
      composeServices,
      composeStack,
      composeDeploys,
      workloads,
      environment,
      secretMounts: [
        ...(composeDeploys ? composeServices.flatMap((s) => s.secrets) : []),
        ...workloads.flatMap((w) => w.secretVolumes),
      ],
    };
  });
}

/**
 * The directory of the service being audited: the workspace package named like the project
 * (a monorepo's per-service report), else the deepest directory with a package manifest
 * (`package.json`, `pyproject.toml`, `requirements.txt`) that holds all of its source files (a
 * Python service in `backend/`), else the repository root.
 */
export function serviceDirectory(ctx: AuditContext): string {
  const { project } = ctx;
  const name = project.name;
  const match = project.workspace.packages.find(
    (p) =>
      p.dir !== '.' &&
      (p.name === name ||
        p.name?.replace(/^@[^/]+\//, '') === name ||
        nodePath.posix.basename(p.dir) === name),
  );
  if (match !== undefined) return match.dir;
  const sources = [
    ...project.units.map((u) => u.path),
    ...(project.pythonFiles ?? []).map((f) => f.path),
  ];
  const manifests = project.textFiles
    .filter((f) => MANIFEST.test(nodePath.posix.basename(f.path)))
    .map((f) => nodePath.posix.dirname(f.path))
    .filter(
      (dir) => dir !== '.' && sources.length > 0 && sources.every((s) => s.startsWith(`${dir}/`)),
    )
    .sort((a, b) => b.length - a.length);
  return manifests[0] ?? '.';
}

const MANIFEST = /^(package\.json|pyproject\.toml|requirements[\w.-]*\.txt|setup\.cfg|Pipfile)$/;

/** Compose services whose `build` context is the service's directory, else named like it. */
function ownComposeServices(
  platform: PlatformModel,
  directory: string,
  names: ReadonlySet<string>,
): ComposeService[] {
  const built = platform.composeServices.filter((s) => {
    if (s.build === undefined) return false;
    const context = nodePath.posix.normalize(
      nodePath.posix.join(nodePath.posix.dirname(s.file), s.build),
    );
    return context.replace(/\/$/, '') === directory;
  });
  if (built.length > 0) return built;
  return platform.composeServices.filter((s) => names.has(s.name));
}

/** A committed Secret's or ConfigMap's value for `name/key`. */
function committedValue(
  platform: PlatformModel,
  kind: 'secret' | 'config-map',
  ref: string | undefined,
): { value: string; evidence: Evidence } | undefined {
  if (ref === undefined) return undefined;
  const [name, key] = ref.split('/');
  const data = platform.kubernetesData.find(
    (d) => d.name === name && d.kind === (kind === 'secret' ? 'Secret' : 'ConfigMap'),
  );
  return key === undefined ? undefined : data?.values.get(key);
}
