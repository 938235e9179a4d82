import {
  contextFor,
  expectOutcomes,
  removeTempProjects,
  runRule,
  type Expectation,
  type Files,
} from './support/project.ts';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { CheckId, Outcome } from '../src/model.ts';
import { messageQueueRules } from '../src/rules/message-queue.ts';
import { networkRules } from '../src/rules/network.ts';
import type { AuditContext, RuleSet } from '../src/rules/rule.ts';
import { parseYamlDocuments, stripTemplates } from '../src/analysis/infra/yaml.ts';

after(removeTempProjects);

const RULES: RuleSet = { ...messageQueueRules, ...networkRules };

const run = (ctx: AuditContext, id: CheckId): Outcome => runRule(RULES, ctx, id);

const check = (files: Files, expect: Readonly<Partial<Record<CheckId, Expectation>>>) =>
  expectOutcomes(RULES, files, expect);

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
spec:
  template:
    metadata:
      labels:
        app: orders
    spec:
      containers:
        - name: orders
          image: orders:1.0
          env:
            - name: BILLING_URL
              value: http://billing.default.svc.cluster.local:8080
`;

const POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: orders-ingress
spec:
  podSelector:
    matchLabels:
      app: orders
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app: api-gateway
  egress:
    - to:
        - podSelector:
            matchLabels:
              app: billing
`;

describe('NW2/NW3/NW4/NW7: network policies', () => {
  it('a NetworkPolicy with named peers passes NW2, NW3, NW4 and NW7', () =>
    check(
      { 'k8s/deployment.yaml': DEPLOYMENT, 'k8s/policy.yaml': POLICY },
      {
        NW2: { status: 'PASS', file: 'k8s/policy.yaml', line: 1 },
        NW3: 'PASS',
        NW4: 'PASS',
        NW7: 'PASS',
      },
    ));

  it('Kubernetes workloads without any policy fail', () =>
    check(
      { 'k8s/deployment.yaml': DEPLOYMENT },
      { NW2: 'FAIL', NW3: 'FAIL', NW4: 'FAIL', NW7: 'FAIL' },
    ));

  it('no manifests at all: N/A with the reason', async () => {
    const ctx = await contextFor({ 'src/a.ts': 'export {};\n' });
    for (const id of ['NW2', 'NW3', 'NW4', 'NW6', 'NW7'] as const) {
      const result = run(ctx, id);
      assert.equal(result.status, 'N/A', id);
      assert.match(result.why, /no Kubernetes or compose manifests/i);
    }
  });

  it('an allow-all ingress rule and open egress are PARTIAL', () =>
    check(
      {
        'k8s/policy.yaml': `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: open\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n  ingress:\n    - {}\n  egress:\n    - to:\n        - ipBlock:\n            cidr: 0.0.0.0/0\n`,
      },
      // An egress rule to 0.0.0.0/0 filters nothing: NW4 is PARTIAL like NW3, not PASS.
      { NW2: 'PARTIAL', NW3: 'PARTIAL', NW4: 'PARTIAL', NW7: 'PARTIAL' },
    ));

  it('Istio STRICT mTLS and AuthorizationPolicy pass NW1 and NW7 (multi-document YAML)', () =>
    check(
      {
        'mesh/istio.yaml': `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\nspec:\n  mtls:\n    mode: STRICT\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: payments\nspec:\n  action: ALLOW\n  rules:\n    - from:\n        - source:\n            principals: ["cluster.local/ns/prod/sa/orders"]\n`,
      },
      { NW1: { status: 'PASS', file: 'mesh/istio.yaml', line: 7 }, NW7: 'PASS' },
    ));

  it('PERMISSIVE mesh mode is PARTIAL for NW1', () =>
    check(
      {
        'mesh/pa.yaml': `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\nspec:\n  mtls:\n    mode: PERMISSIVE\n`,
      },
      { NW1: 'PARTIAL' },
    ));

  it('Helm templates with {{ }} and invalid YAML never break the analysis', async () => {
    await check(
      {
        'charts/api/templates/networkpolicy.yaml': `{{- if .Values.networkPolicy.enabled }}\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {{ include "api.fullname" . }}\nspec:\n  podSelector:\n    matchLabels:\n      app: {{ .Release.Name }}\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels:\n              role: gateway\n{{- end }}\n`,
        'k8s/broken.yaml': `apiVersion: v1\nkind: Service\nmetadata: [unclosed\n  name: x\n`,
      },
      { NW2: 'PASS' },
    );
    assert.deepEqual(parseYamlDocuments('a: [unclosed'), []);
    assert.equal(stripTemplates('a: {{ .x }}\n{{- end }}\n'), 'a: TEMPLATE\n\n');
  });
});

describe('NW5/NW6: addressing and exposure', () => {
  it('compose publishing a backend port fails NW6; only the gateway published passes', async () => {
    await check(
      {
        'docker-compose.yml': `services:\n  gateway:\n    image: nginx\n    ports:\n      - "443:443"\n  orders:\n    image: orders\n    ports:\n      - "8080:8080"\n`,
      },
      { NW6: { status: 'FAIL', file: 'docker-compose.yml', line: 9 } },
    );
    await check(
      {
        'docker-compose.yml': `services:\n  gateway:\n    image: nginx\n    ports:\n      - "443:443"\n  orders:\n    image: orders\n    ports:\n      - "127.0.0.1:8080:8080"\n`,
      },
      { NW6: 'PASS' },
    );
  });

  it('a LoadBalancer Service for a backend fails NW6', () =>
    check(
      {
        'k8s/svc.yaml': `apiVersion: v1\nkind: Service\nmetadata:\n  name: billing\nspec:\n  type: LoadBalancer\n  ports:\n    - port: 80\n`,
      },
      { NW6: { status: 'FAIL', file: 'k8s/svc.yaml', line: 6 } },
    ));

  it('cluster DNS names pass NW5; config-only addresses are N/A', async () => {
    await check({ 'k8s/deployment.yaml': DEPLOYMENT }, { NW5: 'PASS' });
    await check(
      { 'src/a.ts': `export const a = () => fetch(process.env.BILLING_URL ?? '');\n` },
      { NW5: 'N/A' },
    );
  });
});

const RABBIT_VULNERABLE = `import amqp from 'amqplib';
export async function connect() {
  const conn = await amqp.connect('amqp://guest:guest@rabbitmq:5672');
  return conn.createChannel();
}
`;

const RABBIT_SECURE = `import amqp from 'amqplib';
import fs from 'node:fs';
import { secretsManager } from './secrets.ts';
export async function connect() {
  return amqp.connect(
    {
      protocol: 'amqps',
      hostname: process.env.RABBITMQ_HOST,
      username: await secretsManager.getSecret('rabbitmq/order-service/username'),
      password: await secretsManager.getSecret('rabbitmq/order-service/password'),
      vhost: 'production',
    },
    { ca: [fs.readFileSync('/etc/ssl/rabbitmq-ca.pem')] },
  );
}
`;

describe('MQ1–MQ6: RabbitMQ', () => {
  it('amqp://guest:guest@ fails MQ1, MQ2, MQ4 and MQ5 at the connect line', () =>
    check(
      { 'src/queue.ts': RABBIT_VULNERABLE },
      {
        MQ1: { status: 'FAIL', file: 'src/queue.ts', line: 3 },
        MQ2: { status: 'FAIL', file: 'src/queue.ts', line: 3 },
        MQ4: 'FAIL',
        MQ5: { status: 'FAIL', file: 'src/queue.ts', line: 3 },
        MQ7: 'N/A',
      },
    ));

  it('amqps with per-service credentials from a secrets manager passes (CommonJS variant too)', async () => {
    const secrets = `export const secretsManager = { getSecret: async (name: string) => name };\n`;
    await check(
      { 'src/queue.ts': RABBIT_SECURE, 'src/secrets.ts': secrets },
      { MQ1: 'PASS', MQ2: 'PASS', MQ4: 'PASS', MQ5: 'N/A' },
    );
    await check(
      {
        'src/queue.cjs': `const amqp = require('amqplib/callback_api');\namqp.connect('amqps://rabbitmq.internal/orders', (err, conn) => {});\n`,
      },
      { MQ1: 'PASS', MQ4: 'PASS', MQ5: 'FAIL' },
    );
  });

  it('a URL from configuration is PARTIAL for MQ1; compose reveals the plain amqp:// URL', async () => {
    await check(
      {
        'src/queue.ts': `import amqp from 'amqplib';\nexport const c = () => amqp.connect(process.env.AMQP_URL!);\n`,
      },
      { MQ1: 'PARTIAL', MQ2: 'N/A' },
    );
    await check(
      {
        'src/queue.ts': `import amqp from 'amqplib';\nexport const c = () => amqp.connect(process.env.AMQP_URL!);\n`,
        'docker-compose.yml': `services:\n  orders:\n    image: orders\n    environment:\n      AMQP_URL: amqp://orders:s3cr3t@rabbitmq:5672\n  billing:\n    image: billing\n    environment:\n      AMQP_URL: amqp://orders:s3cr3t@rabbitmq:5672\n  rabbitmq:\n    image: rabbitmq:3-management\n    ports:\n      - "15672:15672"\n`,
      },
      {
        MQ1: { status: 'FAIL', file: 'docker-compose.yml', line: 5 },
        MQ2: 'FAIL',
        MQ5: 'PARTIAL',
        MQ6: { status: 'FAIL', file: 'docker-compose.yml', line: 13 },
      },
    );
  });

  it('rabbitmq.conf and definitions decide MQ3, MQ5 and MQ6', () =>
    check(
      {
        'src/queue.ts': `import amqp from 'amqplib';\nexport const c = () => amqp.connect(process.env.AMQP_URL!);\n`,
        'rabbitmq/rabbitmq.conf': `listeners.ssl.default = 5671\nlisteners.tcp = none\nloopback_users.guest = false\nmanagement.tcp.ip = 127.0.0.1\n`,
        'rabbitmq/definitions.json': JSON.stringify(
          {
            users: [{ name: 'orders' }, { name: 'billing' }],
            vhosts: [{ name: 'production' }],
            permissions: [
              {
                user: 'orders',
                vhost: 'production',
                configure: '^orders\\..*',
                write: '^orders\\..*',
                read: '^orders\\..*',
              },
              { user: 'billing', vhost: 'production', configure: '.*', write: '.*', read: '.*' },
            ],
          },
          null,
          2,
        ),
      },
      {
        MQ1: 'PASS',
        MQ3: 'FAIL',
        MQ5: { status: 'FAIL', file: 'rabbitmq/rabbitmq.conf', line: 3 },
        MQ6: 'PASS',
        MQ2: 'PASS',
      },
    ));

  it('the same username in two services of a monorepo fails MQ2', () =>
    check(
      {
        'package.json': '{"name": "platform", "workspaces": ["services/*"]}',
        'services/orders/package.json': '{"name": "orders"}',
        'services/orders/src/queue.ts': `import amqp from 'amqplib';\nexport const c = () => amqp.connect(\`amqps://app:\${process.env.MQ_PASSWORD}@rabbit/prod\`);\n`,
        'services/billing/package.json': '{"name": "billing"}',
        'services/billing/src/queue.js': `const amqp = require('amqplib');\nexports.c = () => amqp.connect(\`amqps://app:\${process.env.MQ_PASSWORD}@rabbit/prod\`);\n`,
      },
      {
        MQ2: { status: 'FAIL', file: 'services/billing/src/queue.js', line: 2 },
        MQ1: 'PASS',
        MQ4: 'PASS',
      },
    ));

  it('no message queue at all: every MQ row is N/A', async () => {
    const ctx = await contextFor({ 'src/a.ts': 'export {};\n' });
    for (const id of [
      'MQ1',
      'MQ2',
      'MQ3',
      'MQ4',
      'MQ5',
      'MQ6',
      'MQ7',
      'MQ8',
      'MQ9',
      'MQ10',
      'MQ11',
      'MQ12',
    ] as const) {
      const result = run(ctx, id);
      assert.equal(result.status, 'N/A', id);
      assert.match(result.why, /no message-queue client/i);
    }
  });
});

describe('MQ7–MQ12: Kafka', () => {
  it('kafkajs without ssl or sasl fails MQ7, MQ8 and MQ10', () =>
    check(
      {
        'src/kafka.ts': `import { Kafka } from 'kafkajs';\nexport const kafka = new Kafka({ clientId: 'orders', brokers: ['kafka:9092'] });\n`,
      },
      {
        MQ7: { status: 'FAIL', file: 'src/kafka.ts', line: 2 },
        MQ8: 'FAIL',
        MQ10: 'FAIL',
        MQ1: 'N/A',
      },
    ));

  it('kafkajs with ssl and SCRAM credentials from a secrets manager', () =>
    check(
      {
        'src/kafka.ts': `import { Kafka } from 'kafkajs';
import { getSecret } from './secrets.ts';
export async function client() {
  return new Kafka({
    clientId: 'order-service',
    brokers: (process.env.KAFKA_BROKERS ?? '').split(','),
    ssl: true,
    sasl: { mechanism: 'scram-sha-512', username: await getSecret('kafka/order-service/username'), password: await getSecret('kafka/order-service/password') },
  });
}
`,
        'src/secrets.ts': `export const getSecret = async (name: string) => name;\n`,
      },
      { MQ7: 'PASS', MQ8: 'PARTIAL', MQ10: 'PASS', MQ9: 'N/A', MQ11: 'N/A' },
    ));

  it('server.properties decides MQ8, MQ9 and MQ11', async () => {
    await check(
      {
        'src/kafka.ts': `import { Kafka } from 'kafkajs';\nexport const k = new Kafka({ brokers: ['k:9093'], ssl: true, sasl: { mechanism: 'scram-sha-512', username: process.env.U!, password: process.env.P! } });\n`,
        'kafka/server.properties': `broker.id=1\nlisteners=SASL_SSL://0.0.0.0:9093\nsecurity.inter.broker.protocol=SASL_SSL\nsasl.enabled.mechanisms=SCRAM-SHA-512\nauthorizer.class.name=kafka.security.authorizer.AclAuthorizer\nzookeeper.connect=zk:2181\nzookeeper.set.acl=true\n`,
      },
      { MQ7: 'PASS', MQ8: 'PASS', MQ9: 'PASS', MQ11: 'PASS' },
    );
    await check(
      {
        'src/kafka.ts': `import { Kafka } from 'kafkajs';\nexport const k = new Kafka({ brokers: ['k:9092'], ssl: true, sasl: { mechanism: 'plain', username: 'u', password: process.env.P! } });\n`,
        'kafka/server.properties': `broker.id=1\nlisteners=PLAINTEXT://0.0.0.0:9092\nzookeeper.connect=zk:2181\nallow.everyone.if.no.acl.found=true\n`,
      },
      {
        MQ8: { status: 'FAIL', file: 'kafka/server.properties', line: 2 },
        MQ9: 'FAIL',
        MQ11: 'FAIL',
      },
    );
  });

  it('a Kafka port published by compose fails MQ12; a NetworkPolicy for Kafka passes', async () => {
    await check(
      {
        'src/kafka.ts': `import { Kafka } from 'kafkajs';\nexport const k = new Kafka({ brokers: ['kafka:9092'] });\n`,
        'docker-compose.yml': `services:\n  kafka:\n    image: bitnami/kafka:3.7\n    ports:\n      - "9092:9092"\n    environment:\n      KAFKA_CFG_PROCESS_ROLES: broker,controller\n`,
      },
      { MQ12: { status: 'FAIL', file: 'docker-compose.yml', line: 5 }, MQ11: 'N/A' },
    );
    await check(
      {
        'src/kafka.ts': `import { Kafka } from 'kafkajs';\nexport const k = new Kafka({ brokers: ['kafka:9092'] });\n`,
        'k8s/kafka-policy.yaml': `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: kafka\nspec:\n  podSelector:\n    matchLabels:\n      app: kafka\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels:\n              kafka-client: "true"\n`,
      },
      { MQ12: 'PASS' },
    );
  });
});
