import nodePath from 'node:path';
import { evidenceAtLine, lineAtOffset } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { AuditContext } from '../context.ts';
import { isSecretName } from '../names.ts';
import { isPlaceholder } from '../secrets/literals.ts';
import { parseAmqpUrl } from '../outbound/queues.ts';
import { analyseBrokers, type BrokerModel } from './brokers.ts';
import { infraFiles, type InfraFile } from './files.ts';
import { analysePlatform, type PlatformModel } from './platform.ts';
import { forEachMap, get, str } from './yaml.ts';

export interface InfraModel {
  readonly files: readonly InfraFile[];
  readonly platform: PlatformModel;
  readonly brokers: BrokerModel;
  /** `NODE_TLS_REJECT_UNAUTHORIZED=0` in env files, compose, Dockerfiles, manifests, scripts. */
  readonly tlsDisabled: readonly Evidence[];
  /** The same secret value (or secret reference) used by several services. */
  readonly sharedSecrets: readonly {
    readonly name: string;
    readonly evidence: readonly Evidence[];
  }[];
  /** The same message-queue username configured for several services. */
  readonly sharedBrokerUsers: readonly {
    readonly user: string;
    readonly evidence: readonly Evidence[];
  }[];
}

const TLS_OFF = /NODE_TLS_REJECT_UNAUTHORIZED["']?\s*(=|:|\s)\s*["']?0(?![\d.])/g;

/** The infrastructure model of the audited repository, computed once per audit. */
export function infraModel(ctx: AuditContext): InfraModel {
  return ctx.memo('infra.model', () => {
    const files = infraFiles(ctx);
    const platform = analysePlatform(files);
    const brokers = analyseBrokers(files, platform);
    return {
      files,
      platform,
      brokers,
      tlsDisabled: tlsDisabled(files),
      sharedSecrets: sharedSecrets(files, platform),
      sharedBrokerUsers: sharedBrokerUsers(platform),
    };
  });
}

function tlsDisabled(files: readonly InfraFile[]): Evidence[] {
  const out: Evidence[] = [];
  for (const file of files) {
    if (file.isTest || file.kind === 'env-example') continue;
    const text = file.file.text;
    if (!text.includes('NODE_TLS_REJECT_UNAUTHORIZED')) continue;
    const lines = new Set<number>();
    for (const match of text.matchAll(TLS_OFF)) lines.add(lineAtOffset(text, match.index));
    // Kubernetes env lists split the name and the value over two lines.
    for (const document of file.documents) {
      forEachMap(document, (map) => {
        const value = get(map, 'value');
        if (
          str(get(map, 'name')) === 'NODE_TLS_REJECT_UNAUTHORIZED' &&
          str(value) === '0' &&
          value !== undefined
        ) {
          lines.add(value.line);
        }
      });
    }
    for (const line of [...lines].sort((a, b) => a - b)) {
      const snippet = evidenceAtLine(file.file.path, text, line);
      if (/^\s*#/.test(snippet.snippet)) continue;
      out.push(snippet);
    }
  }
  return out;
}

/**
 * Secrets shared between services: one literal value under a secret-like name in several
 * compose services or in the `.env` files of several service directories, or one Kubernetes
 * Secret key injected into several workloads.
 */
function sharedSecrets(
  files: readonly InfraFile[],
  platform: PlatformModel,
): { name: string; evidence: Evidence[] }[] {
  const byValue = new Map<string, { name: string; owners: Set<string>; evidence: Evidence[] }>();
  const add = (name: string, value: string, owner: string, evidence: Evidence) => {
    if (
      !isSecretName(name) ||
      isPlaceholder(value) ||
      value.length < 8 ||
      /\$\{|\$[A-Z_]/.test(value)
    )
      return;
    const key = `${name}\u0000${value}`;
    const entry = byValue.get(key) ?? { name, owners: new Set<string>(), evidence: [] };
    entry.owners.add(owner);
    entry.evidence.push(evidence);
    byValue.set(key, entry);
  };
  for (const service of platform.composeServices) {
    for (const [name, value] of service.environment)
      add(name, value.value, `${service.file}#${service.name}`, value.evidence);
  }
  for (const file of files) {
    if (file.kind !== 'env' || file.isTest) continue;
    file.file.text.split('\n').forEach((line, index) => {
      const match = /^\s*(?:export\s+)?([A-Za-z_][\w.]*)\s*=\s*["']?([^"'#\s]*)["']?/.exec(line);
      if (match === null) return;
      add(
        match[1] ?? '',
        match[2] ?? '',
        nodePath.posix.dirname(file.file.path),
        evidenceAtLine(file.file.path, file.file.text, index + 1),
      );
    });
  }
  const shared = [...byValue.values()]
    .filter((e) => e.owners.size >= 2)
    .map((e) => ({ name: e.name, evidence: e.evidence }));
  const byRef = new Map<string, { workloads: Set<string>; evidence: Evidence[] }>();
  for (const ref of platform.secretRefs) {
    const entry = byRef.get(ref.secret) ?? { workloads: new Set<string>(), evidence: [] };
    entry.workloads.add(ref.workload);
    entry.evidence.push(ref.evidence);
    byRef.set(ref.secret, entry);
  }
  for (const [secret, entry] of byRef) {
    if (entry.workloads.size >= 2) shared.push({ name: secret, evidence: entry.evidence });
  }
  return shared;
}

/** One broker username in the connection settings of several compose services. */
function sharedBrokerUsers(platform: PlatformModel): { user: string; evidence: Evidence[] }[] {
  const byUser = new Map<string, { services: Set<string>; evidence: Evidence[] }>();
  for (const service of platform.composeServices) {
    if (/rabbitmq|kafka/i.test(service.image)) continue;
    for (const [name, value] of service.environment) {
      let user: string | undefined;
      if (/^amqps?:\/\//i.test(value.value)) user = parseAmqpUrl(value.value).username;
      else if (/(RABBIT|AMQP|KAFKA|MQ)\w*_USER(NAME)?$/i.test(name)) user = value.value;
      if (user === undefined || user === '' || user.includes('$')) continue;
      const entry = byUser.get(user) ?? { services: new Set<string>(), evidence: [] };
      entry.services.add(`${service.file}#${service.name}`);
      entry.evidence.push(value.evidence);
      byUser.set(user, entry);
    }
  }
  return [...byUser.entries()]
    .filter(([, e]) => e.services.size >= 2)
    .map(([user, e]) => ({ user, evidence: e.evidence }));
}
