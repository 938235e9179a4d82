/**
 * What the `fastify.mtls`/`tls.handshake.*` runner (`tls.bench.ts`), its server processes
 * (`server.ts`) and its handshake load generator (`handshake-load.ts`) say to each other over IPC.
 */

/** Server-only TLS, or mutual TLS with client certificates checked against the bundle. */
export type TlsVariant = 'tls' | 'mtls';

/** PEM material made by the runner for one session: a test CA, the server's and the client's SVIDs. */
export interface TlsMaterial {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export type TlsServerRequest =
  | {
      readonly type: 'start';
      /** `fastify`: the route behind the plugin over HTTPS; `handshake`: a bare TLS listener. */
      readonly kind: 'fastify' | 'handshake';
      readonly variant: TlsVariant;
      readonly material: TlsMaterial;
      /** PKCS #8 PEM of the ES256 key the app trusts (a bench fixture). */
      readonly privateKeyPem: string;
    }
  | { readonly type: 'usage' }
  | { readonly type: 'close' };

/** `usage`'s answer: the server process's CPU time and the requests (or handshakes) it served so far. */
export interface TlsServerUsage {
  readonly cpuMicros: number;
  readonly served: number;
}

export interface TlsServerStarted {
  readonly port: number;
  readonly issuer: string;
  readonly audience: string;
  readonly subject: string;
  readonly scopes: readonly string[];
}

export interface TlsServerClosed {
  readonly warnLines: number;
  readonly lastWarnLine: string | undefined;
}

export type HandshakeLoadRequest =
  | {
      readonly type: 'handshakes';
      readonly port: number;
      readonly variant: TlsVariant;
      readonly material: TlsMaterial;
      /** Handshakes kept in flight. */
      readonly concurrency: number;
      readonly durationMs: number;
    }
  | { readonly type: 'close' };

export interface HandshakeResult {
  /** Full handshakes completed inside the round's window (each confirmed by the server's first byte). */
  readonly completed: number;
  /** Milliseconds from connect to the server's first byte, per completed handshake. */
  readonly latencies: number[];
  readonly errors: number;
  readonly firstError: string | undefined;
}
