import { expectPeerSpiffeId } from '@tessera/core';
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
 * A `fetch` for the JWKS and the revocation feed that trusts only the bundle and checks the
 * authority's SPIFFE ID. TLS sessions are not resumed: a resumed session would skip both checks
 * of a new handshake, and the bundle may have changed since.
 */
export function authorityFetch(trust: AuthorityTrust): {
  fetch: typeof fetch;
  close(): Promise<void>;
} {
  const currentCa = typeof trust.ca === 'function' ? trust.ca : () => trust.ca as string;
  // The authority's certificate names its SPIFFE ID, not a host name: a valid certificate of
  // another workload of the trust domain must not pass for the authority.
  const checkServerIdentity = expectPeerSpiffeId(trust.spiffeId, {
    trustDomain: trust.trustDomain,
  });
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
