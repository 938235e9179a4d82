import { isScopeToken, mintAccessToken, type ActorClaim } from '@tessera/core';
import type { FastifyReply } from 'fastify';
import type { ExternalIssuerConfig, TokenExchangeConfig } from '../config.ts';
import type { AuthorityContext } from '../context.ts';
import { SubjectTokenError, UserIssuers } from '../exchange/user-issuers.ts';
import type { FormParameters } from '../http/form.ts';
import { sendOAuthError, type OAuthErrorCode } from '../http/oauth-error.ts';
import { authoritySpiffeId } from '../revocation/subscriber-auth.ts';
import type { ServiceRecord } from '../store/types.ts';
import { isTokenActive } from '../tokens/inspect.ts';

/** RFC 8693 §2.1 grant type. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3 token type identifiers accepted as `subject_token_type`. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
export const SUBJECT_TOKEN_TYPES: readonly string[] = Object.freeze([
  ACCESS_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  ID_TOKEN_TYPE,
]);

/** No delegated token lives longer than this (seconds), whatever the subject token allows. */
export const MAX_DELEGATED_LIFETIME_SECONDS = 300;

/** Request parameters that would let a client choose the tenant: refused outright. */
const TENANT_PARAMETERS = ['tenant_id', 'tenant'];

/** The user and chain a subject token vouches for, after verification. */
interface Subject {
  readonly user: string;
  /** The OpenID issuer that vouched for the user (`user_iss`). */
  readonly userIssuer?: string;
  readonly tenant?: string;
  readonly scopes: readonly string[];
  readonly expiresAt: number;
  /** The actors before this exchange (absent for a user token from the IdP). */
  readonly actors?: ActorClaim;
  /** `jti` of a delegated subject token. */
  readonly jti?: string;
}

class ExchangeRefusal extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly reason: string,
    readonly description: string,
  ) {
    super(description);
  }
}

function depthOf(actors: ActorClaim | undefined): number {
  let depth = 0;
  for (let a = actors; a !== undefined; a = a.act) depth += 1;
  return depth;
}

/** The `act` chain as a list, nearest first (for audit). */
function actorList(actors: ActorClaim | undefined): string[] {
  const list: string[] = [];
  for (let a = actors; a !== undefined; a = a.act) list.push(a.sub);
  return list;
}

/** A well-formed `act` of at most `limit` levels, each `sub` a string, or undefined. */
function readActors(value: unknown, limit: number): ActorClaim | undefined {
  if (typeof value !== 'object' || value === null || limit <= 0) return undefined;
  const { sub, act } = value as Record<string, unknown>;
  if (typeof sub !== 'string' || sub === '') return undefined;
  if (act === undefined) return { sub };
  const previous = readActors(act, limit - 1);
  return previous === undefined ? undefined : { sub, act: previous };
}

/**
 * RFC 8693 token exchange at the token endpoint, for an already authenticated client. The subject
 * token is a user token of a configured OpenID issuer, or a delegated Tessera token whose audience
 * is the client; the issued token carries the user (`sub`, `user_iss`), the tenant of the verified
 * token (`tenant_id`) and the actor chain (`act`), for one audience the policy (`mayAct`) lets the
 * client act towards.
 */
export function createTokenExchange(
  ctx: AuthorityContext,
  settings: {
    readonly userIssuers: readonly ExternalIssuerConfig[];
    readonly tokenExchange: TokenExchangeConfig;
  },
): (
  client: ServiceRecord,
  parameters: FormParameters,
  audience: string | undefined,
  reply: FastifyReply,
) => Promise<FastifyReply> {
  const issuers = new UserIssuers(settings.userIssuers);
  // Issuer → the services that may present its user tokens (the edge they were issued to).
  // Validated configuration always names them; the audience is the default for the rest.
  const presenters = new Map(
    settings.userIssuers.map((config) => [
      config.issuer,
      new Set(config.clients ?? [config.audience]),
    ]),
  );
  const { maxChainDepth, mayAct } = settings.tokenExchange;

  async function verifySubject(
    client: ServiceRecord,
    token: string,
    tokenType: string,
    now: number,
  ): Promise<Subject> {
    const claims = await ctx.readIssuedToken(token);
    if (claims !== undefined) {
      // One of ours: only a delegated token, only exchanged onward by its own audience.
      if (tokenType === ID_TOKEN_TYPE)
        throw new ExchangeRefusal(
          'invalid_request',
          'token_type_mismatch',
          'wrong subject_token_type',
        );
      if (!isTokenActive(claims, { revocations: ctx.revocations, clock: ctx.clock }))
        throw new ExchangeRefusal(
          'invalid_grant',
          'subject_inactive',
          'the subject token is not active',
        );
      if (claims.aud !== client.spiffeId)
        throw new ExchangeRefusal(
          'invalid_grant',
          'not_subject_audience',
          'only the audience of a delegated token may exchange it',
        );
      // A service's own token names no user: exchanging it would invent one.
      if (claims.act === undefined)
        throw new ExchangeRefusal(
          'invalid_grant',
          'subject_not_delegated',
          'the subject token does not act for a user',
        );
      // Deeper than the policy allows (or malformed): it cannot grow by another actor.
      const actors = readActors(claims.act, maxChainDepth);
      if (actors === undefined)
        throw new ExchangeRefusal(
          'invalid_grant',
          'chain_too_deep',
          'the delegation chain is too deep',
        );
      return {
        user: claims.sub,
        ...(claims.user_iss !== undefined ? { userIssuer: claims.user_iss } : {}),
        ...(claims.tenant_id !== undefined ? { tenant: claims.tenant_id } : {}),
        scopes: claims.scope === undefined || claims.scope === '' ? [] : claims.scope.split(' '),
        expiresAt: claims.exp,
        actors,
        jti: claims.jti,
      };
    }
    let user;
    try {
      user = await issuers.verify(token, now);
    } catch (error) {
      if (!(error instanceof SubjectTokenError)) throw error;
      throw new ExchangeRefusal('invalid_grant', error.reason, 'the subject token is not accepted');
    }
    // A user token was issued to the edge: a service that got hold of it some other way (a log, a
    // forwarded header) must not act for that user.
    if (presenters.get(user.issuer)?.has(client.spiffeId) !== true)
      throw new ExchangeRefusal(
        'invalid_grant',
        'not_subject_audience',
        'only the service a user token was issued to may exchange it',
      );
    return {
      user: user.subject,
      userIssuer: user.issuer,
      ...(user.tenant !== undefined ? { tenant: user.tenant } : {}),
      scopes: user.scopes,
      expiresAt: user.expiresAt,
    };
  }

  async function exchange(
    client: ServiceRecord,
    parameters: FormParameters,
    audience: string | undefined,
    now: number,
  ) {
    const subjectToken = parameters.get('subject_token');
    const subjectTokenType = parameters.get('subject_token_type');
    if (subjectToken === undefined || subjectToken === '' || subjectTokenType === undefined)
      throw new ExchangeRefusal(
        'invalid_request',
        'subject_token_missing',
        'subject_token and subject_token_type are required',
      );
    if (!SUBJECT_TOKEN_TYPES.includes(subjectTokenType))
      throw new ExchangeRefusal(
        'invalid_request',
        'subject_token_type_unsupported',
        'subject_token_type is not supported',
      );
    // Documented as unsupported: the client authentication already says who the actor is.
    if (
      parameters.get('actor_token') !== undefined ||
      parameters.get('actor_token_type') !== undefined
    )
      throw new ExchangeRefusal(
        'invalid_request',
        'actor_token_unsupported',
        'actor_token is not supported',
      );
    if (TENANT_PARAMETERS.some((name) => parameters.get(name) !== undefined))
      throw new ExchangeRefusal(
        'invalid_request',
        'tenant_in_request',
        'the tenant comes from the subject token only',
      );
    if (
      parameters.get('requested_token_type') !== undefined &&
      parameters.get('requested_token_type') !== ACCESS_TOKEN_TYPE
    )
      throw new ExchangeRefusal(
        'invalid_request',
        'requested_token_type_unsupported',
        'only access tokens are issued',
      );
    if (audience === undefined || audience === authoritySpiffeId(ctx.settings.trustDomain))
      throw new ExchangeRefusal(
        'invalid_target',
        'audience_invalid',
        'the audience is not a service',
      );
    const target = await ctx.services.get(audience.slice(audience.lastIndexOf('/') + 1));
    if (target?.enabled !== true || target.spiffeId !== audience)
      throw new ExchangeRefusal(
        'invalid_target',
        'audience_unknown',
        'the audience is not a service',
      );
    const grant = client.grants.find((g) => g.audience === audience);
    if (mayAct.get(client.spiffeId)?.has(audience) !== true || grant === undefined)
      throw new ExchangeRefusal(
        'unauthorized_client',
        'may_not_act',
        'the client may not act for users towards this audience',
      );
    if (target.boundTokens === true)
      throw new ExchangeRefusal(
        'invalid_target',
        'bound_audience',
        'this audience takes certificate-bound tokens, which token exchange does not issue yet',
      );

    const subject = await verifySubject(client, subjectToken, subjectTokenType, now);
    if (depthOf(subject.actors) + 1 > maxChainDepth)
      throw new ExchangeRefusal(
        'invalid_grant',
        'chain_too_deep',
        'the delegation chain is too deep',
      );

    const scopeParameter = parameters.get('scope');
    const allowed = subject.scopes.filter((s) => grant.scopes.includes(s));
    let scopes: string[];
    if (scopeParameter === undefined || scopeParameter === '') {
      scopes = [...new Set(allowed.filter(isScopeToken))];
    } else {
      scopes = scopeParameter.split(' ');
      // No silent narrowing: every requested scope is held by the subject and granted to the actor.
      if (
        !scopes.every((s) => isScopeToken(s) && allowed.includes(s)) ||
        new Set(scopes).size !== scopes.length
      )
        throw new ExchangeRefusal(
          'invalid_scope',
          'scope_escalation',
          'a requested scope is not held by the subject or granted to the client',
        );
    }
    const lifetime = Math.min(
      MAX_DELEGATED_LIFETIME_SECONDS,
      ctx.settings.tokenLifetimeSeconds,
      subject.expiresAt - now,
    );
    if (lifetime < 1)
      throw new ExchangeRefusal('invalid_grant', 'expired', 'the subject token is not accepted');
    return { subject, audience, scopes, lifetime };
  }

  return async (client, parameters, audience, reply) => {
    const now = Math.floor(ctx.clock.now() / 1000);
    let result: Awaited<ReturnType<typeof exchange>>;
    try {
      result = await exchange(client, parameters, audience, now);
    } catch (error) {
      if (!(error instanceof ExchangeRefusal)) throw error;
      ctx.metrics.failures.inc({ endpoint: 'token', reason: error.reason });
      reply.log.warn({ reason: error.reason, endpoint: 'token' }, 'token exchange refused');
      await ctx.audit({
        type: 'token.refused',
        actor: client.spiffeId,
        data: {
          grant_type: TOKEN_EXCHANGE_GRANT,
          reason: error.reason,
          ...(audience !== undefined ? { audience } : {}),
        },
      });
      return sendOAuthError(reply, error.error, error.description);
    }
    const { subject, scopes, lifetime } = result;
    const key = await ctx.keys.signingKey();
    const { token, claims } = mintAccessToken(
      {
        issuer: ctx.settings.issuer,
        subject: subject.user,
        actor: client.spiffeId,
        ...(subject.actors !== undefined ? { previousActors: subject.actors } : {}),
        ...(subject.userIssuer !== undefined ? { userIssuer: subject.userIssuer } : {}),
        ...(subject.tenant !== undefined ? { tenantId: subject.tenant } : {}),
        audience: result.audience,
        scopes,
        lifetimeSeconds: lifetime,
      },
      { key, clock: ctx.clock },
    );
    ctx.metrics.tokensIssued.inc({ grant_type: 'token_exchange' });
    await ctx.audit({
      type: 'token.issued',
      actor: client.spiffeId,
      data: {
        grant_type: TOKEN_EXCHANGE_GRANT,
        jti: claims.jti,
        sub: claims.sub,
        ...(claims.user_iss !== undefined ? { user_iss: claims.user_iss } : {}),
        ...(claims.tenant_id !== undefined ? { tenant_id: claims.tenant_id } : {}),
        actors: actorList(claims.act),
        aud: claims.aud,
        scope: claims.scope ?? '',
        exp: claims.exp,
        ...(subject.jti !== undefined ? { subject_jti: subject.jti } : {}),
      },
    });
    return reply
      .header('cache-control', 'no-store')
      .header('pragma', 'no-cache')
      .send({
        access_token: token,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: lifetime,
        ...(claims.scope !== undefined ? { scope: claims.scope } : {}),
      });
  };
}
