import {
  assertSecureUrl,
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  systemClock,
  TesseraError,
  type Clock,
} from '@tessera/core';
import { currentKey, type ClientKey } from './key-rotation.ts';

export interface TokenSourceOptions {
  /**
   * The authority's base URL (its issuer identifier unless `issuer` says otherwise): https, or
   * plain http to a loopback address only (`assertSecureUrl` in `@tessera/core`).
   */
  readonly authorityUrl: string;
  /** The issuer identifier the metadata must name exactly (RFC 8414 §3.3). Default: `authorityUrl`. */
  readonly issuer?: string;
  /** This service's SPIFFE ID (`client_id`). */
  readonly clientId: string;
  /**
   * Its private key, registered with the authority; or a rotating key
   * ({@link createKeyRotation}), whose current key signs each request.
   */
  readonly key: ClientKey;
  readonly clock?: Clock;
  /** Refresh when less than this share of the lifetime is left (plus jitter). Default 0.2. */
  readonly refreshAhead?: number;
  /** Backoff after a failed token request: starts here, doubles, full jitter. Default 200 ms, at most 10 s. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Per token request. Default 5 s. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  readonly random?: () => number;
}

function metadataError(detail: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', `authority metadata: ${detail}`);
}

/**
 * The RFC 8414 document, refused unless it names exactly the expected issuer (§3.3: otherwise
 * whoever answered at that URL could pose as another authority) and its `token_endpoint` and
 * `jwks_uri` are on that issuer's origin and pass the https rule: the token endpoint receives
 * this service's client assertions, and a metadata document (or a cache or proxy that altered it)
 * must not be able to send them elsewhere.
 */
function checkedMetadata(
  document: unknown,
  expectedIssuer: string,
): { issuer: string; tokenEndpoint: string } {
  const metadata = (typeof document === 'object' && document !== null ? document : {}) as {
    issuer?: unknown;
    token_endpoint?: unknown;
    jwks_uri?: unknown;
  };
  if (metadata.issuer !== expectedIssuer) throw metadataError('issuer is not the expected one');
  const origin = assertSecureUrl(expectedIssuer, 'issuer').origin;
  const onIssuerOrigin = (value: unknown, field: string): string => {
    let url: URL;
    try {
      url = assertSecureUrl(value, field);
    } catch {
      throw metadataError(`${field} is not an https (or loopback http) URL`);
    }
    if (url.origin !== origin) throw metadataError(`${field} is not on the issuer's origin`);
    return url.href;
  };
  const tokenEndpoint = onIssuerOrigin(metadata.token_endpoint, 'token_endpoint');
  if (metadata.jwks_uri !== undefined) onIssuerOrigin(metadata.jwks_uri, 'jwks_uri');
  return { issuer: expectedIssuer, tokenEndpoint };
}

/** A token endpoint's JSON answer, unchecked. */
interface TokenResponseBody {
  readonly access_token?: unknown;
  readonly issued_token_type?: unknown;
  readonly token_type?: unknown;
  readonly expires_in?: unknown;
  readonly scope?: unknown;
  readonly error?: unknown;
}

interface Entry {
  token?: string;
  expiresAtMs: number;
  refreshAtMs: number;
  inflight: Promise<string> | undefined;
  failures: number;
  nextAttemptMs: number;
}

/** RFC 8693 §3: the grant type and the token type of access tokens. */
export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** A token issued by a token exchange (RFC 8693 §2.2.1). */
export interface ExchangedToken {
  readonly accessToken: string;
  /** Seconds. */
  readonly expiresIn: number;
  /** The granted scopes, when the authority says. */
  readonly scope?: string;
}

/** Exchanges a verified inbound token for one for another audience (RFC 8693). */
export interface TokenExchanger {
  exchangeToken(
    subjectToken: string,
    audience: string,
    scopes: readonly string[],
  ): Promise<ExchangedToken>;
}

/** A source of access tokens for one calling service, per (audience, scopes). */
export interface TokenSource {
  /** A valid token for `audience` with `scopes`. Never returns an expired token. */
  getToken(audience: string, scopes: readonly string[]): Promise<string>;
}

/**
 * `private_key_jwt` client credentials (RFC 6749 §4.4 + RFC 7523), cached per (audience, scopes):
 * refreshed ahead of expiry with jitter so a fleet does not stampede the authority; concurrent
 * callers share one request (single flight); while the authority is down the cached token is
 * served until it expires, and requests back off exponentially with jitter.
 */
export class ClientCredentialsTokenSource implements TokenSource, TokenExchanger {
  readonly #options: TokenSourceOptions;
  readonly #clock: Clock;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  readonly #entries = new Map<string, Entry>();
  #endpoint: Promise<{ issuer: string; tokenEndpoint: string }> | undefined;
  readonly #metadataUrl: URL;
  readonly #issuer: string;

  /** Throws `ERR_CONFIG_INSECURE` or `ERR_CONFIG_INVALID` naming `authorityUrl` or `issuer`. */
  constructor(options: TokenSourceOptions) {
    const authority = assertSecureUrl(options.authorityUrl, 'authorityUrl');
    if (options.issuer !== undefined) assertSecureUrl(options.issuer, 'issuer');
    this.#metadataUrl = new URL('/.well-known/oauth-authorization-server', authority);
    this.#issuer = options.issuer ?? options.authorityUrl.replace(/\/$/, '');
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#fetch = options.fetch ?? fetch;
    this.#random = options.random ?? Math.random;
  }

  async getToken(audience: string, scopes: readonly string[]): Promise<string> {
    const key = `${audience} ${[...scopes].sort().join(' ')}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = {
        expiresAtMs: 0,
        refreshAtMs: 0,
        failures: 0,
        nextAttemptMs: 0,
        inflight: undefined,
      };
      this.#entries.set(key, entry);
    }
    const now = this.#clock.now();
    const current = now < entry.expiresAtMs ? entry.token : undefined;
    if (current !== undefined && now < entry.refreshAtMs) return current;
    if (current !== undefined) {
      // Due for refresh: refresh in the background (once), keep serving the current token.
      if (entry.inflight === undefined && now >= entry.nextAttemptMs) {
        this.#refresh(entry, audience, scopes).catch(() => undefined);
      }
      return current;
    }
    if (entry.inflight !== undefined) return entry.inflight;
    if (now < entry.nextAttemptMs) {
      throw new TesseraError('ERR_UNAVAILABLE', 'authority unavailable; backing off');
    }
    return this.#refresh(entry, audience, scopes);
  }

  #refresh(entry: Entry, audience: string, scopes: readonly string[]): Promise<string> {
    const inflight = this.#request(audience, scopes).then(
      ({ token, expiresIn }) => {
        const now = this.#clock.now();
        const lifetimeMs = expiresIn * 1000;
        const ahead = this.#options.refreshAhead ?? 0.2;
        // Jitter: refresh somewhere between (1 - 2·ahead) and (1 - ahead) of the lifetime.
        const refreshFraction = 1 - ahead - ahead * this.#random();
        entry.token = token;
        entry.expiresAtMs = now + lifetimeMs;
        entry.refreshAtMs = now + lifetimeMs * Math.max(0.1, refreshFraction);
        entry.failures = 0;
        entry.nextAttemptMs = 0;
        entry.inflight = undefined;
        return token;
      },
      (error: unknown) => {
        entry.failures += 1;
        const base = this.#options.retryBaseMs ?? 200;
        const cap = Math.min(this.#options.retryMaxMs ?? 10_000, base * 2 ** (entry.failures - 1));
        entry.nextAttemptMs = this.#clock.now() + cap * this.#random();
        entry.inflight = undefined;
        throw error;
      },
    );
    entry.inflight = inflight;
    return inflight;
  }

  #discover(): Promise<{ issuer: string; tokenEndpoint: string }> {
    this.#endpoint ??= (async () => {
      const response = await this.#fetch(this.#metadataUrl, {
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000),
      });
      if (!response.ok)
        throw new TesseraError('ERR_UNAVAILABLE', `authority metadata answered ${response.status}`);
      return checkedMetadata(await response.json(), this.#issuer);
    })().catch((error: unknown) => {
      this.#endpoint = undefined;
      throw error;
    });
    return this.#endpoint;
  }

  async #request(
    audience: string,
    scopes: readonly string[],
  ): Promise<{ token: string; expiresIn: number }> {
    const { response, json } = await this.#post({
      grant_type: 'client_credentials',
      audience,
      ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
    });
    if (
      !response.ok ||
      typeof json.access_token !== 'string' ||
      typeof json.expires_in !== 'number'
    ) {
      const reason = typeof json.error === 'string' ? json.error : `status ${response.status}`;
      throw new TesseraError(
        response.status >= 500 ? 'ERR_UNAVAILABLE' : 'ERR_CLIENT_AUTH',
        `token request refused (${reason})`,
      );
    }
    return { token: json.access_token, expiresIn: json.expires_in };
  }

  /**
   * RFC 8693 token exchange: `subjectToken` (the verified token of the inbound request) for a
   * token for `audience`, authenticated as this service like client credentials. Not cached here
   * (`delegate()` caches). A refusal (a 4xx, or an answer that is not an RFC 8693 §2.2.1 bearer
   * access token) throws `ERR_DELEGATION_REFUSED`; 5xx and network failures `ERR_UNAVAILABLE`.
   */
  async exchangeToken(
    subjectToken: string,
    audience: string,
    scopes: readonly string[],
  ): Promise<ExchangedToken> {
    const { response, json } = await this.#post({
      grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
      audience,
      ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
    });
    if (response.status >= 500) {
      throw new TesseraError('ERR_UNAVAILABLE', `token exchange answered ${response.status}`);
    }
    if (!response.ok) {
      const reason = typeof json.error === 'string' ? json.error : `status ${response.status}`;
      throw new TesseraError('ERR_DELEGATION_REFUSED', `token exchange refused (${reason})`);
    }
    if (
      typeof json.access_token !== 'string' ||
      json.access_token === '' ||
      json.issued_token_type !== ACCESS_TOKEN_TYPE ||
      typeof json.token_type !== 'string' ||
      json.token_type.toLowerCase() !== 'bearer' ||
      typeof json.expires_in !== 'number' ||
      !Number.isFinite(json.expires_in) ||
      json.expires_in <= 0
    ) {
      throw new TesseraError(
        'ERR_DELEGATION_REFUSED',
        'token exchange answer is not a bearer access token (RFC 8693 §2.2.1)',
      );
    }
    return {
      accessToken: json.access_token,
      expiresIn: json.expires_in,
      ...(typeof json.scope === 'string' ? { scope: json.scope } : {}),
    };
  }

  /** One authenticated POST to the token endpoint (`private_key_jwt`). */
  async #post(
    fields: Record<string, string>,
  ): Promise<{ response: Response; json: TokenResponseBody }> {
    let endpoint;
    let response: Response;
    try {
      endpoint = await this.#discover();
      const assertion = mintClientAssertion(
        { clientId: this.#options.clientId, audience: endpoint.issuer },
        { key: currentKey(this.#options.key), clock: this.#clock },
      );
      const body = new URLSearchParams({
        ...fields,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: assertion,
      });
      response = await this.#fetch(endpoint.tokenEndpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: body.toString(),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000),
      });
    } catch (error) {
      if (error instanceof TesseraError) throw error;
      throw new TesseraError('ERR_UNAVAILABLE', 'authority unreachable', { cause: error });
    }
    const json = (await response.json().catch(() => ({}))) as TokenResponseBody;
    return { response, json };
  }
}
