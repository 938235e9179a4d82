import {
  createVerifier,
  generateSigningKey,
  KeySet,
  mintAccessToken,
  parsePolicy,
  systemClock,
  type AccessTokenVerifier,
} from '@tessera/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { tessera, type TesseraPluginOptions } from '../../src/index.ts';

export const ISSUER = 'http://127.0.0.1:7700';
export const BILLING = 'spiffe://tessera.local/billing';
export const EVENTS = 'spiffe://tessera.local/event-service';
export const GATEWAY = 'spiffe://tessera.local/api-gateway';

export const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  event-service: {}
  billing:
    routes:
      - { method: POST, path: /invoices, allow: [{ service: event-service, scopes: [invoices:write] }] }
      - { method: GET, path: /whoami, allow: any-authenticated }
      - { method: GET, path: /healthz, public: true }
`);

export const key = generateSigningKey();
export const stranger = generateSigningKey();

export function token(
  subject: string,
  scopes: string[],
  options: { jti?: string; actor?: string; signer?: typeof key } = {},
): string {
  return mintAccessToken(
    {
      issuer: ISSUER,
      subject,
      audience: BILLING,
      scopes,
      ...(options.jti !== undefined ? { jti: options.jti } : {}),
      ...(options.actor !== undefined ? { actor: options.actor } : {}),
    },
    { key: options.signer ?? key, clock: systemClock },
  ).token;
}

/** A token under the trusted key's real `kid` whose signature is random bytes. */
export function forged(subject = EVENTS): string {
  const [header, payload, signature] = token(subject, ['invoices:write']).split('.') as [
    string,
    string,
    string,
  ];
  const random = Buffer.alloc(Buffer.from(signature, 'base64url').length);
  for (let i = 0; i < random.length; i++) random[i] = Math.floor(Math.random() * 256);
  return `${header}.${payload}.${random.toString('base64url')}`;
}

export interface TestApp {
  readonly app: FastifyInstance;
  /** Audit events as the request logger wrote them (parsed). */
  readonly audit: Record<string, unknown>[];
  /** Everything else the app logged (parsed). */
  readonly logs: Record<string, unknown>[];
  /** How many times the verifier was asked to verify a token. */
  readonly verifications: () => number;
}

/** The billing app behind the plugin, with a counting verifier and a request log that is read back. */
export async function buildApp(
  overrides: Partial<TesseraPluginOptions> = {},
  setup?: (app: FastifyInstance) => void,
): Promise<TestApp> {
  const audit: Record<string, unknown>[] = [];
  const logs: Record<string, unknown>[] = [];
  const inner = createVerifier({
    issuer: ISSUER,
    audience: BILLING,
    keys: new KeySet([key]),
    clock: systemClock,
  });
  let verifications = 0;
  const verifier: AccessTokenVerifier = {
    verify: (t) => {
      verifications++;
      return inner.verify(t);
    },
    verifyAsync: (t) => {
      verifications++;
      return inner.verifyAsync(t);
    },
  };
  const app = Fastify({
    logger: {
      level: 'info',
      stream: {
        write: (line: string) => {
          const record = JSON.parse(line) as Record<string, unknown>;
          (record.event === 'tessera.request' ? audit : logs).push(record);
        },
      },
    },
  });
  await app.register(tessera, { service: 'billing', policy, verifier, ...overrides });
  setup?.(app);
  app.post('/invoices', (request) => ({ handler: 'invoices.create', body: request.body }));
  app.get('/whoami', (request) => ({ handler: 'whoami', caller: request.caller?.spiffeId }));
  app.get('/healthz', () => ({ handler: 'healthz' }));
  await app.ready();
  return { app, audit, logs, verifications: () => verifications };
}
