import type { Category, CheckDefinition } from '../model.ts';

/**
 * Snippets are shown to users as "do this instead", so each one uses only the published Tessera
 * API and imports what it calls; the catalog test checks every imported name against the
 * packages' exports and every `tessera` command line against the CLI.
 */
const PLUGIN = `import { readFileSync } from 'node:fs';
import { parsePolicy } from '@tessera/core';
import { tessera } from '@tessera/fastify';

await app.register(tessera, {
  service: 'billing',
  policy: parsePolicy(readFileSync('policy.yaml', 'utf8')),
  authority: { url: 'https://authority.internal.example' },
});`;

const DISPATCHER = `import {
  ClientCredentialsTokenSource,
  createServiceDispatcher,
  createServiceMap,
} from '@tessera/client';

const dispatcher = createServiceDispatcher({
  tokens: new ClientCredentialsTokenSource({
    authorityUrl: 'https://authority.internal.example',
    clientId: 'spiffe://tessera.local/event-service',
    key,
  }),
  services: createServiceMap(
    { billing: { url: 'https://billing.internal:8443', scopes: ['invoices:write'] } },
    { trustDomain: 'tessera.local' },
  ),
});`;

const POLICY = `version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  billing:
    routes:
      - method: POST
        path: /invoices
        allow: [{ service: api-gateway, scopes: [invoices:write] }]
      - { method: GET, path: /healthz, public: true }`;

const VERIFIER = `import { createVerifier, parseJwks, systemClock } from '@tessera/core';

const verifier = createVerifier({
  issuer: 'https://authority.internal.example',
  audience: 'spiffe://tessera.local/billing',
  keys: parseJwks(jwksText),
  clock: systemClock,
});
const caller = verifier.verify(token); // throws TesseraError (ERR_TOKEN_*) when refused`;

const SIGNED_REQUEST = `import { createContentDigest, generateNonce, signRequest, systemClock } from '@tessera/core';

const headers = { 'content-digest': createContentDigest(body) };
const fields = signRequest(
  { method: 'POST', url: 'https://billing.internal/invoices', headers },
  {
    key,
    clock: systemClock,
    components: ['@method', '@authority', '@path', '@query', 'content-digest'],
    nonce: generateNonce(),
    expiresIn: 10,
  },
);`;

const SIGNATURE_VERIFIER = `import {
  createRequestSignatureVerifier,
  MemoryReplayCache,
  systemClock,
} from '@tessera/core';

const verifySignature = createRequestSignatureVerifier({
  keys: (keyid) => callerKeys.get(keyid),
  clock: systemClock,
  maxSkewSeconds: 10,
  replayCache: new MemoryReplayCache(),
});`;

type Entry = Omit<CheckDefinition, 'category'>;

const inCategory = (category: Category, entries: readonly Entry[]): CheckDefinition[] =>
  entries.map((entry) => ({ ...entry, category }));

const SERVICE_CLIENT = inCategory('SC', [
  {
    id: 'SC1',
    title: 'Service uses mTLS OR signed tokens (JWT/HMAC) for all outbound calls',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'Each outbound HTTP call (undici, fetch, axios, got) and whether it carries a signed token, a client certificate or a request signature rather than a static header.',
    remediation:
      "Send every internal call through a dispatcher that attaches this service's own short-lived, audience-bound token; a static marker header proves nothing.",
    snippet: DISPATCHER,
  },
  {
    id: 'SC2',
    title: 'Service credentials are NOT hardcoded in source code',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'String literals assigned to secret-like names or placed in Authorization and API-key headers of outbound requests.',
    remediation:
      'Remove the literal, rotate the credential it exposed, and authenticate with a per-service private key kept outside the code.',
    snippet: 'tessera service add event-service --aud billing --scope invoices:write',
  },
  {
    id: 'SC3',
    title: 'Service credentials are retrieved from secrets manager at runtime',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Where outbound credentials come from: a secrets-manager client or a mounted secret file, versus literals and environment variables.',
    remediation:
      'Load service credentials at start-up from a secrets manager (Vault, AWS Secrets Manager, a mounted Kubernetes secret) and keep them out of the environment.',
  },
  {
    id: 'SC4',
    title: 'Each service has its own unique credentials (not shared)',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Whether callers present one shared token or key (an INTERNAL_SERVICE_TOKEN used by every service) or an identity of their own.',
    remediation:
      'Register every service separately so each holds its own key pair; a leaked credential then impersonates one service, not all of them.',
    snippet: 'tessera service add event-service --aud billing --scope invoices:write',
  },
  {
    id: 'SC5',
    title: 'Short-lived credentials or tokens used (< 1 hour preferred)',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Lifetimes of the tokens the service mints or requests (expiresIn, exp); static API keys count as never expiring.',
    remediation:
      'Use tokens that live minutes, refreshed automatically before they expire, instead of long-lived keys.',
    snippet: DISPATCHER,
  },
  {
    id: 'SC6',
    title: 'Credential rotation is automated',
    severity: 'MEDIUM',
    decidedBy: 'source+infrastructure',
    evidence:
      'Token refresh before expiry in the client, and rotation schedules for keys and secrets in code or infrastructure files.',
    remediation:
      'Let credentials renew themselves: a token source that refreshes before expiry, and signing keys the authority rotates on a schedule.',
    snippet: DISPATCHER,
  },
  {
    id: 'SC7',
    title: 'Failed authentication attempts are logged',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Error handling of outbound calls: whether 401 and 403 answers from other services are logged (without the credential).',
    remediation:
      'Log every 401 or 403 a downstream service returns, with the target and correlation ID, so a broken or revoked credential is noticed.',
  },
  {
    id: 'SC8',
    title: 'All internal HTTP calls use HTTPS/TLS',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence:
      'Service URLs in code, configuration and manifests that use plain http:// for non-loopback hosts.',
    remediation:
      'Use https:// for every internal service URL; bearer tokens sent in clear text can be replayed by anyone on the network.',
    snippet: DISPATCHER,
  },
  {
    id: 'SC9',
    title: 'Service identity included in every request (header or cert)',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      "Whether every outbound request carries a verifiable identity of the caller (a token's subject or a client certificate).",
    remediation:
      "Attach this service's token to every request through the dispatcher, so the receiver learns who calls from a signature it can check.",
    snippet: DISPATCHER,
  },
  {
    id: 'SC10',
    title: 'Correlation ID propagated to downstream services',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Outbound requests made while handling a request, and whether they forward x-correlation-id and traceparent.',
    remediation:
      'Forward the inbound trace context on every downstream call, so one request can be followed across services.',
    snippet: `import { Agent } from 'undici';
import { trace } from '@tessera/client';

const dispatcher = new Agent().compose(trace());`,
  },
  {
    id: 'SC11',
    title: 'Request timeout configured to prevent hanging',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Timeout options on HTTP clients and calls (timeout, headersTimeout, AbortSignal.timeout).',
    remediation:
      'Bound every outbound call with a timeout so a slow dependency cannot exhaust connections and requests.',
    snippet: `import { Agent } from 'undici';
import { timeout } from '@tessera/client';

const dispatcher = new Agent().compose(timeout());`,
  },
  {
    id: 'SC12',
    title: 'Circuit breaker implemented for downstream failures',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'A circuit breaker (opossum, cockatiel or an equivalent wrapper) around calls to other services.',
    remediation:
      'Wrap each upstream in a circuit breaker so repeated failures stop being retried against a service that is down.',
    snippet: `import { Agent } from 'undici';
import { circuitBreakerPerUpstream } from '@tessera/client';

const dispatcher = new Agent().compose(circuitBreakerPerUpstream());`,
  },
  {
    id: 'SC13',
    title: 'HTTP client configured with TLS certificate validation',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'TLS options of HTTP clients and agents: rejectUnauthorized: false, or a checkServerIdentity that accepts any certificate.',
    remediation:
      "Remove every option that switches off certificate verification; trust an internal CA through the agent's ca option instead.",
  },
  {
    id: 'SC14',
    title: 'undici or got used (not deprecated request)',
    severity: 'LOW',
    decidedBy: 'source',
    evidence:
      'Dependencies and imports of HTTP client libraries, looking for the deprecated request and request-promise packages.',
    remediation:
      'Replace request and request-promise with undici (or the built-in fetch) or got, which are maintained and receive security fixes.',
  },
  {
    id: 'SC15',
    title: 'No NODE_TLS_REJECT_UNAUTHORIZED=0 in production',
    severity: 'CRITICAL',
    decidedBy: 'source+infrastructure',
    evidence:
      'NODE_TLS_REJECT_UNAUTHORIZED set to 0 in code, env files, Dockerfiles, compose files or manifests.',
    remediation:
      'Delete the setting everywhere: it turns off certificate verification for every TLS connection the process makes.',
  },
  {
    id: 'SC16',
    title: 'Client includes service identity header',
    severity: 'LOW',
    decidedBy: 'source',
    evidence:
      "Whether outbound requests name the calling service, in a verifiable token (its subject) or at least a header for the receiver's logs.",
    remediation:
      "Identify the caller in every request through its token's subject; a plain name header may be logged but must never be trusted.",
    snippet: DISPATCHER,
  },
]);

const SERVICE_ENDPOINT = inCategory('SE', [
  {
    id: 'SE1',
    title: 'ALL endpoints require authentication (no exceptions for "internal" routes)',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'Every registered route, and whether an authentication hook covers it; public routes other than health checks are listed.',
    remediation:
      'Authenticate every route; mark only health checks public, explicitly, in the policy.',
    snippet: PLUGIN,
  },
  {
    id: 'SE2',
    title: 'Authentication middleware applied globally (not per-route)',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Whether authentication is registered once as an application-wide hook or plugin, or attached route by route.',
    remediation:
      'Register authentication once for the whole application, so a route added later cannot be forgotten.',
    snippet: PLUGIN,
  },
  {
    id: 'SE3',
    title: 'Token/certificate verification uses cryptographic validation',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'How inbound credentials are checked: a signature verification (jwt.verify, jwtVerify, request.jwtVerify, createVerifier) versus comparing a header with a shared value.',
    remediation:
      "Verify a signed token against the issuer's public keys; comparing a header with a configured string is not authentication.",
    snippet: VERIFIER,
  },
  {
    id: 'SE4',
    title: 'Tokens verified with signature check (not just decoded)',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'Calls to jwt.decode or base64 decoding of a token payload whose claims are then used for identity or access decisions.',
    remediation:
      'Replace decode with verification: claims of a token whose signature was not checked can be written by anyone.',
    snippet: VERIFIER,
  },
  {
    id: 'SE5',
    title: 'Token expiration (exp) checked',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Verification options that ignore expiry (ignoreExpiration, very large clock tolerances) or hand-decoded tokens whose exp is never compared.',
    remediation:
      'Let the verifier enforce exp with a tolerance of seconds, and never turn expiry checks off.',
    snippet: VERIFIER,
  },
  {
    id: 'SE6',
    title: 'Token issuer (iss) validated against allowlist',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Whether token verification is given the expected issuer (issuer option or iss check).',
    remediation:
      'Pass the exact issuer to verification so tokens minted by any other party are refused.',
    snippet: VERIFIER,
  },
  {
    id: 'SE7',
    title: 'Token audience (aud) validated',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Whether token verification is given this service as the expected audience (audience option or aud check).',
    remediation:
      'Require aud to name this service, so a token issued for another service cannot be replayed here.',
    snippet: VERIFIER,
  },
  {
    id: 'SE8',
    title: 'Service identity extracted and verified from request',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'Where handlers learn who the caller is: a verified token or certificate, versus headers such as x-service-name or x-gateway-internal.',
    remediation:
      "Take the caller's identity only from the verified credential; headers that claim an identity can be sent by anyone.",
    snippet: PLUGIN,
  },
  {
    id: 'SE9',
    title: 'Per-endpoint authorization rules defined',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Authorization rules per route (scopes, roles or a policy document) beyond "the caller is authenticated".',
    remediation:
      'Give every route its own rule naming the callers and scopes it accepts, and deny routes without one.',
    snippet: POLICY,
  },
  {
    id: 'SE10',
    title: 'Allowlist of services that can call each endpoint',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence: 'A list of calling services per route, checked against the verified caller.',
    remediation:
      'List the services allowed on each route; any other authenticated service is refused with 403.',
    snippet: POLICY,
  },
  {
    id: 'SE11',
    title: 'Unauthorized access attempts logged',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence: 'Logging on the paths that answer 401 and 403.',
    remediation:
      'Log every refused request with the reason, route and caller (never the credential itself).',
    snippet: PLUGIN,
  },
  {
    id: 'SE12',
    title: 'No default-allow authorization policy',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'Authorization code paths that allow when no rule matches, when a setting is missing, or in a development mode.',
    remediation:
      'Deny by default: a route or caller without an explicit rule is refused, whatever the environment.',
    snippet: POLICY,
  },
  {
    id: 'SE13',
    title: 'Caller service identity logged for every request',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence: 'Request logging that records the verified calling service.',
    remediation:
      'Write one log event per request naming the verified caller, so every action can be traced to a service.',
    snippet: PLUGIN,
  },
  {
    id: 'SE14',
    title: 'Correlation ID logged for tracing',
    severity: 'LOW',
    decidedBy: 'source',
    evidence: 'Request logs that carry a correlation or trace ID.',
    remediation:
      'Accept or mint an x-correlation-id per request and include it in every log line of that request.',
    snippet: PLUGIN,
  },
  {
    id: 'SE15',
    title: 'Request success/failure status logged',
    severity: 'LOW',
    decidedBy: 'source',
    evidence: 'Request logging that records the response status or outcome.',
    remediation: 'Log the outcome of each request (status code and decision) alongside the caller.',
    snippet: PLUGIN,
  },
  {
    id: 'SE16',
    title: 'Sensitive operations logged with additional context',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Explicit audit logging in handlers that change money, permissions or data of other tenants.',
    remediation:
      'Add an audit event with the caller, the acting user and the affected object to every sensitive operation.',
  },
  {
    id: 'SE17',
    title: 'Logs sent to centralized logging system',
    severity: 'LOW',
    decidedBy: 'source+infrastructure',
    evidence:
      'Structured logging to stdout or a log transport in code, and log shipping (agents, sidecars) in manifests.',
    remediation:
      'Write structured JSON logs and ship them to a central store where security events can be searched and alerted on.',
  },
  {
    id: 'SE18',
    title: '@fastify/jwt or similar used for JWT validation',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Dependencies on maintained token verification libraries (@fastify/jwt, jose, fast-jwt, @tessera/fastify) rather than hand-written parsing.',
    remediation: 'Verify tokens with a maintained library instead of parsing them by hand.',
    snippet: PLUGIN,
  },
  {
    id: 'SE19',
    title: 'JWT secret loaded from secrets manager, not env var',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Where the key that verifies tokens comes from: a literal, an environment variable, a secrets manager or a public JWKS.',
    remediation:
      "Verify with the issuer's public keys (asymmetric tokens need no shared secret); otherwise load the secret from a secrets manager.",
    snippet: PLUGIN,
  },
  {
    id: 'SE20',
    title: 'preHandler hook used for consistent authentication',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Whether authentication runs in an application-wide onRequest or preHandler hook rather than inside handlers.',
    remediation:
      'Authenticate in one application-wide hook that runs before any handler (onRequest, so nothing is parsed first).',
    snippet: PLUGIN,
  },
  {
    id: 'SE21',
    title: 'Request logging includes caller identification',
    severity: 'LOW',
    decidedBy: 'source',
    evidence: "Request log lines or serializers that include the caller's identity.",
    remediation: "Add the verified caller to the request logger's context.",
    snippet: PLUGIN,
  },
  {
    id: 'SE22',
    title: 'Fastify onError hook logs authentication failures',
    severity: 'LOW',
    decidedBy: 'source',
    evidence: 'An onError hook or error handler that logs authentication errors.',
    remediation:
      'Log authentication failures from one error hook, with the error code and route, so none go unrecorded.',
    snippet: PLUGIN,
  },
  {
    // Not a row of the research checklist: seed audit 000's IA7, which the issue's list of
    // detections asks for ("missing per-caller rate limiting"). Appended so SE1–SE22 keep the
    // checklist's numbering.
    id: 'SE23',
    title: 'Rate limiting per calling service',
    severity: 'LOW',
    decidedBy: 'source',
    evidence:
      "A rate limiter in front of the routes whose key is the verified caller (Tessera's plugin, or a keyGenerator that reads the caller), not the network address.",
    remediation:
      'Limit requests per verified caller, so one runaway or compromised service cannot starve the others; a per-address limit lumps every caller behind a gateway together.',
    snippet: PLUGIN,
  },
]);

const SERVICE_IDENTITY_VERIFICATION = inCategory('SV', [
  {
    id: 'SV1',
    title: 'Mutual TLS enabled (client cert required)',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence:
      'TLS server options (requestCert with rejectUnauthorized) in code, or strict mutual TLS in service-mesh manifests.',
    remediation:
      'Require client certificates on internal listeners, in the server or through a service mesh in strict mode.',
  },
  {
    id: 'SV2',
    title: 'CA bundle limited to internal CA only',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence: 'The ca option of TLS servers and agents: an internal CA file or the public roots.',
    remediation:
      'Trust only the internal CA for service certificates, so a certificate bought from a public CA cannot pose as a service.',
  },
  {
    id: 'SV3',
    title: 'Client certificate CN or SAN validated',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Code that reads the peer certificate (getPeerCertificate) and compares its subject or SAN with expected services.',
    remediation:
      "Check the client certificate's SAN (a SPIFFE ID) against the services allowed to call, not only that it chains to the CA.",
  },
  {
    id: 'SV4',
    title: 'Certificate revocation list (CRL) or OCSP checked',
    severity: 'MEDIUM',
    decidedBy: 'source+infrastructure',
    evidence: 'The crl option of TLS servers or OCSP handling, in code or proxy configuration.',
    remediation:
      "Load the CA's CRL (or check OCSP) so a compromised certificate can be cut off before it expires, or issue certificates that live hours.",
  },
  {
    id: 'SV5',
    title: 'Certificate expiration handled gracefully',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Reloading of certificates before they expire (setSecureContext, file watching) and monitoring of expiry dates.',
    remediation:
      'Reload certificates without a restart when they are renewed, and alert well before any expires.',
  },
  {
    id: 'SV6',
    title: 'Certificate rotation automated',
    severity: 'MEDIUM',
    decidedBy: 'source+infrastructure',
    evidence:
      'Automated issuance and renewal (cert-manager, SPIRE, a service mesh) in infrastructure files, or renewal code.',
    remediation:
      'Issue and renew service certificates automatically; manual renewal ends in outages or long-lived certificates.',
  },
  {
    id: 'SV7',
    title: 'Token signature algorithm is RS256 or ES256 (asymmetric)',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Algorithms in token signing and verification options, where HS256 with a shared secret and none fail.',
    remediation:
      'Sign service tokens with an asymmetric algorithm and pin the accepted algorithms in verification; refuse none and HMAC.',
    snippet: VERIFIER,
  },
  {
    id: 'SV8',
    title: 'Public key for verification retrieved securely',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Where verification keys come from: a JWKS URL of the configured issuer over HTTPS or a pinned file, never a URL or key named in the token header (jku, x5u, jwk).',
    remediation:
      "Fetch keys only from the configured issuer's JWKS over HTTPS and ignore key references inside tokens.",
    snippet: PLUGIN,
  },
  {
    id: 'SV9',
    title: 'sub claim contains service identity',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      "Claims of minted service tokens, and whether receivers take the caller's identity from sub.",
    remediation:
      "Put the calling service's identity (a SPIFFE ID) in sub and authorize on it, not on custom claims or headers.",
    snippet: `app.post('/invoices', (request) => ({ createdFor: request.caller?.spiffeId }));`,
  },
  {
    id: 'SV10',
    title: 'iss claim validated against known issuers',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence: 'Whether service-token verification checks iss against a configured issuer.',
    remediation: 'Accept service tokens from the configured issuer only.',
    snippet: VERIFIER,
  },
  {
    id: 'SV11',
    title: 'aud claim includes this service',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence: 'Whether service-token verification requires aud to name this service.',
    remediation:
      'Require this service in aud, so a token meant for one service is useless against another.',
    snippet: VERIFIER,
  },
  {
    id: 'SV12',
    title: 'exp claim checked (short expiration preferred)',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence: 'Whether minted service tokens carry exp, and the lifetime they are given.',
    remediation: 'Give every service token an exp minutes ahead and verify it.',
    snippet: VERIFIER,
  },
  {
    id: 'SV13',
    title: 'Token not accepted if expired',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Verification options that accept expired tokens (ignoreExpiration, clock tolerance over 30 seconds).',
    remediation: 'Refuse expired tokens, with a clock tolerance of a few seconds at most.',
    snippet: VERIFIER,
  },
  {
    id: 'SV14',
    title: 'Signature algorithm is SHA-256 or stronger',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence: 'Hash algorithms passed to createHmac and request-signing code (md5, sha1 fail).',
    remediation:
      'Sign requests with HMAC-SHA256 or an asymmetric signature instead of MD5 or SHA-1.',
    snippet: SIGNED_REQUEST,
  },
  {
    id: 'SV15',
    title: 'Timestamp included and validated (prevent replay)',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Whether signed requests carry a timestamp (and nonce) and the verifier rejects old or reused ones.',
    remediation:
      'Sign a creation time and a nonce, and refuse signatures outside the time window or seen before.',
    snippet: SIGNATURE_VERIFIER,
  },
  {
    id: 'SV16',
    title: 'Clock skew tolerance is reasonable (< 30 seconds)',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence: 'The tolerated clock difference in signature and token verification.',
    remediation:
      'Keep the tolerated skew under 30 seconds; a wider window widens the replay window.',
    snippet: SIGNATURE_VERIFIER,
  },
  {
    id: 'SV17',
    title: 'Request body included in signature',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Whether the signed string covers the body or a digest of it, besides method and path.',
    remediation:
      'Cover a digest of the body in the signature, so a signed request cannot be replayed with another body.',
    snippet: SIGNED_REQUEST,
  },
  {
    id: 'SV18',
    title: 'Signature comparison uses constant-time function',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'How signatures and shared tokens are compared: crypto.timingSafeEqual versus ===, !== or !=.',
    remediation:
      'Compare secrets and signatures with crypto.timingSafeEqual; an ordinary comparison leaks how many leading bytes matched.',
    snippet: SIGNATURE_VERIFIER,
  },
  {
    id: 'SV19',
    title: 'Per-service secrets used (not shared)',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Whether signing keys are looked up per calling service (by key id) or one secret signs for every service.',
    remediation:
      'Give each calling service its own signing key and pick the verification key by key id.',
    snippet: SIGNATURE_VERIFIER,
  },
]);

const MESSAGE_QUEUE = inCategory('MQ', [
  {
    id: 'MQ1',
    title: 'TLS/SSL enabled for connections',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence:
      'RabbitMQ connection URLs and options (amqps:// and ssl options versus amqp://) in code and configuration.',
    remediation: 'Connect with amqps:// and verify the broker certificate against the internal CA.',
  },
  {
    id: 'MQ2',
    title: 'Each service has unique credentials',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence: 'RabbitMQ users per service in connection settings and broker definitions.',
    remediation:
      "Create one broker user per service, so each service's access can be limited and revoked on its own.",
  },
  {
    id: 'MQ3',
    title: 'Permissions restricted per service (configure/write/read)',
    severity: 'MEDIUM',
    decidedBy: 'infrastructure',
    evidence: 'Configure, write and read permission patterns per user in RabbitMQ definitions.',
    remediation:
      'Grant each service user only the exchanges and queues it needs, with separate configure, write and read patterns.',
  },
  {
    id: 'MQ4',
    title: 'Virtual hosts used to isolate environments',
    severity: 'LOW',
    decidedBy: 'infrastructure',
    evidence: 'Virtual hosts in RabbitMQ definitions and connection settings.',
    remediation: 'Give each environment its own virtual host so credentials cannot cross them.',
  },
  {
    id: 'MQ5',
    title: 'Default guest user disabled',
    severity: 'HIGH',
    decidedBy: 'infrastructure',
    evidence: 'The guest user in RabbitMQ definitions, configuration and connection URLs.',
    remediation: 'Delete the guest user and connect with per-service users.',
  },
  {
    id: 'MQ6',
    title: 'Management plugin access restricted',
    severity: 'MEDIUM',
    decidedBy: 'infrastructure',
    evidence:
      'Exposure of the RabbitMQ management port (15672) in compose files and manifests, and its user tags.',
    remediation:
      'Keep the management interface off public networks and limit it to administrator accounts.',
  },
  {
    id: 'MQ7',
    title: 'SASL authentication enabled',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence: 'The sasl option of Kafka clients and SASL listeners in broker configuration.',
    remediation: 'Authenticate Kafka clients with SASL (SCRAM-SHA-512 or OAUTHBEARER).',
  },
  {
    id: 'MQ8',
    title: 'SSL/TLS encryption for inter-broker and client traffic',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence:
      'The ssl option of Kafka clients and SSL listeners and inter-broker protocol in broker configuration.',
    remediation: 'Encrypt client and inter-broker Kafka traffic with TLS.',
  },
  {
    id: 'MQ9',
    title: 'ACLs configured per topic and consumer group',
    severity: 'MEDIUM',
    decidedBy: 'infrastructure',
    evidence: 'Kafka ACL definitions and the authorizer setting in broker configuration.',
    remediation:
      'Enable an authorizer and grant each principal only its topics and consumer groups.',
  },
  {
    id: 'MQ10',
    title: 'Each service has unique principal',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence: 'Kafka SASL usernames or certificate principals per service.',
    remediation:
      'Give each service its own Kafka principal so ACLs and revocation apply to one service.',
  },
  {
    id: 'MQ11',
    title: 'ZooKeeper authentication enabled',
    severity: 'MEDIUM',
    decidedBy: 'infrastructure',
    evidence: 'ZooKeeper SASL settings in broker and ZooKeeper configuration (or KRaft mode).',
    remediation:
      'Require SASL authentication between Kafka and ZooKeeper, or run Kafka in KRaft mode.',
  },
  {
    id: 'MQ12',
    title: 'Network segmentation for Kafka cluster',
    severity: 'MEDIUM',
    decidedBy: 'infrastructure',
    evidence: 'Network policies or compose networks that limit who can reach the brokers.',
    remediation: 'Restrict broker ports to the services that produce and consume.',
  },
]);

const SECRETS_MANAGEMENT = inCategory('SM', [
  {
    id: 'SM1',
    title: 'Secrets manager in use (Vault, AWS Secrets Manager, etc.)',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence: 'Dependencies on and calls to secrets-manager clients.',
    remediation:
      'Keep secrets in a secrets manager and read them at runtime, with caching and audit of access.',
  },
  {
    id: 'SM2',
    title: 'No secrets in source code',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'Literal passwords, API keys, private keys and tokens in source files (secret-like names, key prefixes, PEM blocks).',
    remediation:
      'Remove the secret from the code and its history, rotate it, and load it from a secrets manager.',
  },
  {
    id: 'SM3',
    title: 'No secrets in environment variables for production',
    severity: 'MEDIUM',
    decidedBy: 'source+infrastructure',
    evidence:
      'Secret-like values read from process.env in code and set as plain environment values in manifests and compose files.',
    remediation:
      'Read secrets from a secrets manager or mounted files; environment variables leak into child processes, crash dumps and logs.',
  },
  {
    id: 'SM4',
    title: 'No secrets in CI/CD configuration files',
    severity: 'CRITICAL',
    decidedBy: 'source+infrastructure',
    evidence:
      'Literal secrets in CI files (.gitlab-ci.yml, Jenkinsfile, GitHub workflow files) instead of references to the CI secret store.',
    remediation:
      "Move the values into the CI system's secret store, reference them by name, and rotate them.",
  },
  {
    id: 'SM5',
    title: 'Secrets not logged anywhere',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence: 'Logging calls whose arguments include secret- or token-like values.',
    remediation:
      'Never pass secrets to a logger; configure redaction paths for headers and fields that carry them.',
  },
  {
    id: 'SM6',
    title: 'Each service has unique secrets',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence: 'The same secret name or value used by several services in code and manifests.',
    remediation: 'Give every service its own secrets so a leak is contained to one service.',
  },
  {
    id: 'SM7',
    title: 'Automatic secret rotation configured',
    severity: 'MEDIUM',
    decidedBy: 'source+infrastructure',
    evidence:
      'Rotation schedules in secrets-manager configuration and code that reloads secrets without a restart.',
    remediation:
      'Rotate secrets on a schedule and reload them at runtime; signing keys rotate on the authority by themselves.',
  },
  {
    id: 'SM8',
    title: 'Secret access is audited',
    severity: 'LOW',
    decidedBy: 'infrastructure',
    evidence:
      'Audit logging of the secrets manager (Vault audit devices, CloudTrail) in infrastructure files.',
    remediation: 'Turn on audit logging in the secrets manager and alert on unusual access.',
  },
  {
    id: 'SM9',
    title: 'Least privilege access to secrets',
    severity: 'MEDIUM',
    decidedBy: 'infrastructure',
    evidence: 'Access policies of the secrets manager (IAM, Vault policies) per service.',
    remediation: 'Let each service read only its own secret paths.',
  },
  {
    id: 'SM10',
    title: 'Emergency rotation procedure documented',
    severity: 'LOW',
    decidedBy: 'infrastructure',
    evidence:
      'A runbook or script in the repository for rotating keys and revoking credentials after a compromise.',
    remediation:
      'Write down and rehearse how to rotate every key and revoke every credential at once.',
    snippet: 'tessera keys rotate --revoke-previous',
  },
]);

const NETWORK_SECURITY = inCategory('NW', [
  {
    id: 'NW1',
    title: 'All internal traffic encrypted (TLS/mTLS)',
    severity: 'HIGH',
    decidedBy: 'source+infrastructure',
    evidence:
      'Plain http:// and unencrypted broker or database URLs between services, in code, configuration and manifests.',
    remediation:
      'Encrypt every internal connection with TLS, or mutual TLS through a service mesh.',
  },
  {
    id: 'NW2',
    title: 'Network policies restrict service-to-service communication',
    severity: 'HIGH',
    decidedBy: 'infrastructure',
    evidence: "Kubernetes NetworkPolicy (or equivalent) resources selecting the service's pods.",
    remediation:
      'Add network policies that admit traffic only from the services that call this one.',
  },
  {
    id: 'NW3',
    title: 'Services cannot reach arbitrary external endpoints',
    severity: 'MEDIUM',
    decidedBy: 'infrastructure',
    evidence:
      'Egress rules in network policies or mesh configuration (outbound traffic limited to known hosts).',
    remediation: 'Limit outbound traffic to the hosts the service needs.',
  },
  {
    id: 'NW4',
    title: 'Egress filtering configured',
    severity: 'MEDIUM',
    decidedBy: 'infrastructure',
    evidence: 'Egress policies, egress gateways or firewall rules in infrastructure files.',
    remediation:
      'Route outbound traffic through an egress filter that allows known destinations only.',
  },
  {
    id: 'NW5',
    title: 'Internal DNS used (not public DNS for internal services)',
    severity: 'LOW',
    decidedBy: 'source+infrastructure',
    evidence: 'Host names of internal service URLs: cluster-internal names versus public domains.',
    remediation:
      'Address internal services by internal names (cluster DNS) that do not resolve outside.',
  },
  {
    id: 'NW6',
    title: 'No services exposed directly to internet without gateway',
    severity: 'HIGH',
    decidedBy: 'infrastructure',
    evidence:
      'LoadBalancer and NodePort services, ingresses and published ports that expose the service itself.',
    remediation: 'Expose only the gateway; keep every other service on the internal network.',
  },
  {
    id: 'NW7',
    title: 'Service mesh or network policies enforce allowlists',
    severity: 'MEDIUM',
    decidedBy: 'infrastructure',
    evidence: 'Mesh authorization policies or network policies that list allowed callers.',
    remediation:
      'Enforce the list of allowed callers in the network too, as a second layer under token authorization.',
  },
]);

const TOKEN_MANAGEMENT = inCategory('TM', [
  {
    id: 'TM1',
    title: 'Service tokens have expiration',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence: 'Whether service tokens carry exp (static API keys and tokens without exp fail).',
    remediation: 'Replace static service credentials with tokens that expire.',
    snippet: DISPATCHER,
  },
  {
    id: 'TM2',
    title: 'Token refresh mechanism',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence: 'Client code that renews service tokens before they expire.',
    remediation:
      'Refresh tokens in the background before they expire, sharing one request among concurrent callers.',
    snippet: DISPATCHER,
  },
  {
    id: 'TM3',
    title: 'Short-lived tokens',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence: 'Lifetimes given to service tokens (at most an hour; minutes preferred).',
    remediation:
      'Issue service tokens that live minutes; the Tessera authority issues 300-second tokens by default.',
    snippet: DISPATCHER,
  },
  {
    id: 'TM4',
    title: 'Tokens not in logs',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'Logging calls whose arguments include tokens, Authorization headers or whole request headers.',
    remediation:
      'Keep tokens out of logs and redact the Authorization header in the logger configuration.',
  },
  {
    id: 'TM5',
    title: 'Tokens not in URLs',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence: 'Tokens placed in or read from query strings (?token=, ?access_token=).',
    remediation:
      'Send tokens only in the Authorization header; URLs end up in proxy logs, browser history and metrics.',
    snippet: PLUGIN,
  },
  {
    id: 'TM6',
    title: 'Token scope validation',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence: 'Checks of token scopes or permissions against what each route requires.',
    remediation: 'Require specific scopes per route and refuse tokens that lack them.',
    snippet: POLICY,
  },
  {
    id: 'TM7',
    title: 'Token binding to service',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Whether tokens are bound to one audience (aud) or a key (cnf), so they are useless elsewhere.',
    remediation: 'Request tokens for one audience at a time and verify the audience on receipt.',
    snippet: VERIFIER,
  },
  {
    id: 'TM8',
    title: 'Compromised token revocation',
    severity: 'HIGH',
    decidedBy: 'source',
    evidence:
      'A revocation check (jti or subject deny list, introspection) during token verification.',
    remediation:
      'Check revocations on every verification, so a stolen token stops working before it expires.',
    snippet: 'tessera revoke --service event-service',
  },
]);

const PROXY_HEADERS = inCategory('PH', [
  {
    id: 'PH1',
    title: 'Internal headers blocked',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'Whether identity and internal-marker headers from clients (x-gateway-internal, x-user-id, x-service-name) are removed before routing or handling.',
    remediation:
      'Strip every identity and internal header from incoming requests before any handler or proxy sees them.',
    snippet: PLUGIN,
  },
  {
    id: 'PH2',
    title: 'Gateway marker added',
    severity: 'LOW',
    decidedBy: 'source',
    evidence:
      'Whether the gateway marks requests it forwards, so downstream services can tell gateway traffic apart.',
    remediation:
      'Have the gateway identify itself with its own verifiable token rather than a marker header anyone can copy.',
    snippet: DISPATCHER,
  },
  {
    id: 'PH3',
    title: 'Original IP forwarded',
    severity: 'LOW',
    decidedBy: 'source',
    evidence: 'Proxy code that sets X-Forwarded-For (or Forwarded) from the socket address.',
    remediation:
      'Forward the client address in X-Forwarded-For, set by the gateway from the connection.',
  },
  {
    id: 'PH4',
    title: 'Tenant ID from JWT only',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'Where the tenant comes from: a verified token claim, versus an x-tenant-id header, query or body.',
    remediation:
      "Take the tenant only from the verified token; a tenant header lets any caller read other tenants' data.",
    snippet: `app.get('/events/:id', (request) => ({ tenant: request.caller?.tenant }));`,
  },
  {
    id: 'PH5',
    title: 'Response headers filtered',
    severity: 'MEDIUM',
    decidedBy: 'source',
    evidence:
      'Whether the gateway removes internal headers from upstream responses before returning them.',
    remediation: 'Remove internal and diagnostic headers from responses leaving the gateway.',
  },
]);

const FAIL_SECURE = inCategory('FS', [
  {
    id: 'FS1',
    title: 'Access check fails secure',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence: 'Error handlers in authorization code, and what they return when the check throws.',
    remediation: 'Deny when an access check fails for any reason; an error must never mean allow.',
    snippet: POLICY,
  },
  {
    id: 'FS2',
    title: 'Token validation fails secure',
    severity: 'CRITICAL',
    decidedBy: 'source',
    evidence:
      'Error handlers around token verification, and whether a missing key, secret or setting lets requests through.',
    remediation:
      'Refuse the request when verification cannot run (no key, no secret, no issuer reachable); never skip it.',
    snippet: PLUGIN,
  },
  {
    id: 'FS3',
    title: 'Health check errors handled',
    severity: 'LOW',
    decidedBy: 'source',
    evidence:
      'Health check handlers: errors caught, timeouts set and no internal details in the answer.',
    remediation:
      'Catch errors in health checks, bound their dependency checks with timeouts and answer without internal details.',
  },
]);

/** The whole check catalog, in report order. */
export const CATALOG: readonly CheckDefinition[] = [
  ...SERVICE_CLIENT,
  ...SERVICE_ENDPOINT,
  ...SERVICE_IDENTITY_VERIFICATION,
  ...MESSAGE_QUEUE,
  ...SECRETS_MANAGEMENT,
  ...NETWORK_SECURITY,
  ...TOKEN_MANAGEMENT,
  ...PROXY_HEADERS,
  ...FAIL_SECURE,
];
