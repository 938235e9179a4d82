import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Configuration, default as Provider } from 'oidc-provider';

/**
 * The demo's user IdP: a real OpenID provider (`oidc-provider`, OpenID certified) on loopback,
 * with two users in two tenants. It issues JWT access tokens (RFC 9068) for the api-gateway's
 * audience, signed ES256 with a key generated at start and kept in memory only (every restart
 * has a new key; its JWKS says which).
 *
 * The login is dev-only: the interaction page takes a user name, no password, and consent is
 * given automatically to the demo's own public client. It listens on 127.0.0.1 only.
 */

/** Where `npm start` runs the IdP unless {@link IDP_PORT_VARIABLE} says otherwise. */
export const DEFAULT_IDP_PORT = 7704;
export const IDP_PORT_VARIABLE = 'IDP_PORT';

/** The gateway's SPIFFE ID in the dev trust domain: the `aud` of every access token. */
export const IDP_AUDIENCE = 'spiffe://tessera.local/api-gateway';
/** The claim that carries the user's tenant. */
export const TENANT_CLAIM = 'tenant_id';
/** The public client `npm run login` uses: authorization code with PKCE, no secret. */
export const LOGIN_CLIENT_ID = 'tessera-demo-login';
/** Registered with the client; never served: the login script reads the code off the redirect. */
export const LOGIN_REDIRECT_URI = 'http://127.0.0.1/callback';
/** Access tokens live 300 s. */
export const ACCESS_TOKEN_TTL_SECONDS = 300;
/**
 * The scopes a user token carries for the gateway (besides `openid` and `tenant`): every scope the
 * ticketing chain needs behind it. Token exchange only narrows (requested ∩ the user token's ∩ the
 * actor's grant), so the user's token must hold what billing checks two hops later.
 */
export const USER_SCOPES: readonly string[] = Object.freeze([
  'events:read',
  'events:write',
  'invoices:read',
  'invoices:write',
]);

/** The demo's users: the user name is the `sub`. */
export const DEMO_USERS: Readonly<Record<string, { readonly tenant: string }>> = Object.freeze({
  alice: Object.freeze({ tenant: 'acme' }),
  bob: Object.freeze({ tenant: 'globex' }),
});

const HOST = '127.0.0.1';

export interface IdpOptions {
  /** 0 (the default) picks a free port; the issuer is `http://127.0.0.1:<port>`. */
  readonly port?: number;
  /** Default {@link IDP_AUDIENCE}. */
  readonly audience?: string;
}

export interface RunningIdp {
  /** `http://127.0.0.1:<port>`, also the `iss` of every token. */
  readonly issuer: string;
  readonly audience: string;
  close(): Promise<void>;
}

function userOf(name: unknown): string | undefined {
  return typeof name === 'string' && Object.hasOwn(DEMO_USERS, name) ? name : undefined;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 4096) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The interaction endpoints: `GET /interaction/:uid` shows the login form (or, at the consent
 * prompt, grants the requested scopes and resource and continues); `POST /interaction/:uid/login`
 * with `username` logs a known user in. An unknown user gets 401 and the interaction stays open.
 */
async function interaction(
  provider: Provider,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const uid = details.uid;
  if (req.method === 'GET' && path === `/interaction/${uid}`) {
    if (details.prompt.name === 'consent') {
      const accountId = details.session?.accountId;
      if (accountId === undefined) throw new Error('consent without a session');
      const grant =
        details.grantId === undefined
          ? new provider.Grant({ accountId, clientId: String(details.params.client_id) })
          : await provider.Grant.find(details.grantId);
      if (grant === undefined) throw new Error('grant not found');
      const missing = details.prompt.details as {
        missingOIDCScope?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      if (missing.missingOIDCScope !== undefined) {
        grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      }
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { consent: { grantId } },
        { mergeWithLastSubmission: true },
      );
      return;
    }
    send(
      res,
      200,
      'text/html; charset=utf-8',
      `<!doctype html><title>Tessera demo IdP</title>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<p>Dev-only login (no password): ${Object.keys(DEMO_USERS).join(', ')}</p>
<input name="username" autofocus> <button>Log in</button></form>`,
    );
    return;
  }
  if (req.method === 'POST' && path === `/interaction/${uid}/login`) {
    const form = await readForm(req);
    const user = userOf(form.get('username'));
    if (user === undefined) {
      send(res, 401, 'application/json', JSON.stringify({ error: 'unknown_user' }));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user } });
    return;
  }
  send(res, 404, 'application/json', JSON.stringify({ error: 'not_found' }));
}

/** Starts the IdP on 127.0.0.1; resolves once it is listening. */
export async function startIdp(options: IdpOptions = {}): Promise<RunningIdp> {
  const audience = options.audience ?? IDP_AUDIENCE;
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: HOST, port: options.port ?? 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${HOST}:${port}`;

  const signingKey = {
    ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
    kid: randomUUID(),
    alg: 'ES256',
    use: 'sig',
  };
  const configuration: Configuration = {
    clients: [
      {
        client_id: LOGIN_CLIENT_ID,
        token_endpoint_auth_method: 'none',
        redirect_uris: [LOGIN_REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [signingKey] },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], tenant: [TENANT_CLAIM] },
    scopes: ['openid', 'tenant', ...USER_SCOPES],
    findAccount: (_ctx, id) => {
      const user = userOf(id);
      if (user === undefined) return undefined;
      return {
        accountId: user,
        claims: () => ({ sub: user, [TENANT_CLAIM]: DEMO_USERS[user]!.tenant }),
      };
    },
    extraTokenClaims: (_ctx, token) => {
      const user = 'accountId' in token ? userOf(token.accountId) : undefined;
      return user === undefined ? undefined : { [TENANT_CLAIM]: DEMO_USERS[user]!.tenant };
    },
    pkce: { required: () => true },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== audience) throw new Error(`unknown resource ${resource}`);
          return {
            scope: USER_SCOPES.join(' '),
            audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ACCESS_TOKEN_TTL_SECONDS,
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL_SECONDS,
      AuthorizationCode: 60,
      IdToken: ACCESS_TOKEN_TTL_SECONDS,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
  };
  // Loaded here, not at import: `npm run login` shares this module's constants, and oidc-provider
  // prints its warnings (runtime, in-memory adapter) on stderr once loaded.
  let provider: Provider;
  try {
    const { default: OpenIdProvider } = await import('oidc-provider');
    provider = new OpenIdProvider(issuer, configuration);
  } catch (error) {
    server.close();
    throw error;
  }
  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', issuer).pathname;
    if (!path.startsWith('/interaction/')) {
      void callback(req, res);
      return;
    }
    // An expired or unknown interaction (no cookie, a stale uid): a generic 400.
    interaction(provider, req, res, path).catch(() => {
      if (!res.headersSent) {
        send(res, 400, 'application/json', JSON.stringify({ error: 'invalid_request' }));
      }
    });
  });
  return {
    issuer,
    audience,
    close: async () => {
      const closing = new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error === undefined) resolve();
          else reject(error);
        });
      });
      server.closeAllConnections();
      await closing;
    },
  };
}
