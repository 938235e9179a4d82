import {
  isTesseraError,
  MAX_CSR_PEM_BYTES,
  parseCertificationRequest,
  type CertificationRequestKey,
} from '@tessera/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ClientAuthenticationError, type AuthorityContext } from '../context.ts';
import { authenticatePeerService, hasPeerCertificate } from '../client-auth/peer-svid.ts';
import { sendOAuthError } from '../http/oauth-error.ts';
import type { ServiceRecord } from '../store/types.ts';
import { sha256 } from './admin.ts';
import { authenticateOrReply, readForm, refuseClient, throttledOrReply } from './token.ts';

export const SVID_ENDPOINT_PATH = '/v1/svid/x509';

/**
 * A form with a CSR (8 KiB at most), a client assertion (8 KiB) and a few short parameters,
 * URL-encoded (up to 3 bytes per byte): anything larger is not an SVID request.
 */
export const SVID_BODY_LIMIT_BYTES = 64 * 1024;

const TTL = /^[1-9][0-9]{0,5}$/;

type AuthMethod = 'private_key_jwt' | 'join_token' | 'tls_client_auth';

/** Reads the CSR's public key, or answers `invalid_request` (the log names the code). */
function readCsr(
  ctx: AuthorityContext,
  request: FastifyRequest,
  reply: FastifyReply,
  csr: string,
): CertificationRequestKey | undefined {
  try {
    return parseCertificationRequest(csr);
  } catch (error) {
    if (!isTesseraError(error)) throw error;
    ctx.metrics.failures.inc({ endpoint: 'svid', reason: error.code });
    request.log.info({ code: error.code, detail: error.detail }, 'CSR refused');
    void sendOAuthError(reply, 'invalid_request', 'the CSR is not acceptable');
    return undefined;
  }
}

/**
 * Join-token authentication (first boot): the token an admin created for one service, used once.
 * A token that is unknown, used or expired, or whose service is not registered and enabled, is
 * `invalid_client`, counted against the source like a failed client assertion.
 */
async function authenticateJoinToken(
  ctx: AuthorityContext,
  reply: FastifyReply,
  token: string,
): Promise<ServiceRecord | undefined> {
  if (throttledOrReply(ctx, reply, 'svid')) return undefined;
  const used =
    token.length > 256
      ? undefined
      : await ctx.store.consumeJoinToken(sha256(token).toString('hex'), ctx.clock.now());
  const service = used === undefined ? undefined : await ctx.store.getService(used.serviceName);
  const reason =
    used === undefined
      ? 'join_token_invalid'
      : service === undefined
        ? 'unknown_client'
        : service.enabled
          ? undefined
          : 'client_disabled';
  if (reason === undefined) return service;
  refuseClient(ctx, reply, 'svid', reason);
  return undefined;
}

/**
 * mTLS renewal: the connection's client certificate is a current SVID (chain against the bundle,
 * strict SVID, validity, revocation: `verifyPeerSvid`) of a registered, enabled service.
 */
async function authenticateTlsPeer(
  ctx: AuthorityContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<ServiceRecord | undefined> {
  if (throttledOrReply(ctx, reply, 'svid')) return undefined;
  try {
    return (await authenticatePeerService(request, ctx)).service;
  } catch (error) {
    if (!(error instanceof ClientAuthenticationError)) throw error;
    refuseClient(ctx, reply, 'svid', error.reason);
    return undefined;
  }
}

/**
 * `POST /v1/svid/x509`: a PKCS#10 CSR in, an X.509-SVID out. Form-encoded like the token
 * endpoint: `csr` (PEM), optional `ttl` (seconds, at most the maximum SVID lifetime), and client
 * authentication by exactly one of: `client_assertion_type` + `client_assertion`
 * (`private_key_jwt`), `join_token`, or the current SVID over mutual TLS. The CSR's key is the
 * only thing taken from it: subject and SANs come from the service record.
 */
export function registerSvidRoute(app: FastifyInstance, ctx: AuthorityContext): void {
  app.post(SVID_ENDPOINT_PATH, { bodyLimit: SVID_BODY_LIMIT_BYTES }, async (request, reply) => {
    const parameters = readForm(request, reply);
    if (parameters === undefined) return reply;
    const csr = parameters.get('csr');
    if (csr === undefined || csr === '' || csr.length > MAX_CSR_PEM_BYTES) {
      return sendOAuthError(reply, 'invalid_request', 'csr is required');
    }
    const ttlParameter = parameters.get('ttl');
    let lifetimeSeconds: number | undefined;
    if (ttlParameter !== undefined) {
      lifetimeSeconds = TTL.test(ttlParameter) ? Number(ttlParameter) : 0;
      if (lifetimeSeconds < 1 || lifetimeSeconds > ctx.ca.maxSvidLifetimeSeconds) {
        return sendOAuthError(reply, 'invalid_request', 'ttl is out of range');
      }
    }
    const joinToken = parameters.get('join_token');
    const assertionGiven =
      parameters.has('client_assertion') || parameters.has('client_assertion_type');
    if (joinToken !== undefined && assertionGiven) {
      return sendOAuthError(reply, 'invalid_request', 'more than one client authentication');
    }

    let method: AuthMethod;
    let service: ServiceRecord | undefined;
    let publicKey: CertificationRequestKey | undefined;
    if (joinToken !== undefined) {
      method = 'join_token';
      // Checked before the token is spent: a bad CSR does not burn a one-use token.
      publicKey = readCsr(ctx, request, reply, csr);
      if (publicKey === undefined) return reply;
      service = await authenticateJoinToken(ctx, reply, joinToken);
    } else if (assertionGiven) {
      method = 'private_key_jwt';
      service = await authenticateOrReply(ctx, parameters, reply, 'svid');
    } else if (hasPeerCertificate(request)) {
      method = 'tls_client_auth';
      service = await authenticateTlsPeer(ctx, request, reply);
    } else {
      refuseClient(ctx, reply, 'svid', 'no_client_auth');
      return reply;
    }
    if (service === undefined) return reply;
    publicKey ??= readCsr(ctx, request, reply, csr);
    if (publicKey === undefined) return reply;

    const issued = await ctx.ca.issueSvid({
      spiffeId: service.spiffeId,
      publicKey: publicKey.publicKey,
      spki: publicKey.spki,
      ...(lifetimeSeconds !== undefined ? { lifetimeSeconds } : {}),
      ...(service.hosts !== undefined && service.hosts.length > 0 ? { hosts: service.hosts } : {}),
    });
    ctx.metrics.svidsIssued.inc({ auth_method: method });
    await ctx.audit({
      type: 'svid.issued',
      actor: service.spiffeId,
      data: {
        serial: issued.serialNumber,
        ca: issued.caId,
        notBefore: issued.notBefore,
        notAfter: issued.expiresAt,
        authMethod: method,
        hosts: service.hosts ?? [],
      },
    });
    return reply
      .header('cache-control', 'no-store')
      .header('pragma', 'no-cache')
      .send({ svid: issued.chainPem, bundle: ctx.ca.bundlePem(), expires_at: issued.expiresAt });
  });
}
