import {
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  parseJwks,
  serviceSpiffeId,
  systemClock,
  TesseraError,
  verifyCompactJws,
} from '@tessera/core';
import { AuthorityClient } from '../authority-client.ts';
import { CliError, type CliIo } from '../io.ts';
import { readSigningKey } from '../keys.ts';

interface Metadata {
  issuer: string;
  token_endpoint: string;
  jwks_uri: string;
}

async function metadata(client: AuthorityClient): Promise<Metadata> {
  return (await client.request('GET', '/.well-known/oauth-authorization-server')) as Metadata;
}

/** A SPIFFE ID as given, or the service name's ID in the trust domain. */
function toSpiffeId(value: string, trustDomain: string): string {
  return value.startsWith('spiffe://') ? value : serviceSpiffeId(trustDomain, value);
}

export interface TokenGetOptions {
  readonly service: string;
  readonly key: string;
  readonly aud: string;
  readonly scope: string[];
  readonly authority: string;
  readonly ca?: string;
  readonly trustDomain: string;
}

/** `tessera token get`: client credentials with `private_key_jwt`; prints only the token on stdout. */
export async function tokenGet(options: TokenGetOptions, io: CliIo): Promise<void> {
  const key = await readSigningKey(options.key);
  const client = await AuthorityClient.connect(
    options.authority,
    options.ca !== undefined ? { ca: options.ca } : {},
  );
  const meta = await metadata(client);
  const clientId = toSpiffeId(options.service, options.trustDomain);
  const assertion = mintClientAssertion(
    { clientId, audience: meta.issuer },
    { key, clock: systemClock },
  );
  const response = (await client.request('POST', new URL(meta.token_endpoint).pathname, undefined, {
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
    client_assertion: assertion,
    audience: options.aud,
    ...(options.scope.length > 0 ? { scope: options.scope.join(' ') } : {}),
  })) as { access_token: string; expires_in: number; scope?: string };
  io.err(
    `token for ${options.aud}, expires in ${response.expires_in} s, scope "${response.scope ?? ''}"`,
  );
  io.out(response.access_token);
}

/** "in 4m 12s" / "3m 5s ago". */
export function humanDelta(seconds: number): string {
  const abs = Math.abs(Math.round(seconds));
  const h = Math.floor(abs / 3600);
  const m = Math.floor((abs % 3600) / 60);
  const s = abs % 60;
  const text = [h > 0 ? `${h}h` : '', m > 0 ? `${m}m` : '', `${s}s`].filter(Boolean).join(' ');
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

function decodeSegment(segment: string | undefined): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment ?? '', 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new CliError('not a JWT (expected three base64url segments with JSON header and claims)');
}

/**
 * `tessera token inspect TOKEN`: shows header and claims, checks the signature against the
 * authority's JWKS, and says when it expires. Exit code 1 when the signature does not verify or
 * the token has expired. Never prints the signature.
 */
export async function tokenInspect(
  token: string,
  options: { authority: string; ca?: string },
  io: CliIo,
): Promise<void> {
  const parts = token.trim().split('.');
  if (parts.length !== 3) throw new CliError('not a JWT (expected three segments)');
  const header = decodeSegment(parts[0]);
  const claims = decodeSegment(parts[1]);
  io.out(JSON.stringify({ header, claims }, null, 2));
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const now = systemClock.now() / 1000;
  if (exp !== undefined)
    io.out(`expires: ${new Date(exp * 1000).toISOString()} (${humanDelta(exp - now)})`);
  let verified = false;
  try {
    const client = await AuthorityClient.connect(
      options.authority,
      options.ca !== undefined ? { ca: options.ca } : {},
    );
    const jwks = await client.request('GET', '/.well-known/jwks.json');
    verifyCompactJws(token.trim(), parseJwks(jwks), { typ: ['at+jwt'] });
    verified = true;
    io.out(`signature: valid (kid ${String(header.kid)}, JWKS of ${options.authority})`);
  } catch (error) {
    if (error instanceof TesseraError) io.out(`signature: INVALID (${error.code})`);
    else if (error instanceof CliError) io.out(`signature: not checked (${error.message})`);
    else throw error;
  }
  if (!verified || (exp !== undefined && now >= exp))
    throw new CliError(verified ? 'token has expired' : 'token did not verify');
}
