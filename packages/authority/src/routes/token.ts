import { mintAccessToken, parseWorkloadId, serviceSpiffeId, isScopeToken } from '@tessera/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ClientAuthenticationError,
  TOKEN_ENDPOINT_PATH,
  type AuthorityContext,
} from '../context.ts';
import {
  FORM_CONTENT_TYPE,
  parseForm,
  RepeatedParameterError,
  type FormParameters,
} from '../http/form.ts';
import { clientSource } from '../client-auth/failures.ts';
import {
  authenticatePeerService,
  hasPeerCertificate,
  verifyPeerSvid,
} from '../client-auth/peer-svid.ts';
import { sendOAuthError } from '../http/oauth-error.ts';
import { authoritySpiffeId } from '../revocation/subscriber-auth.ts';
import type { ServiceRecord } from '../store/types.ts';
import { createTokenExchange, TOKEN_EXCHANGE_GRANT } from './token-exchange.ts';

const CLIENT_CREDENTIALS = 'client_credentials';

/**
 * Parses the form body of an OAuth endpoint, answering `invalid_request` itself for a missing,
 * non-form or repeated-parameter body. Returns undefined when it already replied.
 */
export function readForm(request: FastifyRequest, reply: FastifyReply): FormParameters | undefined {
  const body = request.body;
  // RFC 6749 §3.2: the request body is application/x-www-form-urlencoded, and nothing else
  // (a text/plain body must not be read as a form).
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (typeof body !== 'string' || type !== FORM_CONTENT_TYPE) {
    void sendOAuthError(
      reply,
      'invalid_request',
      'the body must be application/x-www-form-urlencoded',
    );
    return undefined;
  }
  try {
    return parseForm(body);
  } catch (error) {
    if (!(error instanceof RepeatedParameterError)) throw error;
    void sendOAuthError(reply, 'invalid_request', 'a parameter is repeated');
    return undefined;
  }
}

/**
 * Authenticates the client or answers `invalid_client` (401), recording the reason in metrics,
 * the log and the aggregated audit row of its source. A source past its failure budget gets 429
 * before any signature is checked. Returns undefined when it already replied.
 */
export async function authenticateOrReply(
  ctx: AuthorityContext,
  parameters: FormParameters,
  reply: FastifyReply,
  endpoint: string,
): Promise<ServiceRecord | undefined> {
  return (await authenticateClientOrReply(ctx, parameters, reply, endpoint))?.service;
}

/**
 * {@link authenticateOrReply}, also telling which registered key signed the client assertion
 * (`kid`), or none when the client authenticated with its X.509-SVID (`tls_client_auth`).
 */
export async function authenticateClientOrReply(
  ctx: AuthorityContext,
  parameters: FormParameters,
  reply: FastifyReply,
  endpoint: string,
): Promise<{ service: ServiceRecord; kid: string | undefined } | undefined> {
  if (throttledOrReply(ctx, reply, endpoint)) return undefined;
  try {
    return await authenticateClient(ctx, parameters, reply.request);
  } catch (error) {
    if (!(error instanceof ClientAuthenticationError)) throw error;
    refuseClient(ctx, reply, endpoint, error.reason);
    return undefined;
  }
}

/** A source past its failed-authentication budget: answers 429 and returns true. */
export function throttledOrReply(
  ctx: AuthorityContext,
  reply: FastifyReply,
  endpoint: string,
): boolean {
  const retryAfter = ctx.unauthenticated.throttle(clientSource(reply.request), endpoint);
  if (retryAfter === 0) return false;
  reply.header('retry-after', String(retryAfter));
  void sendOAuthError(
    reply,
    'temporarily_unavailable',
    'too many failed client authentications; retry later',
    429,
  );
  return true;
}

/**
 * Answers `invalid_client` (401) for a failed client authentication, with `reason` in the metrics,
 * the log and the aggregated audit row of the source (never on the wire).
 */
export function refuseClient(
  ctx: AuthorityContext,
  reply: FastifyReply,
  endpoint: string,
  reason: string,
): void {
  ctx.unauthenticated.refused(clientSource(reply.request), endpoint, reason);
  reply.log.warn({ reason, endpoint }, 'client authentication failed');
  void sendOAuthError(reply, 'invalid_client', 'client authentication failed');
}

/**
 * Picks the client authentication method from the request and runs it: `private_key_jwt` when a
 * client assertion is present (RFC 7523 §2.2); `tls_client_auth` (RFC 8705 §2.1.2) when the
 * request has only a `client_id`, which must be the SPIFFE ID in the URI SAN of the client's
 * X.509-SVID on this connection (`tls_client_auth_san_uri`). A service registered with one
 * `token_endpoint_auth_method` is held to it.
 */
async function authenticateClient(
  ctx: AuthorityContext,
  parameters: FormParameters,
  request: FastifyRequest,
): Promise<{ service: ServiceRecord; kid: string | undefined }> {
  const clientId = parameters.get('client_id');
  const assertionGiven =
    parameters.get('client_assertion_type') !== undefined ||
    parameters.get('client_assertion') !== undefined;
  if (assertionGiven || clientId === undefined) {
    const client = await ctx.authenticateClient(parameters);
    if (client.service.tokenEndpointAuthMethod === 'tls_client_auth') {
      throw new ClientAuthenticationError('auth_method_not_allowed');
    }
    return client;
  }
  const { service } = await authenticatePeerService(request, ctx);
  // RFC 8705 §2.1.2: the client_id names the client; the certificate must be the one registered
  // for it. A valid SVID of another service is refused, never silently taken as that service.
  if (clientId !== service.spiffeId) throw new ClientAuthenticationError('client_id_mismatch');
  if (service.tokenEndpointAuthMethod === 'private_key_jwt') {
    throw new ClientAuthenticationError('auth_method_not_allowed');
  }
  return { service, kid: undefined };
}

/** `audience` may name a service or give its SPIFFE ID (DESIGN: "Authority: external contract"). */
function resolveAudience(value: string, trustDomain: string): string | undefined {
  try {
    return value.startsWith('spiffe://')
      ? parseWorkloadId(value, trustDomain).uri
      : serviceSpiffeId(trustDomain, value);
  } catch {
    return undefined;
  }
}

/**
 * RFC 6749 §4.4 client credentials with RFC 7523 or RFC 8705 client authentication; tokens bound
 * to the client certificate (RFC 8705 §3) on request (`certificate_bound=true`) or when the
 * audience requires it.
 */
export function registerTokenRoute(app: FastifyInstance, ctx: AuthorityContext): void {
  const exchange = createTokenExchange(ctx, {
    userIssuers: ctx.settings.userIssuers ?? [],
    tokenExchange: ctx.settings.tokenExchange ?? { maxChainDepth: 3, mayAct: new Map() },
  });
  app.post(TOKEN_ENDPOINT_PATH, async (request, reply) => {
    const parameters = readForm(request, reply);
    if (parameters === undefined) return reply;
    const grantType = parameters.get('grant_type');
    if (grantType === undefined)
      return sendOAuthError(reply, 'invalid_request', 'grant_type is required');
    if (grantType !== CLIENT_CREDENTIALS && grantType !== TOKEN_EXCHANGE_GRANT) {
      ctx.metrics.failures.inc({ endpoint: 'token', reason: 'unsupported_grant_type' });
      return sendOAuthError(
        reply,
        'unsupported_grant_type',
        'only client_credentials and token exchange are supported',
      );
    }
    const client = await authenticateOrReply(ctx, parameters, reply, 'token');
    if (client === undefined) return reply;
    if (grantType === TOKEN_EXCHANGE_GRANT) {
      // RFC 8693 §2.1: the same client authentication as any token request.
      const audienceValue = parameters.get('audience');
      return exchange(
        client,
        parameters,
        audienceValue === undefined
          ? undefined
          : resolveAudience(audienceValue, ctx.settings.trustDomain),
        reply,
      );
    }

    const audienceParameter = parameters.get('audience');
    if (audienceParameter === undefined)
      return sendOAuthError(reply, 'invalid_request', 'audience is required');
    const audience = resolveAudience(audienceParameter, ctx.settings.trustDomain);
    // Every client may have a token for the authority itself (to read the revocation feed),
    // and one with no scope: it opens nothing else.
    const forAuthority = audience === authoritySpiffeId(ctx.settings.trustDomain);
    const target =
      audience === undefined || forAuthority
        ? undefined
        : await ctx.services.get(audience.slice(audience.lastIndexOf('/') + 1));
    const grant =
      audience === undefined ? undefined : client.grants.find((g) => g.audience === audience);
    // RFC 8707 §2: a target the client may not have is invalid_target, never a different token.
    if (
      audience === undefined ||
      (!forAuthority &&
        (grant === undefined || target?.enabled !== true || target.spiffeId !== audience))
    ) {
      ctx.metrics.failures.inc({ endpoint: 'token', reason: 'audience_not_granted' });
      await ctx.audit({
        type: 'token.refused',
        actor: client.spiffeId,
        data: { reason: 'audience_not_granted' },
      });
      return sendOAuthError(reply, 'invalid_target', 'the audience is not granted to this client');
    }

    const scopeParameter = parameters.get('scope') ?? '';
    const scopes = scopeParameter === '' ? [] : scopeParameter.split(' ');
    // No silent narrowing or widening: every requested scope must be granted, or the request
    // fails. Granted for this audience: a scope granted for another never reaches this one.
    const granted = grant?.scopes ?? [];
    if (
      (forAuthority && scopes.length > 0) ||
      !scopes.every((s) => isScopeToken(s) && granted.includes(s)) ||
      new Set(scopes).size !== scopes.length
    ) {
      ctx.metrics.failures.inc({ endpoint: 'token', reason: 'scope_not_granted' });
      await ctx.audit({
        type: 'token.refused',
        actor: client.spiffeId,
        data: { reason: 'scope_not_granted', audience },
      });
      return sendOAuthError(
        reply,
        'invalid_scope',
        'a requested scope is not granted to this client',
      );
    }

    const bindingParameter = parameters.get('certificate_bound');
    if (
      bindingParameter !== undefined &&
      bindingParameter !== 'true' &&
      bindingParameter !== 'false'
    )
      return sendOAuthError(reply, 'invalid_request', 'certificate_bound is true or false');
    let thumbprint: string | undefined;
    if (bindingParameter === 'true' || target?.boundTokens === true) {
      // RFC 8705 §3: bound to the certificate of this connection, which must be the client's own
      // SVID whatever the client authentication method was.
      if (!hasPeerCertificate(request)) {
        ctx.metrics.failures.inc({ endpoint: 'token', reason: 'binding_without_certificate' });
        return sendOAuthError(
          reply,
          'invalid_request',
          'a certificate-bound token needs the client certificate over mutual TLS',
        );
      }
      let reason: string | undefined;
      try {
        const svid = verifyPeerSvid(request, ctx);
        if (svid.spiffeId.uri === client.spiffeId) thumbprint = svid.thumbprint;
        else reason = 'binding_other_client';
      } catch (error) {
        if (!(error instanceof ClientAuthenticationError)) throw error;
        reason = error.reason;
      }
      if (thumbprint === undefined) {
        ctx.unauthenticated.refused(clientSource(request), 'token', reason ?? 'binding_refused');
        reply.log.warn({ reason, endpoint: 'token' }, 'certificate binding refused');
        return sendOAuthError(reply, 'invalid_client', 'client authentication failed');
      }
    }

    const key = await ctx.keys.signingKey();
    const { token, claims } = mintAccessToken(
      {
        issuer: ctx.settings.issuer,
        subject: client.spiffeId,
        audience,
        scopes,
        lifetimeSeconds: ctx.settings.tokenLifetimeSeconds,
        ...(thumbprint !== undefined ? { certificateThumbprint: thumbprint } : {}),
      },
      { key, clock: ctx.clock },
    );
    ctx.metrics.tokensIssued.inc({ grant_type: CLIENT_CREDENTIALS });
    await ctx.audit({
      type: 'token.issued',
      actor: client.spiffeId,
      data: {
        jti: claims.jti,
        sub: claims.sub,
        aud: claims.aud,
        scope: claims.scope ?? '',
        exp: claims.exp,
        ...(thumbprint !== undefined ? { cnf: { 'x5t#S256': thumbprint } } : {}),
      },
    });
    return reply
      .header('cache-control', 'no-store')
      .header('pragma', 'no-cache')
      .send({
        access_token: token,
        token_type: 'Bearer',
        expires_in: ctx.settings.tokenLifetimeSeconds,
        ...(claims.scope !== undefined ? { scope: claims.scope } : {}),
      });
  });
}
