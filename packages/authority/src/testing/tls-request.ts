import { request as httpsRequest } from 'node:https';
import { expectPeerSpiffeId } from '@tessera/core';

export interface TlsRequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** The CA bundle (PEM) the server's certificate must chain to. */
  readonly ca: string;
  /** Client certificate chain and key (PEM), for mTLS. */
  readonly cert?: string;
  readonly key?: string;
  /**
   * The SPIFFE ID the server's certificate must carry as its one URI SAN, checked instead of the
   * host name (default: any valid chain with a host-name match).
   */
  readonly serverSpiffeId?: string;
}

/**
 * One HTTPS request with a private CA bundle and an optional client certificate, answered as a
 * fetch `Response` (a fresh connection each time, so each request presents its own certificate).
 */
export function requestOverTls(url: string, options: TlsRequestOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ca: options.ca,
        ...(options.cert !== undefined ? { cert: options.cert } : {}),
        ...(options.key !== undefined ? { key: options.key } : {}),
        ...(options.serverSpiffeId !== undefined
          ? { checkServerIdentity: expectPeerSpiffeId(options.serverSpiffeId) }
          : {}),
        agent: false,
        timeout: 10_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (value === undefined) continue;
            for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
          }
          const status = response.statusCode ?? 500;
          const body = Buffer.concat(chunks);
          resolve(
            new Response(status === 204 || status === 304 ? null : body, { status, headers }),
          );
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error('request timed out')));
    request.on('error', reject);
    request.end(options.body);
  });
}
