import nodePath from 'node:path';
import type { Evidence, Outcome } from '../model.ts';
import { KAFKA_IMAGE, RABBIT_IMAGE } from '../analysis/infra/brokers.ts';
import { infraModel } from '../analysis/infra/index.ts';
import { queueModel } from '../analysis/outbound/index.ts';
import {
  parseAmqpUrl,
  type AmqpConnection,
  type KafkaClient,
} from '../analysis/outbound/queues.ts';
import { productionFacts } from '../analysis/outbound/scan.ts';
import { top, where } from '../analysis/outbound/summary.ts';
import { evidenceAtLine, evidenceAt, lineAtOffset } from '../ast/syntax.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

const NO_QUEUE = 'No message-queue client or broker configuration in this code.';
const NO_RABBIT = 'No RabbitMQ client or broker configuration in this code.';
const NO_KAFKA = 'No Kafka client or broker configuration in this code.';

/** Broker URLs configured for services in compose (`AMQP_URL=amqp://…`). */
function composeAmqpUrls(
  ctx: AuditContext,
): { url: ReturnType<typeof parseAmqpUrl>; evidence: Evidence }[] {
  const out: { url: ReturnType<typeof parseAmqpUrl>; evidence: Evidence }[] = [];
  for (const service of infraModel(ctx).platform.composeServices) {
    for (const value of service.environment.values()) {
      if (/^amqps?:\/\//i.test(value.value))
        out.push({ url: parseAmqpUrl(value.value), evidence: value.evidence });
    }
  }
  return out;
}

const AMQP_URL = /\bamqps?:\/\/[\w.~%!$&'*+=:-]*@?[\w.-]+[^\s'"`,]*/gi;
const DEPLOYMENT_FILE = /(^|\/)(\.env[\w.-]*|[^/]+\.(ya?ml|env|properties|conf|ini))$/i;

/**
 * The RabbitMQ URLs a service is configured with outside its connect call: literal defaults in
 * the code (`process.env.RABBITMQ_URL ?? 'amqp://rabbitmq:5672'`) and values in deployment
 * files (Kubernetes manifests, Helm values, .env files). They decide what a URL read from
 * configuration is.
 */
function configuredAmqpUrls(
  ctx: AuditContext,
): { url: ReturnType<typeof parseAmqpUrl>; evidence: Evidence }[] {
  const out: { url: ReturnType<typeof parseAmqpUrl>; evidence: Evidence }[] = [];
  for (const file of productionFacts(ctx)) {
    for (const literal of file.strings) {
      if (/^amqps?:\/\/\S/i.test(literal.text)) {
        out.push({ url: parseAmqpUrl(literal.text), evidence: evidenceAt(file.unit, literal) });
      }
    }
  }
  for (const file of ctx.project.textFiles) {
    if (!DEPLOYMENT_FILE.test(file.path)) continue;
    for (const match of file.text.matchAll(AMQP_URL)) {
      out.push({
        url: parseAmqpUrl(match[0]),
        evidence: evidenceAtLine(file.path, file.text, lineAtOffset(file.text, match.index)),
      });
    }
  }
  return out;
}

/** The directory of the nearest package.json: one service of a monorepo. */
function serviceRoot(ctx: AuditContext, file: string): string {
  let best = '';
  for (const text of ctx.project.textFiles) {
    if (nodePath.posix.basename(text.path) !== 'package.json') continue;
    const dir = nodePath.posix.dirname(text.path);
    const prefix = dir === '.' ? '' : `${dir}/`;
    if (file.startsWith(prefix) && prefix.length >= best.length) best = prefix;
  }
  return best;
}

/** One broker username written in the code of several services (packages) of a monorepo. */
function sharedCodeUsers(
  ctx: AuditContext,
  credentials: readonly ({ username: string | undefined; evidence: Evidence } | undefined)[],
): { user: string; evidence: Evidence[] }[] {
  const byUser = new Map<string, { roots: Set<string>; evidence: Evidence[] }>();
  for (const credential of credentials) {
    if (credential?.username === undefined) continue;
    const entry = byUser.get(credential.username) ?? { roots: new Set<string>(), evidence: [] };
    entry.roots.add(serviceRoot(ctx, credential.evidence.file));
    entry.evidence.push(credential.evidence);
    byUser.set(credential.username, entry);
  }
  return [...byUser.entries()]
    .filter(([, e]) => e.roots.size >= 2)
    .map(([user, e]) => ({ user, evidence: e.evidence }));
}

function rabbitPresent(ctx: AuditContext): boolean {
  const q = queueModel(ctx);
  return (
    q.rabbitImports.length > 0 || q.rabbit.length > 0 || infraModel(ctx).brokers.rabbit.length > 0
  );
}

function kafkaPresent(ctx: AuditContext): boolean {
  const q = queueModel(ctx);
  return (
    q.kafkaImports.length > 0 || q.kafka.length > 0 || infraModel(ctx).brokers.kafka.length > 0
  );
}

function rabbitRule(decide: (ctx: AuditContext) => Outcome): (ctx: AuditContext) => Outcome {
  return (ctx) => {
    if (!rabbitPresent(ctx)) return outcome('N/A', kafkaPresent(ctx) ? NO_RABBIT : NO_QUEUE);
    return decide(ctx);
  };
}

function kafkaRule(decide: (ctx: AuditContext) => Outcome): (ctx: AuditContext) => Outcome {
  return (ctx) => {
    if (!kafkaPresent(ctx)) return outcome('N/A', rabbitPresent(ctx) ? NO_KAFKA : NO_QUEUE);
    return decide(ctx);
  };
}

/** amqplib defaults to guest/guest when a known URL or options object carries no credentials. */
function usesGuest(connection: AmqpConnection): boolean {
  if (connection.scheme === 'unknown') return false;
  if (connection.credentials === undefined) return true;
  return connection.credentials.username === 'guest';
}

/** MQ1: TLS for RabbitMQ connections. */
function mq1(ctx: AuditContext): Outcome {
  const { rabbit } = queueModel(ctx);
  const brokers = infraModel(ctx).brokers.rabbit;
  const compose = composeAmqpUrls(ctx);
  const plain = [
    ...rabbit.filter((c) => c.scheme === 'amqp').map((c) => c.evidence),
    ...compose.filter((c) => c.url.scheme === 'amqp').map((c) => c.evidence),
  ];
  const insecure = rabbit.map((c) => c.insecure).filter((e): e is Evidence => e !== undefined);
  if (plain[0] !== undefined) {
    return outcome(
      'FAIL',
      `RabbitMQ is reached over plain amqp:// (${where(plain[0])}); credentials and messages travel unencrypted.`,
      top(plain),
    );
  }
  if (insecure[0] !== undefined) {
    return outcome(
      'FAIL',
      `The RabbitMQ TLS connection does not verify the broker certificate (${where(insecure[0])}).`,
      top(insecure),
    );
  }
  const tlsOnly = brokers.map((b) => b.tcpDisabled).filter((e): e is Evidence => e !== undefined);
  const secure = rabbit.filter((c) => c.scheme === 'amqps');
  const unknown = rabbit.filter((c) => c.scheme === 'unknown');
  if (secure.length > 0 && unknown.length === 0) {
    return outcome(
      'PASS',
      'RabbitMQ connections use amqps (TLS).',
      top([...secure.map((c) => c.tlsOptions ?? c.evidence), ...tlsOnly]),
    );
  }
  if (tlsOnly.length > 0)
    return outcome(
      'PASS',
      'The broker accepts TLS connections only (plain TCP listeners are off).',
      top(tlsOnly),
    );
  const configured = unknown.length > 0 ? configuredAmqpUrls(ctx) : [];
  const plainConfigured = configured.filter((c) => c.url.scheme === 'amqp');
  if (plainConfigured[0] !== undefined && !configured.some((c) => c.url.scheme === 'amqps')) {
    return outcome(
      'FAIL',
      `The RabbitMQ URL comes from configuration (${where(unknown[0]?.evidence)}), and the value it is given is plain amqp:// (${where(plainConfigured[0].evidence)}).`,
      top([...plainConfigured.map((c) => c.evidence), ...unknown.map((c) => c.evidence)]),
    );
  }
  if (unknown[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `The RabbitMQ URL comes from configuration (${where(unknown[0].evidence)}); TLS depends on it being amqps://.`,
      top(unknown.map((c) => c.evidence)),
    );
  }
  const tlsListeners = brokers
    .map((b) => b.tlsListener)
    .filter((e): e is Evidence => e !== undefined);
  if (tlsListeners.length > 0) {
    return outcome(
      'PARTIAL',
      'The broker has a TLS listener, but plain TCP listeners stay open.',
      top(tlsListeners),
    );
  }
  if (brokers[0] !== undefined)
    return outcome(
      'FAIL',
      'The RabbitMQ broker configuration has no TLS listener.',
      top(brokers.map((b) => b.source)),
    );
  return outcome(
    'N/A',
    'A RabbitMQ client is imported, but its connection settings could not be followed.',
    top(queueModel(ctx).rabbitImports),
  );
}

/** MQ2: unique credentials per service. */
function mq2(ctx: AuditContext): Outcome {
  const { rabbit } = queueModel(ctx);
  const infra = infraModel(ctx);
  const guest = [
    ...rabbit.filter(usesGuest).map((c) => c.credentials?.evidence ?? c.evidence),
    ...composeAmqpUrls(ctx)
      .filter(
        (c) =>
          c.url.username === 'guest' ||
          (c.url.scheme !== 'unknown' && c.url.username === undefined),
      )
      .map((c) => c.evidence),
  ];
  if (guest[0] !== undefined) {
    return outcome(
      'FAIL',
      `Services connect as the default guest user (${where(guest[0])}), which every client shares.`,
      top(guest),
    );
  }
  const shared = [
    ...infra.sharedBrokerUsers,
    ...sharedCodeUsers(
      ctx,
      rabbit.map((c) => c.credentials),
    ),
  ];
  if (shared[0] !== undefined) {
    return outcome(
      'FAIL',
      `Several services connect as \`${shared[0].user}\`.`,
      top(shared.flatMap((s) => s.evidence)),
    );
  }
  const literal = rabbit.filter(
    (c) => c.credentials !== undefined && [...c.credentials.origins].every((o) => o === 'literal'),
  );
  if (literal[0] !== undefined) {
    return outcome(
      'FAIL',
      `RabbitMQ credentials are written in the code (${where(literal[0].credentials?.evidence)}), the same for every deployment.`,
      top(literal.map((c) => c.credentials?.evidence ?? c.evidence)),
    );
  }
  const perService = rabbit.filter((c) => c.credentials?.secretPath !== undefined);
  if (perService.length > 0) {
    return outcome(
      'PASS',
      `Each service fetches its own broker credentials (${perService[0]?.credentials?.secretPath ?? ''}).`,
      top(perService.map((c) => c.credentials?.evidence ?? c.evidence)),
    );
  }
  const users = new Set(
    infra.brokers.rabbit.flatMap((b) => b.users.map((u) => u.name)).filter((u) => u !== 'guest'),
  );
  if (users.size >= 2) {
    return outcome(
      'PASS',
      `The broker defines separate users (${[...users].slice(0, 4).join(', ')}).`,
      top(infra.brokers.rabbit.flatMap((b) => b.users.map((u) => u.evidence))),
    );
  }
  return outcome(
    'N/A',
    'Broker credentials come from configuration; whether each service has its own is decided at deployment.',
    top(rabbit.map((c) => c.evidence)),
  );
}

/** MQ3: permissions restricted per service. */
function mq3(ctx: AuditContext): Outcome {
  const brokers = infraModel(ctx).brokers.rabbit;
  const permissions = brokers.flatMap((b) => b.permissions);
  const wide = permissions.filter((p) => p.wide);
  if (wide[0] !== undefined) {
    return outcome(
      'FAIL',
      `\`${wide[0].user}\` may configure, write and read everything (".*") (${where(wide[0].evidence)}).`,
      top(wide.map((p) => p.evidence)),
    );
  }
  if (permissions.length > 0)
    return outcome(
      'PASS',
      'Each user has configure/write/read permissions limited to its own resources.',
      top(permissions.map((p) => p.evidence)),
    );
  const code = queueModel(ctx).rabbitPermissions;
  if (code.length > 0)
    return outcome(
      'PARTIAL',
      'Permissions are set from code; their scope is not visible here.',
      top(code),
    );
  return outcome('N/A', 'No RabbitMQ users or permissions are defined in the repository.');
}

/** MQ4: virtual hosts isolate environments. */
function mq4(ctx: AuditContext): Outcome {
  const { rabbit } = queueModel(ctx);
  const brokers = infraModel(ctx).brokers.rabbit;
  const named = [
    ...rabbit.filter((c) => c.vhost !== undefined && c.vhost !== '/').map((c) => c.evidence),
    ...rabbit.map((c) => c.vhostConfigured).filter((e): e is Evidence => e !== undefined),
    ...brokers.flatMap((b) => b.vhosts),
  ];
  const root = rabbit.filter((c) => c.vhost === '/');
  if (root[0] !== undefined && named.length === 0) {
    return outcome(
      'FAIL',
      `Connections use the default virtual host "/" (${where(root[0].evidence)}), shared by every environment.`,
      top(root.map((c) => c.evidence)),
    );
  }
  if (named.length > 0) {
    return root[0] !== undefined
      ? outcome(
          'PARTIAL',
          `Some connections use a named virtual host, but one uses the default "/" (${where(root[0].evidence)}).`,
          top([...root.map((c) => c.evidence), ...named]),
        )
      : outcome('PASS', 'Connections use a named virtual host.', top(named));
  }
  return outcome(
    'N/A',
    'The virtual host comes from configuration that is not in the repository.',
    top(rabbit.map((c) => c.evidence)),
  );
}

/** MQ5: default guest user disabled. */
function mq5(ctx: AuditContext): Outcome {
  const { rabbit } = queueModel(ctx);
  const brokers = infraModel(ctx).brokers.rabbit;
  const clientGuest = [
    ...rabbit.filter(usesGuest).map((c) => c.credentials?.evidence ?? c.evidence),
    ...composeAmqpUrls(ctx)
      .filter((c) => c.url.username === 'guest')
      .map((c) => c.evidence),
  ];
  const remote = brokers.map((b) => b.guestRemote).filter((e): e is Evidence => e !== undefined);
  if (remote[0] !== undefined) {
    return outcome(
      'FAIL',
      `The broker lets guest log in from other hosts (${where(remote[0])}).`,
      top([...remote, ...clientGuest]),
    );
  }
  if (clientGuest[0] !== undefined) {
    return outcome(
      'FAIL',
      `Clients log in as guest/guest (${where(clientGuest[0])}), so the default user is enabled and in use.`,
      top(clientGuest),
    );
  }
  const custom = brokers
    .map((b) => b.customDefaultUser)
    .filter((e): e is Evidence => e !== undefined);
  const defaults = brokers.map((b) => b.guestDefault).filter((e): e is Evidence => e !== undefined);
  if (defaults[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `The broker keeps the default guest/guest user (${where(defaults[0])}); it is limited to loopback, but should be removed.`,
      top(defaults),
    );
  }
  if (custom.length > 0)
    return outcome('PASS', 'The broker replaces guest with its own default user.', top(custom));
  return outcome(
    'N/A',
    "The broker's users are not configured in this repository, and the code does not log in as guest.",
  );
}

/** MQ6: management plugin access restricted. */
function mq6(ctx: AuditContext): Outcome {
  const brokers = infraModel(ctx).brokers.rabbit;
  const exposures = infraModel(ctx).platform.exposures.filter((e) =>
    e.ports.some((p) => /\b1567[12]\b/.test(p)),
  );
  const open = [
    ...brokers.map((b) => b.managementPublic).filter((e): e is Evidence => e !== undefined),
    ...exposures.map((e) => e.evidence),
  ];
  if (open[0] !== undefined) {
    return outcome(
      'FAIL',
      `The management UI/API (port 15672) is published on every interface (${where(open[0])}).`,
      top(open),
    );
  }
  const restricted = brokers
    .map((b) => b.managementRestricted)
    .filter((e): e is Evidence => e !== undefined);
  if (restricted.length > 0)
    return outcome(
      'PASS',
      'The management listener is bound to loopback or protected (TLS/OAuth).',
      top(restricted),
    );
  const compose = infraModel(ctx).platform.composeServices.filter((s) =>
    RABBIT_IMAGE.test(s.image),
  );
  if (compose.length > 0) {
    return outcome(
      'PASS',
      'The broker container does not publish the management port.',
      top(compose.map((s) => s.evidence)),
    );
  }
  return outcome('N/A', 'The management plugin configuration is not in this repository.');
}

function saslOf(clients: readonly KafkaClient[]): {
  missing: KafkaClient[];
  plainOverClear: KafkaClient[];
} {
  return {
    missing: clients.filter((c) => c.sasl === undefined),
    plainOverClear: clients.filter(
      (c) => c.sasl !== undefined && /^plain$/i.test(c.sasl.mechanism ?? '') && c.ssl?.on !== true,
    ),
  };
}

/** MQ7: SASL authentication. */
function mq7(ctx: AuditContext): Outcome {
  const { kafka } = queueModel(ctx);
  const brokers = infraModel(ctx).brokers.kafka;
  const { missing, plainOverClear } = saslOf(kafka);
  if (missing[0] !== undefined) {
    return outcome(
      'FAIL',
      `The Kafka client connects without SASL authentication (${where(missing[0].evidence)}).`,
      top(missing.map((c) => c.evidence)),
    );
  }
  const brokerPlain = brokers.filter(
    (b) => b.sasl === undefined && (b.plaintext !== undefined || b.tls !== undefined),
  );
  if (brokerPlain[0] !== undefined) {
    return outcome(
      'FAIL',
      `The broker accepts clients without SASL (${where(brokerPlain[0].plaintext ?? brokerPlain[0].tls)}).`,
      top(brokerPlain.map((b) => b.plaintext ?? b.source)),
    );
  }
  if (plainOverClear[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `SASL/PLAIN is used without TLS (${where(plainOverClear[0].sasl?.evidence)}): the password crosses the network in clear.`,
      top(plainOverClear.map((c) => c.sasl?.evidence ?? c.evidence)),
    );
  }
  const evidence = [
    ...kafka.map((c) => c.sasl?.evidence ?? c.evidence),
    ...brokers.map((b) => b.sasl).filter((e): e is Evidence => e !== undefined),
  ];
  if (evidence.length > 0)
    return outcome('PASS', 'Kafka clients authenticate with SASL.', top(evidence));
  return outcome(
    'N/A',
    'A Kafka client is imported, but its configuration could not be followed.',
    top(queueModel(ctx).kafkaImports),
  );
}

/** MQ8: TLS for client and inter-broker traffic. */
function mq8(ctx: AuditContext): Outcome {
  const { kafka } = queueModel(ctx);
  const brokers = infraModel(ctx).brokers.kafka;
  const clear = kafka.filter((c) => c.ssl?.on !== true);
  if (clear[0] !== undefined) {
    return outcome(
      'FAIL',
      `The Kafka client does not use TLS (${where(clear[0].ssl?.evidence ?? clear[0].evidence)}).`,
      top(clear.map((c) => c.ssl?.evidence ?? c.evidence)),
    );
  }
  const insecure = kafka.map((c) => c.sslInsecure).filter((e): e is Evidence => e !== undefined);
  if (insecure[0] !== undefined) {
    return outcome(
      'FAIL',
      `The Kafka client does not verify the broker certificate (${where(insecure[0])}).`,
      top(insecure),
    );
  }
  const plaintext = brokers.map((b) => b.plaintext).filter((e): e is Evidence => e !== undefined);
  if (plaintext[0] !== undefined) {
    return outcome(
      'FAIL',
      `A broker listener carries traffic in clear (${where(plaintext[0])}).`,
      top(plaintext),
    );
  }
  const clientTls = kafka.map((c) => c.ssl?.evidence).filter((e): e is Evidence => e !== undefined);
  const brokerTls = brokers.map((b) => b.tls).filter((e): e is Evidence => e !== undefined);
  if (brokerTls.length > 0)
    return outcome(
      'PASS',
      'Client and inter-broker listeners use TLS.',
      top([...clientTls, ...brokerTls]),
    );
  if (clientTls.length > 0) {
    return outcome(
      'PARTIAL',
      'Client traffic uses TLS; the inter-broker settings are not in this repository.',
      top(clientTls),
    );
  }
  return outcome(
    'N/A',
    'A Kafka client is imported, but its configuration could not be followed.',
    top(queueModel(ctx).kafkaImports),
  );
}

/** MQ9: ACLs per topic and consumer group. */
function mq9(ctx: AuditContext): Outcome {
  const brokers = infraModel(ctx).brokers.kafka;
  const everyone = brokers
    .map((b) => b.allowEveryone)
    .filter((e): e is Evidence => e !== undefined);
  if (everyone[0] !== undefined) {
    return outcome(
      'FAIL',
      `allow.everyone.if.no.acl.found=true lets any client use topics without ACLs (${where(everyone[0])}).`,
      top(everyone),
    );
  }
  const authorizers = brokers
    .map((b) => b.authorizer)
    .filter((e): e is Evidence => e !== undefined);
  const acls = queueModel(ctx).kafkaAcls;
  if (authorizers.length > 0 || acls.length > 0)
    return outcome(
      'PASS',
      'An authorizer enforces ACLs on topics and consumer groups.',
      top([...authorizers, ...acls]),
    );
  if (brokers[0] !== undefined)
    return outcome(
      'FAIL',
      'The broker configuration has no authorizer, so there are no ACLs.',
      top(brokers.map((b) => b.source)),
    );
  return outcome('N/A', 'No Kafka broker configuration is in the repository.');
}

/** MQ10: unique principal per service. */
function mq10(ctx: AuditContext): Outcome {
  const { kafka } = queueModel(ctx);
  const infra = infraModel(ctx);
  const { missing } = saslOf(kafka);
  if (missing[0] !== undefined) {
    return outcome(
      'FAIL',
      `Without SASL there is no principal per service (${where(missing[0].evidence)}).`,
      top(missing.map((c) => c.evidence)),
    );
  }
  const shared = [
    ...infra.sharedBrokerUsers,
    ...sharedCodeUsers(
      ctx,
      kafka.map((c) => c.credentials),
    ),
  ];
  if (shared[0] !== undefined)
    return outcome(
      'FAIL',
      `Several services use the principal \`${shared[0].user}\`.`,
      top(shared.flatMap((s) => s.evidence)),
    );
  const literal = kafka.filter(
    (c) => c.credentials !== undefined && [...c.credentials.origins].every((o) => o === 'literal'),
  );
  if (literal[0] !== undefined) {
    return outcome(
      'FAIL',
      `The Kafka principal's credentials are written in the code (${where(literal[0].credentials?.evidence)}).`,
      top(literal.map((c) => c.credentials?.evidence ?? c.evidence)),
    );
  }
  const perService = kafka.filter((c) => c.credentials?.secretPath !== undefined);
  const principals = new Set(infra.brokers.kafka.flatMap((b) => b.principals));
  if (perService.length > 0 || principals.size >= 2) {
    return outcome(
      'PASS',
      'Each service authenticates as its own principal.',
      top([
        ...perService.map((c) => c.credentials?.evidence ?? c.evidence),
        ...infra.brokers.kafka.map((b) => b.source),
      ]),
    );
  }
  return outcome(
    'N/A',
    'The SASL credentials come from configuration; whether each service has its own principal is decided at deployment.',
    top(kafka.map((c) => c.evidence)),
  );
}

/** MQ11: ZooKeeper authentication. */
function mq11(ctx: AuditContext): Outcome {
  const brokers = infraModel(ctx).brokers.kafka;
  const withZk = brokers.filter((b) => b.zookeeper !== undefined);
  const open = withZk.filter((b) => b.zookeeperAcl === undefined);
  if (open[0] !== undefined) {
    return outcome(
      'FAIL',
      `Brokers use ZooKeeper without zookeeper.set.acl=true (${where(open[0].zookeeper)}).`,
      top(open.map((b) => b.zookeeper ?? b.source)),
    );
  }
  if (withZk.length > 0)
    return outcome(
      'PASS',
      'ZooKeeper access is authenticated and protected by ACLs.',
      top(withZk.map((b) => b.zookeeperAcl ?? b.source)),
    );
  const kraft = brokers.map((b) => b.kraft).filter((e): e is Evidence => e !== undefined);
  if (kraft.length > 0)
    return outcome('N/A', 'The brokers run in KRaft mode, without ZooKeeper.', top(kraft));
  return outcome('N/A', 'No Kafka broker configuration is in the repository.');
}

/** MQ12: network segmentation for the Kafka cluster. */
function mq12(ctx: AuditContext): Outcome {
  const infra = infraModel(ctx);
  const published = infra.brokers.kafka.flatMap((b) => b.publicPorts);
  const composeKafka = infra.platform.composeServices.filter(
    (s) => KAFKA_IMAGE.test(s.image) && s.publicPorts.length > 0,
  );
  if (published[0] !== undefined) {
    const development = composeKafka.length > 0 && composeKafka.every((s) => s.development);
    return outcome(
      development ? 'PARTIAL' : 'FAIL',
      `The Kafka broker is published outside its network (${where(published[0])})${development ? ', in development configuration' : ''}.`,
      top(published),
    );
  }
  const policies = infra.platform.networkPolicies.filter(
    (p) => /kafka/i.test(p.selects) && p.ingress,
  );
  if (policies.length > 0)
    return outcome(
      'PASS',
      'A network policy restricts who can reach the Kafka brokers.',
      top(policies.map((p) => p.evidence)),
    );
  const kafkaInfra = infra.brokers.kafka;
  if (kafkaInfra.length > 0 && infra.platform.kubernetes.length > 0) {
    return outcome(
      'FAIL',
      'Kafka runs in Kubernetes without a network policy for its pods.',
      top(kafkaInfra.map((b) => b.source)),
    );
  }
  const containers = infra.platform.composeServices.filter((s) => KAFKA_IMAGE.test(s.image));
  if (containers.length > 0) {
    return outcome(
      'PASS',
      'The Kafka container does not publish its ports outside the compose network.',
      top(containers.map((s) => s.evidence)),
    );
  }
  return outcome('N/A', 'No Kafka deployment configuration is in the repository.');
}

export const messageQueueRules: RuleSet = {
  MQ1: rabbitRule(mq1),
  MQ2: rabbitRule(mq2),
  MQ3: rabbitRule(mq3),
  MQ4: rabbitRule(mq4),
  MQ5: rabbitRule(mq5),
  MQ6: rabbitRule(mq6),
  MQ7: kafkaRule(mq7),
  MQ8: kafkaRule(mq8),
  MQ9: kafkaRule(mq9),
  MQ10: kafkaRule(mq10),
  MQ11: kafkaRule(mq11),
  MQ12: kafkaRule(mq12),
};
