import { TLSSocket } from 'node:tls';
import { isTesseraError, parseX509Svid, type X509SvidInfo } from '@tessera/core';
import type { FastifyRequest } from 'fastify';
import { ClientAuthenticationError, type AuthorityContext } from '../context.ts';
import type { ServiceRecord } from '../store/types.ts';

/**
 * Why a client certificate presented over mTLS was refused. For logs, metrics and audit only:
 * the client is told `invalid_client` (token endpoint) or `unauthorized` whatever the reason.
 */
export type PeerSvidFailure =
  /** Plain HTTP, or TLS without a client certificate. */
  | 'certificate_missing'
  /** The chain does not verify against the authority's CA bundle (another CA, expired at the TLS layer...). */
  | 'certificate_untrusted'
  /** Not a strict X.509-SVID: a CA certificate, zero or several URI SANs, no digitalSignature... */
  | 'svid_invalid'
  | 'svid_other_trust_domain'
  /** Outside its validity period on the authority's clock. */
  | 'svid_expired'
  | 'svid_not_yet_valid'
  /** Its serial is on the revocation feed, or every credential of its service issued by then is. */
  | 'svid_revoked'
  /** The SPIFFE ID is not one path segment naming a registered service. */
  | 'unknown_client'
  | 'client_disabled';

/** A client certificate that verified against the bundle and reads as an SVID of this trust domain. */
export interface PeerSvid extends X509SvidInfo {
  /** The service name: the SPIFFE ID's single path segment (undefined for deeper paths). */
  readonly serviceName: string | undefined;
}

interface PeerRead {
  readonly der: Buffer;
  readonly svid?: X509SvidInfo;
  readonly failure?: PeerSvidFailure;
}

/**
 * The certificate of a connection does not change while it is open (Node does not renegotiate a
 * server-side session here), so it is parsed once per connection, not once per request.
 */
const perConnection = new WeakMap<TLSSocket, PeerRead | null>();

function readPeer(socket: TLSSocket, trustDomain: string): PeerRead | null {
  const known = perConnection.get(socket);
  if (known !== undefined) return known;
  const certificate = socket.getPeerCertificate(false);
  const der = (certificate as { raw?: Buffer }).raw;
  let read: PeerRead | null;
  if (der === undefined || der.length === 0) read = null;
  // `authorized`: the chain verified against the `ca` the server was given (the CA bundle), with
  // the usual path checks (signatures, validity on the system clock, CA flags, name constraints).
  else if (!socket.authorized) read = { der, failure: 'certificate_untrusted' };
  else {
    try {
      read = { der, svid: parseX509Svid(der, { trustDomain }) };
    } catch (error) {
      if (!isTesseraError(error)) throw error;
      read = {
        der,
        failure:
          error.code === 'ERR_SVID_TRUST_DOMAIN' ? 'svid_other_trust_domain' : 'svid_invalid',
      };
    }
  }
  perConnection.set(socket, read);
  return read;
}

/** True when the request arrived over TLS with a client certificate, valid or not. */
export function hasPeerCertificate(request: FastifyRequest): boolean {
  const socket = request.raw.socket;
  if (!(socket instanceof TLSSocket)) return false;
  const der = (socket.getPeerCertificate(false) as { raw?: Buffer }).raw;
  return der !== undefined && der.length > 0;
}

/**
 * The caller's X.509-SVID from the TLS connection, checked: the chain verifies against the CA
 * bundle, the leaf is a strict SVID of this trust domain, it is within its validity on the
 * authority's clock, and neither its serial nor its SPIFFE ID is revoked. Throws
 * {@link ClientAuthenticationError} with a {@link PeerSvidFailure} reason otherwise.
 */
export function verifyPeerSvid(request: FastifyRequest, ctx: AuthorityContext): PeerSvid {
  const socket = request.raw.socket;
  const read = socket instanceof TLSSocket ? readPeer(socket, ctx.settings.trustDomain) : null;
  if (read === null) throw new ClientAuthenticationError('certificate_missing');
  if (read.svid === undefined) {
    throw new ClientAuthenticationError(read.failure ?? 'svid_invalid');
  }
  const svid = read.svid;
  const now = Math.floor(ctx.clock.now() / 1000);
  // TLS checked validity on the system clock; the authority's clock is the one that counts (and
  // the one tests inject).
  if (now >= svid.notAfter) throw new ClientAuthenticationError('svid_expired');
  if (now < svid.notBefore) throw new ClientAuthenticationError('svid_not_yet_valid');
  // A subject entry (`revoke --service`, a disabled service) voids the certificates its service
  // held by then, like its tokens; a serial entry voids one certificate.
  if (ctx.revocations.isCertificateRevoked(svid.serialNumber, svid.spiffeId.uri, svid.notBefore)) {
    throw new ClientAuthenticationError('svid_revoked');
  }
  const segments = svid.spiffeId.path.split('/');
  return { ...svid, serviceName: segments.length === 2 ? segments[1] : undefined };
}

/**
 * {@link verifyPeerSvid}, and the SVID's service must be registered and enabled: the caller of an
 * endpoint that acts for a service (token, SVID renewal).
 */
export async function authenticatePeerService(
  request: FastifyRequest,
  ctx: AuthorityContext,
): Promise<{ svid: PeerSvid; service: ServiceRecord }> {
  const svid = verifyPeerSvid(request, ctx);
  const service =
    svid.serviceName === undefined ? undefined : await ctx.services.get(svid.serviceName);
  if (service?.spiffeId !== svid.spiffeId.uri) {
    throw new ClientAuthenticationError('unknown_client');
  }
  if (!service.enabled) throw new ClientAuthenticationError('client_disabled');
  return { svid, service };
}
