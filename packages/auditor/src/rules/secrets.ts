import ts from 'typescript';
import { calleeName, evidenceAt, unwrap } from '../ast/syntax.ts';
import type { SourceUnit } from '../project/load.ts';
import type { Evidence, Outcome } from '../model.ts';
import { workloadIdentityFacts } from '../analysis/identity.ts';
import {
  definitionOf,
  optionOf,
  resolveObject,
  type Located,
} from '../analysis/outbound/expressions.ts';
import { productionFacts } from '../analysis/outbound/scan.ts';
import { httpModel } from '../analysis/outbound/index.ts';
import { rotationDocs } from '../analysis/infra/docs.ts';
import { infraFiles } from '../analysis/infra/files.ts';
import { infraModel } from '../analysis/infra/index.ts';
import { credentialSummary, top, where } from '../analysis/outbound/summary.ts';
import { hardcodedSecrets, loggedSecrets, secretSources } from '../analysis/secrets/index.ts';
import type { EnvironmentSecret } from '../analysis/secrets/model.ts';
import { secretSourceModel } from '../analysis/secrets/provenance.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

const NO_SECRETS =
  'The code uses no secrets: no secrets manager, no secret-named environment variables, no hard-coded secrets.';
/** Environment variable names that say the value is one secret for every service. */
const SHARED_NAME =
  /(^|_)(INTERNAL|SHARED|COMMON|GLOBAL|MASTER)_?(SERVICE_)?(TOKEN|SECRET|KEY|API_KEY|PASSWORD)($|_)/i;

/** Secrets-manager evidence: client imports, fetches, and operator-injected secrets. */
function managerEvidence(ctx: AuditContext): readonly Evidence[] {
  return secretSourceModel(ctx).managed;
}

/** Evidence that the service handles secrets at all. */
function secretsInUse(ctx: AuditContext): Evidence[] {
  const hardcoded = hardcodedSecrets(ctx);
  return [
    ...secretSourceModel(ctx).inUse,
    ...hardcoded.source.map((f) => f.evidence),
    ...hardcoded.text.map((f) => f.evidence),
  ];
}

/** Committed Kubernetes Secrets: a platform store, not a secrets manager. */
function kubernetesSecrets(ctx: AuditContext): Evidence[] {
  return infraModel(ctx)
    .platform.kubernetesData.filter((d) => d.kind === 'Secret')
    .map((d) => d.evidence);
}

const names = (secrets: readonly EnvironmentSecret[]): string =>
  [...new Set(secrets.map((e) => e.name))].slice(0, 4).join(', ');

/** SM1: a secrets manager is used. */
function sm1(ctx: AuditContext): Outcome {
  const model = secretSourceModel(ctx);
  if (model.managed.length > 0) {
    return outcome(
      'PASS',
      'Secrets are fetched from a secrets manager (or injected by one).',
      top(model.managed),
    );
  }
  if (model.environment.length === 0 && model.files.length > 0) {
    return outcome(
      'PARTIAL',
      'Secrets are read from mounted files (Docker/Kubernetes secrets), not from a secrets manager with audit and rotation.',
      top(model.files),
    );
  }
  const used = secretsInUse(ctx);
  if (used.length === 0) return outcome('N/A', NO_SECRETS);
  const first = model.environment[0];
  const why =
    first === undefined
      ? `No secrets manager is used; secrets are written in the code or configuration (first at ${where(used[0])}).`
      : `No secrets manager is used; ${names(model.environment)} come from environment variables${model.files.length > 0 ? ' and mounted files' : ''} (first at ${where(first.evidence[0])}).`;
  return outcome(
    'FAIL',
    why,
    top([...model.environment.flatMap((e) => e.evidence), ...kubernetesSecrets(ctx), ...used]),
    {
      level: 'medium',
      reason:
        'Decided from the absence of secrets-manager clients and injection in the code and manifests.',
    },
  );
}

/**
 * SM2: no secrets in source code and committed configuration: literals in code, literal
 * fallbacks of environment reads, application configuration, compose files, manifests and
 * Helm values (CI pipelines are SM4's).
 */
function sm2(ctx: AuditContext): Outcome {
  const { source, text } = hardcodedSecrets(ctx);
  const committed = text.filter((f) => f.location !== 'ci');
  const fallbacks = secretSourceModel(ctx).fallbacks.filter(
    (f) =>
      !source.some(
        (s) => s.evidence.file === f.evidence.file && s.evidence.line === f.evidence.line,
      ),
  );
  const real = [
    ...source,
    ...fallbacks.map((f) => ({
      evidence: f.evidence,
      what: `a literal fallback for \`${f.name}\`, used whenever the variable is unset`,
    })),
    ...committed.filter((f) => !f.development),
  ];
  if (real[0] !== undefined) {
    return outcome(
      'FAIL',
      `The repository contains ${real[0].what} (${where(real[0].evidence)}).`,
      top(real.map((f) => f.evidence)),
    );
  }
  const development = committed.filter((f) => f.development);
  if (development[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Only development configuration contains ${development[0].what} (${where(development[0].evidence)}).`,
      top(development.map((f) => f.evidence)),
    );
  }
  return outcome(
    'PASS',
    'No secrets were found in source code or committed configuration (placeholders, env lookups and tests excluded).',
  );
}

/** SM3: no secrets in environment variables in production. */
function sm3(ctx: AuditContext): Outcome {
  const model = secretSourceModel(ctx);
  const production = model.environment;
  if (production.length === 0) {
    if (model.developmentEnvironment.length > 0) {
      return outcome(
        'PASS',
        'Secret-named environment variables are read only in development branches.',
        top(model.developmentEnvironment.map((e) => e.evidence)),
      );
    }
    if (secretsInUse(ctx).length === 0) return outcome('N/A', NO_SECRETS);
    return outcome(
      'PASS',
      'No secret is read from an environment variable.',
      top([...model.managed, ...model.files]),
    );
  }
  const evidence = top(production.flatMap((e) => e.evidence));
  if (model.managed.length > 0) {
    return outcome(
      'PARTIAL',
      `A secrets manager is used, but ${names(production)} still come from environment variables in production.`,
      top([...evidence, ...model.managed]),
    );
  }
  if (model.files.length > 0) {
    return outcome(
      'PARTIAL',
      `Some secrets are mounted as files, but ${names(production)} come from environment variables in production.`,
      top([...evidence, ...model.files]),
    );
  }
  if (production.every((e) => e.kubernetesSecret)) {
    return outcome(
      'PARTIAL',
      `${names(production)} are environment variables filled from Kubernetes Secrets: visible to the whole process and its children, with no rotation.`,
      evidence,
    );
  }
  return outcome(
    'FAIL',
    `${names(production)} are read from environment variables in production, with no secrets manager.`,
    evidence,
  );
}

/** SM4: no secrets in CI/CD configuration (pipelines; compose files and manifests are SM2's). */
function sm4(ctx: AuditContext): Outcome {
  const found = hardcodedSecrets(ctx).text.filter((f) => f.location === 'ci');
  const real = found.filter((f) => !f.development);
  if (real[0] !== undefined) {
    return outcome(
      'FAIL',
      `A CI/CD file contains ${real[0].what} (${where(real[0].evidence)}).`,
      top(real.map((f) => f.evidence)),
    );
  }
  if (found[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Only development CI files contain ${found[0].what} (${where(found[0].evidence)}).`,
      top(found.map((f) => f.evidence)),
    );
  }
  const files = infraFiles(ctx).filter((f) => f.kind === 'ci' && !f.isTest);
  if (files.length === 0)
    return outcome('N/A', 'No CI/CD configuration files are in the repository.');
  return outcome(
    'PASS',
    `No secrets were found in the ${String(files.length)} CI/CD files (secret references like \${{ secrets.X }} are fine).`,
  );
}

/** SM5: secrets not logged. */
function sm5(ctx: AuditContext): Outcome {
  const logged = loggedSecrets(ctx);
  if (logged[0] !== undefined) {
    return outcome(
      'FAIL',
      `A log call writes ${logged[0].what} (${where(logged[0].evidence)}).`,
      top(logged.map((l) => l.evidence)),
    );
  }
  return outcome('PASS', 'No log call writes a secret, password, key or token.');
}

/** SM6: unique secrets per service. */
function sm6(ctx: AuditContext): Outcome {
  const infra = infraModel(ctx);
  const s = credentialSummary(ctx);
  const sources = secretSources(ctx);
  const environment = secretSourceModel(ctx).environment;
  const sharedHeaders = s.byKind.get('shared-static') ?? [];
  const sharedEnv = environment.filter((e) => SHARED_NAME.test(e.name));
  const sharedLibrary = environment.filter((e) => e.sharedBy.length > 0);
  const shared = [
    ...infra.sharedSecrets.flatMap((x) => x.evidence),
    ...sharedHeaders.map((c) => c.evidence),
    ...sharedEnv.flatMap((e) => e.evidence),
    ...sharedLibrary.flatMap((e) => e.evidence),
  ];
  const library = sharedLibrary[0];
  if (library !== undefined && infra.sharedSecrets.length === 0 && sharedEnv.length === 0) {
    return outcome(
      'FAIL',
      `\`${library.name}\` is read by a shared workspace package that ${library.sharedBy.slice(0, 4).join(', ')} all use (${where(library.evidence[0])}): one secret for every one of them.`,
      top(shared),
      {
        level: 'medium',
        reason:
          "Decided from the package manifests' dependencies on the package that reads the variable.",
      },
    );
  }
  if (shared[0] !== undefined) {
    const name =
      infra.sharedSecrets[0]?.name ?? sharedEnv[0]?.name ?? sharedHeaders[0]?.header ?? 'a secret';
    return outcome(
      'FAIL',
      `\`${name}\` is one secret shared by several services (${where(shared[0])}).`,
      top(shared),
      infra.sharedSecrets.length > 0
        ? undefined
        : { level: 'medium', reason: 'Decided from the name of the variable or header.' },
    );
  }
  const service = ctx.project.name.replace(/^@[^/]+\//, '').toLowerCase();
  const perService = sources.fetches.filter(
    (f) =>
      f.path !== undefined &&
      (f.path.includes('${') ||
        f.path.toLowerCase().includes(service) ||
        /(^|\/)[a-z0-9]+-(service|svc|api|worker|gateway)(\/|$)/.test(f.path)),
  );
  if (s.tessera.length > 0 || perService.length > 0) {
    return outcome(
      'PASS',
      'Each service has its own secrets (per-service key or per-service secret paths).',
      top([...s.tessera, ...perService.map((f) => f.evidence)]),
    );
  }
  if (secretsInUse(ctx).length === 0) return outcome('N/A', NO_SECRETS);
  return outcome(
    'N/A',
    "Whether this service's secrets are shared with other services cannot be told from its code; no per-service secret paths or shared values were found.",
  );
}

/** `setInterval(…)` in a file that fetches from a secrets manager: secrets re-read while running. */
function periodicReloads(ctx: AuditContext): Evidence[] {
  const fetching = new Set(secretSources(ctx).fetches.map((f) => f.evidence.file));
  return productionFacts(ctx)
    .filter((file) => fetching.has(file.unit.path))
    .flatMap((file) =>
      file.calls
        .filter((call) => calleeName(call) === 'setInterval')
        .map((call) => evidenceAt(file.unit, call)),
    );
}

/** SM7: automatic secret rotation. */
function sm7(ctx: AuditContext): Outcome {
  const sources = secretSources(ctx);
  const infra = infraModel(ctx).platform;
  const rotation = [...infra.secretRotation, ...sources.rotation, ...sources.leases];
  if (rotation.length > 0) {
    return outcome(
      'PASS',
      'Secret rotation is automated (rotation schedule, rotation handler or dynamic secrets with leases).',
      top(rotation),
    );
  }
  const managers = managerEvidence(ctx);
  const reloads = periodicReloads(ctx);
  const documented = rotationDocs(ctx).rotation.concat(rotationDocs(ctx).emergency);
  if (managers.length > 0 && reloads[0] !== undefined && documented[0] !== undefined) {
    return outcome(
      'PASS',
      `Secrets are re-read from the secrets manager on a timer (${where(reloads[0])}), and the documentation describes their rotation there (${where(documented[0])}): rotated values reach the process without a restart.`,
      top([...reloads, ...documented, ...managers]),
      {
        level: 'medium',
        reason:
          "Decided from the repository's documentation of the rotation schedule, which lives in the secrets manager's account.",
      },
    );
  }
  if (managers.length > 0) {
    const cache =
      sources.cacheTtl.length > 0 || reloads.length > 0
        ? ' Secrets are re-read at run time, so rotated values are picked up.'
        : '';
    return outcome(
      'PARTIAL',
      `The secrets manager can rotate secrets, but no rotation is configured in the repository.${cache}`,
      top([...managers, ...reloads, ...sources.cacheTtl]),
    );
  }
  const tessera = tesseraRotation(ctx);
  if (tessera !== undefined) return tessera;
  const used = secretsInUse(ctx);
  if (used.length === 0) return outcome('N/A', NO_SECRETS);
  return outcome(
    'FAIL',
    'Secrets are static values from environment variables or the code, with no automated rotation.',
    top(used),
    {
      level: 'medium',
      reason: 'Decided from the absence of rotation configuration and of runtime secret reloads.',
    },
  );
}

/**
 * SM7 with Tessera. Access tokens are short-lived and X.509-SVIDs are renewed in process with a
 * new key each time, so what is left to judge is the credential they are obtained with: a
 * service key registered with the authority (`private_key_jwt`) stays until someone replaces it,
 * while a join token is good for one first issuance only (renewals then go over mTLS with the
 * current SVID). Only identities started from a join token, with no token source signing with a
 * key, leave nothing long-lived.
 */
const CLIENT_MODULE = '@tessera/client';
const KEY_ROTATION = 'createKeyRotation';

/** `createKeyRotation(...)` of `@tessera/client`. */
function isKeyRotationCall(ctx: AuditContext, unit: SourceUnit, node: ts.Node): boolean {
  if (!ts.isCallExpression(node)) return false;
  const reference = ctx.symbols.moduleReference(unit, node.expression);
  return reference?.module === CLIENT_MODULE && reference.path.at(-1) === KEY_ROTATION;
}

/** Every `createKeyRotation(...)` call in production code. */
function keyRotationCalls(ctx: AuditContext): Located<ts.CallExpression>[] {
  return ctx.memo('tessera.keyRotations', () =>
    productionFacts(ctx).flatMap((file) =>
      file.calls
        .filter((call) => isKeyRotationCall(ctx, file.unit, call))
        .map((node) => ({ unit: file.unit, node })),
    ),
  );
}

/**
 * What a client key is: `rotating` when it is (a name for) a `createKeyRotation` result;
 * `static` when it is a key made or loaded by a library call (`signingKeyFromPrivateKey(...)`,
 * `generateSigningKey()`), a literal, or missing; `unresolved` when it comes through a parameter,
 * a property of one or a lookup (`options.key`, `keys.get(name)`) the analysis does not follow.
 */
type KeyState = 'rotating' | 'static' | 'unresolved';

function keyState(ctx: AuditContext, key: Located | undefined): KeyState {
  if (key === undefined) return 'static';
  const found = definitionOf(ctx.symbols, key.unit, key.node);
  const node = unwrap(found.node);
  if (isKeyRotationCall(ctx, found.unit, node)) return 'rotating';
  if (
    ts.isIdentifier(node) ||
    ts.isPropertyAccessExpression(node) ||
    ts.isElementAccessExpression(node)
  ) {
    return 'unresolved';
  }
  // A call of a project function (`loadKey(name)`, `keys.get(name)`) is followed no further; a
  // library's key constructor is a fixed key.
  if (ts.isCallExpression(node)) {
    return ctx.symbols.moduleReference(found.unit, node.expression) === undefined
      ? 'unresolved'
      : 'static';
  }
  return 'static';
}

/**
 * SM7 with Tessera: access tokens and SVIDs are short-lived and renewed in process; what is left
 * is the credential they are obtained with. A one-use join token leaves nothing; a service key
 * passes when it rotates automatically (`createKeyRotation` of `@tessera/client`, whose result is
 * the `key` of the token sources and the identities' `credentials.key`): every key either is a
 * rotation's result, or comes through code the analysis does not follow in a project that
 * rotates its keys. A key made or loaded in place, or any key in a project with no rotation,
 * stays PARTIAL.
 */
function tesseraRotation(ctx: AuditContext): Outcome | undefined {
  const tokens = credentialSummary(ctx).tessera;
  const identity = workloadIdentityFacts(ctx);
  if (tokens.length === 0 && identity.creations.length === 0) return undefined;
  const keys: { evidence: Evidence; state: KeyState }[] = [];
  const identityKeys: KeyState[] = [];
  for (const creation of identity.creations) {
    const bootstrap = identityBootstrap(ctx, creation);
    if (bootstrap.kind === 'join-token') continue;
    const state = bootstrap.kind === 'key' ? keyState(ctx, bootstrap.key) : 'static';
    identityKeys.push(state);
    keys.push({ evidence: bootstrap.evidence, state });
  }
  for (const source of httpModel(ctx).tokenSources) {
    const options =
      ts.isNewExpression(source.node) && source.node.arguments?.[0] !== undefined
        ? resolveObject(ctx.symbols, source.unit, source.node.arguments[0])
        : undefined;
    const key = options === undefined ? undefined : optionOf(ctx.symbols, options, 'key');
    keys.push({
      evidence: evidenceAt((key ?? source).unit, (key ?? source).node),
      state: key === undefined ? 'unresolved' : keyState(ctx, key),
    });
  }
  // The identity's token source signs with `credentials.key`: as rotating as the identities' keys.
  const identityKeyState: KeyState =
    identityKeys.length > 0 && identityKeys.every((s) => s === 'rotating')
      ? 'rotating'
      : identityKeys.length > 0 && identityKeys.every((s) => s !== 'static')
        ? 'unresolved'
        : 'static';
  keys.push(
    ...identity.tokenSources.map((t) => ({
      evidence: evidenceAt(t.unit, t.node),
      state: identityKeyState,
    })),
  );
  const svids = identity.creations.length > 0;
  const rotating = svids
    ? 'Access tokens and X.509-SVIDs (renewed in process, a new key each time)'
    : 'Service tokens';
  if (keys.length === 0 && tokens.length === 0) {
    return outcome(
      'PASS',
      'X.509-SVIDs are renewed in process with a new key each time, and the workload identity starts from a one-use join token: no long-lived credential is left to rotate.',
      top(identity.creations.map((c) => evidenceAt(c.unit, c.node))),
    );
  }
  const rotations = keyRotationCalls(ctx).map((c) => evidenceAt(c.unit, c.node));
  const firstRotation = rotations[0];
  const fixed = keys.find(
    (k) => k.state === 'static' || (k.state === 'unresolved' && firstRotation === undefined),
  );
  if (keys.length > 0 && fixed === undefined && firstRotation !== undefined) {
    return outcome(
      'PASS',
      `${rotating} rotate automatically (Tessera), and so does the service key they are obtained with: createKeyRotation (${where(firstRotation)}) registers a new key with the authority on a schedule, which then drops the key before the last.`,
      top([...rotations, ...keys.map((k) => k.evidence)]),
    );
  }
  const first = fixed?.evidence;
  return outcome(
    'PARTIAL',
    first === undefined
      ? `${rotating} rotate automatically (Tessera), but the credential they are obtained with has no rotation configured.`
      : `${rotating} rotate automatically (Tessera), but the service key they are obtained with (${where(first)}) has no rotation configured.`,
    top([...keys.map((k) => k.evidence), ...tokens]),
  );
}

/** How a workload identity proves itself the first time: `credentials: { key }` or `{ joinToken }`. */
function identityBootstrap(
  ctx: AuditContext,
  creation: Located<ts.CallExpression>,
): { kind: 'join-token' | 'key' | 'unknown'; evidence: Evidence; key?: Located } {
  const at = evidenceAt(creation.unit, creation.node);
  const argument = creation.node.arguments[0];
  const options =
    argument === undefined ? undefined : resolveObject(ctx.symbols, creation.unit, argument);
  if (options === undefined) return { kind: 'unknown', evidence: at };
  const credentials = optionOf(ctx.symbols, options, 'credentials');
  const holder =
    credentials === undefined
      ? options
      : resolveObject(ctx.symbols, credentials.unit, credentials.node);
  if (holder === undefined) return { kind: 'unknown', evidence: at };
  const key = optionOf(ctx.symbols, holder, 'key');
  if (key !== undefined) return { kind: 'key', evidence: evidenceAt(key.unit, key.node), key };
  if (optionOf(ctx.symbols, holder, 'joinToken') !== undefined) {
    return { kind: 'join-token', evidence: at };
  }
  return { kind: 'unknown', evidence: at };
}

/**
 * SM8: secret access is audited. The audit trail is the secrets manager's (Vault audit devices,
 * CloudTrail), configured in infrastructure: PASS where the repository configures it, otherwise
 * N/A with the reason. Without a secrets manager there is nothing whose access could be audited;
 * SM1 carries that failure.
 */
function sm8(ctx: AuditContext): Outcome {
  const audit = infraModel(ctx).platform.secretAudit;
  if (audit.length > 0)
    return outcome(
      'PASS',
      'Access to secrets is audited (audit trail configured in the repository).',
      top(audit),
    );
  if (managerEvidence(ctx).length > 0) {
    return outcome(
      'N/A',
      "Auditing of secret access is configured in the secrets manager's account (e.g. CloudTrail, Vault audit devices), which is not in this repository.",
    );
  }
  if (secretsInUse(ctx).length === 0) return outcome('N/A', NO_SECRETS);
  return outcome(
    'N/A',
    'No secrets manager is used, so there is no secret-access audit trail to check (SM1 reports the missing manager).',
  );
}

/** SM9: least-privilege access to secrets. */
function sm9(ctx: AuditContext): Outcome {
  const policies = infraModel(ctx).platform.secretPolicies;
  const wide = policies.filter((p) => !p.scoped);
  if (wide[0] !== undefined) {
    return outcome(
      'FAIL',
      `A policy grants access to every secret (${wide[0].evidence.snippet} at ${where(wide[0].evidence)}).`,
      top(wide.map((p) => p.evidence)),
    );
  }
  if (policies.length > 0) {
    return outcome(
      'PASS',
      'Policies grant access only to named secrets or per-service paths.',
      top(policies.map((p) => p.evidence)),
    );
  }
  if (secretsInUse(ctx).length === 0) return outcome('N/A', NO_SECRETS);
  return outcome(
    'N/A',
    'No IAM, Vault or RBAC policy over secrets is in the repository, so least privilege cannot be checked here.',
  );
}

/** SM10: emergency rotation documented. */
function sm10(ctx: AuditContext): Outcome {
  const docs = rotationDocs(ctx);
  if (docs.emergency.length > 0) {
    return outcome(
      'PASS',
      'The documentation describes how to rotate secrets after a compromise.',
      top(docs.emergency),
    );
  }
  if (docs.rotation.length > 0) {
    return outcome(
      'PARTIAL',
      'Secret rotation is documented, but not as an emergency procedure for a compromised secret.',
      top(docs.rotation),
    );
  }
  if (secretsInUse(ctx).length === 0 && credentialSummary(ctx).tessera.length === 0)
    return outcome('N/A', NO_SECRETS);
  return outcome(
    'N/A',
    `No emergency rotation procedure was found in the repository's ${String(docs.files)} Markdown files; it may be documented elsewhere.`,
  );
}

export const secretsRules: RuleSet = {
  SM1: sm1,
  SM2: sm2,
  SM3: sm3,
  SM4: sm4,
  SM5: sm5,
  SM6: sm6,
  SM7: sm7,
  SM8: sm8,
  SM9: sm9,
  SM10: sm10,
};
