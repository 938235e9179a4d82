import { createHash, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DEFAULT_IDP_PORT,
  DEMO_USERS,
  IDP_AUDIENCE,
  IDP_PORT_VARIABLE,
  LOGIN_CLIENT_ID,
  LOGIN_REDIRECT_URI,
  USER_SCOPES,
} from './idp.ts';

/**
 * `npm run login -- <user>`: the authorization-code flow with PKCE (S256), driven headlessly
 * against the demo's IdP over loopback HTTP: the authorization request, the dev-only login form,
 * the automatic consent, then the code exchange. Prints the access token on the last line.
 */

const TIMEOUT_MS = 5000;
/** Redirects followed between the authorization request and the code, at most. */
const MAX_STEPS = 12;

interface Metadata {
  readonly issuer: string;
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
}

export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: string;
  readonly expires_in: number;
  readonly id_token?: string;
  readonly scope?: string;
}

export class LoginError extends Error {}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function discover(issuer: string): Promise<Metadata> {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`, {
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (!response.ok) throw new LoginError(`${issuer}: discovery answered ${response.status}`);
  return (await response.json()) as Metadata;
}

/** Cookies by name, ignoring paths: one user agent, one flow. */
class CookieJar {
  readonly #cookies = new Map<string, string>();
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';', 1)[0]!;
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /;\s*expires=Thu, 01 Jan 1970/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/**
 * Runs the browser's part of the flow for `user` and returns the authorization code (the user
 * logs in on the interaction page; consent is automatic). An unknown user is a {@link LoginError}.
 */
export async function authorize(
  issuer: string,
  user: string,
  codeChallenge: string,
  audience: string = IDP_AUDIENCE,
): Promise<string> {
  const metadata = await discover(issuer);
  const state = randomBytes(16).toString('base64url');
  const start = new URL(metadata.authorization_endpoint);
  start.search = new URLSearchParams({
    client_id: LOGIN_CLIENT_ID,
    response_type: 'code',
    redirect_uri: LOGIN_REDIRECT_URI,
    scope: ['openid', 'tenant', ...USER_SCOPES].join(' '),
    resource: audience,
    state,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
  }).toString();
  const jar = new CookieJar();
  let next: { url: URL; form?: URLSearchParams } = { url: start };
  for (let step = 0; step < MAX_STEPS; step += 1) {
    if (next.url.origin !== new URL(issuer).origin) {
      throw new LoginError(`refusing to follow a redirect off the IdP: ${next.url.origin}`);
    }
    const response = await fetch(next.url, {
      method: next.form === undefined ? 'GET' : 'POST',
      redirect: 'manual',
      headers: {
        cookie: jar.header(),
        ...(next.form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      ...(next.form === undefined ? {} : { body: next.form.toString() }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    jar.take(response);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      const target = new URL(location, next.url);
      if (`${target.origin}${target.pathname}` === LOGIN_REDIRECT_URI) {
        const params = target.searchParams;
        if (params.get('error') !== null) {
          throw new LoginError(
            `the IdP refused: ${params.get('error')}: ${params.get('error_description') ?? ''}`,
          );
        }
        if (params.get('state') !== state) throw new LoginError('state mismatch in the redirect');
        const code = params.get('code');
        if (code === null) throw new LoginError('no code in the redirect');
        return code;
      }
      next = { url: target };
      continue;
    }
    if (response.status === 200 && next.url.pathname.startsWith('/interaction/')) {
      await response.body?.cancel();
      next = {
        url: new URL(`${next.url.pathname}/login`, next.url),
        form: new URLSearchParams({ username: user }),
      };
      continue;
    }
    const body = await response.text();
    if (response.status === 401 && body.includes('unknown_user')) {
      throw new LoginError(
        `unknown user "${user}": the demo's users are ${Object.keys(DEMO_USERS).join(', ')}`,
      );
    }
    throw new LoginError(`the IdP answered ${response.status}: ${body.slice(0, 200)}`);
  }
  throw new LoginError(`no code after ${MAX_STEPS} redirects`);
}

/** The token request for `code`; `verifier` undefined leaves `code_verifier` out. */
export async function exchangeCode(
  issuer: string,
  code: string,
  verifier: string | undefined,
): Promise<Response> {
  const metadata = await discover(issuer);
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: LOGIN_REDIRECT_URI,
    client_id: LOGIN_CLIENT_ID,
  });
  if (verifier !== undefined) form.set('code_verifier', verifier);
  return fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
}

/** The whole flow: `user`'s tokens from the IdP at `issuer`. */
export async function login(issuer: string, user: string): Promise<TokenResponse> {
  const { verifier, challenge } = pkcePair();
  const code = await authorize(issuer, user, challenge);
  const response = await exchangeCode(issuer, code, verifier);
  const body = (await response.json()) as TokenResponse & { error?: string };
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new LoginError(`the token endpoint refused: ${body.error ?? response.status}`);
  }
  return body;
}

async function runFromCommandLine(args: readonly string[]): Promise<void> {
  const user = args[0];
  if (user === undefined || args.length !== 1) {
    console.error(`usage: npm run login -- <user>   (${Object.keys(DEMO_USERS).join(', ')})`);
    process.exitCode = 2;
    return;
  }
  const portText = process.env[IDP_PORT_VARIABLE] ?? '';
  const port = portText === '' ? DEFAULT_IDP_PORT : Number(portText);
  if (!/^\d{0,5}$/.test(portText) || !(port >= 1 && port <= 65535)) {
    console.error(`login: ${IDP_PORT_VARIABLE} must be a port number from 1 to 65535`);
    process.exitCode = 2;
    return;
  }
  const issuer = `http://127.0.0.1:${port}`;
  try {
    const tokens = await login(issuer, user);
    console.log(
      `Logged in as ${user} (tenant ${DEMO_USERS[user]?.tenant ?? '?'}) at ${issuer}: ` +
        `a JWT access token for ${IDP_AUDIENCE}, valid ${tokens.expires_in} s:`,
    );
    console.log(tokens.access_token);
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    console.error(`login: ${error instanceof Error ? error.message : String(error)}`);
    if (cause?.code === 'ECONNREFUSED') {
      console.error(`Nothing answers at ${issuer}: start the demo first (npm start).`);
    }
    process.exitCode = 1;
  }
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(resolve(process.argv[1])).href
) {
  await runFromCommandLine(process.argv.slice(2));
}
