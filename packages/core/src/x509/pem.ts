import { TesseraError } from '../errors.ts';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;

/** Encodes DER bytes as one PEM block (RFC 7468 §2), 64 characters a line. */
export function pemEncode(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * Every PEM block with the given label, in order, as DER. Text between blocks is ignored (openssl
 * writes explanatory text there); a block with another label is skipped. Throws
 * `ERR_X509_INVALID` when there is no block with the label or one has non-base64 content.
 */
export function pemDecodeAll(text: string, label: string): Uint8Array[] {
  if (typeof text !== 'string') throw new TesseraError('ERR_X509_INVALID', 'PEM is not a string');
  const blocks: Uint8Array[] = [];
  for (const match of text.matchAll(BLOCK)) {
    if (match[1] !== label) continue;
    const body = (match[2] ?? '').replace(/[\r\n]/g, '');
    if (body.length === 0 || body.length % 4 !== 0 || /=[^=]/.test(body))
      throw new TesseraError('ERR_X509_INVALID', `${label} block is not valid base64`);
    blocks.push(new Uint8Array(Buffer.from(body, 'base64')));
  }
  if (blocks.length === 0) throw new TesseraError('ERR_X509_INVALID', `no ${label} block`);
  return blocks;
}
