import { randomUUID } from 'node:crypto';
import { epochSeconds, type Clock } from '../clock.ts';
import { TesseraError } from '../errors.ts';
import type { SigningKey } from '../keys/jwk.ts';
import { parseWorkloadId } from '../spiffe/id.ts';
import { signCompactJws } from './jws.ts';

/** RFC 7523 §2.2: the `client_assertion_type` for JWT client authentication. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The authority accepts assertions living at most this long; 60 s is plenty for one request. */
export const DEFAULT_ASSERTION_LIFETIME_SECONDS = 60;

/**
 * Signs a `private_key_jwt` client assertion (RFC 7523 §3): `iss` = `sub` = the client's SPIFFE
 * ID, `aud` = the authority's issuer identifier, a fresh `jti`, short `exp`.
 */
export function mintClientAssertion(
  input: {
    readonly clientId: string;
    readonly audience: string;
    readonly lifetimeSeconds?: number;
  },
  options: { readonly key: SigningKey; readonly clock: Clock },
): string {
  parseWorkloadId(input.clientId);
  const lifetime = input.lifetimeSeconds ?? DEFAULT_ASSERTION_LIFETIME_SECONDS;
  if (!Number.isSafeInteger(lifetime) || lifetime < 1 || lifetime > 300) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'assertion lifetime must be 1..300 seconds');
  }
  const now = epochSeconds(options.clock);
  return signCompactJws(
    { alg: options.key.alg, typ: 'JWT', kid: options.key.kid },
    {
      iss: input.clientId,
      sub: input.clientId,
      aud: input.audience,
      iat: now,
      exp: now + lifetime,
      jti: randomUUID(),
    },
    options.key,
  );
}
