/**
 * The closed set of Tessera error codes, each mapped to an HTTP status in exactly one place.
 *
 * A `TesseraError` carries a stable `code` (assert on it in tests, log it, count it in metrics)
 * and a fixed, generic `message` chosen by the code. An optional `detail` adds operator-facing
 * context for logs; callers build it only from safe values (claim names, expected issuer), never
 * from tokens, signatures, keys or secrets. Nothing in an error is meant for the wire: use
 * {@link publicErrorBody} for a response body.
 */

const CODES = {
  // Access tokens (RFC 9068 JWTs)
  ERR_TOKEN_MALFORMED: [401, 'access token is malformed'],
  ERR_TOKEN_TOO_LARGE: [401, 'access token exceeds the size limit'],
  ERR_TOKEN_HEADER: [401, 'access token header carries a forbidden or unknown parameter'],
  ERR_TOKEN_ALG: [401, 'access token algorithm is not allowed'],
  ERR_TOKEN_TYP: [401, 'access token type is not at+jwt'],
  ERR_TOKEN_KID_MISSING: [401, 'access token has no key id'],
  ERR_TOKEN_KID_UNKNOWN: [401, 'access token key id is not known'],
  ERR_TOKEN_SIGNATURE: [401, 'access token signature is invalid'],
  ERR_TOKEN_CLAIMS: [401, 'access token claims are missing or invalid'],
  ERR_TOKEN_ISSUER: [401, 'access token issuer is not trusted'],
  ERR_TOKEN_AUDIENCE: [401, 'access token audience is not this service'],
  ERR_TOKEN_SUBJECT: [401, 'access token subject is not an acceptable identity'],
  ERR_TOKEN_EXPIRED: [401, 'access token has expired'],
  ERR_TOKEN_NOT_YET_VALID: [401, 'access token is not yet valid'],
  ERR_TOKEN_ISSUED_IN_FUTURE: [401, 'access token was issued in the future'],
  ERR_TOKEN_LIFETIME: [401, 'access token lifetime exceeds the maximum'],
  ERR_TOKEN_REVOKED: [401, 'access token has been revoked'],
  ERR_TOKEN_ACT: [401, 'access token actor chain is malformed or too deep'],

  // Where credentials come from (RFC 6750) and what the verifier knows
  ERR_CREDENTIALS_MISSING: [401, 'no bearer credentials'],
  ERR_CREDENTIALS_LOCATION: [401, 'credentials in a query string or cookie are refused'],
  ERR_CREDENTIALS_DUPLICATE: [400, 'more than one credential in the request'],
  ERR_VERIFY_BUDGET: [401, 'too many failed verifications from this source'],
  ERR_REVOCATIONS_STALE: [401, 'revocation state is stale; failing closed'],
  ERR_IP_NOT_ALLOWED: [403, 'caller address is not allowed for this caller'],
  ERR_RATE_LIMITED: [429, 'caller exceeded its rate limit'],

  // Keys and key sets (RFC 7517, RFC 7638)
  ERR_JWK_INVALID: [400, 'JSON Web Key is invalid'],
  ERR_JWK_PRIVATE: [400, 'JSON Web Key set contains private key material'],
  ERR_JWK_UNSUPPORTED: [400, 'JSON Web Key type or curve is not supported'],
  ERR_JWKS_INVALID: [400, 'JSON Web Key Set is invalid'],
  ERR_JWKS_DUPLICATE_KID: [400, 'JSON Web Key Set contains a duplicate key id'],

  // Identities
  ERR_SPIFFE_ID_INVALID: [400, 'SPIFFE ID is invalid'],

  // X.509: certificates, CSRs (RFC 2986), X.509-SVIDs and certificate-bound tokens (RFC 8705)
  ERR_X509_INVALID: [400, 'certificate or PEM data is invalid'],
  ERR_CSR_INVALID: [400, 'certificate signing request is malformed or its signature is invalid'],
  ERR_CSR_KEY: [400, 'certificate signing request key type is not allowed'],
  ERR_CERT_MISSING: [401, 'no client certificate'],
  ERR_SVID_INVALID: [401, 'client certificate is not a valid X.509-SVID'],
  ERR_SVID_TRUST_DOMAIN: [401, 'client certificate is from another trust domain'],
  ERR_SVID_REVOKED: [401, 'client certificate has been revoked'],
  ERR_SVID_EXPIRED: [401, 'client certificate has expired or is not yet valid'],
  ERR_CERT_UNTRUSTED: [401, 'client certificate chain is not trusted'],
  ERR_SVID_UNEXPECTED: [502, 'peer certificate is not the expected service'],
  ERR_TOKEN_BINDING: [401, 'access token is bound to another certificate'],

  // Policy
  ERR_POLICY_INVALID: [500, 'policy document is invalid'],
  ERR_POLICY_UNKNOWN_SERVICE: [403, 'service has no policy'],
  ERR_POLICY_NO_RULE: [403, 'no policy rule covers this route'],
  ERR_POLICY_CALLER: [403, 'caller is not allowed on this route'],
  ERR_POLICY_SCOPE: [403, 'caller lacks a required scope'],
  ERR_POLICY_DELEGATION: [
    403,
    'caller kind (service, delegated, user) is not allowed on this route',
  ],
  ERR_POLICY_TENANT: [403, 'caller tenant is not allowed on this route'],

  // HTTP message signatures (RFC 9421) and content digests (RFC 9530)
  ERR_SIG_MISSING: [401, 'request signature is missing'],
  ERR_SIG_MALFORMED: [401, 'request signature is malformed'],
  ERR_SIG_ALG: [401, 'request signature algorithm is not allowed'],
  ERR_SIG_KEY_UNKNOWN: [401, 'request signature key is not known'],
  ERR_SIG_COMPONENTS: [401, 'request signature does not cover the required components'],
  ERR_SIG_INVALID: [401, 'request signature is invalid'],
  ERR_SIG_EXPIRED: [401, 'request signature has expired'],
  ERR_SIG_CREATED_IN_FUTURE: [401, 'request signature was created in the future'],
  ERR_SIG_NONCE_MISSING: [401, 'request signature has no nonce'],
  ERR_SIG_REPLAY: [401, 'request signature was already used'],
  ERR_DIGEST_MISSING: [401, 'content digest is missing'],
  ERR_DIGEST_MALFORMED: [401, 'content digest is malformed'],
  ERR_DIGEST_MISMATCH: [401, 'content digest does not match the body'],

  // Configuration handed to a Tessera component
  ERR_CONFIG_INVALID: [500, 'configuration is invalid'],
  ERR_CONFIG_INSECURE: [500, 'configuration is insecure'],

  // The authority's audit log, checked offline (`tessera audit-log verify`)
  ERR_AUDIT_CHECKPOINT_INVALID: [
    500,
    'audit checkpoint is malformed or not signed by the authority',
  ],

  // Requests to Tessera's own HTTP endpoints (authority, admin API)
  ERR_REQUEST_INVALID: [400, 'request is invalid'],
  ERR_UNAUTHENTICATED: [401, 'credentials are missing or invalid'],
  ERR_CLIENT_AUTH: [401, 'client authentication failed'],
  ERR_DELEGATION_REFUSED: [403, 'token exchange for the upstream call was refused'],
  ERR_NOT_FOUND: [404, 'resource does not exist'],
  ERR_UNAVAILABLE: [503, 'service is temporarily unavailable'],
  ERR_INTERNAL: [500, 'internal error'],
} as const satisfies Record<string, readonly [number, string]>;

/** Every error code Tessera can produce. Closed: adding one is an API change. */
export type TesseraErrorCode = keyof typeof CODES;

/** All codes, for documentation and exhaustiveness tests. */
export const TESSERA_ERROR_CODES = Object.freeze(Object.keys(CODES) as TesseraErrorCode[]);

/** The HTTP status a code maps to. The only place this mapping lives. */
export function httpStatusFor(code: TesseraErrorCode): number {
  return CODES[code][0];
}

/** The fixed, generic description of a code (safe for logs, still not meant for the wire). */
export function describeError(code: TesseraErrorCode): string {
  return CODES[code][1];
}

export class TesseraError extends Error {
  override readonly name = 'TesseraError';
  readonly code: TesseraErrorCode;
  readonly status: number;
  /** Operator-facing context; built only from safe values. */
  readonly detail: string | undefined;

  constructor(code: TesseraErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail === undefined ? CODES[code][1] : `${CODES[code][1]}: ${detail}`, options);
    this.code = code;
    this.status = CODES[code][0];
    this.detail = detail;
  }
}

export function isTesseraError(value: unknown): value is TesseraError {
  return value instanceof TesseraError;
}

const PUBLIC_MESSAGES: Readonly<Record<number, string>> = {
  400: 'bad request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not found',
  429: 'too many requests',
  503: 'unavailable',
};

/**
 * The body to put on the wire for a failed request: the stable code and a message that says
 * only which class of failure it was. Attackers learn nothing beyond "who are you?" / "no".
 */
export function publicErrorBody(code: TesseraErrorCode): {
  code: TesseraErrorCode;
  message: string;
} {
  const status = CODES[code][0];
  const message = PUBLIC_MESSAGES[status] ?? 'internal error';
  return { code, message };
}
