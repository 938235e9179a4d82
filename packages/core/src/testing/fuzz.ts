/** mulberry32: a tiny seeded PRNG so every fuzz failure reproduces from its printed seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The seed for this run: `FUZZ_SEED` when set (to replay a failure), otherwise a fixed default.
 * Pass `process.env.FUZZ_SEED`; core itself never reads the environment.
 */
export function fuzzSeed(fallback: number, fromEnv: string | undefined): number {
  const seed = Number(fromEnv);
  return Number.isSafeInteger(seed) && seed > 0 ? seed : fallback;
}

const PRINTABLE =
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ :;,"()\\\u00e9\u0000\u2028';

/**
 * Applies one random mutation to `input`: bit flip, insertion, deletion, replacement, truncation,
 * duplication or swap of `separator`-delimited parts.
 */
export function mutate(input: string, random: () => number, separator: string): string {
  const pick = (n: number) => Math.floor(random() * n);
  const at = pick(input.length + 1);
  switch (pick(8)) {
    case 0: {
      const code = input.charCodeAt(Math.min(at, input.length - 1)) ^ (1 << pick(7));
      const i = Math.min(at, input.length - 1);
      return input.slice(0, i) + String.fromCharCode(code) + input.slice(i + 1);
    }
    case 1:
      return input.slice(0, at) + PRINTABLE.charAt(pick(PRINTABLE.length)) + input.slice(at);
    case 2:
      return input.slice(0, at) + input.slice(at + 1 + pick(4));
    case 3:
      return input.slice(0, at) + PRINTABLE.charAt(pick(PRINTABLE.length)) + input.slice(at + 1);
    case 4:
      return input.slice(0, at);
    case 5: {
      const parts = input.split(separator);
      const i = pick(parts.length);
      parts.splice(i, 0, parts[i] ?? '');
      return parts.join(separator);
    }
    case 6: {
      const parts = input.split(separator);
      const i = pick(parts.length);
      const j = pick(parts.length);
      [parts[i], parts[j]] = [parts[j] ?? '', parts[i] ?? ''];
      return parts.join(separator);
    }
    default: {
      const i = pick(input.length);
      return input.slice(0, i) + input.slice(i, i + 1 + pick(16)) + input.slice(i);
    }
  }
}
