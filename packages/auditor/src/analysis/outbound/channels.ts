import type ts from 'typescript';
import { evidenceAt } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import {
  INTERNAL_MARKER_HEADERS,
  isHeader,
  STATIC_SECRET_HEADERS,
  TRACE_HEADERS,
} from '../names.ts';
import type { Located, Origin } from './expressions.ts';
import type {
  HeaderFact,
  HttpModel,
  HttpSite,
  ResilienceWrapper,
  TesseraFacts,
  TokenRequest,
} from './model.ts';
import type { UrlFact } from './urls.ts';

/**
 * How a channel authenticates, per credential it sends:
 * - `tessera`: Tessera's `auth` interceptor (a short-lived token of the service's own);
 * - `mtls`: a client certificate;
 * - `signed`: a token or signature made at run time (`jwt.sign`, `getServiceToken()`, HMAC);
 * - `client-credentials`: an access token this service obtains from an OAuth token endpoint
 *   with its own client (a token request of the project, see {@link TokenRequest});
 * - `forwarded-user`: the inbound caller's credential passed on (the seed audits' finding);
 * - `shared-static`: a fixed shared secret header (`X-INTERNAL-TOKEN`, review 004);
 * - `marker`: a fixed "internal" marker header (`x-gateway-internal: 'true'`, audit 001);
 * - `static-bearer`: a fixed token or API key from configuration;
 * - `stored-key`: a fixed key fetched from a secrets manager;
 * - `literal`: a credential written in the source;
 * - `unknown`: a credential whose value the analysis cannot follow.
 */
export type CredentialKind =
  | 'tessera'
  | 'mtls'
  | 'signed'
  | 'client-credentials'
  | 'forwarded-user'
  | 'shared-static'
  | 'marker'
  | 'static-bearer'
  | 'stored-key'
  | 'literal'
  | 'unknown';

export interface Credential {
  readonly kind: CredentialKind;
  readonly evidence: Evidence;
  /** Where its value is written, when elsewhere (the env read, the literal). */
  readonly source?: Evidence;
  /** The header carrying it, lower-case (absent for certificates and Tessera). */
  readonly header?: string;
  readonly origins?: ReadonlySet<Origin>;
  /** For `client-credentials`: the token request that obtains it. */
  readonly obtainedBy?: TokenRequest;
}

/** Everything the SC rules need to know about one channel, inherited configuration included. */
export interface ChannelFacts {
  readonly site: HttpSite;
  readonly evidence: Evidence;
  /** For clients: the requests made through them. */
  readonly calls: readonly Evidence[];
  readonly urls: readonly { readonly url: UrlFact; readonly evidence: Evidence }[];
  /** The target is a public third-party API (a fully static https URL with a public host). */
  readonly external: boolean;
  readonly headers: readonly HeaderFact[];
  readonly tessera: TesseraFacts | undefined;
  readonly credentials: readonly Credential[];
  /** Every request carries a credential (of any kind). */
  readonly alwaysAuthenticated: boolean;
  readonly timeout: readonly Evidence[];
  readonly timeoutDisabled: readonly Evidence[];
  readonly breaker: readonly Evidence[];
  readonly retry: readonly Evidence[];
  readonly trace: readonly Evidence[];
  /** Trace headers set to a new random value, i.e. a new trace per call instead of propagation. */
  readonly traceRestarted: readonly Evidence[];
  readonly identity: readonly Evidence[];
  /** A reverse proxy relaying its clients' requests (see {@link HttpSite.proxy}). */
  readonly proxy: boolean;
  /** A request to an OAuth token endpoint: it obtains a credential, it calls no service. */
  readonly tokenRequest: boolean;
  /**
   * Set when every request of the channel is made only while the process starts (see
   * `StartupAnalysis`): where that start-up code is called from. Such requests serve no inbound
   * request, so there is no trace context to continue, and they are too few for a breaker.
   */
  readonly startupOnly: readonly Evidence[] | undefined;
}

/** Headers that carry a service's own identity in clear (SC9/SC16). */
const SERVICE_IDENTITY_HEADERS = [
  'x-service-name',
  'x-service-id',
  'x-service',
  'x-caller',
  'x-caller-id',
  'x-caller-service',
  'x-calling-service',
  'x-source-service',
  'x-origin-service',
  'x-requesting-service',
  'x-client-id',
  'x-client-name',
  'x-app-name',
  'x-application',
  'x-application-name',
];
const SIGNATURE_HEADERS = [
  'signature',
  'signature-input',
  'x-signature',
  'x-hmac-signature',
  'x-request-signature',
  'x-hub-signature-256',
];
/** Static secret headers whose very name says the value is shared by every service. */
const SHARED_BY_NAME = /(internal|shared|common|global|gateway)[-_]?(token|secret|key)/i;

const loc = (located: Located<ts.Node>): Evidence => evidenceAt(located.unit, located.node);

/** The site with everything it inherits: dispatchers and agents, and for calls their client. */
function lineage(site: HttpSite): HttpSite[] {
  const seen = new Set<HttpSite>();
  const order: HttpSite[] = [];
  const visit = (current: HttpSite) => {
    if (seen.has(current)) return;
    seen.add(current);
    order.push(current);
    for (const parent of current.via) visit(parent);
    if (current.client !== undefined) visit(current.client);
  };
  visit(site);
  return order;
}

function containsNode(outer: ts.Node, inner: ts.Node): boolean {
  return (
    outer.getSourceFile() === inner.getSourceFile() &&
    outer.pos <= inner.pos &&
    inner.end <= outer.end
  );
}

/**
 * Builds {@link ChannelFacts} for every channel of the model; `startupOnly` tells which channels
 * are used only while the process starts (no answer: none is).
 */
export function channelFacts(
  model: HttpModel,
  startupOnly: (site: HttpSite) => readonly Evidence[] | undefined = () => undefined,
): ChannelFacts[] {
  return model.channels.map((site) => describe(site, model, startupOnly(site)));
}

function describe(
  site: HttpSite,
  model: HttpModel,
  startupOnly: readonly Evidence[] | undefined,
): ChannelFacts {
  const members = site.kind === 'client' ? site.calls : [];
  const own = lineage(site);
  const memberLineages = members.map((call) => lineage(call));
  const everything = [...own, ...memberLineages.flat()];
  const unique = [...new Set(everything)];

  /** Facts present for every request: on the client (or what it inherits) or on every call. */
  const always = (has: (s: HttpSite) => boolean): boolean =>
    own.some(has) || (memberLineages.length > 0 && memberLineages.every((l) => l.some(has)));

  const wrapped = (pick: (w: ResilienceWrapper) => boolean): ResilienceWrapper[] => {
    const nodes = [site.node, ...members.map((m) => m.node)];
    const hits = model.wrappers.filter(
      (w) =>
        pick(w) &&
        (w.functions.some((f) => nodes.some((n) => containsNode(f, n))) ||
          // A breaker built in the same file as the calls (the usual service-client class).
          (w.breaker && w.unit === site.unit)),
    );
    return hits;
  };

  const headers = unique.flatMap((s) => s.headers);
  const tessera = unique.map((s) => s.tessera).find((t) => t !== undefined);
  const urls = collectUrls(site, members);
  const external = urls.length > 0 && urls.every((u) => u.url.external && u.url.scheme === 'https');

  const credentials = credentialsOf(unique, headers);
  const credentialHeaders = new Set(
    credentials.map((c) => c.header).filter((h): h is string => h !== undefined),
  );
  const alwaysAuthenticated =
    always((s) => s.tessera?.auth === true || s.clientCerts.length > 0) ||
    always((s) => s.headers.some((h) => credentialHeaders.has(h.name)));

  const timeout: Evidence[] = [];
  if (always((s) => s.timeouts.length > 0 || s.tessera?.timeout === true)) {
    for (const s of unique) {
      timeout.push(...s.timeouts.map(loc));
      if (s.tessera?.timeout === true) timeout.push(loc(s.tessera.node));
    }
  }
  for (const w of wrapped((w) => w.timeout)) timeout.push(loc(w));
  const timeoutDisabled = unique.flatMap((s) => s.timeoutsDisabled.map(loc));

  const breaker: Evidence[] = [];
  if (always((s) => s.tessera?.breaker === true)) {
    for (const s of unique) if (s.tessera?.breaker === true) breaker.push(loc(s.tessera.node));
  }
  for (const w of wrapped((w) => w.breaker)) breaker.push(loc(w));

  const retry: Evidence[] = [];
  for (const s of unique) {
    retry.push(...s.retries.map(loc));
    if (s.tessera?.retry === true) retry.push(loc(s.tessera.node));
  }
  for (const w of wrapped((w) => w.retry)) retry.push(loc(w));
  for (const r of model.retries) {
    if ([site, ...members].some((s) => containsNode(r.node, s.node))) retry.push(loc(r));
  }

  const trace: Evidence[] = [];
  const traceRestarted: Evidence[] = [];
  const propagates = (h: HeaderFact) =>
    isHeader(TRACE_HEADERS, h.name) &&
    [...h.origins].some((o) => o !== 'literal' && o !== 'random' && o !== 'env') &&
    h.atRequestTime;
  if (always((s) => s.tessera?.trace === true || s.headers.some(propagates))) {
    for (const s of unique) {
      if (s.tessera?.trace === true) trace.push(loc(s.tessera.node));
      for (const h of s.headers) if (propagates(h)) trace.push(evidenceAt(h.unit, h.node));
    }
  }
  trace.push(...model.globalPropagation);
  for (const h of headers) {
    if (isHeader(TRACE_HEADERS, h.name) && !propagates(h)) {
      traceRestarted.push(evidenceAt(h.unit, h.node));
    }
  }

  const identity: Evidence[] = [];
  for (const credential of credentials) {
    if (
      credential.kind === 'tessera' ||
      credential.kind === 'signed' ||
      credential.kind === 'client-credentials' ||
      credential.kind === 'mtls'
    ) {
      identity.push(credential.evidence);
    }
  }
  for (const h of headers) {
    const named = isHeader(SERVICE_IDENTITY_HEADERS, h.name);
    const agent = h.name === 'user-agent' && h.literal !== undefined && h.literal.trim() !== '';
    if ((named || agent) && !h.origins.has('inbound')) identity.push(evidenceAt(h.unit, h.node));
  }

  return {
    site,
    evidence: evidenceAt(site.unit, site.node),
    calls: members.map((m) => evidenceAt(m.unit, m.node)),
    urls,
    external,
    headers,
    tessera,
    credentials,
    alwaysAuthenticated,
    timeout,
    timeoutDisabled,
    breaker,
    retry,
    trace,
    traceRestarted,
    identity,
    proxy: site.proxy,
    tokenRequest:
      site.tokenRequest !== undefined ||
      (members.length > 0 && members.every((m) => m.tokenRequest !== undefined)),
    startupOnly,
  };
}

function collectUrls(
  site: HttpSite,
  members: readonly HttpSite[],
): { url: UrlFact; evidence: Evidence }[] {
  const out: { url: UrlFact; evidence: Evidence }[] = [];
  const push = (s: HttpSite, url: UrlFact | undefined) => {
    if (url === undefined) return;
    out.push({ url, evidence: evidenceAt(s.urlAt?.unit ?? s.unit, s.urlAt?.node ?? s.node) });
  };
  const base = [site, ...lineage(site)].find((s) => s.url !== undefined);
  if (site.kind === 'call') {
    if (site.url !== undefined && site.url.scheme !== 'unknown') push(site, site.url);
    else push(base ?? site, base?.url ?? site.url);
    return out;
  }
  push(base ?? site, base?.url);
  for (const member of members) {
    if (member.url !== undefined && member.url.scheme !== 'unknown') push(member, member.url);
  }
  return out;
}

function credentialsOf(sites: readonly HttpSite[], headers: readonly HeaderFact[]): Credential[] {
  const out: Credential[] = [];
  for (const s of sites) {
    if (s.tessera?.auth === true) {
      out.push({ kind: 'tessera', evidence: evidenceAt(s.tessera.node.unit, s.tessera.node.node) });
    }
    for (const cert of s.clientCerts) out.push({ kind: 'mtls', evidence: loc(cert) });
  }
  for (const h of headers) {
    const kind = credentialKind(h);
    if (kind !== undefined) {
      out.push({
        kind,
        evidence: evidenceAt(h.unit, h.node),
        header: h.name,
        origins: h.origins,
        ...(h.source === undefined ? {} : { source: evidenceAt(h.source.unit, h.source.node) }),
        ...(h.obtainedFrom === undefined ? {} : { obtainedBy: h.obtainedFrom }),
      });
    }
  }
  return out;
}

/** What a header tells about the caller's credential, if it carries one. */
function credentialKind(h: HeaderFact): CredentialKind | undefined {
  const o = h.origins;
  const inbound = o.has('inbound') || o.has('user-param');
  if (h.name === '*') return o.has('inbound') ? 'forwarded-user' : undefined;
  if (isHeader(INTERNAL_MARKER_HEADERS, h.name)) {
    if (inbound) return 'forwarded-user';
    if (o.has('minted')) return 'signed';
    return o.has('literal') || o.has('env') ? 'marker' : 'unknown';
  }
  if (isHeader(SIGNATURE_HEADERS, h.name)) return o.has('minted') ? 'signed' : 'unknown';
  const isAuthorization = h.name === 'authorization' || h.name === 'proxy-authorization';
  const isStaticSecret = isHeader(STATIC_SECRET_HEADERS, h.name) || SHARED_BY_NAME.test(h.name);
  if (!isAuthorization && !isStaticSecret) return undefined;
  if (inbound) return 'forwarded-user';
  if (h.obtainedFrom !== undefined) return 'client-credentials';
  if (o.has('minted')) return 'signed';
  if (isStaticSecret && SHARED_BY_NAME.test(h.name)) return 'shared-static';
  if (onlyStatic(o)) return h.literal?.trim() === '' ? undefined : 'literal';
  if (o.has('secret-manager')) return 'stored-key';
  if (o.has('env')) return 'static-bearer';
  return 'unknown';
}

function onlyStatic(origins: ReadonlySet<Origin>): boolean {
  return origins.size > 0 && [...origins].every((o) => o === 'literal');
}
