import {
  assertSecureUrl,
  isTesseraError,
  parseWorkloadId,
  serviceSpiffeId,
  TesseraError,
} from '@tessera/core';

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

/**
 * The https rule of `assertSecureUrl`; `allowInsecureHttp` (development only) waives it for
 * plain http, never for another scheme or for credentials in the URL.
 */
function upstreamUrl(value: string, option: string, allowInsecureHttp: boolean): URL {
  try {
    return assertSecureUrl(value, option);
  } catch (error) {
    if (!allowInsecureHttp || !isTesseraError(error) || error.code !== 'ERR_CONFIG_INSECURE') {
      throw error;
    }
  }
  const url = new URL(value);
  if (url.protocol !== 'http:') {
    throw new TesseraError('ERR_CONFIG_INVALID', `${option}: must be http(s)`);
  }
  return url;
}

/**
 * Validates the upstream map once. Plain `http://` is refused for anything but a loopback address
 * (127.0.0.0/8, [::1]; not `localhost`, a name that may resolve anywhere) unless
 * `allowInsecureHttp` is set (development only): a bearer token sent in clear text is a token
 * given away.
 */
export function createServiceMap(
  entries: Readonly<Record<string, ServiceEntry>>,
  options: { readonly trustDomain: string; readonly allowInsecureHttp?: boolean },
): ServiceMap {
  const map = new Map<string, ResolvedService>();
  for (const [name, entry] of Object.entries(entries)) {
    const url = upstreamUrl(entry.url, `services.${name}.url`, options.allowInsecureHttp === true);
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
