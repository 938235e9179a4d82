import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  assertSecureUrl,
  assertTrustDomain,
  DEFAULT_USER_TOKEN_ALGORITHMS,
  isLoopbackHost,
  MAX_TOKEN_LIFETIME_SECONDS,
  parseWorkloadId,
  TesseraError,
  USER_TOKEN_ALGORITHMS,
  type UserTokenAlgorithm,
} from '@tessera/core';
import { caTimings } from './ca/timings.ts';
import type { RevocationFeedSettings } from './context.ts';

/**
 * Signature algorithms an external issuer may be allowed (`users.issuers[].algorithms`): core's
 * user token algorithms, public-key only, never `none` or HMAC (a shared secret would let anyone
 * holding it mint users).
 */
export const EXTERNAL_ALGORITHMS = USER_TOKEN_ALGORITHMS;
export type ExternalAlgorithm = UserTokenAlgorithm;

/** Default allowlist of an external issuer. */
export const DEFAULT_EXTERNAL_ALGORITHMS: readonly ExternalAlgorithm[] =
  DEFAULT_USER_TOKEN_ALGORITHMS;

/** Chain depth of delegated tokens (actors in `act`) when `tokenExchange.maxChainDepth` is absent. */
export const DEFAULT_MAX_CHAIN_DEPTH = 3;

/** Most `act` levels any delegated token carries, whatever the config says. */
export const MAX_CHAIN_DEPTH = 10;

/** Most authority processes one cluster runs (`workers`). */
export const MAX_WORKERS = 64;

/**
 * The authority's configuration file (JSON). Parsed and validated once at start; the rest of the
 * code receives frozen, typed values. Secrets are never inline and never from the environment:
 * only paths to files, which `loadSecrets` reads and checks.
 */
export const authorityConfigSchema = Type.Object(
  {
    issuer: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'Exact origin clients use (RFC 8414 §3.3)',
    }),
    trustDomain: Type.String({ minLength: 1, maxLength: 255 }),
    listen: Type.Object(
      { host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 0, maximum: 65535 }) },
      { additionalProperties: false },
    ),
    tls: Type.Optional(
      Type.Object(
        {
          certFile: Type.Optional(
            Type.String({
              minLength: 1,
              description:
                'Operator-provided server certificate chain (PEM); absent: the authority serves its own SVID',
            }),
          ),
          keyFile: Type.Optional(Type.String({ minLength: 1 })),
          hosts: Type.Optional(
            Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
              maxItems: 32,
              description:
                "IP addresses or DNS names the authority's own SVID also carries as SANs (besides the listen and issuer hosts)",
            }),
          ),
          bundleFile: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'Where the CA bundle (PEM) is written at start and on every change',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    admin: Type.Optional(
      Type.Object(
        {
          spiffeIds: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
            maxItems: 100,
            description:
              'SPIFFE IDs that are admins over mTLS (their X.509-SVID as client certificate)',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    store: Type.Union([
      Type.Object(
        { kind: Type.Literal('sqlite'), path: Type.String({ minLength: 1 }) },
        { additionalProperties: false },
      ),
      Type.Object(
        { kind: Type.Literal('postgres'), connectionStringFile: Type.String({ minLength: 1 }) },
        { additionalProperties: false },
      ),
    ]),
    kekFile: Type.String({
      minLength: 1,
      description: 'File holding the 32-byte key-encryption key',
    }),
    adminTokenFile: Type.String({
      minLength: 1,
      description: 'File holding the admin bearer token (≥ 32 bytes)',
    }),
    tokens: Type.Optional(
      Type.Object(
        { lifetimeSeconds: Type.Integer({ minimum: 1, maximum: MAX_TOKEN_LIFETIME_SECONDS }) },
        { additionalProperties: false },
      ),
    ),
    keys: Type.Optional(
      Type.Object(
        {
          alg: Type.Optional(Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA')])),
          rotationHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 24 * 90 })),
          jwksMaxAgeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
        },
        { additionalProperties: false },
      ),
    ),
    ca: Type.Optional(
      Type.Object(
        {
          certFile: Type.Optional(
            Type.String({
              minLength: 1,
              description:
                "Operator's CA certificate (PEM); the authority's CAs are issued under it",
            }),
          ),
          keyFile: Type.Optional(
            Type.String({
              minLength: 1,
              description: "Operator's CA private key (PEM, mode 0600)",
            }),
          ),
          lifetimeSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 86_400 })),
          rotateEverySeconds: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 10 * 365 * 86_400 }),
          ),
          prepublishSeconds: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 10 * 365 * 86_400 }),
          ),
          svidLifetimeSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400 })),
          maxSvidLifetimeSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
    bodyLimitBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1024 * 1024 })),
    revocationFeed: Type.Optional(
      Type.Object(
        {
          maxStreamsPerClient: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          heartbeatSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 300 })),
          maxStreamSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
    workers: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_WORKERS,
        description: 'Authority processes on this machine, sharing the port and the store',
      }),
    ),
    clientAuthFailures: Type.Optional(
      Type.Object(
        {
          maxPerWindow: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
          maxSources: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
        },
        {
          additionalProperties: false,
          description: 'Per-source budget for failed client authentication; past it, 429',
        },
      ),
    ),
    audit: Type.Optional(
      Type.Object(
        {
          aggregationIntervalSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
          aggregationMaxKeys: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          retentionDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 36_500 })),
          anchorIntervalSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
          anchorFile: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    users: Type.Optional(
      Type.Object(
        {
          issuers: Type.Array(
            Type.Object(
              {
                issuer: Type.String({ minLength: 1, maxLength: 2048 }),
                audience: Type.String({
                  minLength: 1,
                  maxLength: 2048,
                  description: 'The `aud` the issuer puts in tokens meant for us',
                }),
                jwksUri: Type.Optional(
                  Type.String({
                    minLength: 1,
                    maxLength: 2048,
                    description: "Absent: `jwks_uri` from the issuer's OpenID discovery document",
                  }),
                ),
                algorithms: Type.Optional(
                  Type.Array(Type.Union(EXTERNAL_ALGORITHMS.map((alg) => Type.Literal(alg))), {
                    minItems: 1,
                    maxItems: EXTERNAL_ALGORITHMS.length,
                    uniqueItems: true,
                  }),
                ),
                tenantClaim: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
                maxTokenBytes: Type.Optional(Type.Integer({ minimum: 256, maximum: 64 * 1024 })),
                clients: Type.Optional(
                  Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
                    minItems: 1,
                    maxItems: 100,
                    description:
                      "Services that may present this issuer's user tokens as subject tokens. Absent: the service whose SPIFFE ID is `audience`",
                  }),
                ),
              },
              { additionalProperties: false },
            ),
            { maxItems: 32 },
          ),
        },
        {
          additionalProperties: false,
          description: 'External OpenID issuers whose user tokens token exchange accepts',
        },
      ),
    ),
    tokenExchange: Type.Optional(
      Type.Object(
        {
          maxChainDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_CHAIN_DEPTH })),
          mayAct: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  actor: Type.String({ minLength: 1, maxLength: 255 }),
                  audiences: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
                    maxItems: 1000,
                  }),
                },
                { additionalProperties: false },
              ),
              { maxItems: 10_000 },
            ),
          ),
        },
        {
          additionalProperties: false,
          description: 'Which services may exchange user tokens, for which audiences',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

export type AuthorityConfigFile = Static<typeof authorityConfigSchema>;

export interface AuthorityConfig {
  readonly issuer: string;
  readonly trustDomain: string;
  readonly listen: { readonly host: string; readonly port: number };
  /**
   * HTTPS. The server certificate is the authority's own X.509-SVID
   * (`spiffe://<trust domain>/tessera-authority`, renewed at half its lifetime), or the operator's
   * `certFile`/`keyFile` (re-read when they change). Client certificates are asked for, never
   * required at the TLS layer: each endpoint decides.
   */
  readonly tls?: AuthorityTlsConfig;
  /** SPIFFE IDs that are admins over mTLS. */
  readonly adminSpiffeIds: readonly string[];
  readonly store: AuthorityConfigFile['store'];
  readonly kekFile: string;
  readonly adminTokenFile: string;
  readonly tokenLifetimeSeconds: number;
  readonly keyAlg: 'ES256' | 'EdDSA';
  readonly rotationIntervalMs: number;
  readonly jwksMaxAgeSeconds: number;
  readonly bodyLimitBytes: number;
  /** The trust domain's CA (X.509-SVIDs, bundle, CRL); see `ca/certificate-authority.ts`. */
  readonly ca: CaConfig;
  /** Revocation stream limits (per process: in a cluster, per worker). */
  readonly revocationFeed: RevocationFeedSettings;
  /** Processes serving (1: this one; more: a cluster, see `startAuthorityCluster`). */
  readonly workers: number;
  /** Per-source budget for failed client authentication (per process). */
  readonly clientAuthFailures: {
    readonly maxFailures: number;
    readonly windowMs: number;
    readonly maxSources: number;
  };
  readonly audit: {
    /** Unauthenticated failures: one audit row per (source, reason) per this interval. */
    readonly aggregationIntervalMs: number;
    /** Distinct (source, reason) pairs per interval; the rest share one "other sources" row. */
    readonly aggregationMaxKeys: number;
    /** Records older than this many days are pruned behind a checkpoint; absent: kept forever. */
    readonly retentionDays?: number;
    /** How often the chain head is signed (also at shutdown). */
    readonly anchorIntervalMs: number;
    /** Where the signed head is also written, outside the store (replaced atomically, 0600). */
    readonly anchorFile?: string;
  };
  /** External OpenID issuers of user tokens (token exchange); empty: none. */
  readonly userIssuers: readonly ExternalIssuerConfig[];
  /** Token exchange policy (RFC 8693). */
  readonly tokenExchange: TokenExchangeConfig;
  /** Dev mode: loopback-only plain HTTP allowed, secrets generated into the data directory. */
  readonly dev: boolean;
}

/** One external OpenID issuer (`users.issuers[]`). */
export interface ExternalIssuerConfig {
  /** The exact `iss` of its tokens. */
  readonly issuer: string;
  /** The `aud` its tokens must carry for us. */
  readonly audience: string;
  /** Absent: found through `${issuer}/.well-known/openid-configuration`. */
  readonly jwksUri?: string;
  readonly algorithms: readonly ExternalAlgorithm[];
  /** The claim of its tokens that names the tenant (`tenant_id` of delegated tokens). */
  readonly tenantClaim?: string;
  /** Larger subject tokens are refused before any parsing (default 8 KiB). */
  readonly maxTokenBytes: number;
  /**
   * SPIFFE IDs of the services that may present its user tokens as subject tokens: the edge the
   * tokens were issued to, so a service that obtains a user's token some other way cannot act for
   * that user. Absent: the service whose SPIFFE ID is `audience` (none if it is not one).
   */
  readonly clients?: readonly string[];
}

/** `tokenExchange`: who may act for users, towards which audiences, how deep. */
export interface TokenExchangeConfig {
  /** Most actors in a delegated token's `act` chain (default 3). */
  readonly maxChainDepth: number;
  /** Actor SPIFFE ID → audience SPIFFE IDs it may exchange user tokens for. */
  readonly mayAct: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface AuthorityTlsConfig {
  /** Both or neither. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Extra IP/DNS SANs of the authority's own SVID. */
  readonly hosts: readonly string[];
  /** Where the CA bundle PEM is written (dev: `DATA_DIR/bundle.pem`). */
  readonly bundleFile?: string;
}

export interface CaConfig {
  /** Operator's CA certificate and key: the authority's CAs become intermediates under it. */
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly lifetimeSeconds: number;
  readonly rotateEverySeconds: number;
  readonly prepublishSeconds: number;
  readonly svidLifetimeSeconds: number;
  readonly maxSvidLifetimeSeconds: number;
}

function insecure(setting: string, why: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INSECURE', `${setting}: ${why}`);
}

/**
 * Validates a parsed config document and applies defaults. Throws `ERR_CONFIG_INVALID` naming
 * the first bad setting, or `ERR_CONFIG_INSECURE` for a setting that would be unsafe outside
 * dev mode (plain HTTP on a non-loopback address, a non-https issuer that is not loopback).
 */
export function validateConfig(document: unknown, options: { dev: boolean }): AuthorityConfig {
  if (!Value.Check(authorityConfigSchema, document)) {
    const first = Value.Errors(authorityConfigSchema, document).First();
    const path = first?.path ?? '';
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      `${path === '' ? '/' : path}: ${first?.message ?? 'invalid'}`,
    );
  }
  const file = document;
  try {
    assertTrustDomain(file.trustDomain);
  } catch {
    throw new TesseraError('ERR_CONFIG_INVALID', '/trustDomain: not a SPIFFE trust domain');
  }
  let issuerUrl: URL;
  try {
    issuerUrl = new URL(file.issuer);
  } catch {
    throw new TesseraError('ERR_CONFIG_INVALID', '/issuer: not a URL');
  }
  // RFC 8414 §2: the issuer has no query or fragment; we also refuse a trailing slash, since
  // clients compare it byte for byte, and userinfo, which would put a credential into every
  // token's `iss` and the public metadata document.
  if (
    issuerUrl.search !== '' ||
    issuerUrl.hash !== '' ||
    issuerUrl.username !== '' ||
    issuerUrl.password !== '' ||
    file.issuer.endsWith('/') ||
    issuerUrl.href.replace(/\/$/, '') !== file.issuer
  ) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      '/issuer: must be an origin (and optional path) without credentials, query, fragment or trailing slash',
    );
  }
  // A literal loopback address only: `localhost` is resolved at listen time, and a hosts file
  // or resolver that maps it elsewhere would put plain HTTP on the network.
  if (file.tls === undefined && !isLoopbackHost(file.listen.host)) {
    throw insecure(
      'listen.host',
      'plain HTTP is only allowed on a loopback address (127.0.0.0/8 or ::1); configure tls',
    );
  }
  assertSecureUrl(file.issuer, 'issuer');
  if (file.tls !== undefined) {
    if ((file.tls.certFile === undefined) !== (file.tls.keyFile === undefined)) {
      throw new TesseraError(
        'ERR_CONFIG_INVALID',
        `/tls/${file.tls.certFile === undefined ? 'certFile' : 'keyFile'}: certFile and keyFile go together`,
      );
    }
    // RFC 8414 §3.3: the issuer is the exact origin clients use, so with TLS it is https.
    if (issuerUrl.protocol !== 'https:') {
      throw new TesseraError('ERR_CONFIG_INVALID', '/issuer: with tls the issuer is https://');
    }
  }
  const adminSpiffeIds = file.admin?.spiffeIds ?? [];
  adminSpiffeIds.forEach((id, index) => {
    try {
      parseWorkloadId(id, file.trustDomain);
    } catch {
      throw new TesseraError(
        'ERR_CONFIG_INVALID',
        `/admin/spiffeIds/${index}: not a workload SPIFFE ID of the trust domain`,
      );
    }
  });
  if ((file.ca?.certFile === undefined) !== (file.ca?.keyFile === undefined)) {
    throw new TesseraError('ERR_CONFIG_INVALID', '/ca: give both certFile and keyFile, or neither');
  }
  const timings = caTimings({
    lifetimeSeconds: file.ca?.lifetimeSeconds,
    rotateEverySeconds: file.ca?.rotateEverySeconds,
    prepublishSeconds: file.ca?.prepublishSeconds,
    svidLifetimeSeconds: file.ca?.svidLifetimeSeconds,
    maxSvidLifetimeSeconds: file.ca?.maxSvidLifetimeSeconds,
  });
  const userIssuers = validateUserIssuers(file.users?.issuers ?? [], file.issuer, file.trustDomain);
  const tokenExchange = validateTokenExchange(file.tokenExchange, file.trustDomain);
  return Object.freeze({
    issuer: file.issuer,
    trustDomain: file.trustDomain,
    listen: Object.freeze({ ...file.listen }),
    ...(file.tls !== undefined
      ? {
          tls: Object.freeze({
            ...file.tls,
            hosts: Object.freeze([...(file.tls.hosts ?? [])]),
          }),
        }
      : {}),
    adminSpiffeIds: Object.freeze([...adminSpiffeIds]),
    store: Object.freeze({ ...file.store }),
    kekFile: file.kekFile,
    adminTokenFile: file.adminTokenFile,
    tokenLifetimeSeconds: file.tokens?.lifetimeSeconds ?? 300,
    keyAlg: file.keys?.alg ?? 'ES256',
    rotationIntervalMs: (file.keys?.rotationHours ?? 24) * 3600 * 1000,
    jwksMaxAgeSeconds: file.keys?.jwksMaxAgeSeconds ?? 300,
    bodyLimitBytes: file.bodyLimitBytes ?? 64 * 1024,
    ca: Object.freeze({
      ...(file.ca?.certFile !== undefined ? { certFile: file.ca.certFile } : {}),
      ...(file.ca?.keyFile !== undefined ? { keyFile: file.ca.keyFile } : {}),
      ...timings,
    }),
    revocationFeed: Object.freeze({
      maxStreamsPerClient: file.revocationFeed?.maxStreamsPerClient ?? 4,
      heartbeatMs: (file.revocationFeed?.heartbeatSeconds ?? 15) * 1000,
      maxStreamMs: (file.revocationFeed?.maxStreamSeconds ?? 900) * 1000,
    }),
    workers: file.workers ?? 1,
    clientAuthFailures: Object.freeze({
      maxFailures: file.clientAuthFailures?.maxPerWindow ?? 20,
      windowMs: (file.clientAuthFailures?.windowSeconds ?? 60) * 1000,
      maxSources: file.clientAuthFailures?.maxSources ?? 10_000,
    }),
    audit: Object.freeze({
      aggregationIntervalMs: (file.audit?.aggregationIntervalSeconds ?? 60) * 1000,
      aggregationMaxKeys: file.audit?.aggregationMaxKeys ?? 1000,
      ...(file.audit?.retentionDays !== undefined
        ? { retentionDays: file.audit.retentionDays }
        : {}),
      anchorIntervalMs: (file.audit?.anchorIntervalSeconds ?? 300) * 1000,
      ...(file.audit?.anchorFile !== undefined ? { anchorFile: file.audit.anchorFile } : {}),
    }),
    userIssuers,
    tokenExchange,
    dev: options.dev,
  });
}

const DEFAULT_MAX_EXTERNAL_TOKEN_BYTES = 8 * 1024;

function validateUserIssuers(
  issuers: NonNullable<AuthorityConfigFile['users']>['issuers'],
  ownIssuer: string,
  trustDomain: string,
): readonly ExternalIssuerConfig[] {
  const seen = new Set<string>();
  return Object.freeze(
    issuers.map((entry, index) => {
      const at = `/users/issuers/${index}`;
      // Credentials never go over these URLs, but keys do: a JWKS fetched in clear text could be
      // replaced on the way, and with it every user.
      assertSecureUrl(entry.issuer, `users.issuers[${index}].issuer`);
      if (entry.jwksUri !== undefined) {
        assertSecureUrl(entry.jwksUri, `users.issuers[${index}].jwksUri`);
      }
      if (entry.issuer === ownIssuer) {
        throw new TesseraError('ERR_CONFIG_INVALID', `${at}/issuer: is the authority itself`);
      }
      if (seen.has(entry.issuer)) {
        throw new TesseraError('ERR_CONFIG_INVALID', `${at}/issuer: listed twice`);
      }
      seen.add(entry.issuer);
      const clients =
        entry.clients?.map((client, j) =>
          workloadIdOf(client, trustDomain, `${at}/clients/${j}`),
        ) ?? (isWorkloadIdOf(entry.audience, trustDomain) ? [entry.audience] : undefined);
      // Without it nobody could exchange this issuer's tokens: say so now, not at the first user.
      if (clients === undefined) {
        throw new TesseraError(
          'ERR_CONFIG_INVALID',
          `${at}/clients: required when audience is not a workload SPIFFE ID of the trust domain`,
        );
      }
      return Object.freeze({
        issuer: entry.issuer,
        audience: entry.audience,
        ...(entry.jwksUri !== undefined ? { jwksUri: entry.jwksUri } : {}),
        algorithms: Object.freeze([...(entry.algorithms ?? DEFAULT_EXTERNAL_ALGORITHMS)]),
        ...(entry.tenantClaim !== undefined ? { tenantClaim: entry.tenantClaim } : {}),
        maxTokenBytes: entry.maxTokenBytes ?? DEFAULT_MAX_EXTERNAL_TOKEN_BYTES,
        clients: Object.freeze([...new Set(clients)]),
      });
    }),
  );
}

function isWorkloadIdOf(value: string, trustDomain: string): boolean {
  try {
    return parseWorkloadId(value, trustDomain).uri === value;
  } catch {
    return false;
  }
}

/** A service name or SPIFFE ID of the trust domain, as its SPIFFE ID. */
function workloadIdOf(value: string, trustDomain: string, at: string): string {
  try {
    return parseWorkloadId(
      value.startsWith('spiffe://') ? value : `spiffe://${trustDomain}/${value}`,
      trustDomain,
    ).uri;
  } catch {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      `${at}: not a service name or workload SPIFFE ID of the trust domain`,
    );
  }
}

function validateTokenExchange(
  file: AuthorityConfigFile['tokenExchange'],
  trustDomain: string,
): TokenExchangeConfig {
  const mayAct = new Map<string, Set<string>>();
  (file?.mayAct ?? []).forEach((entry, index) => {
    const actor = workloadIdOf(entry.actor, trustDomain, `/tokenExchange/mayAct/${index}/actor`);
    const audiences = mayAct.get(actor) ?? new Set<string>();
    entry.audiences.forEach((audience, j) =>
      audiences.add(
        workloadIdOf(audience, trustDomain, `/tokenExchange/mayAct/${index}/audiences/${j}`),
      ),
    );
    mayAct.set(actor, audiences);
  });
  return Object.freeze({
    maxChainDepth: file?.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH,
    mayAct,
  });
}

/** The file form of a validated config, to validate it again with a change or elsewhere. */
export function configDocument(config: AuthorityConfig): AuthorityConfigFile {
  return {
    issuer: config.issuer,
    trustDomain: config.trustDomain,
    listen: { ...config.listen },
    ...(config.tls ? { tls: { ...config.tls, hosts: [...config.tls.hosts] } } : {}),
    ...(config.adminSpiffeIds.length > 0
      ? { admin: { spiffeIds: [...config.adminSpiffeIds] } }
      : {}),
    store: { ...config.store },
    kekFile: config.kekFile,
    adminTokenFile: config.adminTokenFile,
    tokens: { lifetimeSeconds: config.tokenLifetimeSeconds },
    keys: {
      alg: config.keyAlg,
      rotationHours: config.rotationIntervalMs / 3_600_000,
      jwksMaxAgeSeconds: config.jwksMaxAgeSeconds,
    },
    bodyLimitBytes: config.bodyLimitBytes,
    ca: { ...config.ca },
    revocationFeed: {
      maxStreamsPerClient: config.revocationFeed.maxStreamsPerClient,
      heartbeatSeconds: Math.max(1, Math.round(config.revocationFeed.heartbeatMs / 1000)),
      maxStreamSeconds: Math.max(10, Math.round(config.revocationFeed.maxStreamMs / 1000)),
    },
    workers: config.workers,
    clientAuthFailures: {
      maxPerWindow: config.clientAuthFailures.maxFailures,
      windowSeconds: config.clientAuthFailures.windowMs / 1000,
      maxSources: config.clientAuthFailures.maxSources,
    },
    ...(config.userIssuers.length > 0
      ? {
          users: {
            issuers: config.userIssuers.map(({ clients, ...issuer }) => ({
              ...issuer,
              algorithms: [...issuer.algorithms],
              ...(clients !== undefined ? { clients: [...clients] } : {}),
            })),
          },
        }
      : {}),
    tokenExchange: {
      maxChainDepth: config.tokenExchange.maxChainDepth,
      mayAct: [...config.tokenExchange.mayAct].map(([actor, audiences]) => ({
        actor,
        audiences: [...audiences],
      })),
    },
    audit: {
      aggregationIntervalSeconds: config.audit.aggregationIntervalMs / 1000,
      aggregationMaxKeys: config.audit.aggregationMaxKeys,
      ...(config.audit.retentionDays !== undefined
        ? { retentionDays: config.audit.retentionDays }
        : {}),
      anchorIntervalSeconds: config.audit.anchorIntervalMs / 1000,
      ...(config.audit.anchorFile !== undefined ? { anchorFile: config.audit.anchorFile } : {}),
    },
  };
}

/** Secrets shorter than this are refused (issue: "secrets shorter than 32 bytes"). */
export const MIN_SECRET_BYTES = 32;
