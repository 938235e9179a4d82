import type { BlockList, Socket } from 'node:net';
import { parseWorkloadId, pemDecodeAll, TesseraError } from '@tessera/core';
import { addressList, listHasAddress } from './ip-allowlist.ts';
import { identityOfCertificate, NO_CERTIFICATE, PeerIdentity } from './peer-identity.ts';

/** The header a TLS-terminating proxy (Envoy, and others in its format) forwards the client certificate in. */
export const FORWARDED_CLIENT_CERT = 'x-forwarded-client-cert';

export interface ForwardedClientCertOptions {
  /**
   * Who may forward a client certificate: the TCP peer's address or CIDR (`10.0.0.5`,
   * `10.1.0.0/16`; never `request.ip`, which `trustProxy` can take from a header), or the SPIFFE
   * ID the proxy itself presents over mTLS (`spiffe://tessera.local/edge-proxy`). From anyone
   * else the header is dropped unread.
   */
  readonly trustedProxies: readonly string[];
}

const MAX_HEADER_BYTES = 16 * 1024;
/** Parsed header values remembered (a proxy forwards the same few clients again and again). */
const MAX_REMEMBERED = 1000;

/**
 * `x-forwarded-client-cert` from listed proxies only. The proxy terminated the client's TLS
 * connection and checked its chain against the same bundle; the certificate it forwards (`Cert=`,
 * URL-encoded PEM, in the element the nearest proxy appended: the last one) is then parsed as
 * strictly as one read from a socket.
 */
export class ForwardedClientCert {
  readonly #addresses: BlockList;
  readonly #identities: ReadonlySet<string>;
  readonly #trustDomain: string;
  /** Header value → identity; emptied when full. Expiry and revocation are still checked per request. */
  readonly #parsed = new Map<string, PeerIdentity>();

  constructor(options: ForwardedClientCertOptions, trustDomain: string) {
    const given = (options as { trustedProxies?: unknown } | null)?.trustedProxies;
    if (!Array.isArray(given) || given.length === 0 || !given.every((p) => typeof p === 'string')) {
      throw new TesseraError(
        'ERR_CONFIG_INVALID',
        '@tessera/fastify: mtls.forwardedClientCert.trustedProxies is a non-empty list of addresses, CIDRs or SPIFFE IDs',
      );
    }
    const entries: readonly string[] = given;
    const identities = entries.filter((entry) => entry.startsWith('spiffe://'));
    for (const id of identities) {
      try {
        parseWorkloadId(id);
      } catch {
        throw new TesseraError(
          'ERR_CONFIG_INVALID',
          `@tessera/fastify: mtls.forwardedClientCert.trustedProxies: "${id}" is not a workload SPIFFE ID`,
        );
      }
    }
    this.#identities = new Set(identities);
    this.#addresses = addressList(
      entries.filter((entry) => !entry.startsWith('spiffe://')),
      'mtls.forwardedClientCert.trustedProxies',
    );
    this.#trustDomain = trustDomain;
  }

  /** Whether this connection is a listed proxy: by its TCP peer address, or its own SVID. */
  isTrustedProxy(socket: Socket, peer: PeerIdentity): boolean {
    if (peer.caller !== undefined && this.#identities.has(peer.caller.spiffeId)) return true;
    const address = socket.remoteAddress;
    return address !== undefined && listHasAddress(this.#addresses, address);
  }

  /** The client identity a trusted proxy forwarded. */
  identity(header: string | string[]): PeerIdentity {
    // Two header fields would be two proxies' word against each other: refuse.
    if (typeof header !== 'string' || header.length > MAX_HEADER_BYTES) return MALFORMED;
    const known = this.#parsed.get(header);
    if (known !== undefined) return known;
    if (this.#parsed.size >= MAX_REMEMBERED) this.#parsed.clear();
    const identity = this.#parse(header);
    this.#parsed.set(header, identity);
    return identity;
  }

  #parse(header: string): PeerIdentity {
    const element = lastElement(header);
    const cert = element === undefined ? undefined : field(element, 'cert');
    if (cert === null) return MALFORMED;
    if (cert === undefined || cert === '') return NO_CERTIFICATE;
    let der: Uint8Array[];
    try {
      der = pemDecodeAll(decodeURIComponent(cert), 'CERTIFICATE');
    } catch {
      return MALFORMED;
    }
    const leaf = der[0];
    if (der.length !== 1 || leaf === undefined) return MALFORMED;
    return identityOfCertificate(leaf, true, this.#trustDomain);
  }
}

const MALFORMED = new PeerIdentity('ERR_SVID_INVALID', undefined, undefined, undefined);

/** Splits on `separator` outside double quotes (XFCC values may quote `,` and `;`). */
function splitUnquoted(text: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function lastElement(header: string): string | undefined {
  return splitUnquoted(header, ',').at(-1);
}

/** The value of `key` (case-insensitive) in one element; null when the key appears twice. */
function field(element: string, key: string): string | null | undefined {
  let found: string | undefined;
  for (const pair of splitUnquoted(element, ';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim().toLowerCase() !== key) continue;
    if (found !== undefined) return null;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
      value = value.slice(1, -1);
    found = value;
  }
  return found;
}
