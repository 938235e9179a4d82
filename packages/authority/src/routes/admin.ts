import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import {
  exportPublicJwk,
  isScopeToken,
  isTesseraError,
  MAX_TOKEN_LIFETIME_SECONDS,
  parseJwks,
  parseWorkloadId,
  publicErrorBody,
  serviceSpiffeId,
  type KeySet,
} from '@tessera/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clientSource } from '../client-auth/failures.ts';
import { shareChanges } from '../http/share-changes.ts';
import { ClientAuthenticationError, type AuthorityContext } from '../context.ts';
import { hasPeerCertificate, verifyPeerSvid } from '../client-auth/peer-svid.ts';
import { AUTHORITY_SERVICE_NAME } from '../revocation/subscriber-auth.ts';
import { SERVICE_CACHE_TTL_MS } from '../service-cache.ts';
import {
  TOKEN_ENDPOINT_AUTH_METHODS,
  type AudienceGrant,
  type ServiceRecord,
  type TokenEndpointAuthMethod,
} from '../store/types.ts';

/** Join tokens live at most an hour (issue: "expiring (≤ 1 h)"). */
export const MAX_JOIN_TOKEN_TTL_SECONDS = 3600;
/**
 * A service name is one SPIFFE ID path segment: `.` and `..` use only allowed characters but are
 * relative segments, which no SPIFFE ID may contain (SPIFFE ID §2.2).
 */
const SERVICE_NAME = '^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,255}$';

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time check of `Authorization: Bearer <admin token>` against the stored hash. */
export function isAdmin(request: FastifyRequest, expectedHash: Buffer): boolean {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return false;
  const match = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header);
  if (match === null) return false;
  // Hashing both sides first makes the comparison constant-time whatever the lengths.
  return timingSafeEqual(sha256(match[1] ?? ''), expectedHash);
}

/**
 * Admin over mTLS: the client's X.509-SVID (chain, strict SVID, validity, revocation checked as
 * for any client) names one of the configured `admin.spiffeIds`, and its service, when it is
 * registered, is not disabled. Refusals are logged with their reason; the answer stays 401.
 */
/**
 * Who the audit log names for an admin request: the SPIFFE ID of an admin over mTLS, else
 * `admin` (the shared admin token).
 */
const adminPeers = new WeakMap<FastifyRequest, string>();

function adminActor(request: FastifyRequest): string {
  return adminPeers.get(request) ?? 'admin';
}

async function isAdminPeer(request: FastifyRequest, ctx: AuthorityContext): Promise<boolean> {
  const listed = ctx.settings.adminSpiffeIds ?? [];
  if (listed.length === 0 || !hasPeerCertificate(request)) return false;
  let reason: string;
  try {
    const svid = verifyPeerSvid(request, ctx);
    const service =
      svid.serviceName === undefined ? undefined : await ctx.services.get(svid.serviceName);
    if (!listed.includes(svid.spiffeId.uri)) reason = 'admin_id_not_listed';
    else if (service !== undefined && !service.enabled) reason = 'client_disabled';
    else {
      adminPeers.set(request, svid.spiffeId.uri);
      return true;
    }
  } catch (error) {
    if (!(error instanceof ClientAuthenticationError)) throw error;
    reason = error.reason;
  }
  request.log.warn({ reason }, 'admin client certificate refused');
  return false;
}

/** The longest any credential the authority issues can live: a token, or an X.509-SVID. */
function credentialLifetime(ctx: AuthorityContext): number {
  return Math.max(MAX_TOKEN_LIFETIME_SECONDS, ctx.ca.maxSvidLifetimeSeconds);
}

function bad(reply: FastifyReply, detail: string, request: FastifyRequest): FastifyReply {
  request.log.info({ detail }, 'admin request refused');
  return reply.code(400).send(publicErrorBody('ERR_REQUEST_INVALID'));
}

function resolveServiceRef(ref: string, trustDomain: string): string {
  return ref.startsWith('spiffe://')
    ? parseWorkloadId(ref, trustDomain).uri
    : serviceSpiffeId(trustDomain, ref);
}

/**
 * The JWKS to store: the validated public keys rebuilt member by member under their registered
 * kids. The document as sent is never stored, so nothing else in it (unknown members, arbitrarily
 * deep nesting that overflows the stack when serialised) reaches the store.
 */
function storedJwks(keys: KeySet): ServiceRecord['jwks'] {
  return {
    keys: keys.kids().flatMap((kid) => {
      const key = keys.get(kid);
      return key === undefined ? [] : [{ ...exportPublicJwk(key.key, key.alg), kid }];
    }),
  };
}

function publicService(record: ServiceRecord) {
  return {
    name: record.name,
    client_id: record.spiffeId,
    enabled: record.enabled,
    audiences: record.grants.map((g) => g.audience),
    grants: record.grants,
    kids: record.jwks.keys.map((k) => k.kid),
    ...(record.tokenEndpointAuthMethod !== undefined
      ? { token_endpoint_auth_method: record.tokenEndpointAuthMethod }
      : {}),
    bound_tokens: record.boundTokens === true,
    ...(record.hosts !== undefined && record.hosts.length > 0 ? { hosts: record.hosts } : {}),
  };
}

/** Most host SANs one service's SVIDs carry. */
export const MAX_SERVICE_HOSTS = 32;
/** A DNS name as a certificate SAN carries it: lower-case LDH labels, no wildcard, no trailing dot. */
const DNS_NAME =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A host SAN: an IPv4/IPv6 address or a DNS name. Returns the refusal reason, if any. */
function hostProblem(hosts: readonly string[]): string | undefined {
  if (new Set(hosts).size !== hosts.length) return 'a host is listed twice';
  for (const host of hosts) {
    if (isIP(host) === 0 && !DNS_NAME.test(host)) return 'a host is not an IP address or DNS name';
  }
  return undefined;
}

const scopeList = {
  type: 'array',
  maxItems: 256,
  items: { type: 'string', minLength: 1, maxLength: 256 },
} as const;

const serviceBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: SERVICE_NAME },
    audiences: {
      type: 'array',
      maxItems: 256,
      items: { type: 'string', minLength: 1, maxLength: 2048 },
    },
    scopes: scopeList,
    grants: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['audience', 'scopes'],
        properties: {
          audience: { type: 'string', minLength: 1, maxLength: 2048 },
          scopes: scopeList,
        },
      },
    },
    jwks: { type: 'object' },
    enabled: { type: 'boolean' },
    token_endpoint_auth_method: {
      anyOf: [{ type: 'string', enum: TOKEN_ENDPOINT_AUTH_METHODS }, { type: 'null' }],
    },
    bound_tokens: { type: 'boolean' },
    hosts: {
      type: 'array',
      maxItems: MAX_SERVICE_HOSTS,
      items: { type: 'string', minLength: 1, maxLength: 253 },
    },
  },
} as const;

interface ServiceBody {
  name: string;
  audiences?: string[];
  scopes?: string[];
  grants?: { audience: string; scopes: string[] }[];
  jwks?: unknown;
  enabled?: boolean;
  hosts?: string[];
  /** One method only; null: either (the default). Absent on an update: unchanged. */
  token_endpoint_auth_method?: TokenEndpointAuthMethod | null;
  /** Tokens for this service as audience are always certificate-bound. Absent on an update: unchanged. */
  bound_tokens?: boolean;
}

/** The client authentication method and bound-token setting: as given, else as they were. */
function withClientAuthSettings(
  body: ServiceBody,
  existing: ServiceRecord | undefined,
): Pick<ServiceRecord, 'tokenEndpointAuthMethod' | 'boundTokens'> {
  const method =
    body.token_endpoint_auth_method === undefined
      ? existing?.tokenEndpointAuthMethod
      : (body.token_endpoint_auth_method ?? undefined);
  const bound = body.bound_tokens ?? existing?.boundTokens === true;
  return {
    ...(method !== undefined ? { tokenEndpointAuthMethod: method } : {}),
    ...(bound ? { boundTokens: true } : {}),
  };
}

/**
 * The grants a registration asks for, in either form: `grants: [{ audience, scopes }]`, each
 * audience with its own scopes; or the original `audiences` + `scopes`, kept for existing
 * callers, which grants every listed scope for every listed audience. Not both at once, and no
 * scopes without an audience to hold them. Audiences are resolved to SPIFFE IDs (a name or an
 * ID); listing one twice is refused rather than merged. Returns a reason to refuse, or grants.
 */
function requestedGrants(body: ServiceBody, trustDomain: string): AudienceGrant[] | string {
  const flat = body.audiences !== undefined || body.scopes !== undefined;
  if (flat && body.grants !== undefined) return 'give grants, or audiences and scopes, not both';
  const requested =
    body.grants ??
    (body.audiences ?? []).map((audience) => ({ audience, scopes: body.scopes ?? [] }));
  if (body.grants === undefined && (body.scopes ?? []).length > 0 && requested.length === 0) {
    return 'scopes without an audience';
  }
  const grants: AudienceGrant[] = [];
  for (const grant of requested) {
    const audience = resolveServiceRef(grant.audience, trustDomain);
    if (grants.some((g) => g.audience === audience)) return 'an audience is listed twice';
    const scopes = [...new Set(grant.scopes)];
    if (!scopes.every(isScopeToken)) return 'invalid scope';
    grants.push({ audience, scopes });
  }
  return grants;
}

/**
 * `/v1/admin/...`: registry, join tokens, key rotation, revocation, audit log. Authenticated by
 * the admin bearer token in an `onRequest` hook, so nothing (not even body parsing or schema
 * validation) happens for an unauthenticated caller.
 */
export function registerAdminRoutes(app: FastifyInstance, ctx: AuthorityContext): void {
  const { trustDomain } = ctx.settings;

  void app.register(
    (admin, _options, done) => {
      admin.addHook('onSend', shareChanges(ctx));
      admin.addHook('onRequest', async (request, reply) => {
        if (!isAdmin(request, ctx.adminTokenHash) && !(await isAdminPeer(request, ctx))) {
          ctx.metrics.failures.inc({ endpoint: 'admin', reason: 'unauthenticated' });
          await reply
            .code(401)
            .header('www-authenticate', 'Bearer realm="tessera-admin"')
            .send(publicErrorBody('ERR_UNAUTHENTICATED'));
        }
      });

      admin.post<{ Body: ServiceBody }>(
        '/services',
        { schema: { body: serviceBody } },
        async (request, reply) => {
          const body = request.body;
          // Tokens for this name are the authority's own (revocation feed): a service under it
          // would receive them, and could replay them here.
          if (body.name === AUTHORITY_SERVICE_NAME) {
            return bad(reply, `the service name ${AUTHORITY_SERVICE_NAME} is reserved`, request);
          }
          let grants: AudienceGrant[] | string;
          let jwks: ServiceRecord['jwks'] | undefined;
          try {
            grants = requestedGrants(body, trustDomain);
            // Validated for what it must not hold (private members, duplicate kids, other key types).
            if (body.jwks !== undefined) jwks = storedJwks(parseJwks(body.jwks));
          } catch (error) {
            if (!isTesseraError(error)) throw error;
            return bad(reply, error.code, request);
          }
          if (typeof grants === 'string') return bad(reply, grants, request);
          const hostRefusal = hostProblem(body.hosts ?? []);
          if (hostRefusal !== undefined) return bad(reply, hostRefusal, request);
          const spiffeId = serviceSpiffeId(trustDomain, body.name);
          const now = ctx.clock.now();
          const existing = await ctx.store.getService(body.name);
          const record: ServiceRecord = {
            name: body.name,
            spiffeId,
            enabled: body.enabled ?? true,
            grants,
            jwks: jwks ?? existing?.jwks ?? { keys: [] },
            ...withClientAuthSettings(body, existing),
            hosts: body.hosts ?? existing?.hosts ?? [],
            createdAtMs: existing?.createdAtMs ?? now,
            updatedAtMs: now,
          };
          await ctx.store.upsertService(record);
          ctx.services.invalidate(record.name);
          await ctx.audit({
            type: existing === undefined ? 'service.registered' : 'service.updated',
            actor: adminActor(request),
            data: {
              name: record.name,
              grants,
              kids: record.jwks.keys.map((k) => k.kid),
              enabled: record.enabled,
              tokenEndpointAuthMethod: record.tokenEndpointAuthMethod ?? null,
              boundTokens: record.boundTokens === true,
              hosts: record.hosts ?? [],
            },
          });
          return reply.code(existing === undefined ? 201 : 200).send(publicService(record));
        },
      );

      admin.get('/services', async () => ({
        services: (await ctx.store.listServices()).map(publicService),
      }));

      admin.get<{ Params: { name: string } }>('/services/:name', async (request, reply) => {
        const record = await ctx.store.getService(request.params.name);
        return record === undefined
          ? reply.code(404).send(publicErrorBody('ERR_NOT_FOUND'))
          : publicService(record);
      });

      admin.delete<{ Params: { name: string } }>('/services/:name', async (request, reply) => {
        const record = await ctx.store.getService(request.params.name);
        if (record === undefined) return reply.code(404).send(publicErrorBody('ERR_NOT_FOUND'));
        const now = ctx.clock.now();
        await ctx.store.setServiceEnabled(record.name, false, now);
        ctx.services.invalidate(record.name);
        const nowSeconds = Math.floor(now / 1000);
        // Every token issued to it up to now, for as long as any of them can live; plus the
        // window in which another instance may still hold the enabled record in its cache.
        await ctx.revocations.add({
          kind: 'subject',
          value: record.spiffeId,
          issuedAtOrBefore: nowSeconds + Math.ceil(SERVICE_CACHE_TTL_MS / 1000) + 1,
          // Its X.509-SVIDs too (plugins read a subject entry as covering certificates with
          // notBefore at or before it), which outlive tokens.
          expiresAt: nowSeconds + credentialLifetime(ctx),
        });
        // And into the CRL, for outside tools that check certificates with it.
        const svidsRevoked = await ctx.store.revokeSvidsOf(record.spiffeId, now);
        await ctx.audit({
          type: 'service.disabled',
          actor: adminActor(request),
          data: { name: record.name, svidsRevoked },
        });
        return reply.code(204).send();
      });

      admin.post<{ Body: { service: string; ttlSeconds?: number; ttl_seconds?: number } }>(
        '/join-tokens',
        {
          schema: {
            body: {
              type: 'object',
              additionalProperties: false,
              required: ['service'],
              properties: {
                service: { type: 'string', pattern: SERVICE_NAME },
                ttlSeconds: { type: 'integer', minimum: 1, maximum: MAX_JOIN_TOKEN_TTL_SECONDS },
                ttl_seconds: { type: 'integer', minimum: 1, maximum: MAX_JOIN_TOKEN_TTL_SECONDS },
              },
            },
          },
        },
        async (request, reply) => {
          if (request.body.service === AUTHORITY_SERVICE_NAME) {
            return bad(reply, `the service name ${AUTHORITY_SERVICE_NAME} is reserved`, request);
          }
          const token = randomBytes(32).toString('base64url');
          const now = ctx.clock.now();
          if (request.body.ttlSeconds !== undefined && request.body.ttl_seconds !== undefined) {
            return bad(reply, 'give ttlSeconds or ttl_seconds, not both', request);
          }
          const ttl = request.body.ttlSeconds ?? request.body.ttl_seconds ?? 900;
          const id = randomUUID();
          await ctx.store.insertJoinToken({
            id,
            tokenHash: sha256(token).toString('hex'),
            serviceName: request.body.service,
            createdAtMs: now,
            expiresAtMs: now + ttl * 1000,
            usedAtMs: null,
          });
          await ctx.audit({
            type: 'join_token.created',
            actor: adminActor(request),
            data: { id, service: request.body.service, ttlSeconds: ttl },
          });
          return reply
            .code(201)
            .header('cache-control', 'no-store')
            .send({
              id,
              token,
              service: request.body.service,
              expires_at: Math.floor((now + ttl * 1000) / 1000),
            });
        },
      );

      admin.post<{ Body: { revokePrevious?: boolean } | undefined }>(
        '/keys/rotate',
        {
          schema: {
            body: {
              type: 'object',
              additionalProperties: false,
              properties: { revokePrevious: { type: 'boolean' } },
            },
          },
        },
        async (request) => {
          const revokePrevious = request.body?.revokePrevious === true;
          const result = await ctx.keys.rotateNow({ revokePrevious });
          if (result.revokedKid !== undefined) {
            // Pushed to every verifier on the revocation feed (review finding 5): waiting for
            // their next JWKS fetch would leave the key's tokens valid for up to a cache lifetime.
            // Kept as long as any token the key signed could live (verifiers add their tolerance).
            const nowSeconds = Math.floor(ctx.clock.now() / 1000);
            await ctx.revocations.add({
              kind: 'kid',
              value: result.revokedKid,
              issuedAtOrBefore: null,
              expiresAt: nowSeconds + MAX_TOKEN_LIFETIME_SECONDS,
            });
            await ctx.audit({
              type: 'revocation.added',
              actor: adminActor(request),
              data: { kind: 'kid', kid: result.revokedKid },
            });
          }
          await ctx.audit({
            type: 'key.rotated',
            actor: adminActor(request),
            data: { ...result, revokePrevious },
          });
          return result;
        },
      );

      admin.get('/ca', () => ({
        cas: ctx.ca.show(),
        schedule: {
          lifetimeSeconds: ctx.ca.caLifetimeSeconds,
          rotateEverySeconds: ctx.ca.rotateEverySeconds,
          prepublishSeconds: ctx.ca.prepublishSeconds,
          svidLifetimeSeconds: ctx.ca.defaultSvidLifetimeSeconds,
          maxSvidLifetimeSeconds: ctx.ca.maxSvidLifetimeSeconds,
        },
      }));

      admin.post('/ca/rotate', async (request) => {
        const { next, changes } = await ctx.ca.rotate();
        await ctx.audit({
          type: 'ca.rotated',
          actor: adminActor(request),
          data: { next: next.id, activatesAt: next.activatesAt, ...changes },
        });
        return { next, cas: ctx.ca.show() };
      });

      admin.post<{ Body: { serial: string } }>(
        '/svids/revoke',
        {
          schema: {
            body: {
              type: 'object',
              additionalProperties: false,
              required: ['serial'],
              properties: { serial: { type: 'string', pattern: '^[0-9a-fA-F]{1,40}$' } },
            },
          },
        },
        async (request, reply) => {
          // As parseX509Svid writes it: lower-case hex without leading zero octets.
          const serial = request.body.serial.toLowerCase().replace(/^(00)+(?=.)/, '');
          const now = ctx.clock.now();
          const svid = await ctx.store.revokeSvid(serial, now);
          if (svid === undefined) return reply.code(404).send(publicErrorBody('ERR_NOT_FOUND'));
          const record = await ctx.revocations.add({
            kind: 'svid',
            value: svid.serialNumber,
            issuedAtOrBefore: null,
            expiresAt: Math.ceil(svid.notAfterMs / 1000),
          });
          await ctx.audit({
            type: 'revocation.added',
            actor: adminActor(request),
            data: {
              kind: 'svid',
              serial: svid.serialNumber,
              spiffeId: svid.spiffeId,
              ca: svid.caId,
            },
          });
          return reply.code(201).send({
            id: record.id,
            kind: record.kind,
            value: record.value,
            spiffe_id: svid.spiffeId,
            expires_at: record.expiresAt,
          });
        },
      );

      admin.post<{ Body: { jti?: string; exp?: number; service?: string } }>(
        '/revocations',
        {
          schema: {
            body: {
              type: 'object',
              additionalProperties: false,
              properties: {
                jti: { type: 'string', minLength: 1, maxLength: 256 },
                exp: { type: 'integer', minimum: 0 },
                service: { type: 'string', minLength: 1, maxLength: 2048 },
              },
            },
          },
        },
        async (request, reply) => {
          const { jti, service } = request.body;
          const nowSeconds = Math.floor(ctx.clock.now() / 1000);
          if ((jti === undefined) === (service === undefined))
            return bad(reply, 'give exactly one of jti, service', request);
          let record;
          if (jti !== undefined) {
            record = await ctx.revocations.add({
              kind: 'jti',
              value: jti,
              issuedAtOrBefore: null,
              expiresAt: Math.min(
                request.body.exp ?? nowSeconds + MAX_TOKEN_LIFETIME_SECONDS,
                nowSeconds + MAX_TOKEN_LIFETIME_SECONDS,
              ),
            });
          } else {
            let subject: string;
            try {
              subject = resolveServiceRef(service ?? '', trustDomain);
            } catch {
              return bad(reply, 'service is not a name or SPIFFE ID of this trust domain', request);
            }
            record = await ctx.revocations.add({
              kind: 'subject',
              value: subject,
              issuedAtOrBefore: nowSeconds,
              expiresAt: nowSeconds + credentialLifetime(ctx),
            });
          }
          await ctx.audit({
            type: 'revocation.added',
            actor: adminActor(request),
            data: { kind: record.kind, value: record.value },
          });
          return reply.code(201).send({
            id: record.id,
            kind: record.kind,
            value: record.value,
            expires_at: record.expiresAt,
          });
        },
      );

      admin.get<{ Querystring: { after?: string; limit?: string } }>(
        '/audit',
        async (request, reply) => {
          const after = Number(request.query.after ?? 0);
          const limit = Number(request.query.limit ?? 100);
          if (
            !Number.isSafeInteger(after) ||
            after < 0 ||
            !Number.isSafeInteger(limit) ||
            limit < 1 ||
            limit > 1000
          ) {
            return bad(reply, 'after/limit out of range', request);
          }
          return { records: await ctx.store.listAudit(after, limit) };
        },
      );

      done();
    },
    { prefix: '/v1/admin' },
  );

  /** One-time join: a workload registers its public key with a join token an admin created. */
  app.post<{ Body: { token: string; jwks: unknown } }>(
    '/v1/attest/join',
    {
      onSend: shareChanges(ctx),
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['token', 'jwks'],
          properties: {
            token: { type: 'string', minLength: 1, maxLength: 256 },
            jwks: { type: 'object' },
          },
        },
      },
    },
    async (request, reply) => {
      const source = clientSource(request);
      const retryAfter = ctx.unauthenticated.throttle(source, 'attest_join');
      if (retryAfter > 0) {
        return reply
          .code(429)
          .header('retry-after', String(retryAfter))
          .send(publicErrorBody('ERR_RATE_LIMITED'));
      }
      let keys;
      try {
        keys = parseJwks(request.body.jwks);
      } catch (error) {
        if (!isTesseraError(error)) throw error;
        return bad(reply, error.code, request);
      }
      if (keys.size === 0) return bad(reply, 'no keys', request);
      const now = ctx.clock.now();
      const used = await ctx.store.consumeJoinToken(
        sha256(request.body.token).toString('hex'),
        now,
      );
      if (used === undefined) {
        ctx.unauthenticated.refused(source, 'attest_join', 'join_token_invalid');
        return reply.code(401).send(publicErrorBody('ERR_UNAUTHENTICATED'));
      }
      const existing = await ctx.store.getService(used.serviceName);
      const record: ServiceRecord = {
        name: used.serviceName,
        spiffeId: serviceSpiffeId(trustDomain, used.serviceName),
        enabled: existing?.enabled ?? true,
        grants: existing?.grants ?? [],
        jwks: storedJwks(keys),
        ...withClientAuthSettings({ name: used.serviceName }, existing),
        createdAtMs: existing?.createdAtMs ?? now,
        updatedAtMs: now,
      };
      await ctx.store.upsertService(record);
      ctx.services.invalidate(record.name);
      await ctx.audit({
        type: 'service.joined',
        actor: record.spiffeId,
        data: { joinTokenId: used.id, kids: keys.kids() },
      });
      return reply.code(200).send(publicService(record));
    },
  );
}
