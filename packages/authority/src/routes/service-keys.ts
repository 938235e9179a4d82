import { exportPublicJwk, importPublicJwk, isTesseraError, type PublicJwk } from '@tessera/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AuthorityContext } from '../context.ts';
import { shareChanges } from '../http/share-changes.ts';
import { sendOAuthError } from '../http/oauth-error.ts';
import type { ServiceRecord } from '../store/types.ts';
import { authenticateClientOrReply, readForm, refuseClient } from './token.ts';

/** Self-service rotation of a service's client-authentication key (`private_key_jwt`). */
export const SERVICE_KEYS_ENDPOINT_PATH = '/v1/service/keys';

/**
 * A client assertion (8 KiB at most), one public JWK and a few short parameters, URL-encoded (up
 * to 3 bytes per byte): anything larger is not a key rotation.
 */
export const SERVICE_KEYS_BODY_LIMIT_BYTES = 32 * 1024;

/** A public EC P-256 JWK with `kid`, `alg` and `use` is about 250 characters. */
const MAX_JWK_CHARS = 2048;

const ENDPOINT = 'service_keys';

function refuse(
  ctx: AuthorityContext,
  reply: FastifyReply,
  reason: string,
  description: string,
): FastifyReply {
  ctx.metrics.failures.inc({ endpoint: ENDPOINT, reason });
  reply.log.info({ reason, endpoint: ENDPOINT }, 'client key rotation refused');
  return sendOAuthError(reply, 'invalid_request', description);
}

/**
 * Reads the new key: one public JWK (JSON text), parsed with core's strict rules (no private or
 * symmetric members, EC P-256 or Ed25519 only, `alg` matching the key), rebuilt member by member
 * with `kid` = its RFC 7638 thumbprint. A `kid` sent with it must be that thumbprint. Returns the
 * reason code when the key is refused.
 */
function readNewKey(text: string | undefined): PublicJwk | string {
  if (text === undefined || text === '') return 'jwk_missing';
  if (text.length > MAX_JWK_CHARS) return 'jwk_too_large';
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    return 'jwk_not_json';
  }
  let jwk: PublicJwk;
  try {
    const key = importPublicJwk(input);
    jwk = exportPublicJwk(key.key, key.alg);
  } catch (error) {
    if (!isTesseraError(error)) throw error;
    return error.code;
  }
  const kid = (input as { kid?: unknown }).kid;
  if (kid !== undefined && kid !== jwk.kid) return 'kid_not_thumbprint';
  return jwk;
}

/**
 * The key set after a rotation: the new key and the one the request was authenticated with
 * (`private_key_jwt`), or, for a request authenticated by the service's X.509-SVID
 * (`tls_client_auth`), the most recently registered key. Never more than two keys: the next
 * rotation drops the key the one before replaced.
 */
function rotatedKeys(
  record: ServiceRecord,
  kid: string | undefined,
  added: PublicJwk,
): { kept: PublicJwk[]; dropped: string[] } | undefined {
  const keys = record.jwks.keys;
  const previous = kid === undefined ? keys.at(-1) : keys.find((k) => k.kid === kid);
  if (kid !== undefined && previous === undefined) return undefined;
  const kept = previous === undefined ? [added] : [previous, added];
  return { kept, dropped: keys.filter((k) => k !== previous).map((k) => k.kid) };
}

/**
 * `POST /v1/service/keys`: a service replaces its client-authentication key. Form-encoded like
 * the token endpoint, with the token endpoint's client authentication (`private_key_jwt` with
 * replay protection, or `tls_client_auth` over mutual TLS; its failure budget and 429s) and one
 * more parameter, `jwk`: the new public key (JSON). The service's key set becomes the key that
 * authenticated the request plus the new one, so a client that switches to the new key keeps
 * working, and its next rotation drops the key before. Audited as `service.key_rotated`.
 */
export function registerServiceKeysRoute(app: FastifyInstance, ctx: AuthorityContext): void {
  app.post(
    SERVICE_KEYS_ENDPOINT_PATH,
    { bodyLimit: SERVICE_KEYS_BODY_LIMIT_BYTES, onSend: shareChanges(ctx) },
    async (request, reply) => {
      const parameters = readForm(request, reply);
      if (parameters === undefined) return reply;
      // Checked before the client authenticates: a bad key does not spend the assertion.
      const added = readNewKey(parameters.get('jwk'));
      if (typeof added === 'string') {
        return refuse(ctx, reply, added, 'jwk must be one public ES256 or EdDSA key');
      }
      const client = await authenticateClientOrReply(ctx, parameters, reply, ENDPOINT);
      if (client === undefined) return reply;
      // Read afresh (the registry cache may be a second old) for the compare-and-set below.
      const record = await ctx.store.getService(client.service.name);
      if (record?.enabled !== true || record.spiffeId !== client.service.spiffeId) {
        refuseClient(ctx, reply, ENDPOINT, 'client_disabled');
        return reply;
      }
      if (record.jwks.keys.some((k) => k.kid === added.kid)) {
        return refuse(ctx, reply, 'key_already_registered', 'the key is already registered');
      }
      const next = rotatedKeys(record, client.kid, added);
      // The key that signed the assertion was dropped meanwhile (a concurrent rotation, seen
      // through another instance's cache): it no longer authenticates anything.
      if (next === undefined) {
        refuseClient(ctx, reply, ENDPOINT, 'kid_unknown');
        return reply;
      }
      const replaced = await ctx.store.replaceServiceJwks(
        record.name,
        record.jwks,
        { keys: next.kept },
        ctx.clock.now(),
      );
      ctx.services.invalidate(record.name);
      if (!replaced) {
        return refuse(ctx, reply, 'key_set_changed', 'the key set changed meanwhile; retry');
      }
      const authMethod = client.kid === undefined ? 'tls_client_auth' : 'private_key_jwt';
      ctx.metrics.clientKeysRotated.inc({ auth_method: authMethod });
      await ctx.audit({
        type: 'service.key_rotated',
        actor: record.spiffeId,
        data: {
          name: record.name,
          authMethod,
          kid: added.kid,
          kids: next.kept.map((k) => k.kid),
          dropped: next.dropped,
        },
      });
      return reply
        .header('cache-control', 'no-store')
        .header('pragma', 'no-cache')
        .send({ client_id: record.spiffeId, kid: added.kid, kids: next.kept.map((k) => k.kid) });
    },
  );
}
