import { TesseraError } from '@tessera/core';

const DAY_S = 86_400;
/** SPIFFE deployments keep X.509-SVIDs short; Tessera's ceiling is a day. */
export const MAX_SVID_LIFETIME_SECONDS = DAY_S;

/** The CA's schedule, every value in seconds. */
export interface CaTimings {
  /** Lifetime of each CA certificate, counted from when it starts signing. */
  readonly lifetimeSeconds: number;
  /** How long an active CA signs before the next takes over. */
  readonly rotateEverySeconds: number;
  /** How long a new CA is in the bundle before it signs. */
  readonly prepublishSeconds: number;
  /** SVID lifetime when the request names none. */
  readonly svidLifetimeSeconds: number;
  /** Longest SVID lifetime. */
  readonly maxSvidLifetimeSeconds: number;
}

/** `setting` is the JSON pointer the error names first; `hint` says what the bounds come from. */
function integerIn(value: number, min: number, max: number, setting: string, hint = ''): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      `${setting}: must be an integer in ${min}..${max}${hint === '' ? '' : ` (${hint})`}`,
    );
  }
  return value;
}

/**
 * Applies the defaults (SVIDs 1 h, at most 24 h; CAs 30 days, rotated every 15, published one
 * maximum SVID lifetime before they sign) and checks that the values fit together: a new CA is
 * in the bundle at least one maximum SVID lifetime before it signs, and a CA's lifetime covers
 * its signing period plus the longest SVID it may sign last. Throws `ERR_CONFIG_INVALID` naming
 * the setting.
 */
export function caTimings(options: {
  readonly lifetimeSeconds?: number | undefined;
  readonly rotateEverySeconds?: number | undefined;
  readonly prepublishSeconds?: number | undefined;
  readonly svidLifetimeSeconds?: number | undefined;
  readonly maxSvidLifetimeSeconds?: number | undefined;
}): CaTimings {
  const maxSvid = integerIn(
    options.maxSvidLifetimeSeconds ?? MAX_SVID_LIFETIME_SECONDS,
    60,
    MAX_SVID_LIFETIME_SECONDS,
    '/ca/maxSvidLifetimeSeconds',
  );
  const svid = integerIn(
    options.svidLifetimeSeconds ?? Math.min(3600, maxSvid),
    60,
    maxSvid,
    '/ca/svidLifetimeSeconds',
    'at most /ca/maxSvidLifetimeSeconds',
  );
  const lifetime = integerIn(
    options.lifetimeSeconds ?? 30 * DAY_S,
    3 * maxSvid,
    10 * 365 * DAY_S,
    '/ca/lifetimeSeconds',
    'at least 3 x /ca/maxSvidLifetimeSeconds',
  );
  const prepublish = integerIn(
    options.prepublishSeconds ?? maxSvid,
    maxSvid,
    lifetime - maxSvid,
    '/ca/prepublishSeconds',
    'at least /ca/maxSvidLifetimeSeconds',
  );
  const rotateEvery = integerIn(
    options.rotateEverySeconds ?? Math.max(prepublish, Math.floor(lifetime / 2)),
    prepublish,
    lifetime - maxSvid,
    '/ca/rotateEverySeconds',
    'from /ca/prepublishSeconds to /ca/lifetimeSeconds - /ca/maxSvidLifetimeSeconds',
  );
  return {
    lifetimeSeconds: lifetime,
    rotateEverySeconds: rotateEvery,
    prepublishSeconds: prepublish,
    svidLifetimeSeconds: svid,
    maxSvidLifetimeSeconds: maxSvid,
  };
}
