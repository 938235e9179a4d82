import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { TesseraError } from '../errors.ts';

/**
 * 127.0.0.0/8 and ::1. `BlockList` also matches their IPv4-mapped forms (`::ffff:127.0.0.1`,
 * which the kernel delivers to 127.0.0.1) but not the deprecated IPv4-compatible `::7f00:1`,
 * which is routed as IPv6.
 */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether `host` is a loopback address: an IPv4 address in 127.0.0.0/8, `::1`, or an IPv4-mapped
 * IPv6 address in 127.0.0.0/8; IPv6 with or without the brackets `URL.hostname` puts around it.
 * Only literal addresses count. `localhost` does not: it is a name, and `/etc/hosts`, a resolver
 * or a container's DNS can send it anywhere, so plain HTTP "to localhost" is not a promise that
 * the bytes stay on the machine. Non-canonical IPv4 (`127.1`, `0x7f.0.0.1`) is refused here;
 * give URLs to {@link assertSecureUrl}, whose WHATWG parser rewrites those forms first.
 *
 * @example
 * ```ts
 * isLoopbackHost('127.0.0.1'); // true
 * isLoopbackHost(new URL('http://[::1]:7700').hostname); // true
 * isLoopbackHost('localhost'); // false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  if (isIPv4(host)) return LOOPBACK.check(host, 'ipv4');
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIPv6(bare) && LOOPBACK.check(bare, 'ipv6');
}

/**
 * Parses a URL Tessera will send credentials or trust decisions over (the authority, an
 * upstream) and refuses it unless it is `https:`, or `http:` to a loopback address
 * ({@link isLoopbackHost}): a bearer token or client assertion sent in clear text is given away,
 * and keys or revocations fetched in clear text can be replaced on the way. The host is judged
 * after WHATWG parsing, the same parsing fetch and undici do before they connect, so decimal,
 * hex, octal and short IPv4 forms, IDNA digits and trailing dots are judged as what they become,
 * and `http://127.0.0.1@evil.example` is judged by its real host, `evil.example`.
 *
 * Throws `ERR_CONFIG_INVALID` naming `option` for something that is not a URL or carries
 * credentials (they would end up in logs), and `ERR_CONFIG_INSECURE` naming it for any scheme
 * but `https:` that is not `http:` to loopback. The URL itself is never in the message.
 *
 * @example
 * ```ts
 * const authority = assertSecureUrl(options.authorityUrl, 'authorityUrl');
 * assertSecureUrl('http://10.0.0.5:7700', 'authority.url'); // throws ERR_CONFIG_INSECURE
 * ```
 */
export function assertSecureUrl(value: unknown, option: string): URL {
  if (typeof value !== 'string') {
    throw new TesseraError('ERR_CONFIG_INVALID', `${option}: must be a URL string`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TesseraError('ERR_CONFIG_INVALID', `${option}: not a URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new TesseraError('ERR_CONFIG_INVALID', `${option}: must not carry credentials`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  throw new TesseraError(
    'ERR_CONFIG_INSECURE',
    `${option}: must be https (plain http only to a loopback address: 127.0.0.0/8 or [::1])`,
  );
}
