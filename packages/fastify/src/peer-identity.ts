import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  certificateThumbprint,
  isTesseraError,
  parseX509Svid,
  type ServiceCaller,
  type TesseraErrorCode,
  type X509SvidInfo,
} from '@tessera/core';

/**
 * What a connection's client certificate says about the caller, read once per TLS connection: an
 * X.509-SVID whose chain TLS checked against the bundle, or why not.
 */
export class PeerIdentity {
  constructor(
    /** Why the certificate does not identify a caller; undefined when it does. */
    readonly refusal: TesseraErrorCode | undefined,
    /** `x5t#S256` of the presented certificate, trusted or not: what a bound token must match. */
    readonly thumbprint: string | undefined,
    readonly svid: X509SvidInfo | undefined,
    /** The caller the certificate stands for: no scopes (scopes come only from tokens), no `jti`. */
    readonly caller: ServiceCaller | undefined,
  ) {}
}

/** No certificate: a plain-HTTP request, or a TLS client that sent none. */
export const NO_CERTIFICATE = new PeerIdentity('ERR_CERT_MISSING', undefined, undefined, undefined);

/**
 * The identity in a DER certificate, parsed strictly (`parseX509Svid`: exactly one URI SAN, a
 * workload ID in `trustDomain`, not a CA, `digitalSignature`). `trusted` says whether its chain
 * was checked against the bundle (by TLS, or by a trusted proxy).
 */
export function identityOfCertificate(
  der: Uint8Array,
  trusted: boolean,
  trustDomain: string,
): PeerIdentity {
  const thumbprint = certificateThumbprint(der);
  if (!trusted) return new PeerIdentity('ERR_CERT_UNTRUSTED', thumbprint, undefined, undefined);
  let svid: X509SvidInfo;
  try {
    svid = parseX509Svid(der, { trustDomain });
  } catch (error) {
    const code = isTesseraError(error) ? error.code : 'ERR_SVID_INVALID';
    return new PeerIdentity(code, thumbprint, undefined, undefined);
  }
  const caller: ServiceCaller = Object.freeze({
    kind: 'service',
    spiffeId: svid.spiffeId.uri,
    scopes: Object.freeze([]),
    jti: '',
    issuer: `spiffe://${svid.spiffeId.trustDomain}`,
    issuedAt: svid.notBefore,
    expiresAt: svid.notAfter,
  });
  return new PeerIdentity(undefined, thumbprint, svid, caller);
}

function isTlsSocket(socket: Socket): socket is TLSSocket {
  return (socket as Partial<TLSSocket>).encrypted === true;
}

/**
 * Reads and remembers the client certificate of each TLS connection: the identity check belongs
 * to the connection, so a keep-alive connection pays for it once. Entries go with their sockets
 * (a WeakMap). Revocation and expiry are not cached here: they are checked on every request.
 */
export class PeerIdentityCache {
  readonly #trustDomain: string;
  readonly #bySocket = new WeakMap<Socket, PeerIdentity>();

  constructor(trustDomain: string) {
    this.#trustDomain = trustDomain;
  }

  of(socket: Socket): PeerIdentity {
    const known = this.#bySocket.get(socket);
    if (known !== undefined) return known;
    if (!isTlsSocket(socket)) return NO_CERTIFICATE;
    const certificate = socket.getPeerX509Certificate();
    const identity =
      certificate === undefined
        ? NO_CERTIFICATE
        : identityOfCertificate(certificate.raw, socket.authorized, this.#trustDomain);
    // TLS 1.2 renegotiation could present another certificate on the same connection after its
    // identity was cached: refuse renegotiation on connections whose identity we keep.
    socket.disableRenegotiation();
    this.#bySocket.set(socket, identity);
    return identity;
  }
}
