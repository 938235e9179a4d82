import { TesseraError, type TesseraErrorCode } from '../errors.ts';

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Decodes unpadded base64url (RFC 4648 §5) strictly: no padding, no other alphabet, and the
 * canonical encoding only. Node's decoder silently skips bad characters and ignores the unused
 * low bits of the last character, so "AB" and "AC" would decode alike; accepting both would let
 * an attacker mint distinct strings for one signature (defeating caches keyed on the string and
 * letting a mutated token verify).
 */
export function decodeBase64UrlStrict(input: string, code: TesseraErrorCode, what: string): Buffer {
  if (!BASE64URL.test(input) || input.length % 4 === 1) {
    throw new TesseraError(code, `${what} is not base64url`);
  }
  const bytes = Buffer.from(input, 'base64url');
  if (bytes.toString('base64url') !== input) {
    throw new TesseraError(code, `${what} is not canonical base64url`);
  }
  return bytes;
}

export function encodeBase64Url(input: Uint8Array | string): string {
  return Buffer.from(input).toString('base64url');
}
