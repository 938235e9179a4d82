import type { KeyResolver } from '@tessera/core';
import { parseJwks, type Clock } from '@tessera/core';
import type { FastifyBaseLogger } from 'fastify';
import type {
  AuthenticatedClient,
  AuthorityContext,
  AuthorityKeys,
  AuthorityPeers,
  AuthoritySettings,
} from './context.ts';
import type { CertificateAuthority } from './ca/certificate-authority.ts';
import {
  DEFAULT_AGGREGATION,
  DEFAULT_FAILURE_LIMIT,
  UnauthenticatedFailures,
} from './client-auth/failures.ts';
import type { RefusalAggregatorOptions } from './audit/refusal-aggregator.ts';
import type { FailureLimitOptions } from './client-auth/failure-limiter.ts';
import { createMetrics, type AuthorityMetrics } from './metrics.ts';
import { sha256 } from './routes/admin.ts';
import { RevocationFeed } from './revocation/feed.ts';
import { ServiceCache } from './service-cache.ts';
import { createIssuedTokenReader } from './tokens/inspect.ts';
import type { Store } from './store/types.ts';

export interface AuthorityContextDeps {
  readonly settings: AuthoritySettings;
  readonly store: Store;
  readonly keys: AuthorityKeys;
  readonly ca: CertificateAuthority;
  readonly clock: Clock;
  readonly logger: FastifyBaseLogger;
  readonly adminToken: Buffer;
  readonly authenticateClient: (
    parameters: ReadonlyMap<string, string>,
  ) => Promise<AuthenticatedClient>;
  readonly metrics?: AuthorityMetrics;
  readonly revocations?: RevocationFeed;
  readonly services?: ServiceCache;
  readonly peers?: AuthorityPeers;
  /** Per-source budget for failed client authentication (default: 20 per 60 s). */
  readonly failureLimit?: FailureLimitOptions;
  /** Aggregation of unauthenticated failures into the audit log (default: 1000 keys). */
  readonly aggregation?: RefusalAggregatorOptions;
}

const ALONE: AuthorityPeers = Object.freeze({ changed: () => Promise.resolve() });

/** Wires the pieces every route uses. No globals: two authorities in one process stay apart. */
export function createAuthorityContext(deps: AuthorityContextDeps): AuthorityContext {
  const { store, clock, keys } = deps;
  let published: { kids: string; resolver: KeyResolver } | undefined;
  const readToken = createIssuedTokenReader(deps.settings.issuer);
  const publishedKeys = async () => {
    const { document } = await keys.jwks();
    // kids are RFC 7638 thumbprints, so the list of kids identifies the key set: parse the
    // JWKS once per change of the set, not once per request.
    const kids = document.keys.map((key) => key.kid).join(' ');
    if (published?.kids !== kids) published = { kids, resolver: parseJwks(document) };
    return published.resolver;
  };
  const metrics = deps.metrics ?? createMetrics();
  return {
    settings: deps.settings,
    store,
    services: deps.services ?? new ServiceCache(store, clock),
    keys,
    ca: deps.ca,
    clock,
    logger: deps.logger,
    peers: deps.peers ?? ALONE,
    metrics,
    revocations: deps.revocations ?? new RevocationFeed({ store, clock }),
    adminTokenHash: sha256(deps.adminToken.toString('utf8')),
    authenticateClient: deps.authenticateClient,
    publishedKeys,
    async readIssuedToken(token) {
      return readToken(token, await publishedKeys());
    },
    async audit(entry) {
      await store.appendAudit({ ...entry, atMs: clock.now() });
    },
    unauthenticated: new UnauthenticatedFailures(
      {
        limit: deps.failureLimit ?? DEFAULT_FAILURE_LIMIT,
        aggregation: deps.aggregation ?? DEFAULT_AGGREGATION,
      },
      { clock, metrics, append: (entry) => store.appendAudit(entry) },
    ),
  };
}
