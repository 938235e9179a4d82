import { TesseraError, isTesseraError } from '../errors.ts';
import { parseX509Svid } from './svid.ts';

/**
 * A TLS `checkServerIdentity` for SPIFFE: the peer's certificate must be an X.509-SVID for exactly
 * `expected` (in `trustDomain` when given). Node calls it after the chain verified against the
 * bundle, in place of the host-name check: in SPIFFE the identity is the URI SAN, and a valid
 * certificate of another workload must not pass because it also lists the host name. Returning an
 * error fails the handshake: `ERR_SVID_UNEXPECTED` for another workload, `ERR_SVID_INVALID` or
 * `ERR_SVID_TRUST_DOMAIN` for a certificate that is not an acceptable SVID.
 *
 * @example
 * ```ts
 * tls.connect({ host, port, ca: bundlePem, checkServerIdentity: expectPeerSpiffeId(
 *   'spiffe://tessera.local/tessera-authority', { trustDomain: 'tessera.local' }) });
 * ```
 */
export function expectPeerSpiffeId(
  expected: string,
  options: { trustDomain?: string } = {},
): (hostname: string, certificate: { readonly raw: Uint8Array }) => Error | undefined {
  return (_hostname, certificate) => {
    try {
      const { spiffeId } = parseX509Svid(new Uint8Array(certificate.raw), options);
      if (spiffeId.uri === expected) return undefined;
      return new TesseraError(
        'ERR_SVID_UNEXPECTED',
        `peer is ${spiffeId.uri}, expected ${expected}`,
      );
    } catch (error) {
      return isTesseraError(error)
        ? error
        : new TesseraError('ERR_SVID_INVALID', 'peer certificate could not be read');
    }
  };
}
