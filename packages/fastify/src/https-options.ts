import { constants } from 'node:crypto';
import type { ServerOptions } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { TesseraError } from '@tessera/core';

/** A workload's TLS material: its SVID chain and key, and the trust bundle (PEM). */
export type TlsIdentityMaterial = Pick<SecureContextOptions, 'key' | 'cert' | 'ca'>;

/** Anything that serves TLS material, such as `@tessera/client`'s workload identity. */
export interface TlsServerOptionsSource {
  tlsServerOptions(): TlsIdentityMaterial;
}

export interface TesseraHttpsOptions {
  /**
   * `required` (default): the TLS handshake fails without a client certificate that chains to the
   * bundle. `optional`: the certificate is requested, and a missing or untrusted one is left to
   * the plugin (`mtls.mode: 'optional'` accepts bearer tokens then; an untrusted certificate is
   * refused with `ERR_CERT_UNTRUSTED`).
   */
  readonly clientCertificate?: 'required' | 'optional';
}

/**
 * HTTPS server options for a Tessera service (`Fastify({ https: tesseraHttpsOptions(...) })`):
 * the workload's certificate, client certificates requested and checked against the bundle only
 * (`ca`, never the system store), TLS 1.2 at least, no renegotiation. Give the identity's
 * `{ key, cert, ca }` or the identity itself (`tlsServerOptions()`); attach the identity to the
 * server afterwards for certificate renewal without a restart.
 *
 * @example
 * ```ts
 * const app = Fastify({ https: tesseraHttpsOptions({ key, cert, ca: bundlePem }) });
 * await app.register(tessera, { service: 'billing', policy, authority, mtls: { mode: 'required' } });
 * ```
 */
export function tesseraHttpsOptions(
  identity: TlsIdentityMaterial | TlsServerOptionsSource,
  options: TesseraHttpsOptions = {},
): ServerOptions {
  const material =
    typeof (identity as Partial<TlsServerOptionsSource>).tlsServerOptions === 'function'
      ? (identity as TlsServerOptionsSource).tlsServerOptions()
      : (identity as TlsIdentityMaterial);
  // Options may come from JavaScript callers: check what the types promise.
  const mode: unknown = options.clientCertificate ?? 'required';
  if (mode !== 'required' && mode !== 'optional') {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      '@tessera/fastify: clientCertificate is required or optional',
    );
  }
  const { key, cert, ca } = material;
  if (key === undefined || cert === undefined || ca === undefined) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      '@tessera/fastify: tesseraHttpsOptions needs key, cert and ca (the trust bundle)',
    );
  }
  return {
    key,
    cert,
    // Only the trust domain's bundle: with `ca` set, Node does not add the system roots.
    ca,
    requestCert: true,
    rejectUnauthorized: mode === 'required',
    minVersion: 'TLSv1.2',
    // A renegotiation could change the client certificate under a connection whose identity
    // the plugin has already read.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}
