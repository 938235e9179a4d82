import { TesseraError, type TesseraErrorCode } from '../errors.ts';

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function isScopeToken(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_TOKEN.test(value);
}

/**
 * Splits a `scope` claim into its tokens. Strict: single spaces only, no empty tokens, no
 * duplicates, only RFC 6749 characters. An empty string is no scopes.
 */
export function parseScope(scope: string, code: TesseraErrorCode = 'ERR_TOKEN_CLAIMS'): string[] {
  if (scope === '') return [];
  const tokens = scope.split(' ');
  for (const token of tokens) {
    if (!SCOPE_TOKEN.test(token)) throw new TesseraError(code, 'scope has an invalid token');
  }
  if (new Set(tokens).size !== tokens.length) throw new TesseraError(code, 'scope repeats a token');
  return tokens;
}
