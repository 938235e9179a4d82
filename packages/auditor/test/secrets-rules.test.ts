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
import type { AuditContext, RuleSet } from '../src/rules/rule.ts';
import { secretsRules } from '../src/rules/secrets.ts';
import { serviceClientRules } from '../src/rules/service-client.ts';
import { tokenManagementRules } from '../src/rules/token-management.ts';
import { entropy, looksLikeSecret } from '../src/analysis/secrets/literals.ts';
import { durationSeconds } from '../src/analysis/secrets/sources.ts';

after(removeTempProjects);

const RULES: RuleSet = { ...secretsRules, ...serviceClientRules, ...tokenManagementRules };

const run = (ctx: AuditContext, id: CheckId): Outcome => runRule(RULES, ctx, id);

const check = (files: Files, expect: Readonly<Partial<Record<CheckId, Expectation>>>) =>
  expectOutcomes(RULES, files, expect);

const PEM = [
  '-----BEGIN RSA PRIVATE KEY-----',
  'MIIEowIBAAKCAQEAvN3kqNc8fTn0y8zU0b3n1mVq2X7pK9YwLr5sT4uW6xZ8aB0c',
  'D2eF4gH6iJ8kL0mN2oP4qR6sT8uV0wX2yZ4aB6cD8eF0gH2iJ4kL6mN8oP0qR2sT',
  '-----END RSA PRIVATE KEY-----',
].join('\\n');

describe('SM2/SC2: hard-coded secrets — findings', () => {
  const cases: { name: string; files: Record<string, string>; line: number; file?: string }[] = [
    {
      name: 'an AWS access key id',
      files: {
        'src/aws.ts': `export const config = {\n  region: 'eu-west-1',\n  accessKeyId: 'AKIAZ7QW3RT5YU8IO2PL',\n};\n`,
      },
      line: 3,
    },
    {
      name: 'a PEM private key',
      files: {
        'src/keys.js': `// signing key\nconst key = "${PEM}";\nmodule.exports = { key };\n`,
      },
      line: 2,
    },
    {
      name: 'a high-entropy password in a config object',
      files: {
        'src/db.ts': `export const db = {\n  host: 'db.internal',\n  password: 'Xk9#mQ2$vL8@pR4!',\n};\n`,
      },
      line: 3,
    },
    {
      name: 'a fallback secret behind an env lookup',
      files: {
        'src/jwt.ts': `export const JWT_SECRET = process.env.JWT_SECRET || 'super-secret-jwt-key-2024';\n`,
      },
      line: 1,
    },
    {
      name: 'a literal key passed to jwt.sign',
      files: {
        'src/token.ts': `import jwt from 'jsonwebtoken';\nexport const mint = (sub: string) =>\n  jwt.sign({ sub }, 'hunter2-signing', { expiresIn: '5m' });\n`,
      },
      line: 3,
    },
    {
      name: 'a Stripe live key',
      files: { 'src/pay.ts': `const stripe = new Stripe('sk_live_51HxQ2eKZv8sYt3LmN0pQ7rWx');\n` },
      line: 1,
    },
    {
      name: 'a password inside a connection URL',
      files: {
        'src/pg.ts': `export const url = 'postgres://app:Zq8!vT3#pL0w@db.internal:5432/app';\n`,
      },
      line: 1,
    },
    {
      name: 'an expected token compared in code',
      files: {
        'src/auth.ts': `export function ok(token: string) {\n  return token === 'c2VydmljZS10b2tlbi1hYmMxMjM0NTY3ODkw';\n}\n`,
      },
      line: 2,
    },
    {
      name: 'a registry token in a committed .npmrc',
      files: {
        'src/a.ts': 'export {};\n',
        '.npmrc': `registry=https://npm.registry.example/\n//npm.registry.example/:_authToken=npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8\n`,
      },
      file: '.npmrc',
      line: 2,
    },
    {
      name: 'a secret in a committed .env file',
      files: {
        'src/a.ts': 'export {};\n',
        '.env': `PORT=3000\nAPI_KEY=3f9c1a7be4d2406f8a5e0c7d9b1f2e3a\n`,
      },
      file: '.env',
      line: 2,
    },
  ];
  for (const c of cases) {
    it(`${c.name} → SM2 FAIL at the line`, () =>
      check(c.files, {
        SM2: { status: 'FAIL', file: c.file ?? Object.keys(c.files)[0] ?? '', line: c.line },
      }));
  }
});

describe('SM2/SC2: hard-coded secrets — false positives that must not fire', () => {
  const cases: { name: string; files: Record<string, string> }[] = [
    {
      name: 'password from the environment',
      files: { 'src/db.ts': `export const db = { password: process.env.DB_PASSWORD };\n` },
    },
    {
      name: "'changeme' in a test file",
      files: {
        'test/db.test.ts': `const password = 'changeme';\nconst apiKey = 'Xk9#mQ2$vL8@pR4!ab';\n`,
        'src/a.ts': 'export {};\n',
      },
    },
    {
      name: 'a secret name (path) in a secrets manager',
      files: {
        'src/a.ts': `export const JWT_SECRET_NAME = 'prod/jwt';\nexport const secretId = 'services/order-service/api-key';\n`,
      },
    },
    {
      name: 'a sha256 test vector constant',
      files: {
        'src/digest.ts': `export const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';\nexport const vectors = [{ key: 'k', expected: 'b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad' }];\n`,
      },
    },
    {
      // Found auditing this repository's authority: OAuth protocol constants with "credential"
      // and "bearer" in their names.
      name: 'protocol constants with secret-sounding names',
      files: {
        'src/a.ts': `export const CLIENT_CREDENTIALS = 'client_credentials';\nexport const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';\n`,
      },
    },
    {
      name: 'a placeholder value (review 004)',
      files: {
        'src/a.ts': `export const INTERNAL_SERVICE_TOKEN = 'your-generated-secret-here';\n`,
      },
    },
    {
      name: 'validation messages and labels',
      files: {
        'src/messages.ts': `export const messages = { password: 'Password must be at least 8 characters', token: 'Invalid token', apiKey: 'API key' };\n`,
      },
    },
    {
      name: 'short and low-entropy values',
      files: {
        'src/a.ts': `export const cfg = { secret: 'abc', password: 'aaaaaaaaaaaa', token: 'Bearer' };\n`,
      },
    },
    {
      name: 'a bcrypt hash and header/env names',
      files: {
        'src/a.ts': `export const passwordHash = '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy';\nexport const tokenHeader = 'x-service-token';\nexport const API_KEY_ENV = 'ORDER_SERVICE_API_KEY';\n`,
      },
    },
    {
      name: 'example payloads in API documentation objects',
      files: {
        'src/schema.ts': `export const login = {\n  body: { type: 'object' },\n  examples: [{ username: 'ada', password: 'Xk9#mQ2$vL8@pR4!' }],\n};\n`,
      },
    },
    {
      name: 'an .npmrc that reads its token from the environment',
      files: {
        'src/a.ts': 'export {};\n',
        '.npmrc': '//npm.registry.example/:_authToken=${NPM_TOKEN}\n',
      },
    },
    {
      name: 'an .env.example with placeholders',
      files: {
        'src/a.ts': 'export {};\n',
        '.env.example': `JWT_SECRET=change-me\nAPI_KEY=<your api key>\n`,
      },
    },
    {
      name: 'a .env listed in .gitignore (not in version control)',
      files: {
        'src/a.ts': 'export {};\n',
        '.gitignore': `node_modules\n.env\n`,
        '.env': `API_KEY=3f9c1a7be4d2406f8a5e0c7d9b1f2e3a\n`,
      },
    },
  ];
  for (const c of cases) it(`${c.name} → SM2 PASS`, () => check(c.files, { SM2: 'PASS' }));

  it('token lifetimes are read like jsonwebtoken and jose do', () => {
    assert.equal(durationSeconds('5m'), 300);
    assert.equal(durationSeconds('1h'), 3600);
    assert.equal(durationSeconds('7 days'), 604_800);
    assert.equal(durationSeconds(900), 900);
    assert.equal(durationSeconds('soon'), undefined);
  });

  it('entropy and thresholds behave as documented', () => {
    assert.equal(entropy('aaaa'), 0);
    assert.ok(entropy('2Jx_K9mZ-pQ4vR8nL2wX5yF1gH6jT3sU') > 4.5);
    assert.equal(looksLikeSecret('changeme', 'named'), false);
    assert.equal(looksLikeSecret('SuperSecret123!', 'named'), true);
    assert.equal(
      looksLikeSecret('urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'token-named'),
      false,
    );
  });
});

describe('SC2 uses the same findings for service credentials', () => {
  it('a literal bearer token in an outbound header fails SC2 and SC1', () =>
    check(
      {
        'src/a.ts': `import axios from 'axios';\nexport const http = axios.create({\n  baseURL: 'https://billing.internal',\n  timeout: 1000,\n  headers: { Authorization: 'Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0' },\n});\n`,
      },
      { SC2: { status: 'FAIL', file: 'src/a.ts', line: 5 }, SC1: 'FAIL' },
    ));
});

describe('TM4/SM5: tokens and secrets in logs', () => {
  it('logger.info({ token }) fails TM4 at the log line', () =>
    check(
      {
        'src/a.ts': `import pino from 'pino';\nconst logger = pino();\nexport function use(token: string) {\n  logger.info({ token }, 'calling billing');\n}\n`,
      },
      { TM4: { status: 'FAIL', file: 'src/a.ts', line: 4 }, SM5: 'FAIL' },
    ));

  it('a template string with the authorization header fails TM4', () =>
    check(
      {
        'src/a.js': `export function h(req) {\n  console.log(\`auth: \${req.headers.authorization}\`);\n}\n`,
      },
      { TM4: { status: 'FAIL', file: 'src/a.js', line: 2 } },
    ));

  it('logging every inbound header fails TM4 unless authorization is redacted', async () => {
    await check(
      {
        'src/a.js': `export function h(req) {\n  req.log.info({ headers: req.headers }, 'incoming');\n}\n`,
      },
      { TM4: 'FAIL' },
    );
    await check(
      {
        'src/a.js': `import pino from 'pino';\nexport const log = pino({ redact: ['req.headers.authorization'] });\nexport function h(req) {\n  req.log.info({ headers: req.headers }, 'incoming');\n}\n`,
      },
      { TM4: 'PASS' },
    );
  });

  it('console.log(secret) fails SM5 but not TM4', () =>
    check(
      {
        'src/a.ts': `const dbPassword = process.env.DB_PASSWORD;\nconsole.log('db password', dbPassword);\n`,
      },
      { SM5: 'FAIL', TM4: 'PASS' },
    ));

  it('metadata about tokens and secret names is fine', () =>
    check(
      {
        'src/a.ts': `declare const logger: { info(...a: unknown[]): void };\nexport function use(token: string, secretName: string) {\n  logger.info({ tokenLength: token.length, hasToken: !!token, secretName }, 'token refreshed');\n  logger.info('fetched secret %s', secretName);\n}\n`,
      },
      { TM4: 'PASS', SM5: 'PASS' },
    ));
});

describe('TM5: tokens in URLs', () => {
  it('a token in the query string of an outbound call fails', () =>
    check(
      {
        'src/a.ts': `export const get = (token: string) =>\n  fetch(\`https://reports.internal/export?token=\${token}\`);\n`,
      },
      { TM5: { status: 'FAIL', file: 'src/a.ts', line: 2 } },
    ));

  it('an api_key in axios params fails', () =>
    check(
      {
        'src/a.ts': `import axios from 'axios';\nexport const get = () => axios.get('https://x.internal/a', {\n  params: { api_key: process.env.API_KEY },\n});\n`,
      },
      { TM5: { status: 'FAIL', file: 'src/a.ts', line: 3 } },
    ));

  it('reading access_token from the inbound query string fails', () =>
    check(
      {
        'src/a.js': `export function h(req) {\n  const t = req.query.access_token;\n  return t;\n}\n`,
      },
      { TM5: 'FAIL' },
    ));

  it('a token in the Authorization header passes', () =>
    check(
      {
        'src/a.ts': `export const get = (token: string) =>\n  fetch('https://reports.internal/export', { headers: { authorization: \`Bearer \${token}\` } });\n`,
      },
      { TM5: 'PASS' },
    ));
});

const AWS_SECRETS = `import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
const client = new SecretsManagerClient({});
const cache = new Map<string, { value: string; expiresAt: number }>();
const cacheTTL = 300_000;
export async function getSecret(id: string): Promise<string> {
  const hit = cache.get(id);
  if (hit && hit.expiresAt > Date.now()) return hit.value;
  const out = await client.send(new GetSecretValueCommand({ SecretId: id }));
  cache.set(id, { value: out.SecretString ?? '', expiresAt: Date.now() + cacheTTL });
  return out.SecretString ?? '';
}
`;

describe('SM1/SM3/SM7: where secrets come from', () => {
  it('AWS Secrets Manager with caching passes SM1, PARTIAL SM7 (no rotation config)', () =>
    check(
      {
        'src/secrets.ts': AWS_SECRETS,
        'src/db.ts': `import { getSecret } from './secrets.ts';\nexport const password = () => getSecret('services/order-service/db-password');\n`,
      },
      { SM1: 'PASS', SM3: 'PASS', SM7: 'PARTIAL', SM6: 'PASS', SM8: 'N/A' },
    ));

  it('secrets only from environment variables: SM1 FAIL, SM3 FAIL', () =>
    check(
      {
        'src/config.ts': `export const config = {\n  jwtSecret: process.env.JWT_SECRET,\n  dbPassword: process.env.DB_PASSWORD,\n};\n`,
      },
      {
        SM1: 'FAIL',
        SM3: { status: 'FAIL', file: 'src/config.ts', line: 2 },
        SM7: 'FAIL',
        // No secrets manager, so no access trail to audit: SM1 carries the failure.
        SM8: 'N/A',
      },
    ));

  it('env secrets next to a secrets manager are PARTIAL for SM3', () =>
    check(
      {
        'src/secrets.ts': AWS_SECRETS,
        'src/config.ts': `export const apiKey = process.env.PAYMENTS_API_KEY;\n`,
      },
      { SM3: 'PARTIAL' },
    ));

  it('env secrets read only in a development branch pass SM3', () =>
    check(
      {
        'src/secrets.ts': AWS_SECRETS,
        'src/config.ts': `import { getSecret } from './secrets.ts';\nexport const jwtSecret = async () =>\n  process.env.NODE_ENV !== 'production' ? process.env.JWT_SECRET : getSecret('prod/jwt');\n`,
      },
      { SM3: 'PASS' },
    ));

  it('aws-sdk v2 counts for SecretsManager, not for S3', async () => {
    await check(
      {
        'src/s.js': `const AWS = require('aws-sdk');\nconst sm = new AWS.SecretsManager();\nexports.get = (id) => sm.getSecretValue({ SecretId: id }).promise();\n`,
      },
      { SM1: 'PASS' },
    );
    await check(
      {
        'src/s.js': `const AWS = require('aws-sdk');\nconst s3 = new AWS.S3();\nexports.key = process.env.DB_PASSWORD;\nexports.get = (k) => s3.getObject({ Bucket: 'b', Key: k }).promise();\n`,
      },
      { SM1: 'FAIL' },
    );
  });

  it('no secrets at all: SM1 N/A', () =>
    check({ 'src/a.ts': `export const x = 1;\n` }, { SM1: 'N/A', SM3: 'N/A', SM7: 'N/A' }));

  it('HashiCorp Vault dynamic database credentials pass SM7', () =>
    check(
      {
        'src/db.js': `const vault = require('node-vault')({ endpoint: process.env.VAULT_ADDR });\nasync function creds() {\n  const { data } = await vault.read('database/creds/order-service-role');\n  return data;\n}\nmodule.exports = { creds };\n`,
      },
      { SM1: 'PASS', SM7: 'PASS' },
    ));
});

describe('SM4: secrets in CI/CD files (deployment files are SM2)', () => {
  it('a literal password in a GitHub workflow fails', () =>
    check(
      {
        'src/a.ts': 'export {};\n',
        '.github/workflows/ci.yml': `name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    env:\n      DB_PASSWORD: "pA55w0rd-9f8e7d6c"\n    steps:\n      - run: npm test\n`,
      },
      { SM4: { status: 'FAIL', file: '.github/workflows/ci.yml', line: 7 } },
    ));

  it('secret references in CI pass', () =>
    check(
      {
        'src/a.ts': 'export {};\n',
        '.github/workflows/ci.yml': `name: ci\njobs:\n  test:\n    runs-on: ubuntu-latest\n    env:\n      DB_PASSWORD: \${{ secrets.DB_PASSWORD }}\n    steps:\n      - run: npm test\n`,
      },
      { SM4: 'PASS' },
    ));

  // SM4 names CI files; a secret committed in a compose file or a manifest is SM2's.
  it('a compose environment secret fails SM2, not SM4; in docker-compose.dev.yml it is PARTIAL', async () => {
    await check(
      {
        'docker-compose.yml': `services:\n  api:\n    image: api\n    environment:\n      JWT_SECRET: 8d7f6e5a4b3c2d1e0f9a8b7c6d5e4f3a\n`,
      },
      { SM2: { status: 'FAIL', file: 'docker-compose.yml', line: 5 }, SM4: 'N/A' },
    );
    await check(
      {
        'docker-compose.dev.yml': `services:\n  api:\n    image: api\n    environment:\n      - JWT_SECRET=8d7f6e5a4b3c2d1e0f9a8b7c6d5e4f3a\n`,
      },
      { SM2: 'PARTIAL', SM4: 'N/A' },
    );
  });

  it('a committed Kubernetes Secret fails SM2', () =>
    check(
      {
        'k8s/secret.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: c3VwZXJzZWNyZXRwYXNzd29yZA==\n`,
      },
      { SM2: { status: 'FAIL', file: 'k8s/secret.yaml', line: 6 }, SM4: 'N/A' },
    ));

  it('no CI or deployment files: N/A', () => check({ 'src/a.ts': 'export {};\n' }, { SM4: 'N/A' }));
});

describe('SM6: unique secrets per service', () => {
  it('the same JWT secret for several compose services fails', () =>
    check(
      {
        'docker-compose.yml': `services:\n  orders:\n    image: orders\n    environment:\n      JWT_SECRET: 8d7f6e5a4b3c2d1e0f9a8b7c6d5e4f3a\n  billing:\n    image: billing\n    environment:\n      JWT_SECRET: 8d7f6e5a4b3c2d1e0f9a8b7c6d5e4f3a\n`,
      },
      { SM6: 'FAIL' },
    ));

  it('an INTERNAL_SERVICE_TOKEN read by the code fails (review 004)', () =>
    check(
      { 'src/a.ts': `export const token = process.env.INTERNAL_SERVICE_TOKEN;\n` },
      { SM6: 'FAIL' },
    ));

  it('nothing to go on is N/A, not a guess', () =>
    check({ 'src/a.ts': `export const k = process.env.STRIPE_API_KEY;\n` }, { SM6: 'N/A' }));
});

describe('SM8/SM9/SM10: audit, least privilege, emergency rotation', () => {
  it('Terraform CloudTrail and a scoped IAM policy pass SM8/SM9; a wildcard grant fails SM9', async () => {
    await check(
      {
        'src/secrets.ts': AWS_SECRETS,
        'infra/main.tf': `resource "aws_cloudtrail" "main" {\n  name = "main"\n}\nresource "aws_iam_policy" "read" {\n  policy = jsonencode({\n    Statement = [{\n      Action = ["secretsmanager:GetSecretValue"]\n      Resource = ["arn:aws:secretsmanager:eu-west-1:1:secret:order-service/*"]\n    }]\n  })\n}\n`,
      },
      { SM8: 'PASS', SM9: 'PASS' },
    );
    await check(
      {
        'src/secrets.ts': AWS_SECRETS,
        'infra/iam.tf': `resource "aws_iam_policy" "read" {\n  policy = jsonencode({\n    Statement = [{\n      Action = "secretsmanager:GetSecretValue"\n      Resource = "*"\n    }]\n  })\n}\n`,
      },
      { SM9: 'FAIL' },
    );
  });

  it('a runbook describing rotation after a compromise passes SM10', () =>
    check(
      {
        'src/secrets.ts': AWS_SECRETS,
        'docs/runbook.md': `# Secrets\n\n## If a token is compromised\n\n1. Rotate the secret in AWS Secrets Manager.\n2. Redeploy.\n`,
      },
      { SM10: { status: 'PASS', file: 'docs/runbook.md', line: 5 } },
    ));

  it('no runbook: SM10 N/A with the reason', async () => {
    const ctx = await contextFor({ 'src/secrets.ts': AWS_SECRETS });
    const result = run(ctx, 'SM10');
    assert.equal(result.status, 'N/A');
    assert.match(result.why, /Markdown/);
  });
});

describe('SM7 with Tessera: what the short-lived credentials are obtained with', () => {
  const IDENTITY_WITH = (
    credentials: string,
  ) => `import { createWorkloadIdentity } from '@tessera/client';
import Fastify from 'fastify';
import { tesseraHttpsOptions } from '@tessera/fastify';
const identity = await createWorkloadIdentity({
  authority: { url: 'https://authority.internal:8443', ca: process.env.TESSERA_BUNDLE },
  spiffeId: 'spiffe://payments.example/billing',
  credentials: ${credentials},
});
const app = Fastify({ https: tesseraHttpsOptions(identity) });
identity.attachServer(app.server);
`;
  const KEY = `import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { signingKeyFromPrivateKey } from '@tessera/core';
export const key = signingKeyFromPrivateKey(createPrivateKey(readFileSync('/etc/billing/key.pem', 'utf8')), 'ES256');
`;

  it('an identity started from a one-use join token, with no token source, passes', () =>
    check(
      { 'src/main.ts': IDENTITY_WITH('{ joinToken: process.env.TESSERA_JOIN_TOKEN }') },
      { SM7: { status: 'PASS', file: 'src/main.ts', line: 4 } },
    ));

  it('an identity started from a registered service key is PARTIAL, naming the key', () =>
    check(
      {
        'src/key.ts': KEY,
        'src/main.ts': `import { key } from './key.ts';\n${IDENTITY_WITH('{ key }')}`,
      },
      { SM7: { status: 'PARTIAL', file: 'src/main.ts', line: 8 } },
    ));

  it('a join-token identity next to a token source signing with a key is PARTIAL', () =>
    check(
      {
        'src/key.ts': KEY,
        'src/main.ts': IDENTITY_WITH('{ joinToken: process.env.TESSERA_JOIN_TOKEN }'),
        'src/tokens.ts': `import { ClientCredentialsTokenSource } from '@tessera/client';
import { key } from './key.ts';
export const tokens = new ClientCredentialsTokenSource({
  authorityUrl: 'https://authority.internal:8443',
  clientId: 'spiffe://payments.example/billing',
  key,
});
`,
      },
      { SM7: { status: 'PARTIAL', file: 'src/tokens.ts', line: 6 } },
    ));

  const ROTATION = (keyExpression: string) => `import { createKeyRotation } from '@tessera/client';
import { key as loaded } from './key.ts';
export const rotating = createKeyRotation({
  authorityUrl: 'https://authority.internal:8443',
  clientId: 'spiffe://payments.example/billing',
  key: loaded,
  intervalSeconds: 3600,
});
export const signWith = ${keyExpression};
`;
  const TOKENS = `import { ClientCredentialsTokenSource } from '@tessera/client';
import { signWith } from './rotation.ts';
export const tokens = new ClientCredentialsTokenSource({
  authorityUrl: 'https://authority.internal:8443',
  clientId: 'spiffe://payments.example/billing',
  key: signWith,
});
`;

  it('a token source and an identity signing with a createKeyRotation key pass, at the rotation', () =>
    check(
      {
        'src/key.ts': KEY,
        'src/rotation.ts': ROTATION('rotating'),
        'src/tokens.ts': TOKENS,
        'src/main.ts': `import { signWith } from './rotation.ts';\n${IDENTITY_WITH('{ key: signWith }')}export const identityTokens = identity.tokenSource();\n`,
      },
      { SM7: { status: 'PASS', file: 'src/rotation.ts', line: 3 } },
    ));

  it('a rotating key handed through a parameter passes when the project rotates with createKeyRotation', () =>
    check(
      {
        'src/key.ts': KEY,
        'src/rotation.ts': ROTATION('rotating'),
        'src/upstreams.ts': `import { ClientCredentialsTokenSource, type ClientKey } from '@tessera/client';
export function tokensFor(options: { key: ClientKey }) {
  return new ClientCredentialsTokenSource({
    authorityUrl: 'https://authority.internal:8443',
    clientId: 'spiffe://payments.example/billing',
    key: options.key,
  });
}
`,
        'src/main.ts': `import { rotating } from './rotation.ts';\nimport { tokensFor } from './upstreams.ts';\nexport const tokens = tokensFor({ key: rotating });\n`,
      },
      { SM7: { status: 'PASS', file: 'src/rotation.ts', line: 3 } },
    ));

  it('a rotation next to a token source that still signs with the loaded key is PARTIAL, naming that key', () =>
    check(
      { 'src/key.ts': KEY, 'src/rotation.ts': ROTATION('loaded'), 'src/tokens.ts': TOKENS },
      { SM7: { status: 'PARTIAL', file: 'src/tokens.ts', line: 6 } },
    ));

  it('a key through a parameter with no createKeyRotation anywhere is PARTIAL', () =>
    check(
      {
        'src/upstreams.ts': `import { ClientCredentialsTokenSource, type ClientKey } from '@tessera/client';
export function tokensFor(options: { key: ClientKey }) {
  return new ClientCredentialsTokenSource({
    authorityUrl: 'https://authority.internal:8443',
    clientId: 'spiffe://payments.example/billing',
    key: options.key,
  });
}
`,
      },
      { SM7: { status: 'PARTIAL', file: 'src/upstreams.ts', line: 6 } },
    ));

  it('a look-alike createKeyRotation of the project is not a rotation: PARTIAL', () =>
    check(
      {
        'src/key.ts': KEY,
        'src/rotate.ts': `export function createKeyRotation(options: { key: unknown }) {\n  return options.key;\n}\n`,
        'src/rotation.ts': ROTATION('rotating').replace("'@tessera/client'", "'./rotate.ts'"),
        'src/tokens.ts': TOKENS,
      },
      { SM7: { status: 'PARTIAL', file: 'src/tokens.ts', line: 6 } },
    ));

  it("a join-token identity whose tokenSource() is used is PARTIAL (it signs with the identity's key)", () =>
    check(
      {
        'src/main.ts': `${IDENTITY_WITH('{ joinToken: process.env.TESSERA_JOIN_TOKEN }')}export const tokens = identity.tokenSource();\n`,
      },
      { SM7: { status: 'PARTIAL', file: 'src/main.ts', line: 11 } },
    ));
});
