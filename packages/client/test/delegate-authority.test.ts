import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  buildJwks,
  generateSigningKey,
  isTesseraError,
  requestContext,
  signCompactJws,
  traceContextFromHeaders,
  type RequestContext,
  type SigningKey,
} from '@tessera/core';
import { freePort, startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import { Agent, request } from 'undici';
import { ClientCredentialsTokenSource, createServiceMap, delegate } from '../src/index.ts';

const TD = 'spiffe://tessera.local';
const IDP_AUDIENCE = 'tessera-gateway';

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

/**
 * delegate() against the authority's real RFC 8693 endpoint: a user token from a stub OpenID
 * provider, exchanged by the gateway, then exchanged onward by event-service's delegate() for
 * billing (a loopback upstream that records what it receives).
 */
describe('delegate() against the authority', () => {
  const idpKey = generateSigningKey('ES256');
  let idp: Server;
  let idpIssuer = '';
  let authority: TestAuthority;
  let upstream: Server;
  let upstreamOrigin = '';
  let ledgerOrigin = '';
  const received: (string | undefined)[] = [];
  const agent = new Agent();
  let gateway: { key: SigningKey; clientId: string };
  let eventService: { key: SigningKey; clientId: string };

  before(async () => {
    const idpPort = await freePort();
    idpIssuer = `http://127.0.0.1:${idpPort}`;
    idp = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration') {
        res.end(JSON.stringify({ issuer: idpIssuer, jwks_uri: `${idpIssuer}/jwks` }));
      } else if (req.url === '/jwks') {
        res.end(JSON.stringify(buildJwks([idpKey])));
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
    await new Promise<void>((resolve) => idp.listen(idpPort, '127.0.0.1', resolve));
    authority = await startTestAuthority({
      config: {
        users: {
          issuers: [
            {
              issuer: idpIssuer,
              audience: IDP_AUDIENCE,
              tenantClaim: 'tenant',
              clients: ['gateway'],
            },
          ],
        },
        tokenExchange: {
          mayAct: [
            { actor: 'gateway', audiences: ['event-service'] },
            { actor: 'event-service', audiences: ['billing'] },
          ],
        },
      },
    });
    await authority.register('billing', [], []);
    await authority.register('ledger', [], []);
    eventService = await authority.register(
      'event-service',
      ['billing', 'ledger'],
      ['invoices:read'],
    );
    gateway = await authority.register('gateway', ['event-service'], ['invoices:read']);
    upstream = createServer((req, res) => {
      received.push(req.headers.authorization);
      res.end('{}');
    });
    const upstreamPort = await freePort();
    await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve));
    upstreamOrigin = `http://127.0.0.1:${upstreamPort}`;
    ledgerOrigin = `http://127.0.0.1:${await freePort()}`;
  });
  after(async () => {
    await agent.close();
    await authority.close();
    upstream.closeAllConnections();
    upstream.close();
    idp.close();
  });

  const source = (client: { key: SigningKey; clientId: string }) =>
    new ClientCredentialsTokenSource({
      authorityUrl: authority.url,
      clientId: client.clientId,
      key: client.key,
    });

  /** alice's token for event-service, as the gateway's own exchange obtains it. */
  async function aliceAtEventService(): Promise<RequestContext> {
    const now = Math.floor(Date.now() / 1000);
    const userToken = signCompactJws(
      { alg: 'ES256', kid: idpKey.kid, typ: 'at+jwt' },
      {
        iss: idpIssuer,
        sub: 'alice',
        aud: IDP_AUDIENCE,
        iat: now,
        exp: now + 600,
        tenant: 'acme',
        scope: 'invoices:read',
      },
      idpKey,
    );
    const exchanged = await source(gateway).exchangeToken(userToken, `${TD}/event-service`, []);
    const claims = claimsOf(exchanged.accessToken);
    assert.deepEqual(claims.act, { sub: `${TD}/gateway` });
    return {
      trace: traceContextFromHeaders({}),
      caller: {
        kind: 'delegated',
        user: 'alice',
        spiffeId: `${TD}/gateway`,
        actors: [`${TD}/gateway`],
        scopes: ['invoices:read'],
        jti: claims.jti as string,
        issuer: authority.url,
        issuedAt: claims.iat as number,
        expiresAt: claims.exp as number,
        tenant: 'acme',
      },
      token: exchanged.accessToken,
    };
  }

  it('carries alice and both actors to billing; a refused audience fails the call', async () => {
    const context = await aliceAtEventService();
    const services = createServiceMap(
      {
        billing: { url: upstreamOrigin, scopes: ['invoices:read'] },
        ledger: { url: ledgerOrigin },
      },
      { trustDomain: 'tessera.local' },
    );
    const dispatcher = agent.compose(delegate({ tokens: source(eventService), services }));
    const response = await requestContext.run(context, () =>
      request(`${upstreamOrigin}/invoices/1`, { dispatcher }),
    );
    await response.body.text();
    assert.equal(response.statusCode, 200);
    const claims = claimsOf(received[0]!.slice('Bearer '.length));
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.tenant_id, 'acme');
    assert.equal(claims.aud, `${TD}/billing`);
    assert.deepEqual(claims.act, { sub: `${TD}/event-service`, act: { sub: `${TD}/gateway` } });
    // Policy lets event-service act for users towards billing only: ledger is refused.
    await assert.rejects(
      requestContext.run(context, () => request(`${ledgerOrigin}/entries`, { dispatcher })),
      (error: unknown) => {
        assert.ok(isTesseraError(error), String(error));
        assert.equal(error.code, 'ERR_DELEGATION_REFUSED');
        assert.match(error.message, /unauthorized_client/);
        return true;
      },
    );
    assert.equal(received.length, 1);
  });
});
