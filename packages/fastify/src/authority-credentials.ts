import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import {
  mintClientAssertion,
  signingKeyFromPrivateKey,
  TesseraError,
  type Clock,
  type SigningKey,
} from '@tessera/core';

/**
 * How the plugin proves to the authority who it is when it reads the revocation feed (the feed
 * refuses anonymous readers):
 * - the service's registered private key, as a `KeyObject` or a private JWK, from which the
 *   plugin signs a fresh `private_key_jwt` client assertion (RFC 7523) for every feed request;
 *   `kid` is needed only when the key was registered under a `kid` other than its RFC 7638
 *   thumbprint;
 * - or a function returning an access token whose audience is the authority
 *   (`spiffe://<trust domain>/tessera-authority`), called for every feed request.
 */
export type AuthorityCredentials =
  | { readonly privateKey: KeyObject | JsonWebKey; readonly kid?: string }
  | (() => string | Promise<string>);

function invalid(detail: string): TesseraError {
  return new TesseraError(
    'ERR_CONFIG_INVALID',
    `@tessera/fastify: authority.credentials ${detail}`,
  );
}

function signingKeyOf(privateKey: unknown, kid: unknown): SigningKey {
  let key: KeyObject;
  try {
    key =
      typeof privateKey === 'object' && privateKey !== null && 'asymmetricKeyType' in privateKey
        ? (privateKey as KeyObject)
        : createPrivateKey({ key: privateKey as JsonWebKey, format: 'jwk' });
  } catch {
    throw invalid('privateKey is not a private key (KeyObject or private JWK)');
  }
  if (key.type !== 'private') throw invalid('privateKey is not a private key');
  const alg =
    key.asymmetricKeyType === 'ed25519'
      ? 'EdDSA'
      : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
        ? 'ES256'
        : undefined;
  if (alg === undefined) throw invalid('privateKey must be a P-256 (ES256) or Ed25519 key');
  const signing = signingKeyFromPrivateKey(key, alg);
  if (kid === undefined) return signing;
  if (typeof kid !== 'string' || kid === '' || kid.length > 256) {
    throw invalid('kid must be a non-empty string');
  }
  return { ...signing, kid };
}

/**
 * Validates `authority.credentials` once, at registration, and returns what produces the
 * `Authorization` header of each feed request. Missing credentials are a configuration error:
 * there is no anonymous mode to fall back to.
 */
export function authorityAuthorization(
  credentials: unknown,
  deps: { readonly clientId: string; readonly issuer: string; readonly clock: Clock },
): () => Promise<string> {
  if (credentials === undefined) {
    throw invalid(
      'is required: the revocation feed needs a credential ({ privateKey } with the key registered for this service, or a function returning an access token for the authority)',
    );
  }
  if (typeof credentials === 'function') {
    const token = credentials as () => string | Promise<string>;
    return async () => {
      const value = await token();
      if (typeof value !== 'string' || !/^[A-Za-z0-9\-._~+/]+=*$/.test(value)) {
        throw new TesseraError('ERR_CONFIG_INVALID', 'authority.credentials returned no token');
      }
      return `Bearer ${value}`;
    };
  }
  if (typeof credentials !== 'object' || credentials === null) {
    throw invalid('is { privateKey, kid? } or a function returning a token');
  }
  const { privateKey, kid } = credentials as Record<string, unknown>;
  const key = signingKeyOf(privateKey, kid);
  return () =>
    Promise.resolve(
      `Bearer ${mintClientAssertion(
        { clientId: deps.clientId, audience: deps.issuer },
        { key, clock: deps.clock },
      )}`,
    );
}
