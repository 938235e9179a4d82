import type { StaticString } from '../../ast/symbols.ts';

/** What the code shows about the target of an outbound call. */
export interface UrlFact {
  /** The URL as far as it is known, `${…}` for unknown parts. */
  readonly text: string;
  /** `https`, `http`, or `unknown` when the scheme comes from configuration. */
  readonly scheme: 'https' | 'http' | 'unknown';
  readonly host: string | undefined;
  /** localhost, 127.0.0.0/8, ::1 or link-local: plain HTTP there never crosses the network. */
  readonly loopback: boolean;
  /** A public DNS name (a third-party API), as opposed to a cluster-internal one. */
  readonly external: boolean;
  /** An internal name: single label, `.svc`, `.cluster.local`, `.internal`, `.local`, private IP. */
  readonly internalName: boolean;
  /**
   * The value can be replaced by configuration (an environment variable or a parameter), so
   * the text is only the default: `process.env.AUTH_URL || 'http://auth:3001'`.
   */
  readonly configurable: boolean;
}

export const INTERNAL_SUFFIX =
  /\.(svc|cluster\.local|internal|local|lan|corp|intranet|consul|home\.arpa|localdomain|private)$/i;

/**
 * The auditor's one loopback check: `localhost` (and `*.localhost`), 127.0.0.0/8 and `::1`.
 * Names count, unlike `@tessera/core`'s `isLoopbackHost`, which guards live connections and
 * trusts only literal addresses: in audited code, `http://localhost` is how a service says
 * "this machine", and that intent is what a check judges.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    bare === 'localhost' ||
    bare.endsWith('.localhost') ||
    bare === '::1' ||
    /^127(\.\d{1,3}){3}$/.test(bare)
  );
}

/**
 * A destination plain HTTP reaches without crossing a network: loopback, `0.0.0.0` (as a
 * destination, the machine itself), link-local 169.254.0.0/16 and Docker's host alias. Not for
 * listen addresses, where `0.0.0.0` means every interface.
 */
export function staysOnHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    isLoopbackHost(bare) ||
    bare === '0.0.0.0' ||
    /^169\.254(\.\d{1,3}){2}$/.test(bare) ||
    bare === 'host.docker.internal'
  );
}

export function isPrivateIp(host: string): boolean {
  return (
    /^10(\.\d{1,3}){3}$/.test(host) ||
    /^192\.168(\.\d{1,3}){2}$/.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])(\.\d{1,3}){2}$/.test(host)
  );
}

/** Classifies a (possibly partial) URL. */
export function urlFact(value: StaticString): UrlFact {
  const text = value.text;
  const match = /^(https?|wss?):\/\/([^/?#:]*)/i.exec(text);
  if (match === null) {
    return {
      text,
      scheme: 'unknown',
      host: undefined,
      loopback: false,
      external: false,
      internalName: false,
      configurable: false,
    };
  }
  const protocol = (match[1] ?? '').toLowerCase();
  const host = match[2] ?? '';
  const scheme = protocol === 'https' || protocol === 'wss' ? 'https' : 'http';
  const known = host !== '' && !host.includes('${');
  const loopback = known && staysOnHost(host);
  const internalName =
    known && !loopback && (!host.includes('.') || INTERNAL_SUFFIX.test(host) || isPrivateIp(host));
  const external = known && !loopback && !internalName && !/^\d+(\.\d+){3}$/.test(host);
  return {
    text,
    scheme,
    host: known ? host : undefined,
    loopback,
    external,
    internalName,
    configurable: false,
  };
}
