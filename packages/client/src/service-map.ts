import { parseWorkloadId, serviceSpiffeId, TesseraError } from '@tessera/core';

/** One upstream a service may call. */
export interface ServiceEntry {
  /** Base URL (origin) the service listens on. */
  readonly url: string;
  /** Its SPIFFE ID: the `audience` of tokens sent to it. Default `spiffe://<trustDomain>/<name>`. */
  readonly spiffeId?: string;
  /** Scopes to request for calls to it. */
  readonly scopes?: readonly string[];
}

export interface ResolvedService {
  readonly name: string;
  readonly origin: string;
  readonly spiffeId: string;
  readonly scopes: readonly string[];
}

/** Upstreams by origin; credentials are only ever attached to these. */
export type ServiceMap = ReadonlyMap<string, ResolvedService>;

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * Validates the upstream map once. Plain `http://` is refused for anything but loopback unless
 * `allowInsecureHttp` is set (development only): a bearer token sent in clear text is a token
 * given away.
 */
export function createServiceMap(
  entries: Readonly<Record<string, ServiceEntry>>,
  options: { readonly trustDomain: string; readonly allowInsecureHttp?: boolean },
): ServiceMap {
  const map = new Map<string, ResolvedService>();
  for (const [name, entry] of Object.entries(entries)) {
    let url: URL;
    try {
      url = new URL(entry.url);
    } catch {
      throw new TesseraError('ERR_CONFIG_INVALID', `services.${name}.url is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new TesseraError('ERR_CONFIG_INVALID', `services.${name}.url must be http(s)`);
    }
    if (
      url.protocol === 'http:' &&
      !isLoopback(url.hostname) &&
      options.allowInsecureHttp !== true
    ) {
      throw new TesseraError(
        'ERR_CONFIG_INSECURE',
        `services.${name}.url: https is required for non-loopback targets`,
      );
    }
    const spiffeId = entry.spiffeId ?? serviceSpiffeId(options.trustDomain, name);
    parseWorkloadId(spiffeId);
    if (map.has(url.origin))
      throw new TesseraError('ERR_CONFIG_INVALID', `services.${name}: origin listed twice`);
    map.set(
      url.origin,
      Object.freeze({
        name,
        origin: url.origin,
        spiffeId,
        scopes: Object.freeze([...(entry.scopes ?? [])]),
      }),
    );
  }
  return map;
}
