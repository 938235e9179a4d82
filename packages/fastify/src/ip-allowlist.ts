import { BlockList, isIP } from 'node:net';
import { TesseraError } from '@tessera/core';

/** Address lists keyed on the caller's SPIFFE ID. */
export type ParsedAllowlist = ReadonlyMap<string, BlockList>;

/**
 * The caller an allowlist key names: a service of the policy, by name or by SPIFFE ID, compared
 * exactly. Anything else is refused, naming the key: an entry for a caller that does not exist
 * (a typo, another trust domain, a name where an ID was meant) would restrict nobody, silently.
 */
function callerOf(key: string, services: readonly { name: string; spiffeId: string }[]): string {
  const service = services.find((s) => s.name === key || s.spiffeId === key);
  if (service === undefined) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      `@tessera/fastify: ipAllowlist: ${JSON.stringify(key)} is not a service of the policy (give its name or SPIFFE ID)`,
    );
  }
  return service.spiffeId;
}

/**
 * A list of addresses and CIDRs (`10.0.0.0/8`, `::1`); a bad entry is refused naming `option`.
 */
export function addressList(entries: readonly string[], option: string): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0)
      throw new TesseraError(
        'ERR_CONFIG_INVALID',
        `${option}: "${entry}" is not an address or CIDR`,
      );
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else {
      const bits = Number(prefix);
      if (!Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
        throw new TesseraError(
          'ERR_CONFIG_INVALID',
          `${option}: "${entry}" has a bad prefix length`,
        );
      }
      list.addSubnet(address, bits, type);
    }
  }
  return list;
}

/** Whether `address` is in `list`; IPv4-mapped IPv6 addresses are compared as IPv4. */
export function listHasAddress(list: BlockList, address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const candidate = mapped ?? address;
  const family = isIP(candidate);
  if (family === 0) return false;
  return list.check(candidate, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Parses `{ 'event-service': ['10.0.0.0/8', '::1'] }` (keys: service names or SPIFFE IDs of the
 * policy's services) into per-caller address lists keyed on SPIFFE ID.
 */
export function parseAllowlist(
  input: Readonly<Record<string, readonly string[]>>,
  services: readonly { name: string; spiffeId: string }[],
): ParsedAllowlist {
  const lists = new Map<string, BlockList>();
  for (const [key, entries] of Object.entries(input)) {
    const caller = callerOf(key, services);
    if (lists.has(caller)) {
      throw new TesseraError(
        'ERR_CONFIG_INVALID',
        `@tessera/fastify: ipAllowlist: ${JSON.stringify(key)} names a service listed twice`,
      );
    }
    const list = addressList(entries, 'ipAllowlist');
    lists.set(caller, list);
  }
  return lists;
}

/**
 * An additional check, never instead of authentication: callers without an entry pass; callers
 * with one must come from a listed address. IPv4-mapped IPv6 addresses are compared as IPv4.
 * `address` is Fastify's `request.ip`: the TCP peer, unless the app set `trustProxy`, in which
 * case it comes from `X-Forwarded-For` (see the README: never `trustProxy: true`).
 */
export function isAllowedAddress(lists: ParsedAllowlist, caller: string, address: string): boolean {
  const list = lists.get(caller);
  return list === undefined || listHasAddress(list, address);
}
