import { contextFor, removeTempProjects } from './support/project.ts';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { STATUSES, type CheckId } from '../src/model.ts';
import { messageQueueRules } from '../src/rules/message-queue.ts';
import { networkRules } from '../src/rules/network.ts';
import type { AuditContext, RuleSet } from '../src/rules/rule.ts';
import { secretsRules } from '../src/rules/secrets.ts';
import { serviceClientRules } from '../src/rules/service-client.ts';
import { tokenManagementRules } from '../src/rules/token-management.ts';

after(removeTempProjects);

const ALL: RuleSet = {
  ...serviceClientRules,
  ...secretsRules,
  ...messageQueueRules,
  ...networkRules,
  ...tokenManagementRules,
};

const EXPECTED_IDS = [
  ...Array.from({ length: 16 }, (_, i) => `SC${String(i + 1)}`),
  ...Array.from({ length: 10 }, (_, i) => `SM${String(i + 1)}`),
  ...Array.from({ length: 12 }, (_, i) => `MQ${String(i + 1)}`),
  ...Array.from({ length: 7 }, (_, i) => `NW${String(i + 1)}`),
  ...Array.from({ length: 8 }, (_, i) => `TM${String(i + 1)}`),
];

/** Runs every rule of this area and checks the outcome is well-formed. */
function runAll(ctx: AuditContext): void {
  for (const [id, rule] of Object.entries(ALL)) {
    if (rule === undefined) continue;
    const result = rule(ctx);
    assert.ok(STATUSES.includes(result.status), `${id}: status ${result.status}`);
    assert.ok(result.why.trim().length > 0, `${id}: empty why`);
    for (const e of result.evidence) {
      assert.ok(
        e.line >= 1 && typeof e.file === 'string' && e.file !== '',
        `${id}: bad evidence ${JSON.stringify(e)}`,
      );
    }
  }
}

describe('rule coverage', () => {
  it('there is one rule per check id of SC, SM, MQ, NW and TM', () => {
    assert.deepEqual(Object.keys(ALL).sort(), [...EXPECTED_IDS].sort());
    for (const id of EXPECTED_IDS) assert.equal(typeof ALL[id as CheckId], 'function');
  });
});

describe('odd input never throws', () => {
  const cases: { name: string; files: Record<string, string> }[] = [
    { name: 'an empty project', files: {} },
    {
      name: 'empty files of every kind',
      files: {
        'src/a.ts': '',
        'src/b.js': '',
        '.env': '',
        'docker-compose.yml': '',
        'k8s/x.yaml': '',
        'rabbitmq.conf': '',
      },
    },
    {
      name: 'syntax errors',
      files: {
        'src/broken.ts': `import axios from 'axios';\nconst c = axios.create({ headers: { 'x-internal': 'true' ;\nexport function (\n`,
        'src/broken2.js': 'const x = {{{{ ;; fetch(`https://a.internal/${',
      },
    },
    {
      name: 'computed property names, spreads and odd expressions',
      files: {
        'src/odd.ts': `import axios from 'axios';
const name = 'x-gateway-' + 'internal';
const k = Symbol('k');
const headers = { [name]: 'true', [k]: 1, ['authorization']: undefined, ...undefined, ...(null as never) };
export const c = axios.create({ headers, timeout: NaN, [Symbol.iterator]: null } as never);
export const d = (axios as any)[name]?.(...[1, 2]);
export const e = new (class { x = this.x; })();
const self: any = {}; self.self = self;
export const f = fetch(self, self.self);
export const g = axios.get(\`\${\`\${\`nested\`}\`}\`);
process.env[name] = '0';
`,
      },
    },
    {
      name: 'cyclic consts and imports',
      files: {
        'src/a.ts': `import { b } from './b.ts';\nexport const a = b;\nexport const url = a;\nfetch(url);\n`,
        'src/b.ts': `import { a } from './a.ts';\nexport const b = a;\n`,
        'src/c.ts': `let x = y; let y = x; export const z = fetch(x, { headers: y, timeout: y });\n`,
        'src/d.ts': `const config = { a: config.a, b: { c: config.b.c } };\nconst self = { self: self.self };\nexport const e = fetch(config.a, { headers: config.b.c, signal: self.self });\nexport function f(baseURL = config.a.b) { return fetch(baseURL); }\n`,
      },
    },
    {
      name: 'unusual YAML, JSON and config',
      files: {
        'k8s/a.yaml': `---\n- just\n- a list\n---\n: weird\n---\napiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Service\n    spec: 7\n`,
        'docker-compose.yml': `services: 3\n`,
        'docker-compose.prod.yml': `services:\n  a:\n    ports: 8080\n    environment: "FOO=bar"\n  b: null\n`,
        'config/app.json': `{"a": [1, {"password": 5}, null], "b": {"c": {"d": {}}}}`,
        'rabbitmq/definitions.json': `{"users": 3, "permissions": {"x": 1}}`,
        'kafka/server.properties': `broker.id=\nlisteners=::::\nlistener.security.protocol.map=:\n`,
        'infra/main.tf': `resource "aws_iam_policy" "p" { policy = "secretsmanager:GetSecretValue" }\n`,
        Dockerfile: `FROM node\nENV\nARG =\nENV A=\n`,
        '.github/workflows/x.yml': `on: [push\n`,
      },
    },
    {
      name: 'huge string literals and deep nesting',
      files: {
        'src/big.ts': `export const s = '${'A'.repeat(50_000)}';\nexport const o = ${'{ a: '.repeat(200)}1${' }'.repeat(200)};\n`,
      },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      runAll(await contextFor(c.files));
    });
  }
});

describe('performance', () => {
  it('a 20,000-line codebase is analysed by all these rules in a few seconds', async () => {
    const files: Record<string, string> = {};
    const module = (i: number) => `import axios from 'axios';
import { logger } from './logger.ts';
const client${String(i)} = axios.create({ baseURL: process.env.URL_${String(i)} ?? 'https://svc${String(i)}.internal', timeout: 1000 });
export async function call${String(i)}(id: string, req: { headers: Record<string, string> }) {
  try {
    const r = await client${String(i)}.get(\`/items/\${id}\`, { headers: { 'x-correlation-id': req.headers['x-correlation-id'] ?? '' } });
    return r.data;
  } catch (err) {
    logger.warn({ err, id }, 'call failed');
    throw err;
  }
}
${Array.from({ length: 40 }, (_, j) => `export function helper${String(i)}_${String(j)}(x: number): number {\n  const secretName = 'svc/${String(j)}';\n  return x * ${String(j)} + secretName.length;\n}`).join('\n')}
`;
    for (let i = 0; i < 120; i++) files[`src/m${String(i)}.ts`] = module(i);
    files['src/logger.ts'] = `export const logger = console;\n`;
    const ctx = await contextFor(files);
    assert.ok(ctx.project.lines > 20_000, String(ctx.project.lines));
    const started = performance.now();
    runAll(ctx);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 8000, `took ${String(Math.round(elapsed))} ms`);
  });
});
