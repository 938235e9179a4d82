/**
 * Minimal DER (X.690 §10) writing and strict reading, for the hot paths where building or
 * walking a schema object costs more than the signature: issuing X.509-SVIDs and reading CSRs.
 * Everything else goes through the `@peculiar/asn1-*` schemas.
 */

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** The bytes of `parts`, one after the other. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.byteLength;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** One TLV: `tag` (a single identifier octet), definite minimal length, `content`. */
export function tlv(tag: number, ...content: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of content) size += part.byteLength;
  return concatBytes([Uint8Array.from([tag, ...lengthBytes(size)]), ...content]);
}

export const SEQUENCE = 0x30;
export const INTEGER = 0x02;
export const BIT_STRING = 0x03;
export const UTC_TIME = 0x17;
export const GENERALIZED_TIME = 0x18;

/** An element read by {@link readElement}: its tag and where its content lies in the input. */
export interface DerElement {
  readonly tag: number;
  /** Offset of the first content octet. */
  readonly start: number;
  /** Offset just past the last content octet (and the element). */
  readonly end: number;
}

/**
 * Reads the element at `offset`, strictly: single-octet tag, definite length in minimal form,
 * within `limit`. Returns undefined for anything else (indefinite or non-minimal lengths, a
 * length running past the end).
 */
export function readElement(
  der: Uint8Array,
  offset: number,
  limit = der.byteLength,
): DerElement | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = der[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) return undefined;
  const first = der[offset + 1] ?? 0;
  let length = first;
  let start = offset + 2;
  if (first >= 0x80) {
    const octets = first & 0x7f;
    if (octets === 0 || octets > 3 || start + octets > limit) return undefined;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (der[start + i] ?? 0);
    // Minimal form: the long form only from 128 on, without a leading zero octet.
    if (length < 0x80 || der[start] === 0) return undefined;
    start += octets;
  }
  const end = start + length;
  if (end > limit) return undefined;
  return { tag, start, end };
}

/** Time as X.509 writes it (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime after. */
export function derTime(seconds: number): Uint8Array {
  const iso = new Date(seconds * 1000).toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = Number(iso.slice(0, 4));
  return year > 2049
    ? tlv(GENERALIZED_TIME, Buffer.from(digits, 'latin1'))
    : tlv(UTC_TIME, Buffer.from(digits.slice(2), 'latin1'));
}
