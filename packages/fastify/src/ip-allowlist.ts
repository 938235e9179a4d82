import { BlockList, isIP } from 'node:net';
import { TesseraError } from '@tessera/core';

export type ParsedAllowlist = ReadonlyMap<string, BlockList>;

/** Parses `{ spiffeId: ['10.0.0.0/8', '::1'] }` into per-caller address lists. */
export function parseAllowlist(
  input: Readonly<Record<string, readonly string[]>>,
): ParsedAllowlist {
  const lists = new Map<string, BlockList>();
  for (const [caller, entries] of Object.entries(input)) {
    const list = new BlockList();
    for (const entry of entries) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address);
      if (family === 0)
        throw new TesseraError(
          'ERR_CONFIG_INVALID',
          `ipAllowlist: "${entry}" is not an address or CIDR`,
        );
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) list.addAddress(address, type);
      else {
        const bits = Number(prefix);
        if (!Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
          throw new TesseraError(
            'ERR_CONFIG_INVALID',
            `ipAllowlist: "${entry}" has a bad prefix length`,
          );
        }
        list.addSubnet(address, bits, type);
      }
    }
    lists.set(caller, list);
  }
  return lists;
}

/**
 * An additional check, never instead of authentication: callers without an entry pass; callers
 * with one must come from a listed address. IPv4-mapped IPv6 addresses are compared as IPv4.
 */
export function isAllowedAddress(lists: ParsedAllowlist, caller: string, address: string): boolean {
  const list = lists.get(caller);
  if (list === undefined) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const candidate = mapped ?? address;
  const family = isIP(candidate);
  if (family === 0) return false;
  return list.check(candidate, family === 6 ? 'ipv6' : 'ipv4');
}
