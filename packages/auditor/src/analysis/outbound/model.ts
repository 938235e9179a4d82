import type ts from 'typescript';
import type { Evidence } from '../../model.ts';
import type { SourceUnit } from '../../project/load.ts';
import type { Located, Origin } from './expressions.ts';
import type { UrlFact } from './urls.ts';

/** The HTTP client libraries the model understands. */
export type HttpLibrary =
  | 'axios'
  | 'got'
  | 'undici'
  | 'fetch'
  | 'node-fetch'
  | 'request'
  | 'http'
  | 'https'
  | 'superagent'
  | 'tessera';

/** One header an outbound request or client sets. */
export interface HeaderFact {
  /** Lower-case; `*` stands for a whole inbound header object forwarded (`{ ...req.headers }`). */
  readonly name: string;
  readonly unit: SourceUnit;
  /** Where it is set (the evidence line). */
  readonly node: ts.Node;
  readonly origins: ReadonlySet<Origin>;
  /** The value when it is a plain literal. */
  readonly literal: string | undefined;
  /** Set while serving a request (inside a function), not once at module load. */
  readonly atRequestTime: boolean;
  /** Where the value is written, when elsewhere (`const TOKEN = process.env.X` in another file). */
  readonly source: Located<ts.Node> | undefined;
  /**
   * The token request whose answer the value is (`Bearer ${await tokens.get(aud)}` where the
   * token source posts `grant_type=client_credentials`): an access token of this service's own.
   */
  obtainedFrom: TokenRequest | undefined;
}

/**
 * A request to an OAuth token endpoint (`grant_type=client_credentials` and the like): it
 * obtains the credential other calls carry, it is not itself a call to another service.
 */
export interface TokenRequest {
  readonly site: HttpSite;
  /** The client secret sent (`client_secret`), when the client authenticates with one. */
  readonly secret: Located | undefined;
  readonly secretOrigins: ReadonlySet<Origin>;
}

/** Which of Tessera's outbound interceptors a dispatcher carries. */
export interface TesseraFacts {
  readonly node: Located<ts.Node>;
  readonly auth: boolean;
  readonly timeout: boolean;
  readonly retry: boolean;
  readonly breaker: boolean;
  readonly trace: boolean;
}

/**
 * A place that makes or configures outbound HTTP calls:
 * - `client`: an instance calls go through (`axios.create`, `got.extend`, undici `Pool`/`Client`);
 * - `dispatcher`: transport configuration (undici `Agent`, `.compose()`, Tessera's dispatcher,
 *   `https.Agent`), never a channel by itself;
 * - `call`: one request.
 */
export interface HttpSite {
  readonly id: number;
  readonly kind: 'client' | 'dispatcher' | 'call';
  readonly library: HttpLibrary;
  readonly unit: SourceUnit;
  readonly node: ts.Node;
  url: UrlFact | undefined;
  /** Where the URL's value is written (a literal, or the const holding it). */
  urlAt: Located<ts.Node> | undefined;
  readonly headers: HeaderFact[];
  readonly timeouts: Located<ts.Node>[];
  /** `timeout: 0` and the like: waiting forever on purpose. */
  readonly timeoutsDisabled: Located<ts.Node>[];
  readonly retries: Located<ts.Node>[];
  /** A client certificate (`cert` + `key`, `pfx`): mutual TLS. */
  readonly clientCerts: Located<ts.Node>[];
  tessera: TesseraFacts | undefined;
  /** Configuration inherited: the dispatcher or agent used, the parent of an `extend`. */
  readonly via: HttpSite[];
  /** For clients: the calls made through them. */
  readonly calls: HttpSite[];
  /** For calls: the client they go through. */
  client: HttpSite | undefined;
  /**
   * A reverse proxy (`@fastify/http-proxy`, `http-proxy-middleware`): it relays its clients'
   * requests with their own credentials, so the service-credential checks do not apply to it.
   */
  proxy: boolean;
  /** Set for a request to an OAuth token endpoint (see {@link TokenRequest}). */
  tokenRequest: TokenRequest | undefined;
}

/** A circuit breaker, timeout or retry wrapper around functions that make calls. */
export interface ResilienceWrapper {
  readonly library: string;
  readonly unit: SourceUnit;
  readonly node: ts.Node;
  readonly breaker: boolean;
  readonly timeout: boolean;
  readonly retry: boolean;
  /** Functions whose calls it protects. */
  readonly functions: readonly ts.Node[];
}

export interface HttpModel {
  readonly sites: readonly HttpSite[];
  /**
   * What the SC rules judge one by one: every client, and every call not made through a
   * client (calls through a client are judged with it).
   */
  readonly channels: readonly HttpSite[];
  readonly wrappers: readonly ResilienceWrapper[];
  /** Retry evidence that is not tied to one site (hand-rolled loops, p-retry …). */
  readonly retries: readonly Located<ts.Node>[];
  /** Imports of the deprecated `request` family. */
  readonly deprecatedClients: readonly Located<ts.Node>[];
  /** Code that refuses non-https URLs (`if (!url.startsWith('https://')) throw …`). */
  readonly httpsGuards: readonly Located<ts.Node>[];
  /** `createServiceMap(…, { allowInsecureHttp: true })`. */
  readonly insecureServiceMaps: readonly Located<ts.Node>[];
  readonly tokenSources: readonly Located<ts.Node>[];
  /** Outbound scopes requested (Tessera service-map `scopes`). */
  readonly requestedScopes: readonly Located<ts.Node>[];
  /** OpenTelemetry/APM instrumentation that propagates trace context for every HTTP call. */
  readonly globalPropagation: readonly Evidence[];
  /** `rejectUnauthorized: false`, `strictSSL: false`, `checkServerIdentity: () => undefined`. */
  readonly insecureTls: readonly Located<ts.Node>[];
  /** `process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'` in code. */
  readonly tlsDisabledInCode: readonly Located<ts.Node>[];
  /** Log calls inside error handling around outbound calls, or on 401/403 answers. */
  readonly failureLogging: readonly { readonly at: Located<ts.Node>; readonly auth: boolean }[];
}
