import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createVerifier,
  generateSigningKey,
  KeySet,
  mintAccessToken,
  parsePolicy,
  systemClock,
  TesseraError,
} from '@tessera/core';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { tessera, type TesseraPluginOptions } from '@tessera/fastify';

const ISSUER = 'http://127.0.0.1:7700';
const BILLING = 'spiffe://tessera.local/billing';
const EVENTS = 'spiffe://tessera.local/event-service';

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  event-service: {}
  billing:
    routes:
      - { method: GET, path: /whoami, allow: any-authenticated }
`);

const key = generateSigningKey();
const eventsToken = mintAccessToken(
  { issuer: ISSUER, subject: EVENTS, audience: BILLING, scopes: [] },
  { key, clock: systemClock },
).token;

async function build(
  options: Partial<TesseraPluginOptions>,
  server: FastifyServerOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify(server);
  await app.register(tessera, {
    service: 'billing',
    policy,
    verifier: createVerifier({
      issuer: ISSUER,
      audience: BILLING,
      keys: new KeySet([key]),
      clock: systemClock,
    }),
    rateLimit: false,
    ...options,
  });
  app.get('/whoami', (request) => ({ ip: request.ip, caller: request.caller?.spiffeId }));
  await app.ready();
  return app;
}

/**
 * Review finding 9: allowlist keys were never checked, so a typo (`spiffe://tessera.local/event`)
 * or a name where a SPIFFE ID was expected restricted nobody, silently. Keys are now checked
 * against the policy's services at registration; a service name or its SPIFFE ID may be used.
 */
describe('ipAllowlist keys are checked against the policy at registration', () => {
  const REFUSED: readonly [why: string, allowlist: Record<string, string[]>, named: string][] = [
    ['a SPIFFE ID of no service', { 'spiffe://tessera.local/nobody': ['10.0.0.0/8'] }, 'nobody'],
    ['a name of no service', { nobody: ['10.0.0.0/8'] }, 'nobody'],
    [
      'a typo of a service SPIFFE ID',
      { 'spiffe://tessera.local/event': ['10.0.0.0/8'] },
      'spiffe://tessera.local/event',
    ],
    [
      'the right name in another trust domain',
      { 'spiffe://other.example/event-service': ['10.0.0.0/8'] },
      'other.example',
    ],
    [
      'a trailing slash',
      { 'spiffe://tessera.local/event-service/': ['10.0.0.0/8'] },
      'event-service/',
    ],
    [
      'an upper-case scheme',
      { 'SPIFFE://tessera.local/event-service': ['10.0.0.0/8'] },
      'SPIFFE://',
    ],
    ['a name in other case', { 'Event-Service': ['10.0.0.0/8'] }, 'Event-Service'],
    ['an empty key', { '': ['10.0.0.0/8'] }, '""'],
    [
      'one service listed by name and by SPIFFE ID',
      { 'event-service': ['10.0.0.0/8'], [EVENTS]: ['192.168.0.0/16'] },
      'event-service',
    ],
  ];
  for (const [why, ipAllowlist, named] of REFUSED) {
    it(`refuses ${why}, naming it`, async () => {
      await assert.rejects(
        build({ ipAllowlist }),
        (error: unknown) =>
          error instanceof TesseraError &&
          error.code === 'ERR_CONFIG_INVALID' &&
          error.message.includes(named),
      );
    });
  }

  for (const keyForm of ['event-service', EVENTS]) {
    it(`accepts ${keyForm} and restricts that caller`, async () => {
      const app = await build({ ipAllowlist: { [keyForm]: ['10.0.0.0/8'] } });
      const outside = await app.inject({
        method: 'GET',
        url: '/whoami',
        remoteAddress: '192.0.2.10',
        headers: { authorization: `Bearer ${eventsToken}` },
      });
      assert.equal(outside.statusCode, 403);
      assert.equal(outside.json<{ code: string }>().code, 'ERR_IP_NOT_ALLOWED');
      const inside = await app.inject({
        method: 'GET',
        url: '/whoami',
        remoteAddress: '10.1.2.3',
        headers: { authorization: `Bearer ${eventsToken}` },
      });
      assert.equal(inside.statusCode, 200);
      await app.close();
    });
  }
});

/**
 * The allowlist compares `request.ip`. Without `trustProxy` that is the TCP peer and
 * `X-Forwarded-For` is ignored; with `trustProxy` set to the proxy's address it is the last
 * address the trusted hops appended; with `trustProxy: true` it is whatever the client wrote.
 */
describe('ipAllowlist and trustProxy: which address is compared', () => {
  const ROWS: readonly {
    readonly name: string;
    readonly trustProxy?: FastifyServerOptions['trustProxy'];
    readonly peer: string;
    readonly forwardedFor?: string;
    readonly status: 200 | 403;
  }[] = [
    {
      name: 'no trustProxy: a spoofed X-Forwarded-For from outside the list does not pass',
      peer: '192.0.2.10',
      forwardedFor: '10.1.2.3',
      status: 403,
    },
    {
      name: 'no trustProxy: the TCP peer inside the list passes, whatever X-Forwarded-For says',
      peer: '10.1.2.3',
      forwardedFor: '192.0.2.10',
      status: 200,
    },
    {
      name: 'no trustProxy: an IPv4-mapped peer is compared as IPv4',
      peer: '::ffff:10.1.2.3',
      status: 200,
    },
    {
      name: 'trustProxy = the proxy: the forwarded client address is compared (inside)',
      trustProxy: '127.0.0.1',
      peer: '127.0.0.1',
      forwardedFor: '10.1.2.3',
      status: 200,
    },
    {
      name: 'trustProxy = the proxy: the forwarded client address is compared (outside)',
      trustProxy: '127.0.0.1',
      peer: '127.0.0.1',
      forwardedFor: '192.0.2.10',
      status: 403,
    },
    {
      name: 'trustProxy = the proxy: a client-written address before the proxy-appended one is ignored',
      trustProxy: '127.0.0.1',
      peer: '127.0.0.1',
      forwardedFor: '10.1.2.3, 192.0.2.10',
      status: 403,
    },
    {
      name: 'trustProxy = the proxy: X-Forwarded-For from a peer that is not the proxy is ignored',
      trustProxy: '127.0.0.1',
      peer: '192.0.2.10',
      forwardedFor: '10.1.2.3',
      status: 403,
    },
    {
      name: 'trustProxy = a CIDR of proxies: hops inside it are skipped',
      trustProxy: ['127.0.0.0/8', '172.16.0.0/12'],
      peer: '127.0.0.1',
      forwardedFor: '10.1.2.3, 172.16.0.5',
      status: 200,
    },
    {
      name: 'trustProxy = the proxy, no X-Forwarded-For: the proxy itself is compared',
      trustProxy: '127.0.0.1',
      peer: '127.0.0.1',
      status: 403,
    },
    {
      // Why the docs warn against it: every client picks the address the allowlist sees.
      name: 'trustProxy: true (danger): any client passes by writing an allowed address',
      trustProxy: true,
      peer: '192.0.2.10',
      forwardedFor: '10.1.2.3',
      status: 200,
    },
  ];
  for (const row of ROWS) {
    it(row.name, async () => {
      const app = await build(
        { ipAllowlist: { 'event-service': ['10.0.0.0/8'] } },
        row.trustProxy === undefined ? {} : { trustProxy: row.trustProxy },
      );
      const response = await app.inject({
        method: 'GET',
        url: '/whoami',
        remoteAddress: row.peer,
        headers: {
          authorization: `Bearer ${eventsToken}`,
          ...(row.forwardedFor !== undefined ? { 'x-forwarded-for': row.forwardedFor } : {}),
        },
      });
      assert.equal(response.statusCode, row.status, response.body);
      if (row.status === 403) {
        assert.equal(response.json<{ code: string }>().code, 'ERR_IP_NOT_ALLOWED');
      }
      await app.close();
    });
  }
});
