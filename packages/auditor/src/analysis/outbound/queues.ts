import ts from 'typescript';
import { accessChain, evidenceAt, propertyNameText, unwrap } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { SourceUnit } from '../../project/load.ts';
import type { AuditContext } from '../context.ts';
import {
  optionOf,
  receiverName,
  SECRET_STORE_RECEIVER,
  OriginAnalysis,
  resolveObject,
  type Located,
  type Origin,
  resolveFinal,
  staticText,
} from './expressions.ts';
import { productionFacts, type FileFacts } from './scan.ts';

/** Credentials a broker connection uses, as far as the code shows. */
export interface BrokerCredentials {
  /** Where the username/password come from (union). Empty when none are given at all. */
  readonly origins: ReadonlySet<Origin>;
  /** The username when it is written in the code or URL. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** A fetch path that names the service (`rabbitmq/order-service/password`). */
  readonly secretPath: string | undefined;
  readonly evidence: Evidence;
}

/** One RabbitMQ connection (`amqp.connect(…)`). */
export interface AmqpConnection {
  readonly unit: SourceUnit;
  readonly node: ts.Node;
  readonly evidence: Evidence;
  /** `amqps`, `amqp`, or unknown when the URL comes from configuration. */
  readonly scheme: 'amqps' | 'amqp' | 'unknown';
  readonly credentials: BrokerCredentials | undefined;
  /** Virtual host: `/` (the default) or a name; undefined when not known. */
  readonly vhost: string | undefined;
  /** A `vhost` option whose value comes from configuration (a vhost is chosen, per environment). */
  readonly vhostConfigured: Evidence | undefined;
  /** TLS options given (`ca`, `cert`) — with `amqps` the connection is TLS either way. */
  readonly tlsOptions: Evidence | undefined;
  /** `rejectUnauthorized: false` in its socket options. */
  readonly insecure: Evidence | undefined;
}

/** One Kafka client (`new Kafka({...})`, rdkafka `Producer`/`KafkaConsumer`). */
export interface KafkaClient {
  readonly unit: SourceUnit;
  readonly node: ts.Node;
  readonly evidence: Evidence;
  readonly ssl: { readonly on: boolean; readonly evidence: Evidence } | undefined;
  readonly sslInsecure: Evidence | undefined;
  readonly sasl:
    { readonly mechanism: string | undefined; readonly evidence: Evidence } | undefined;
  readonly credentials: BrokerCredentials | undefined;
}

export interface QueueModel {
  /** Imports of RabbitMQ client libraries (presence, even when no connection is resolved). */
  readonly rabbitImports: readonly Evidence[];
  readonly kafkaImports: readonly Evidence[];
  readonly rabbit: readonly AmqpConnection[];
  readonly kafka: readonly KafkaClient[];
  /** Kafka admin `createAcls` calls. */
  readonly kafkaAcls: readonly Evidence[];
  /** RabbitMQ permissions set from code (`setPermissions`, management API `/api/permissions`). */
  readonly rabbitPermissions: readonly Evidence[];
}

const RABBIT_MODULES = [
  'amqplib',
  'amqplib/callback_api',
  'amqp-connection-manager',
  '@cloudamqp/amqp-client',
  'rascal',
  '@golevelup/nestjs-rabbitmq',
  'rabbitmq-client',
];
const KAFKA_MODULES = [
  'kafkajs',
  'node-rdkafka',
  '@confluentinc/kafka-javascript',
  '@platformatic/kafka',
];

/** Parses `amqp[s]://user:pass@host:port/vhost` as far as it is static. */
export function parseAmqpUrl(text: string): {
  scheme: 'amqps' | 'amqp' | 'unknown';
  username: string | undefined;
  password: string | undefined;
  vhost: string | undefined;
} {
  const match = /^(amqps?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]*)(\/[^?]*)?/i.exec(text);
  if (match === null) {
    return { scheme: 'unknown', username: undefined, password: undefined, vhost: undefined };
  }
  const scheme = (match[1] ?? '').toLowerCase() === 'amqps' ? 'amqps' : 'amqp';
  const known = (value: string | undefined) =>
    value === undefined || value.includes('${') ? undefined : decodeURIComponentSafe(value);
  const path = match[5];
  const vhost =
    path === undefined || path === '' || path === '/'
      ? '/'
      : path.includes('${')
        ? undefined
        : decodeURIComponentSafe(path.slice(1));
  return { scheme, username: known(match[2]), password: known(match[3]), vhost };
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Finds message-queue clients in the project's (non-test) code. */
export function analyseQueues(ctx: AuditContext): QueueModel {
  const origins = ctx.memo('s2s.origins', () => new OriginAnalysis(ctx.symbols));
  const rabbitImports: Evidence[] = [];
  const kafkaImports: Evidence[] = [];
  const rabbit: AmqpConnection[] = [];
  const kafka: KafkaClient[] = [];
  const kafkaAcls: Evidence[] = [];
  const rabbitPermissions: Evidence[] = [];

  for (const file of productionFacts(ctx)) {
    const { unit } = file;
    const reader = new Reader(ctx, unit, origins);
    for (const module of file.modules) {
      if (RABBIT_MODULES.includes(module)) rabbitImports.push(importEvidence(file, module));
      if (KAFKA_MODULES.includes(module)) kafkaImports.push(importEvidence(file, module));
    }
    for (const call of file.calls) {
      const reference = ctx.symbols.moduleReference(unit, call.expression);
      const name = reference?.path.at(-1);
      if (
        reference !== undefined &&
        RABBIT_MODULES.includes(reference.module) &&
        name === 'connect'
      ) {
        rabbit.push(...reader.amqp(call, call.arguments[0], call.arguments[1]));
      }
      const method = accessChain(call.expression)?.at(-1);
      if (method === 'createAcls') kafkaAcls.push(evidenceAt(unit, call));
      if (method === 'setPermissions' || method === 'set_permissions') {
        rabbitPermissions.push(evidenceAt(unit, call));
      }
    }
    for (const expression of file.news) {
      const reference = ctx.symbols.moduleReference(unit, expression.expression);
      if (reference === undefined) continue;
      const name = reference.path.at(-1);
      const first = expression.arguments?.[0];
      if (reference.module === '@cloudamqp/amqp-client' && name === 'AMQPClient') {
        rabbit.push(...reader.amqp(expression, first, undefined));
      } else if (
        KAFKA_MODULES.includes(reference.module) &&
        KAFKA_CLIENTS.has(name ?? '') &&
        first !== undefined
      ) {
        const client = reader.kafka(expression, first);
        if (client !== undefined) kafka.push(client);
      }
    }
    // NestJS microservices: `{ transport: Transport.RMQ, options: { urls: [...] } }`.
    for (const property of file.properties) {
      if (!ts.isPropertyAssignment(property) || propertyNameText(property.name) !== 'transport') {
        continue;
      }
      const transport = accessChain(property.initializer)?.join('.');
      const object = property.parent;
      if (!ts.isObjectLiteralExpression(object)) continue;
      const options = optionOf(ctx.symbols, { unit, node: object }, 'options');
      const optionsObject =
        options === undefined ? undefined : resolveObject(ctx.symbols, options.unit, options.node);
      if (transport === 'Transport.RMQ') {
        rabbitImports.push(evidenceAt(unit, property));
        const urls =
          optionsObject === undefined ? undefined : optionOf(ctx.symbols, optionsObject, 'urls');
        if (urls !== undefined) rabbit.push(...reader.amqp(property, urls.node, undefined));
      } else if (transport === 'Transport.KAFKA') {
        kafkaImports.push(evidenceAt(unit, property));
        const client =
          optionsObject === undefined ? undefined : optionOf(ctx.symbols, optionsObject, 'client');
        const parsed = client === undefined ? undefined : reader.kafka(property, client.node);
        if (parsed !== undefined) kafka.push(parsed);
      }
    }
  }
  return { rabbitImports, kafkaImports, rabbit, kafka, kafkaAcls, rabbitPermissions };
}

function importEvidence(file: FileFacts, module: string): Evidence {
  for (const statement of file.unit.sourceFile.statements) {
    if (
      ts.isImportDeclaration(statement) &&
      ts.isStringLiteral(statement.moduleSpecifier) &&
      statement.moduleSpecifier.text === module
    ) {
      return evidenceAt(file.unit, statement);
    }
  }
  for (const call of file.calls) {
    const first = call.arguments[0];
    if (first !== undefined && ts.isStringLiteralLike(first) && first.text === module) {
      return evidenceAt(file.unit, call);
    }
  }
  return evidenceAt(file.unit, file.unit.sourceFile.statements[0] ?? file.unit.sourceFile);
}

/**
 * The literal a property name is given in the project's code, when exactly one literal is ever
 * assigned to that name: config objects reach their users through typed parameters that data
 * flow cannot follow, but their names are specific (`credentialsSecret`).
 */
function uniquePropertyLiteral(ctx: AuditContext, name: string): string | undefined {
  const table = ctx.memo('outbound.propertyLiterals', () => {
    const values = new Map<string, Set<string>>();
    for (const file of productionFacts(ctx)) {
      for (const property of file.properties) {
        if (!ts.isPropertyAssignment(property)) continue;
        const key = propertyNameText(property.name);
        const value = unwrap(property.initializer);
        if (key === undefined || !ts.isStringLiteralLike(value)) continue;
        const set = values.get(key) ?? new Set<string>();
        set.add(value.text);
        values.set(key, set);
      }
    }
    return values;
  });
  const found = table.get(name);
  return found?.size === 1 ? [...found][0] : undefined;
}

const KAFKA_CLIENTS = new Set(['Kafka', 'Producer', 'KafkaConsumer', 'HighLevelProducer']);
const SECRET_PATH_CALL = /^(get|fetch|read|load|retrieve|access)\w*(secret|parameter|credential)/i;

class Reader {
  constructor(
    private readonly ctx: AuditContext,
    private readonly unit: SourceUnit,
    private readonly origins: OriginAnalysis,
  ) {}

  private object(
    expression: ts.Expression | undefined,
  ): Located<ts.ObjectLiteralExpression> | undefined {
    return expression === undefined
      ? undefined
      : resolveObject(this.ctx.symbols, this.unit, expression);
  }

  private option(
    object: Located<ts.ObjectLiteralExpression> | undefined,
    name: string,
  ): Located | undefined {
    return object === undefined ? undefined : optionOf(this.ctx.symbols, object, name);
  }

  private text(value: Located | undefined): string | undefined {
    if (value === undefined) return undefined;
    const found = staticText(this.ctx.symbols, value.unit, value.node);
    return found?.complete === true ? found.text : undefined;
  }

  /** The secrets-manager path a value is fetched from, when it names one. */
  private secretPath(value: Located | undefined): string | undefined {
    if (value === undefined) return undefined;
    const final = resolveFinal(this.ctx.symbols, value.unit, value.node);
    const node = unwrap(final.expression);
    if (!ts.isCallExpression(node)) return undefined;
    const callee = accessChain(node.expression)?.at(-1) ?? '';
    const argument = node.arguments[0];
    const store =
      SECRET_PATH_CALL.test(callee) || SECRET_STORE_RECEIVER.test(receiverName(node) ?? '');
    if (!store || argument === undefined) return undefined;
    const text = staticText(this.ctx.symbols, final.unit, argument)?.text;
    if (text !== undefined) return text;
    // `secrets.json(config.rabbitmq.credentialsSecret)` with `config` passed in as a parameter.
    const name = accessChain(argument)?.at(-1);
    return name === undefined ? undefined : uniquePropertyLiteral(this.ctx, name);
  }

  private credentials(
    at: ts.Node,
    username: Located | undefined,
    password: Located | undefined,
    fromUrl?: {
      username: string | undefined;
      password: string | undefined;
      origins: ReadonlySet<Origin>;
    },
  ): BrokerCredentials | undefined {
    const origins = new Set<Origin>();
    for (const value of [username, password]) {
      if (value !== undefined)
        for (const o of this.origins.of(value.unit, value.node)) origins.add(o);
    }
    if (
      fromUrl !== undefined &&
      (fromUrl.username !== undefined || fromUrl.password !== undefined)
    ) {
      for (const o of fromUrl.origins) origins.add(o);
    }
    if (origins.size === 0) return undefined;
    return {
      origins,
      username: this.text(username) ?? fromUrl?.username,
      password: this.text(password) ?? fromUrl?.password,
      secretPath: this.secretPath(username) ?? this.secretPath(password),
      evidence: evidenceAt(this.unit, (username ?? password)?.node ?? at),
    };
  }

  amqp(
    node: ts.Node,
    target: ts.Expression | undefined,
    socketOptions: ts.Expression | undefined,
  ): AmqpConnection[] {
    if (target === undefined) return [];
    const value = unwrap(resolveFinal(this.ctx.symbols, this.unit, target).expression);
    if (ts.isArrayLiteralExpression(value)) {
      return value.elements.flatMap((element) => this.amqp(node, element, socketOptions));
    }
    const socket = this.object(socketOptions);
    const connectionOptions = this.option(socket, 'connectionOptions');
    const tlsSource =
      connectionOptions === undefined ? socket : this.object(connectionOptions.node);
    const ca = this.option(tlsSource, 'ca') ?? this.option(tlsSource, 'cert');
    const reject = this.option(tlsSource, 'rejectUnauthorized');
    const insecure =
      reject !== undefined && unwrap(reject.node).kind === ts.SyntaxKind.FalseKeyword
        ? evidenceAt(reject.unit, reject.node)
        : undefined;
    const tlsOptions = ca === undefined ? undefined : evidenceAt(ca.unit, ca.node);
    const options = this.object(target);
    if (options !== undefined) {
      const protocol = this.text(this.option(options, 'protocol'));
      const vhost = this.option(options, 'vhost');
      const username = this.option(options, 'username');
      const password = this.option(options, 'password');
      return [
        {
          unit: this.unit,
          node,
          evidence: evidenceAt(this.unit, node),
          scheme:
            protocol === undefined
              ? this.option(options, 'protocol') === undefined
                ? 'amqp'
                : 'unknown'
              : protocol.replace(/:$/, '') === 'amqps'
                ? 'amqps'
                : 'amqp',
          credentials: this.credentials(node, username, password),
          vhost: vhost === undefined ? '/' : this.text(vhost),
          vhostConfigured:
            vhost !== undefined && this.text(vhost) === undefined
              ? evidenceAt(vhost.unit, vhost.node)
              : undefined,
          tlsOptions,
          insecure,
        },
      ];
    }
    const url = staticText(this.ctx.symbols, this.unit, target);
    const parsed = parseAmqpUrl(url?.text ?? '');
    const origins = this.origins.of(this.unit, target);
    return [
      {
        unit: this.unit,
        node,
        evidence: evidenceAt(this.unit, node),
        scheme: parsed.scheme,
        credentials: this.credentials(node, undefined, undefined, {
          username: parsed.username,
          password: parsed.password,
          origins,
        }),
        vhost: parsed.scheme === 'unknown' ? undefined : parsed.vhost,
        vhostConfigured: undefined,
        tlsOptions,
        insecure,
      },
    ];
  }

  kafka(node: ts.Node, config: ts.Expression): KafkaClient | undefined {
    let object = this.object(config);
    const nested = this.option(object, 'kafkaJS');
    if (nested !== undefined) object = this.object(nested.node);
    if (object === undefined) return undefined;
    const ssl = this.option(object, 'ssl');
    const sasl = this.option(object, 'sasl');
    const protocol = this.text(this.option(object, 'security.protocol'))?.toLowerCase();
    let sslFact: KafkaClient['ssl'];
    let sslInsecure: Evidence | undefined;
    if (ssl !== undefined) {
      const plain = unwrap(ssl.node);
      const off = plain.kind === ts.SyntaxKind.FalseKeyword;
      sslFact = { on: !off, evidence: evidenceAt(ssl.unit, ssl.node) };
      const reject = this.option(this.object(ssl.node), 'rejectUnauthorized');
      if (reject !== undefined && unwrap(reject.node).kind === ts.SyntaxKind.FalseKeyword) {
        sslInsecure = evidenceAt(reject.unit, reject.node);
      }
    } else if (protocol !== undefined) {
      const at = this.option(object, 'security.protocol');
      sslFact = {
        on: protocol.endsWith('ssl'),
        evidence: evidenceAt(at?.unit ?? this.unit, at?.node ?? node),
      };
    }
    let saslFact: KafkaClient['sasl'];
    let credentials: BrokerCredentials | undefined;
    const saslObject = sasl === undefined ? undefined : this.object(sasl.node);
    if (sasl !== undefined) {
      saslFact = {
        mechanism: this.text(this.option(saslObject, 'mechanism')),
        evidence: evidenceAt(sasl.unit, sasl.node),
      };
      credentials = this.credentials(
        sasl.node,
        this.option(saslObject, 'username'),
        this.option(saslObject, 'password'),
      );
    } else if (protocol?.startsWith('sasl') === true) {
      const mechanism =
        this.option(object, 'sasl.mechanisms') ?? this.option(object, 'sasl.mechanism');
      saslFact = {
        mechanism: this.text(mechanism),
        evidence: evidenceAt(this.unit, mechanism?.node ?? node),
      };
      credentials = this.credentials(
        node,
        this.option(object, 'sasl.username'),
        this.option(object, 'sasl.password'),
      );
    }
    return {
      unit: this.unit,
      node,
      evidence: evidenceAt(this.unit, node),
      ssl: sslFact,
      sslInsecure,
      sasl: saslFact,
      credentials,
    };
  }
}
