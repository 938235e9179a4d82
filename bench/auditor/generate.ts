/**
 * A deterministic, realistic codebase for `auditor.audit_50k`: many small Fastify services, each
 * with config, an auth hook, axios clients to other services, routes with JSON schemas, service
 * classes with SQL, models, and sometimes Kubernetes manifests and an `.env.example`. A share of
 * them carry the patterns the auditor looks for (static internal headers, forwarded user tokens,
 * `jwt.decode` instead of verify, plain http URLs, hardcoded secrets, missing timeouts), so the
 * rules have real work to do rather than scanning clean code.
 *
 * `auditor.monorepo_5` asks for five services of 40 resources each and a shared workspace package
 * (`@platform/service-auth`) that every service imports by name.
 *
 * The same seed always gives byte-for-byte the same files.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mulberry32 } from '@tessera/core/testing';

export interface GeneratedCodebase {
  readonly root: string;
  /** Every generated file, relative to `root`, `/`-separated. */
  readonly files: readonly string[];
  readonly services: number;
  /** Lines of every file, counted as the auditor's loader counts them. */
  readonly lines: number;
  readonly typescriptLines: number;
  readonly bytes: number;
}

export interface GenerateOptions {
  readonly seed?: number;
  /** Services are added until the TypeScript alone has at least this many lines. */
  readonly minTypescriptLines?: number;
  /** Exactly this many services, whatever their lines (then `minTypescriptLines` is ignored). */
  readonly services?: number;
  /**
   * Resources (model, service and routes files) per service; by default 4 to 6. More make fewer,
   * bigger services for the same line count.
   */
  readonly resourcesPerService?: number;
  /**
   * Also write a workspace package `@platform/service-auth` that every service imports by its
   * package name (the shape of a monorepo's shared auth middleware).
   */
  readonly sharedAuthPackage?: boolean;
}

interface Rng {
  chance(p: number): boolean;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  sample<T>(items: readonly T[], n: number): T[];
}

function rngFrom(next: () => number): Rng {
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    chance: (p) => next() < p,
    int,
    pick: (items) => items[int(0, items.length - 1)]!,
    sample: (items, n) => {
      const pool = [...items];
      const out: (typeof items)[number][] = [];
      while (out.length < n && pool.length > 0)
        out.push(pool.splice(int(0, pool.length - 1), 1)[0]!);
      return out;
    },
  };
}

const DOMAINS = [
  'event',
  'ticket',
  'venue',
  'order',
  'payment',
  'invoice',
  'refund',
  'seat',
  'artist',
  'review',
  'notification',
  'promotion',
  'coupon',
  'subscription',
  'shipment',
  'inventory',
  'catalog',
  'customer',
  'report',
  'analytics',
  'search',
  'media',
  'schedule',
  'pricing',
  'loyalty',
  'fraud',
  'settlement',
  'payout',
  'marketplace',
  'transfer',
  'waitlist',
  'checkin',
] as const;

const RELATED = [
  'item',
  'note',
  'tag',
  'history',
  'attachment',
  'rule',
  'batch',
  'export',
  'audit',
  'setting',
  'template',
  'slot',
] as const;

const FIELD_TYPES = [
  ['name', 'string', "{ type: 'string', minLength: 1, maxLength: 200 }"],
  ['description', 'string', "{ type: 'string', maxLength: 2000 }"],
  ['amountCents', 'number', "{ type: 'integer', minimum: 0 }"],
  ['quantity', 'number', "{ type: 'integer', minimum: 1, maximum: 1000 }"],
  ['status', 'string', "{ type: 'string', enum: ['draft', 'active', 'archived'] }"],
  ['startsAt', 'string', "{ type: 'string', format: 'date-time' }"],
  ['currency', 'string', "{ type: 'string', pattern: '^[A-Z]{3}$' }"],
  ['priority', 'number', "{ type: 'integer', minimum: 0, maximum: 10 }"],
  ['email', 'string', "{ type: 'string', format: 'email' }"],
  ['externalRef', 'string', "{ type: 'string', maxLength: 64 }"],
  ['enabled', 'boolean', "{ type: 'boolean' }"],
  ['capacity', 'number', "{ type: 'integer', minimum: 0 }"],
] as const;

const pascal = (s: string) =>
  s
    .split(/[-_]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
const camel = (s: string) => pascal(s).charAt(0).toLowerCase() + pascal(s).slice(1);
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/-/g, '_');

interface Service {
  readonly name: string;
  readonly domain: string;
  readonly port: number;
  readonly resources: readonly string[];
  readonly upstreams: readonly string[];
  readonly auth: 'fastify-jwt' | 'jsonwebtoken' | 'decode-only' | 'internal-token';
  readonly staticInternalHeader: boolean;
  readonly forwardsUserToken: boolean;
  readonly propagatesCorrelation: boolean;
  readonly plainHttp: boolean;
  readonly hardcodedSecret: boolean;
  readonly clientTimeout: boolean;
  readonly breaker: boolean;
  readonly manifests: boolean;
  /** An "internal" route left without authentication, as the seed audits found. */
  readonly openInternalRoute: boolean;
}

/** `count` resource names of a domain: the related names first, then numbered ones. */
function resourceNames(rng: Rng, domain: string, count: number | undefined): string[] {
  if (count === undefined) {
    return [domain, ...rng.sample(RELATED, rng.int(3, 5)).map((r) => `${domain}-${r}`)];
  }
  const names = [domain];
  for (let k = 0; names.length < count; k++) {
    const round = Math.floor(k / RELATED.length);
    names.push(`${domain}-${RELATED[k % RELATED.length]!}${round === 0 ? '' : String(round + 1)}`);
  }
  return names;
}

function planService(
  rng: Rng,
  index: number,
  names: readonly string[],
  resources: number | undefined,
): Service {
  const domain = DOMAINS[index % DOMAINS.length]!;
  const generation = Math.floor(index / DOMAINS.length);
  const name = generation === 0 ? `${domain}-service` : `${domain}-service-v${generation + 1}`;
  const others = names.filter((n) => n !== name);
  return {
    name,
    domain,
    port: 3000 + index,
    resources: resourceNames(rng, domain, resources),
    upstreams: rng.sample(others.length > 0 ? others : ['auth-service'], rng.int(1, 3)),
    auth: rng.pick(['fastify-jwt', 'fastify-jwt', 'jsonwebtoken', 'decode-only', 'internal-token']),
    staticInternalHeader: rng.chance(0.3),
    forwardsUserToken: rng.chance(0.35),
    propagatesCorrelation: rng.chance(0.5),
    plainHttp: rng.chance(0.6),
    hardcodedSecret: rng.chance(0.15),
    clientTimeout: rng.chance(0.75),
    breaker: rng.chance(0.6),
    manifests: rng.chance(0.4),
    openInternalRoute: rng.chance(0.25),
  };
}

function packageJson(s: Service): string {
  const deps: Record<string, string> = {
    fastify: '^5.1.0',
    axios: '^1.7.7',
    pg: '^8.13.0',
    pino: '^9.5.0',
  };
  if (s.auth === 'fastify-jwt') deps['@fastify/jwt'] = '^9.0.1';
  if (s.auth === 'jsonwebtoken' || s.auth === 'decode-only') deps.jsonwebtoken = '^9.0.2';
  if (s.breaker) deps.opossum = '^8.1.4';
  return `${JSON.stringify({ name: s.name, version: '1.0.0', private: true, type: 'module', dependencies: deps }, null, 2)}\n`;
}

function configTs(s: Service): string {
  const scheme = s.plainHttp ? 'http' : 'https';
  const urls = s.upstreams
    .map(
      (u) =>
        `    ${camel(u)}: process.env.${snake(u).toUpperCase()}_URL ?? '${scheme}://${u}:${String(3000 + u.length)}',`,
    )
    .join('\n');
  const secret = s.hardcodedSecret
    ? `  jwtSecret: process.env.JWT_SECRET ?? 'dev-secret-${s.domain}-change-me',`
    : `  jwtSecret: process.env.JWT_SECRET,`;
  return `/** ${s.name} configuration, read from the environment once at start-up. */
export const config = {
  port: Number(process.env.PORT ?? ${String(s.port)}),
  logLevel: process.env.LOG_LEVEL ?? 'info',
${secret}
  jwtIssuer: process.env.JWT_ISSUER ?? 'platform-auth',
  jwtAudience: process.env.JWT_AUDIENCE ?? 'platform-api',
  internalToken: process.env.INTERNAL_SERVICE_TOKEN ?? '',
  database: {
    host: process.env.DB_HOST ?? 'postgres',
    port: Number(process.env.DB_PORT ?? 5432),
    name: process.env.DB_NAME ?? '${snake(s.domain)}',
    user: process.env.DB_USER ?? '${snake(s.domain)}_svc',
    password: process.env.DB_PASSWORD,
  },
  services: {
${urls}
  },
} as const;

if (!config.jwtSecret) {
  throw new Error('JWT_SECRET must be set');
}
`;
}

function authTs(s: Service): string {
  const header = `import type { FastifyReply, FastifyRequest } from 'fastify';
import { config } from '../config.js';

export interface Caller {
  id: string;
  tenantId: string;
  roles: string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}
`;
  switch (s.auth) {
    case 'fastify-jwt':
      return `${header}
export async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  try {
    const claims = await request.jwtVerify<{ sub: string; tenant: string; roles?: string[] }>();
    request.caller = { id: claims.sub, tenantId: claims.tenant, roles: claims.roles ?? [] };
  } catch (error) {
    request.log.warn({ reason: (error as Error).message, ip: request.ip }, 'authentication failed');
    return reply.code(401).send({ error: 'Unauthorized' });
  }
}
`;
    case 'jsonwebtoken':
    case 'decode-only': {
      const check =
        s.auth === 'jsonwebtoken'
          ? `jwt.verify(token, config.jwtSecret ?? '', {
      algorithms: ['HS256'],
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
    })`
          : `jwt.decode(token)`;
      return `${header}import jwt from 'jsonwebtoken';

export async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const authorization = request.headers.authorization;
  if (!authorization?.startsWith('Bearer ')) {
    return reply.code(401).send({ error: 'Missing token' });
  }
  const token = authorization.slice(7);
  try {
    const claims = ${check} as { sub: string; tenant: string; roles?: string[] } | null;
    if (!claims) throw new Error('no claims');
    request.caller = { id: claims.sub, tenantId: claims.tenant, roles: claims.roles ?? [] };
  } catch (error) {
    request.log.warn({ reason: (error as Error).message }, 'invalid token');
    return reply.code(401).send({ error: 'Invalid token' });
  }
}
`;
    }
    case 'internal-token':
      return `${header}
export async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const token = request.headers['x-internal-token'];
  if (config.internalToken && token !== config.internalToken) {
    request.log.warn({ ip: request.ip }, 'bad internal token');
    return reply.code(403).send({ error: 'Forbidden' });
  }
  const userId = request.headers['x-user-id'];
  request.caller = {
    id: typeof userId === 'string' ? userId : 'anonymous',
    tenantId: String(request.headers['x-tenant-id'] ?? 'default'),
    roles: [],
  };
}
`;
  }
}

function clientTs(s: Service, upstream: string): string {
  const cls = `${pascal(upstream)}Client`;
  const headers: string[] = [`'content-type': 'application/json'`];
  if (s.staticInternalHeader) headers.push(`'x-internal-service': '${s.name}'`);
  const timeout = s.clientTimeout
    ? `\n      timeout: ${String(2000 + upstream.length * 100)},`
    : '';
  const breakerImport = s.breaker ? `import CircuitBreaker from 'opossum';\n` : '';
  const perCall: string[] = [];
  if (s.forwardsUserToken) perCall.push('Authorization: `Bearer ${authToken}`');
  if (s.propagatesCorrelation) perCall.push(`'x-correlation-id': correlationId`);
  const callHeaders = perCall.length > 0 ? `, { headers: { ${perCall.join(', ')} } }` : '';
  // Parameters a variant does not use are still part of the client's shape.
  const unused = [
    ...(s.forwardsUserToken ? [] : ['    void authToken;']),
    ...(s.propagatesCorrelation ? [] : ['    void correlationId;']),
  ].join('\n');
  const prologue = unused === '' ? '' : `${unused}\n`;
  const fire = s.breaker
    ? `this.breaker.fire(() => this.http.get(\`/api/v1/\${kind}/\${id}\`${callHeaders}))`
    : `this.http.get(\`/api/v1/\${kind}/\${id}\`${callHeaders})`;
  const postFire = s.breaker
    ? `this.breaker.fire(() => this.http.post(\`/api/v1/\${kind}\`, body${callHeaders}))`
    : `this.http.post(\`/api/v1/\${kind}\`, body${callHeaders})`;
  const breakerField = s.breaker
    ? `
  private readonly breaker = new CircuitBreaker(
    (call: () => Promise<{ data: unknown }>) => call(),
    { timeout: 5000, errorThresholdPercentage: 50, resetTimeout: 30000, name: '${upstream}' },
  );`
    : '';
  return `import axios, { type AxiosInstance } from 'axios';
${breakerImport}import { config } from '../config.js';

/** ${upstream}, as ${s.name} calls it. */
export class ${cls} {
  private readonly http: AxiosInstance;${breakerField}

  constructor(baseURL: string = config.services.${camel(upstream)}) {
    this.http = axios.create({
      baseURL,${timeout}
      headers: { ${headers.join(', ')} },
    });
  }

  async fetch(kind: string, id: string, authToken: string, correlationId: string): Promise<unknown> {
${prologue}    const response = (await ${fire}) as { data: unknown };
    return response.data;
  }

  async create(kind: string, body: Record<string, unknown>, authToken: string, correlationId: string) {
${prologue}    const response = (await ${postFire}) as { data: unknown };
    return response.data;
  }
}
`;
}

function modelTs(resource: string, fields: readonly (typeof FIELD_TYPES)[number][]): string {
  const type = pascal(resource);
  const props = fields.map(([name, ts]) => `  ${name}: ${ts};`).join('\n');
  const schemaProps = fields.map(([name, , schema]) => `    ${name}: ${schema},`).join('\n');
  const checks = fields
    .map(([name, ts]) =>
      ts === 'string'
        ? `  if (typeof input.${name} === 'string' && input.${name}.trim() === '') {
    problems.push('${name} must not be blank');
  }`
        : ts === 'number'
          ? `  if (typeof input.${name} === 'number' && !Number.isFinite(input.${name})) {
    problems.push('${name} must be a finite number');
  }`
          : `  if (input.${name} !== undefined && typeof input.${name} !== 'boolean') {
    problems.push('${name} must be a boolean');
  }`,
    )
    .join('\n');
  return `export interface ${type} {
  id: string;
  tenantId: string;
${props}
  createdAt: string;
  updatedAt: string;
}

export type New${type} = Omit<${type}, 'id' | 'tenantId' | 'createdAt' | 'updatedAt'>;

export const ${camel(resource)}Schema = {
  type: 'object',
  additionalProperties: false,
  required: [${fields
    .slice(0, 2)
    .map(([n]) => `'${n}'`)
    .join(', ')}],
  properties: {
${schemaProps}
  },
} as const;

/** Checks JSON Schema cannot express; returns the problems found. */
export function validate${type}(input: Partial<New${type}>): string[] {
  const problems: string[] = [];
${checks}
  return problems;
}
`;
}

function serviceTs(
  s: Service,
  resource: string,
  fields: readonly (typeof FIELD_TYPES)[number][],
): string {
  const type = pascal(resource);
  const table = `${snake(resource)}s`;
  const columns = fields.map(([n]) => snake(n));
  const client = s.upstreams[0]!;
  const upsertCols = ['id', 'tenant_id', ...columns].join(', ');
  const placeholders = ['id', 'tenant_id', ...columns]
    .map((_, i) => `$${String(i + 1)}`)
    .join(', ');
  const assignments = columns.map((c, i) => `${c} = $${String(i + 3)}`).join(', ');
  const mapRow = fields
    .map(([n], i) => `      ${n}: row.${columns[i]!} as ${type}['${n}'],`)
    .join('\n');
  const values = fields.map(([n]) => `input.${n}`).join(', ');
  return `import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ${pascal(client)}Client } from '../clients/${client}.client.js';
import { config } from '../config.js';
import { validate${type}, type New${type}, type ${type} } from '../models/${resource}.js';

const pool = new pg.Pool({
  host: config.database.host,
  port: config.database.port,
  database: config.database.name,
  user: config.database.user,
  password: config.database.password,
  max: 10,
});

export class ${type}NotFound extends Error {}
export class ${type}Invalid extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

function fromRow(row: Record<string, unknown>): ${type} {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
${mapRow}
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}

export class ${type}Service {
  constructor(private readonly upstream = new ${pascal(client)}Client()) {}

  async list(tenantId: string, limit = 50, offset = 0): Promise<${type}[]> {
    const { rows } = await pool.query(
      'SELECT * FROM ${table} WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3',
      [tenantId, Math.min(limit, 200), Math.max(offset, 0)],
    );
    return rows.map(fromRow);
  }

  async get(tenantId: string, id: string): Promise<${type}> {
    const { rows } = await pool.query('SELECT * FROM ${table} WHERE tenant_id = $1 AND id = $2', [
      tenantId,
      id,
    ]);
    if (rows.length === 0) throw new ${type}NotFound(id);
    return fromRow(rows[0] as Record<string, unknown>);
  }

  async create(
    tenantId: string,
    input: New${type},
    authToken: string,
    correlationId: string,
  ): Promise<${type}> {
    const problems = validate${type}(input);
    if (problems.length > 0) throw new ${type}Invalid(problems);
    await this.upstream.fetch('${s.domain}s', tenantId, authToken, correlationId);
    const id = randomUUID();
    const { rows } = await pool.query(
      'INSERT INTO ${table} (${upsertCols}) VALUES (${placeholders}) RETURNING *',
      [id, tenantId, ${values}],
    );
    return fromRow(rows[0] as Record<string, unknown>);
  }

  async update(tenantId: string, id: string, input: New${type}): Promise<${type}> {
    const problems = validate${type}(input);
    if (problems.length > 0) throw new ${type}Invalid(problems);
    const { rows } = await pool.query(
      'UPDATE ${table} SET ${assignments}, updated_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING *',
      [tenantId, id, ${values}],
    );
    if (rows.length === 0) throw new ${type}NotFound(id);
    return fromRow(rows[0] as Record<string, unknown>);
  }

  async remove(tenantId: string, id: string): Promise<void> {
    const { rowCount } = await pool.query('DELETE FROM ${table} WHERE tenant_id = $1 AND id = $2', [
      tenantId,
      id,
    ]);
    if (!rowCount) throw new ${type}NotFound(id);
  }
}
`;
}

function routesTs(s: Service, resource: string): string {
  const type = pascal(resource);
  const base = `/api/v1/${resource}s`;
  const guard = `{ preHandler: [authenticate] }`;
  const internal =
    s.openInternalRoute && resource === s.domain
      ? `
  // Only other services call this, from inside the cluster.
  app.post<{ Body: { ids: string[] } }>('/internal${base}/sync', async (request) => ({
    synced: request.body.ids.length,
  }));
`
      : '';
  return `import type { FastifyInstance } from 'fastify';
import { authenticate } from '../middleware/auth.js';
import { ${camel(resource)}Schema, type New${type} } from '../models/${resource}.js';
import { ${type}Invalid, ${type}NotFound, ${type}Service } from '../services/${resource}.service.js';

export async function ${camel(resource)}Routes(app: FastifyInstance): Promise<void> {
  const service = new ${type}Service();

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ${type}NotFound) return reply.code(404).send({ error: 'Not found' });
    if (error instanceof ${type}Invalid) return reply.code(400).send({ errors: error.problems });
    request.log.error({ err: error }, '${resource} request failed');
    return reply.code(500).send({ error: 'Internal error' });
  });

  app.get<{ Querystring: { limit?: number; offset?: number } }>('${base}', ${guard}, async (request) =>
    service.list(request.caller!.tenantId, request.query.limit, request.query.offset),
  );

  app.get<{ Params: { id: string } }>('${base}/:id', ${guard}, async (request) =>
    service.get(request.caller!.tenantId, request.params.id),
  );

  app.post<{ Body: New${type} }>(
    '${base}',
    { preHandler: [authenticate], schema: { body: ${camel(resource)}Schema } },
    async (request, reply) => {
      const token = request.headers.authorization?.replace('Bearer ', '') ?? '';
      const created = await service.create(request.caller!.tenantId, request.body, token, request.id);
      return reply.code(201).send(created);
    },
  );

  app.put<{ Params: { id: string }; Body: New${type} }>(
    '${base}/:id',
    { preHandler: [authenticate], schema: { body: ${camel(resource)}Schema } },
    async (request) => service.update(request.caller!.tenantId, request.params.id, request.body),
  );

  app.delete<{ Params: { id: string } }>('${base}/:id', ${guard}, async (request, reply) => {
    await service.remove(request.caller!.tenantId, request.params.id);
    return reply.code(204).send();
  });
${internal}}
`;
}

function indexTs(s: Service): string {
  const imports = s.resources
    .map((r) => `import { ${camel(r)}Routes } from './routes/${r}.routes.js';`)
    .join('\n');
  const registers = s.resources.map((r) => `await app.register(${camel(r)}Routes);`).join('\n');
  const jwt = s.auth === 'fastify-jwt' ? `import fastifyJwt from '@fastify/jwt';\n` : '';
  const jwtRegister =
    s.auth === 'fastify-jwt'
      ? `await app.register(fastifyJwt, {
  secret: config.jwtSecret ?? '',
  verify: { allowedIss: config.jwtIssuer, allowedAud: config.jwtAudience },
});\n`
      : '';
  return `${jwt}import Fastify from 'fastify';
import { config } from './config.js';
${imports}

const app = Fastify({ logger: { level: config.logLevel }, requestIdHeader: 'x-correlation-id' });
${jwtRegister}
app.get('/health', async () => ({ status: 'ok', service: '${s.name}' }));

${registers}

await app.listen({ port: config.port, host: '0.0.0.0' });
`;
}

function manifests(s: Service): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${s.name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: ${s.name}
  template:
    metadata:
      labels:
        app: ${s.name}
    spec:
      containers:
        - name: ${s.name}
          image: registry.internal/${s.name}:1.0.0
          ports:
            - containerPort: ${String(s.port)}
          env:
            - name: JWT_SECRET
              valueFrom:
                secretKeyRef:
                  name: ${s.name}-jwt
                  key: secret
---
apiVersion: v1
kind: Service
metadata:
  name: ${s.name}
spec:
  type: ClusterIP
  selector:
    app: ${s.name}
  ports:
    - port: ${String(s.port)}
`;
}

const SHARED_AUTH_PACKAGE = `${JSON.stringify(
  {
    name: '@platform/service-auth',
    version: '1.0.0',
    private: true,
    type: 'module',
    main: 'src/index.ts',
    dependencies: { jsonwebtoken: '^9.0.2' },
  },
  null,
  2,
)}\n`;

const SHARED_AUTH_INDEX = `import type { FastifyReply, FastifyRequest } from 'fastify';
import jwt from 'jsonwebtoken';

const publicKey = process.env.SERVICE_TOKEN_PUBLIC_KEY ?? '';

/** Verifies the calling service's token; shared by every service of the platform. */
export async function requireService(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const header = request.headers.authorization ?? '';
  const token = header.startsWith('Bearer ') ? header.slice(7) : '';
  try {
    const claims = jwt.verify(token, publicKey, { algorithms: ['RS256'], audience: 'platform' });
    (request as FastifyRequest & { caller?: unknown }).caller = claims;
  } catch {
    await reply.code(401).send({ error: 'unauthorized' });
  }
}
`;

const SHARED_AUTH_USE = `import { requireService } from '@platform/service-auth';

export const serviceCaller = requireService;
`;

function countLines(text: string): number {
  let count = text.length > 0 ? 1 : 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

/** Writes the codebase under `root` (which must be empty or absent). */
export async function generateCodebase(
  root: string,
  options: GenerateOptions = {},
): Promise<GeneratedCodebase> {
  const rng = rngFrom(mulberry32(options.seed ?? 0x5eed));
  const minLines = options.minTypescriptLines ?? 50_000;
  const files: string[] = [];
  let lines = 0;
  let typescriptLines = 0;
  let bytes = 0;
  const write = async (rel: string, text: string) => {
    const abs = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, text);
    files.push(rel);
    const n = countLines(text);
    lines += n;
    if (rel.endsWith('.ts')) typescriptLines += n;
    bytes += Buffer.byteLength(text);
  };

  const names = DOMAINS.map((d) => `${d}-service`);
  let index = 0;
  const more = (): boolean =>
    options.services === undefined ? typescriptLines < minLines : index < options.services;
  while (more()) {
    const s = planService(rng, index, names, options.resourcesPerService);
    const dir = `services/${s.name}`;
    await write(`${dir}/package.json`, packageJson(s));
    await write(`${dir}/src/config.ts`, configTs(s));
    await write(`${dir}/src/middleware/auth.ts`, authTs(s));
    for (const upstream of s.upstreams) {
      await write(`${dir}/src/clients/${upstream}.client.ts`, clientTs(s, upstream));
    }
    for (const resource of s.resources) {
      const fields = rng.sample(FIELD_TYPES, rng.int(4, 8));
      await write(`${dir}/src/models/${resource}.ts`, modelTs(resource, fields));
      await write(`${dir}/src/services/${resource}.service.ts`, serviceTs(s, resource, fields));
      await write(`${dir}/src/routes/${resource}.routes.ts`, routesTs(s, resource));
    }
    await write(`${dir}/src/index.ts`, indexTs(s));
    if (options.sharedAuthPackage === true) {
      await write(`${dir}/src/middleware/service-caller.ts`, SHARED_AUTH_USE);
    }
    if (s.manifests) await write(`${dir}/deploy/${s.name}.yaml`, manifests(s));
    if (rng.chance(0.3)) {
      await write(`${dir}/.env.example`, `PORT=${String(s.port)}\nJWT_SECRET=\nDB_PASSWORD=\n`);
    }
    index++;
  }
  const workspaces = ['services/*'];
  if (options.sharedAuthPackage === true) {
    workspaces.push('packages/*');
    await write('packages/service-auth/package.json', SHARED_AUTH_PACKAGE);
    await write('packages/service-auth/src/index.ts', SHARED_AUTH_INDEX);
  }
  await write(
    'package.json',
    `${JSON.stringify({ name: 'ticketing-platform', private: true, workspaces }, null, 2)}\n`,
  );
  return { root, files, services: index, lines, typescriptLines, bytes };
}
