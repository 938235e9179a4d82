import { evidenceAtLine } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import { isLoopbackHost } from '../outbound/urls.ts';
import type { InfraFile } from './files.ts';
import type { ComposeService, PlatformModel } from './platform.ts';
import { get, items, path, str, type YNode } from './yaml.ts';

/** What broker-side configuration says about a RabbitMQ deployment. */
export interface RabbitBroker {
  readonly source: Evidence;
  /** `loopback_users.guest = false` / `loopback_users = none`: guest may log in remotely. */
  readonly guestRemote: Evidence | undefined;
  /** guest/guest is (or stays) the default user. */
  readonly guestDefault: Evidence | undefined;
  /** A non-guest default user replaces guest. */
  readonly customDefaultUser: Evidence | undefined;
  readonly tlsListener: Evidence | undefined;
  /** Plain TCP listeners switched off (`listeners.tcp = none`). */
  readonly tcpDisabled: Evidence | undefined;
  readonly managementRestricted: Evidence | undefined;
  readonly managementPublic: Evidence | undefined;
  readonly vhosts: readonly Evidence[];
  readonly permissions: readonly {
    readonly evidence: Evidence;
    readonly wide: boolean;
    readonly user: string;
  }[];
  readonly users: readonly { readonly name: string; readonly evidence: Evidence }[];
}

/** What broker-side configuration says about a Kafka deployment. */
export interface KafkaBroker {
  readonly source: Evidence;
  readonly sasl: Evidence | undefined;
  readonly tls: Evidence | undefined;
  /** A PLAINTEXT or SASL_PLAINTEXT listener (traffic in clear). */
  readonly plaintext: Evidence | undefined;
  readonly authorizer: Evidence | undefined;
  readonly allowEveryone: Evidence | undefined;
  readonly zookeeper: Evidence | undefined;
  readonly zookeeperAcl: Evidence | undefined;
  readonly kraft: Evidence | undefined;
  /** Kafka principals (Strimzi `KafkaUser`s, `super.users`). */
  readonly principals: readonly string[];
  readonly publicPorts: readonly Evidence[];
}

export interface BrokerModel {
  readonly rabbit: readonly RabbitBroker[];
  readonly kafka: readonly KafkaBroker[];
}

interface Property {
  readonly value: string;
  readonly evidence: Evidence;
}

function ev(file: InfraFile, line: number): Evidence {
  return evidenceAtLine(file.file.path, file.file.text, line);
}

/** `key = value` lines (rabbitmq.conf sysctl format, Kafka properties). */
function properties(file: InfraFile): Map<string, Property> {
  const map = new Map<string, Property>();
  file.file.text.split('\n').forEach((line, index) => {
    if (/^\s*[#;!%]/.test(line)) return;
    const match = /^\s*([A-Za-z0-9_.-]+)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (match !== null)
      map.set(match[1] ?? '', { value: match[2] ?? '', evidence: ev(file, index + 1) });
  });
  return map;
}

/** Container images of RabbitMQ brokers. */
export const RABBIT_IMAGE = /rabbitmq/i;
/** Container images of Kafka brokers (not UIs or clients such as kafka-ui). */
export const KAFKA_IMAGE =
  /(^|\/)(kafka|cp-kafka|cp-server|redpanda|kafka-native)(:|$)|bitnami\/kafka|apache\/kafka/i;

/** Reads RabbitMQ and Kafka configuration from broker files, compose and operator resources. */
export function analyseBrokers(files: readonly InfraFile[], platform: PlatformModel): BrokerModel {
  const rabbit: RabbitBroker[] = [];
  const kafka: KafkaBroker[] = [];
  for (const file of files) {
    if (file.isTest) continue;
    if (file.kind === 'rabbitmq' && file.file.path.endsWith('.conf')) {
      rabbit.push(rabbitFromProperties(properties(file), ev(file, 1)));
    } else if (file.kind === 'rabbitmq-definitions') {
      for (const document of file.documents) rabbit.push(rabbitFromDefinitions(file, document));
    } else if (file.kind === 'kafka') {
      kafka.push(kafkaFromProperties(properties(file), ev(file, 1), []));
    }
  }
  for (const service of platform.composeServices) {
    if (RABBIT_IMAGE.test(service.image)) rabbit.push(rabbitFromCompose(service));
    else if (KAFKA_IMAGE.test(service.image)) kafka.push(kafkaFromCompose(service));
  }
  const kafkaUsers = platform.brokerResources
    .filter((r) => r.kind === 'KafkaUser')
    .map((r) => str(path(r.document, 'metadata', 'name')) ?? '');
  for (const resource of platform.brokerResources) {
    if (resource.kind === 'Kafka')
      kafka.push(kafkaFromStrimzi(resource.file, resource.document, kafkaUsers));
    if (resource.kind === 'RabbitmqCluster')
      rabbit.push(rabbitFromOperator(resource.file, resource.document));
  }
  return { rabbit, kafka };
}

function rabbitFromProperties(
  props: ReadonlyMap<string, Property>,
  source: Evidence,
): RabbitBroker {
  const at = (key: string) => props.get(key)?.evidence;
  const value = (key: string) => props.get(key)?.value;
  const guestRemote =
    value('loopback_users.guest') === 'false' || value('loopback_users') === 'none'
      ? (at('loopback_users.guest') ?? at('loopback_users'))
      : undefined;
  const user = value('default_user');
  const management =
    [...props.entries()].find(
      ([key, p]) =>
        (key === 'management.tcp.ip' || key === 'management.listener.ip') &&
        isLoopbackHost(p.value.trim()),
    ) ??
    [...props.entries()].find(
      ([key]) =>
        key.startsWith('management.ssl.') ||
        key === 'management.disable_basic_auth' ||
        key.startsWith('management.oauth'),
    );
  const vhost = value('default_vhost');
  const wide = ['configure', 'read', 'write'].every(
    (k) => value(`default_permissions.${k}`) === '.*',
  );
  return {
    source,
    guestRemote,
    guestDefault: user === 'guest' ? at('default_user') : undefined,
    customDefaultUser: user !== undefined && user !== 'guest' ? at('default_user') : undefined,
    tlsListener: [...props.keys()].some((k) => k.startsWith('listeners.ssl'))
      ? at([...props.keys()].find((k) => k.startsWith('listeners.ssl')) ?? '')
      : undefined,
    tcpDisabled: value('listeners.tcp') === 'none' ? at('listeners.tcp') : undefined,
    managementRestricted: management?.[1].evidence,
    managementPublic: undefined,
    vhosts: vhost !== undefined && vhost !== '/' ? [at('default_vhost') ?? source] : [],
    permissions: props.has('default_permissions.configure')
      ? [{ evidence: at('default_permissions.configure') ?? source, wide, user: user ?? 'guest' }]
      : [],
    users: user === undefined ? [] : [{ name: user, evidence: at('default_user') ?? source }],
  };
}

function rabbitFromDefinitions(file: InfraFile, document: YNode): RabbitBroker {
  const users = items(get(document, 'users')).map((u) => ({
    name: str(get(u, 'name')) ?? '',
    evidence: ev(file, u.line),
  }));
  const permissions = items(get(document, 'permissions')).map((p) => ({
    evidence: ev(file, p.line),
    user: str(get(p, 'user')) ?? '',
    wide: ['configure', 'write', 'read'].every((k) => (str(get(p, k)) ?? '') === '.*'),
  }));
  const vhosts = items(get(document, 'vhosts'))
    .filter((v) => (str(get(v, 'name')) ?? '/') !== '/')
    .map((v) => ev(file, v.line));
  const guest = users.find((u) => u.name === 'guest');
  return {
    source: ev(file, document.line),
    guestRemote: undefined,
    guestDefault: guest?.evidence,
    customDefaultUser: users.find((u) => u.name !== 'guest')?.evidence,
    tlsListener: undefined,
    tcpDisabled: undefined,
    managementRestricted: undefined,
    managementPublic: undefined,
    vhosts,
    permissions,
    users,
  };
}

function rabbitFromCompose(service: ComposeService): RabbitBroker {
  const env = service.environment;
  const user = env.get('RABBITMQ_DEFAULT_USER');
  const vhost = env.get('RABBITMQ_DEFAULT_VHOST');
  const management = service.publicPorts.find((p) =>
    /(^|:)15672(:|$)|(^|:)15671(:|$)/.test(p.port),
  );
  return {
    source: service.evidence,
    guestRemote: undefined,
    // The image creates guest/guest unless another default user is configured.
    guestDefault:
      user === undefined || user.value === 'guest'
        ? (user?.evidence ?? service.evidence)
        : undefined,
    customDefaultUser:
      user !== undefined && user.value !== 'guest' && user.value !== '' ? user.evidence : undefined,
    tlsListener: undefined,
    tcpDisabled: undefined,
    managementRestricted: undefined,
    managementPublic: management?.evidence,
    vhosts: vhost !== undefined && vhost.value !== '/' ? [vhost.evidence] : [],
    permissions: [],
    users: user === undefined ? [] : [{ name: user.value, evidence: user.evidence }],
  };
}

function rabbitFromOperator(file: InfraFile, document: YNode): RabbitBroker {
  const tls = path(document, 'spec', 'tls');
  return {
    source: ev(file, document.line),
    guestRemote: undefined,
    guestDefault: undefined,
    customDefaultUser: undefined,
    tlsListener: tls === undefined ? undefined : ev(file, tls.line),
    tcpDisabled:
      str(path(document, 'spec', 'tls', 'disableNonTLSListeners')) === 'true'
        ? ev(file, document.line)
        : undefined,
    managementRestricted: undefined,
    managementPublic:
      str(path(document, 'spec', 'service', 'type')) === 'LoadBalancer'
        ? ev(file, document.line)
        : undefined,
    vhosts: [],
    permissions: [],
    users: [],
  };
}

function kafkaFromProperties(
  props: ReadonlyMap<string, Property>,
  source: Evidence,
  publicPorts: readonly Evidence[],
): KafkaBroker {
  const at = (key: string) => props.get(key)?.evidence;
  const value = (key: string) => props.get(key)?.value;
  const map = new Map<string, string>();
  for (const pair of (value('listener.security.protocol.map') ?? '').split(',')) {
    const [name, protocol] = pair.split(':');
    if (name !== undefined && protocol !== undefined)
      map.set(name.trim().toUpperCase(), protocol.trim().toUpperCase());
  }
  const protocols: { protocol: string; evidence: Evidence | undefined }[] = [];
  for (const key of ['listeners', 'advertised.listeners']) {
    for (const listener of (value(key) ?? '').split(',')) {
      const name = /^\s*([A-Za-z_]+):\/\//.exec(listener)?.[1]?.toUpperCase();
      if (name !== undefined)
        protocols.push({ protocol: map.get(name) ?? name, evidence: at(key) });
    }
  }
  const interBroker = value('security.inter.broker.protocol')?.toUpperCase();
  if (interBroker !== undefined)
    protocols.push({ protocol: interBroker, evidence: at('security.inter.broker.protocol') });
  const plaintext = protocols.find(
    (p) => p.protocol === 'PLAINTEXT' || p.protocol === 'SASL_PLAINTEXT',
  );
  const tls = protocols.find((p) => p.protocol === 'SSL' || p.protocol === 'SASL_SSL');
  const sasl = protocols.find((p) => p.protocol.startsWith('SASL'));
  const allowPlain = value('allow.plaintext.listener');
  return {
    source,
    sasl: at('sasl.enabled.mechanisms') ?? sasl?.evidence,
    tls: tls?.evidence,
    plaintext:
      plaintext?.evidence ??
      (allowPlain === 'yes' || allowPlain === 'true' ? at('allow.plaintext.listener') : undefined),
    authorizer:
      value('authorizer.class.name') === undefined || value('authorizer.class.name') === ''
        ? undefined
        : at('authorizer.class.name'),
    allowEveryone:
      value('allow.everyone.if.no.acl.found') === 'true'
        ? at('allow.everyone.if.no.acl.found')
        : undefined,
    zookeeper: at('zookeeper.connect'),
    zookeeperAcl: value('zookeeper.set.acl') === 'true' ? at('zookeeper.set.acl') : undefined,
    kraft: at('process.roles'),
    principals: (value('super.users') ?? '')
      .split(';')
      .map((u) => u.trim())
      .filter((u) => u !== ''),
    publicPorts,
  };
}

/** Compose env `KAFKA_CFG_SASL_ENABLED_MECHANISMS` (Bitnami) / `KAFKA_…` (Confluent) → properties. */
function kafkaFromCompose(service: ComposeService): KafkaBroker {
  const props = new Map<string, Property>();
  for (const [key, value] of service.environment) {
    const match = /^KAFKA_(CFG_)?(.+)$/.exec(key);
    if (match !== null) props.set((match[2] ?? '').toLowerCase().replace(/_/g, '.'), value);
    if (key === 'ALLOW_PLAINTEXT_LISTENER') props.set('allow.plaintext.listener', value);
  }
  const publicPorts = service.publicPorts.map((p) => p.evidence);
  return kafkaFromProperties(props, service.evidence, publicPorts);
}

function kafkaFromStrimzi(file: InfraFile, document: YNode, users: readonly string[]): KafkaBroker {
  const listeners = items(path(document, 'spec', 'kafka', 'listeners'));
  const tls = listeners.find((l) => str(get(l, 'tls')) === 'true');
  const plain = listeners.find((l) => str(get(l, 'tls')) !== 'true');
  const authenticated = listeners.find((l) => get(l, 'authentication') !== undefined);
  const authorization = path(document, 'spec', 'kafka', 'authorization');
  const zookeeper = path(document, 'spec', 'zookeeper');
  return {
    source: ev(file, document.line),
    sasl: authenticated === undefined ? undefined : ev(file, authenticated.line),
    tls: tls === undefined ? undefined : ev(file, tls.line),
    plaintext: plain === undefined ? undefined : ev(file, plain.line),
    authorizer: authorization === undefined ? undefined : ev(file, authorization.line),
    allowEveryone: undefined,
    zookeeper: zookeeper === undefined ? undefined : ev(file, zookeeper.line),
    // Strimzi runs ZooKeeper with TLS and authentication between it and the brokers.
    zookeeperAcl: zookeeper === undefined ? undefined : ev(file, zookeeper.line),
    kraft: zookeeper === undefined ? ev(file, document.line) : undefined,
    principals: users,
    publicPorts: listeners
      .filter((l) => /^(loadbalancer|nodeport|ingress|route)$/i.test(str(get(l, 'type')) ?? ''))
      .map((l) => ev(file, l.line)),
  };
}
