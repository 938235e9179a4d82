import type { PeerCertificate } from 'node:tls';
import { isTesseraError, parseX509Svid, TesseraError } from '@tessera/core';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';

/** How the plugin trusts an HTTPS authority whose certificate comes from the trust domain's CA. */
export interface AuthorityTrust {
  /** PEM CA bundle, or a function returning the current one (read for every new connection). */
  readonly ca: string | (() => string);
  /** The SPIFFE ID the authority's certificate must carry. */
  readonly spiffeId: string;
  readonly trustDomain: string;
}

/**
 * In place of the host-name check: the authority's certificate must be an X.509-SVID for exactly
 * `expected` (its chain was already checked against the bundle). A valid certificate of another
 * workload of the trust domain must not pass for the authority.
 */
function checkAuthorityId(expected: string, trustDomain: string) {
  return (_hostname: string, certificate: PeerCertificate): Error | undefined => {
    try {
      const { spiffeId } = parseX509Svid(new Uint8Array(certificate.raw), { trustDomain });
      if (spiffeId.uri === expected) return undefined;
      return new TesseraError(
        'ERR_SVID_UNEXPECTED',
        `authority is ${spiffeId.uri}, expected ${expected}`,
      );
    } catch (error) {
      return isTesseraError(error)
        ? error
        : new TesseraError('ERR_SVID_INVALID', 'authority certificate could not be read');
    }
  };
}

/**
 * A `fetch` for the JWKS and the revocation feed that trusts only the bundle and checks the
 * authority's SPIFFE ID. TLS sessions are not resumed: a resumed session would skip both checks
 * of a new handshake, and the bundle may have changed since.
 */
export function authorityFetch(trust: AuthorityTrust): {
  fetch: typeof fetch;
  close(): Promise<void>;
} {
  const currentCa = typeof trust.ca === 'function' ? trust.ca : () => trust.ca as string;
  const checkServerIdentity = checkAuthorityId(trust.spiffeId, trust.trustDomain);
  const agent = new Agent({
    connect: (options, callback) => {
      buildConnector({
        ca: currentCa(),
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        maxCachedSessions: 0,
        checkServerIdentity,
      })(options, callback);
    },
  });
  // The plugin's fetches pass a URL and plain init fields (headers, signal, redirect).
  const fetchWithTrust = (input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher: agent });
  return { fetch: fetchWithTrust as unknown as typeof fetch, close: () => agent.close() };
}
