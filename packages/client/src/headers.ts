import type { Dispatcher } from 'undici';

/** undici accepts headers as an object, a flat [name, value, ...] array or an iterable of pairs. */
export function headerRecord(
  headers: Dispatcher.DispatchOptions['headers'],
): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  if (headers === undefined || headers === null) return record;
  const add = (name: string, value: string | string[] | undefined) => {
    if (value !== undefined) record[name.toLowerCase()] = value;
  };
  if (Array.isArray(headers)) {
    const flat = headers as unknown[];
    for (let i = 0; i + 1 < flat.length; i += 2) add(String(flat[i]), String(flat[i + 1]));
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<[string, string | string[] | undefined]>)
      add(name, value);
  } else {
    for (const [name, value] of Object.entries(
      headers as Record<string, string | string[] | undefined>,
    ))
      add(name, value);
  }
  return record;
}

export function originOf(opts: Dispatcher.DispatchOptions): string | undefined {
  const origin = opts.origin;
  if (origin === undefined) return undefined;
  try {
    return new URL(origin).origin;
  } catch {
    return undefined;
  }
}
