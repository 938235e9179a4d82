/** Logging checks decided from how the service writes its logs (SE17). */
import { after, describe, test } from 'node:test';
import { check, cleanUp, type Case } from './inbound-harness.ts';

after(cleanUp);

const app = (
  imports: string,
  setup: string,
  handler: string,
): string => `import express from 'express';
${imports}
const app = express();
${setup}
app.get('/parcels/:id', (req, res) => {
  ${handler}
  res.json({ id: req.params.id });
});
app.listen(4000);
`;

const cases: Case[] = [
  {
    name: 'pino JSON lines on stdout are ready for the collector',
    files: {
      'src/app.js': app(
        "import pino from 'pino';",
        "const log = pino({ level: 'info' });",
        "log.info({ parcel: req.params.id }, 'parcel read');",
      ),
    },
    expect: { SE17: 'PASS' },
    at: { SE17: { file: 'src/app.js', line: 'const log = pino(' } },
  },
  {
    name: "winston beside morgan's Apache access log is half structured",
    files: {
      'src/app.js': app(
        "import morgan from 'morgan';\nimport winston from 'winston';",
        "const log = winston.createLogger({ transports: [new winston.transports.Console()] });\napp.use(morgan('combined'));",
        "log.info('parcel read', { parcel: req.params.id });",
      ),
    },
    expect: { SE17: 'PARTIAL' },
    at: { SE17: { file: 'src/app.js', line: "app.use(morgan('combined'))" } },
  },
  {
    name: 'console lines are plain text',
    files: {
      'src/app.js': app('', '', 'console.log(`parcel ${req.params.id} read`);'),
    },
    expect: { SE17: 'PARTIAL' },
    at: { SE17: { file: 'src/app.js', line: 'console.log(' } },
  },
  {
    name: 'a service that logs nothing has nothing to collect',
    files: { 'src/app.js': app('', '', '') },
    expect: { SE17: 'FAIL' },
  },
];

describe('SE17: structured logs for the collector', () => {
  for (const c of cases) test(c.name, () => check(c));
});

const tracked = (options: string): string => `import express from 'express';
import pinoHttp from 'pino-http';
const app = express();
app.use(pinoHttp(${options}));
app.get('/parcels/:id', (req, res) => res.json({ id: req.params.id }));
app.listen(4000);
`;

describe('SE14/SE21: request ids that follow a request across services', () => {
  test("pino-http's own per-process counter is no correlation id, and SE21 fails with it", () =>
    check({
      name: 'pino-http defaults',
      files: { 'src/app.js': tracked('') },
      expect: { SE14: 'FAIL', SE21: 'FAIL' },
    }));
  test('pino-http taking the id from x-request-id correlates, and SE21 is partial', () =>
    check({
      name: 'pino-http genReqId',
      files: {
        'src/app.js': tracked(
          "{ genReqId: (req) => req.headers['x-request-id'] ?? crypto.randomUUID() }",
        ),
      },
      expect: { SE14: 'PASS', SE21: 'PARTIAL' },
      at: { SE14: { file: 'src/app.js', line: 'app.use(pinoHttp(' } },
    }));
});
