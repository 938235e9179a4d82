import { evidenceAt, evidenceAtLine, lineAtOffset } from '../ast/syntax.ts';
import type { Evidence, Outcome } from '../model.ts';
import { infraModel } from '../analysis/infra/index.ts';
import type { ChannelFacts, Credential, CredentialKind } from '../analysis/outbound/channels.ts';
import { DEPRECATED_HTTP_MODULES } from '../analysis/outbound/http.ts';
import { httpModel } from '../analysis/outbound/index.ts';
import {
  addsOwnCredential,
  countOf,
  credentialSummary,
  STATIC_KINDS,
  top,
  where,
  transportSummary,
  type CredentialSummary,
} from '../analysis/outbound/summary.ts';
import { hardcodedSecrets, secretSources } from '../analysis/secrets/index.ts';
import type { MintedToken } from '../analysis/secrets/sources.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

const NO_CALLS = 'No outbound service calls found.';
const ONLY_EXTERNAL =
  'Outbound calls only reach public third-party APIs; no service-to-service calls found.';

/** Credentials that prove the calling service's identity to the receiver (SC1). */
const STRONG_KINDS: readonly CredentialKind[] = ['tessera', 'mtls', 'signed', 'client-credentials'];

const credentials = (s: CredentialSummary, ...kinds: CredentialKind[]): Credential[] =>
  kinds.flatMap((k) => s.byKind.get(k) ?? []);
/** A credential's header line, then where its value is written (the env read, the literal). */
const evidenceOf = (list: readonly Credential[]): Evidence[] =>
  list.flatMap((c) => (c.source === undefined ? [c.evidence] : [c.evidence, c.source]));

/** Credentials that authenticate nothing or the wrong party; they fail SC1/SC4 wherever they go. */
function badCredentialWhy(s: CredentialSummary): { why: string; evidence: Evidence[] } | undefined {
  const marker = credentials(s, 'marker');
  const forwarded = credentials(s, 'forwarded-user');
  const shared = credentials(s, 'shared-static');
  const literal = credentials(s, 'literal');
  const first = marker[0] ?? forwarded[0] ?? shared[0] ?? literal[0];
  if (first === undefined) return undefined;
  const evidence = top([
    ...evidenceOf(marker),
    ...evidenceOf(forwarded),
    ...evidenceOf(shared),
    ...evidenceOf(literal),
  ]);
  let why: string;
  if (marker[0] !== undefined) {
    why = `Outbound calls identify themselves with a static \`${marker[0].header ?? 'internal'}\` marker header that anyone on the network can send (${where(marker[0].evidence)}), not with mTLS or a signed token.`;
  } else if (forwarded[0] !== undefined) {
    why = `The inbound caller's token is forwarded as the outbound credential (${where(forwarded[0].evidence)}), so the service never authenticates as itself.`;
  } else if (shared[0] !== undefined) {
    why = `Outbound calls send a shared static secret in \`${shared[0].header ?? 'a header'}\` (${where(shared[0].evidence)}) instead of mTLS or a signed per-service token.`;
  } else {
    why = `Outbound calls send a credential written in the source (${where(first.evidence)}).`;
  }
  return { why, evidence };
}

function noChannels(ctx: AuditContext): Outcome | undefined {
  const s = credentialSummary(ctx);
  if (s.channels.length === 0) return outcome('N/A', NO_CALLS);
  return undefined;
}

/** SC1: mTLS or signed tokens for all outbound calls. */
function sc1(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  const bad = badCredentialWhy(s);
  const strongAnywhere = credentials(s, ...STRONG_KINDS);
  if (bad !== undefined && strongAnywhere[0] !== undefined) {
    // Some calls prove who calls, others do not: the weak ones are the finding.
    return outcome(
      'PARTIAL',
      `${bad.why} Other calls carry a signed token or certificate (${where(strongAnywhere[0].evidence)}).`,
      top([...bad.evidence, ...evidenceOf(strongAnywhere)]),
    );
  }
  if (bad !== undefined) return outcome('FAIL', bad.why, bad.evidence);
  const staticBearer = credentials(s, 'static-bearer').filter((c) =>
    s.internal.some((ch) => ch.credentials.includes(c)),
  );
  if (staticBearer[0] !== undefined) {
    return outcome(
      'FAIL',
      `Service calls send a fixed bearer token from configuration (${where(staticBearer[0].evidence)}), which is neither mTLS nor a signed, expiring token.`,
      top(evidenceOf(staticBearer)),
    );
  }
  if (s.internal.length === 0) return outcome('N/A', ONLY_EXTERNAL);
  const strong = (c: ChannelFacts) =>
    c.credentials.some((k) => STRONG_KINDS.includes(k.kind)) || s.meshMtls.length > 0;
  const strongChannels = s.internal.filter(strong);
  const strongEvidence = [
    ...strongChannels.flatMap((c) =>
      c.credentials.filter((k) => STRONG_KINDS.includes(k.kind)).map((k) => k.evidence),
    ),
    ...s.meshMtls,
  ];
  const unbounded = neverExpiring(s);
  const onlySigned = strongChannels.every((c) =>
    c.credentials.every((k) => !STRONG_KINDS.includes(k.kind) || k.kind === 'signed'),
  );
  if (strongChannels.length === s.internal.length && unbounded[0] !== undefined && onlySigned) {
    return outcome(
      'PARTIAL',
      `Calls carry a signed token, but it is minted without an expiry (${where(unbounded[0].evidence)}): a captured token is accepted forever, like a static secret.`,
      top([...strongEvidence, ...unbounded.map((t) => t.evidence)]),
    );
  }
  if (strongChannels.length === s.internal.length) {
    const how =
      s.meshMtls.length > 0 && strongEvidence.length === s.meshMtls.length
        ? 'the service mesh enforces mutual TLS'
        : credentials(s, 'tessera').length > 0
          ? "calls carry the service's own short-lived token (Tessera `auth` interceptor)"
          : credentials(s, 'mtls').length > 0
            ? 'calls present a client certificate (mTLS)'
            : credentials(s, 'client-credentials').length > 0
              ? 'calls carry an access token the service obtains with its own OAuth client (client-credentials grant)'
              : 'calls carry a token signed at run time';
    return outcome(
      'PASS',
      `Every outbound service client authenticates: ${how}.`,
      top(strongEvidence),
    );
  }
  const weak = s.internal.filter((c) => !strong(c) && c.credentials.length > 0);
  const stored = credentials(s, 'stored-key');
  if (strongChannels.length === 0 && weak.length === 0) {
    return outcome(
      'FAIL',
      'Outbound service calls carry no credential at all: no mTLS, no signed token.',
      top(s.unauthenticated.map((c) => c.evidence)),
    );
  }
  if (strongChannels.length === 0 && stored[0] !== undefined && weak.length === s.internal.length) {
    return outcome(
      'PARTIAL',
      `Calls send an API key fetched from a secrets manager (${where(stored[0].evidence)}): a credential, but neither mTLS nor a signed token.`,
      top(evidenceOf(stored)),
    );
  }
  const missing = s.internal.filter((c) => !strong(c));
  return outcome(
    'PARTIAL',
    `${countOf(missing.length, s.internal.length)} outbound service clients send no mTLS or signed token (first at ${where(missing[0]?.evidence)}).`,
    top([...missing.map((c) => c.evidence), ...strongEvidence]),
  );
}

/** Service tokens this code mints with no expiry: re-minting them retires none. */
function neverExpiring(s: CredentialSummary): MintedToken[] {
  return s.serviceTokens.filter((t) => t.lifetime === 'missing');
}

/** SC2: credentials not hard-coded. */
function sc2(ctx: AuditContext): Outcome {
  const found = hardcodedSecrets(ctx).source;
  const summary = credentialSummary(ctx);
  const literal = credentials(summary, 'literal');
  const evidence = top([...evidenceOf(literal), ...found.map((f) => f.evidence)]);
  if (evidence.length > 0) {
    const first = found[0];
    const what = first === undefined ? 'a credential' : first.what;
    return outcome('FAIL', `The source contains ${what} (${where(evidence[0])}).`, evidence);
  }
  // A fixed marker is not a secret, but it is the credential the callee trusts, fixed in code.
  const constants = credentials(summary, 'marker').filter(
    (c) => c.origins?.has('literal') === true,
  );
  if (constants[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `No secrets are written in the code, but the value the upstream trusts is a constant in it (${constants[0].evidence.snippet} at ${where(constants[0].evidence)}).`,
      top(evidenceOf(constants)),
    );
  }
  if (summary.channels.length === 0) return outcome('N/A', NO_CALLS);
  return outcome(
    'PASS',
    'No hard-coded credentials or keys were found in the (non-test) source code.',
  );
}

type Source = 'runtime' | 'env' | 'literal' | 'unknown';

/** Where the outbound credentials of the service come from. */
function credentialSources(s: CredentialSummary): Map<Source, Evidence[]> {
  const out = new Map<Source, Evidence[]>();
  let current: Credential | undefined;
  const add = (source: Source, evidence: Evidence) => {
    const extra = current?.source === undefined ? [] : [current.source];
    out.set(source, [...(out.get(source) ?? []), evidence, ...extra]);
  };
  for (const c of s.internal.flatMap((ch) => ch.credentials)) {
    current = c;
    if (c.kind === 'tessera' || c.kind === 'stored-key') add('runtime', c.evidence);
    else if (c.kind === 'static-bearer') add('env', c.evidence);
    else if (c.kind === 'literal') add('literal', c.evidence);
    else if (c.kind === 'shared-static' || c.kind === 'marker') {
      add(
        c.origins?.has('env') === true
          ? 'env'
          : c.origins?.has('secret-manager') === true
            ? 'runtime'
            : 'literal',
        c.evidence,
      );
    } else if (c.kind === 'signed') {
      const keys = s.serviceTokens.flatMap((t) => [...t.keyOrigins]);
      if (keys.includes('secret-manager')) add('runtime', c.evidence);
      else if (keys.includes('literal')) add('literal', c.evidence);
      else if (keys.includes('env')) add('env', c.evidence);
      else add('unknown', c.evidence);
    } else if (c.kind === 'client-credentials') {
      // The stored credential is the client secret the token request sends.
      const request = c.obtainedBy;
      const origins = request?.secretOrigins ?? new Set();
      const secret = request?.secret;
      current = secret === undefined ? c : { ...c, source: evidenceAt(secret.unit, secret.node) };
      if (secret === undefined) continue;
      if (origins.has('secret-manager')) add('runtime', c.evidence);
      else if (origins.size > 0 && [...origins].every((o) => o === 'literal')) {
        add('literal', c.evidence);
      } else if (origins.has('env')) add('env', c.evidence);
      else add('unknown', c.evidence);
    } else if (c.kind !== 'forwarded-user') add('unknown', c.evidence);
  }
  current = undefined;
  for (const e of s.tessera) add('runtime', e);
  return out;
}

/** SC3: credentials from a secrets manager at run time. */
function sc3(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  if (s.internal.length === 0) return outcome('N/A', ONLY_EXTERNAL);
  const sources = credentialSources(s);
  const managers = secretSources(ctx).managers.map((m) => m.evidence);
  const literal = sources.get('literal') ?? [];
  const env = sources.get('env') ?? [];
  const runtime = sources.get('runtime') ?? [];
  if (literal[0] !== undefined) {
    return outcome(
      'FAIL',
      `An outbound credential is written in the code (${where(literal[0])}), not fetched from a secrets manager.`,
      top(literal),
    );
  }
  if (env[0] !== undefined) {
    return managers.length > 0
      ? outcome(
          'PARTIAL',
          `A secrets manager is used, but an outbound credential still comes from an environment variable (${where(env[0])}).`,
          top([...env, ...managers]),
        )
      : outcome(
          'FAIL',
          `Outbound credentials come from environment variables (${where(env[0])}), not from a secrets manager.`,
          top(env),
        );
  }
  if (runtime.length > 0) {
    const tessera = s.tessera.length > 0;
    return outcome(
      'PASS',
      tessera
        ? 'Service tokens are obtained at run time from the Tessera authority (client credentials with the service key).'
        : 'Outbound credentials are fetched from a secrets manager at run time.',
      top([...runtime, ...managers]),
    );
  }
  if (managers.length > 0) {
    return outcome(
      'PASS',
      'The service fetches its credentials from a secrets manager at run time, and no outbound credential comes from the code or an environment variable.',
      top(managers),
    );
  }
  const unknown = sources.get('unknown') ?? [];
  if (unknown[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Where the outbound credential at ${where(unknown[0])} comes from cannot be followed in the code.`,
      top(unknown),
    );
  }
  return outcome(
    'FAIL',
    'Outbound service calls carry no service credential of their own, so none is retrieved from a secrets manager.',
    top(s.internal.map((c) => c.evidence)),
  );
}

/** SC4: unique credentials per service. */
function sc4(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  const shared = credentials(s, 'shared-static');
  const marker = credentials(s, 'marker');
  const forwarded = credentials(s, 'forwarded-user');
  const literal = credentials(s, 'literal');
  const infraShared = infraModel(ctx).sharedSecrets;
  if (shared[0] !== undefined) {
    return outcome(
      'FAIL',
      `Every service sends the same static secret in \`${shared[0].header ?? 'a header'}\` (${where(shared[0].evidence)}): one leak compromises all of them.`,
      top([...evidenceOf(shared), ...infraShared.flatMap((x) => x.evidence)]),
    );
  }
  if (marker[0] !== undefined) {
    return outcome(
      'FAIL',
      `The static \`${marker[0].header ?? 'internal'}\` header (${where(marker[0].evidence)}) is the same for every caller; there is no per-service credential.`,
      top(evidenceOf(marker)),
    );
  }
  if (forwarded[0] !== undefined) {
    return outcome(
      'FAIL',
      `Calls reuse the end user's token (${where(forwarded[0].evidence)}) instead of a credential unique to this service.`,
      top(evidenceOf(forwarded)),
    );
  }
  if (literal[0] !== undefined) {
    return outcome(
      'FAIL',
      `A credential written in the source (${where(literal[0].evidence)}) is the same in every deployment of the code.`,
      top(evidenceOf(literal)),
    );
  }
  if (infraShared[0] !== undefined) {
    return outcome(
      'FAIL',
      `The secret \`${infraShared[0].name}\` is configured with the same value for several services.`,
      top(infraShared.flatMap((x) => x.evidence)),
    );
  }
  if (s.internal.length === 0) return outcome('N/A', ONLY_EXTERNAL);
  const tessera = credentials(s, 'tessera');
  const mtls = credentials(s, 'mtls');
  const signed = credentials(s, 'signed');
  const symmetric = s.serviceTokens.filter((t) => t.symmetric === true);
  const obtained = credentials(s, 'client-credentials');
  const perService = [
    ...evidenceOf(tessera),
    ...evidenceOf(mtls),
    ...evidenceOf(obtained),
    ...s.tessera,
  ];
  if (perService.length > 0 && s.unauthenticated.length === 0 && signed.length === 0) {
    return outcome(
      'PASS',
      obtained.length > 0 && tessera.length === 0 && mtls.length === 0
        ? 'The service authenticates with its own OAuth client: the tokens it obtains name it, not a shared identity.'
        : 'Each service authenticates with its own key or certificate (per-service client identity).',
      top(perService),
    );
  }
  if (signed.length > 0 && symmetric[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Service tokens are signed with a symmetric secret (${where(symmetric[0].evidence)}) that every verifier must also hold.`,
      top([...evidenceOf(signed), ...symmetric.map((t) => t.evidence)]),
    );
  }
  if (signed.length > 0 && s.unauthenticated.length === 0) {
    return outcome(
      'PASS',
      'Service tokens are signed with an asymmetric key held by this service.',
      top([...evidenceOf(signed), ...perService]),
    );
  }
  const staticOnes = credentials(s, 'static-bearer', 'stored-key');
  if (staticOnes[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `The outbound credential (${where(staticOnes[0].evidence)}) comes from configuration; whether each service gets its own is not visible here.`,
      top(evidenceOf(staticOnes)),
    );
  }
  if (perService.length > 0) {
    return outcome(
      'PARTIAL',
      `Some service clients use per-service credentials, but ${countOf(s.unauthenticated.length, s.internal.length)} send none.`,
      top([...perService, ...s.unauthenticated.map((c) => c.evidence)]),
    );
  }
  return outcome(
    'FAIL',
    'Outbound service calls carry no service credential, so there is nothing unique per service.',
    top(s.internal.map((c) => c.evidence)),
  );
}

/** The lifetime verdict of service tokens this code mints. */
function mintedLifetime(
  s: CredentialSummary,
): { status: 'PASS' | 'PARTIAL' | 'FAIL'; why: string; evidence: Evidence[] } | undefined {
  if (s.serviceTokens.length === 0) return undefined;
  const missing = s.serviceTokens.filter((t) => t.lifetime === 'missing');
  const long = s.serviceTokens.filter((t) => typeof t.lifetime === 'number' && t.lifetime > 3600);
  const unknown = s.serviceTokens.filter((t) => t.lifetime === 'unknown');
  const evidence = top(s.serviceTokens.map((t) => t.evidence));
  if (missing[0] !== undefined)
    return {
      status: 'FAIL',
      why: `Service tokens are minted without an expiry (${where(missing[0].evidence)}).`,
      evidence,
    };
  if (long[0] !== undefined) {
    const hours = Number(long[0].lifetime) / 3600;
    return {
      status: hours > 24 ? 'FAIL' : 'PARTIAL',
      why: `Service tokens live ${String(Math.round(hours * 10) / 10)} h (${where(long[0].evidence)}); under an hour is expected.`,
      evidence,
    };
  }
  if (unknown[0] !== undefined)
    return {
      status: 'PARTIAL',
      why: `The lifetime of service tokens comes from configuration (${where(unknown[0].evidence)}) and is not visible here.`,
      evidence,
    };
  return {
    status: 'PASS',
    why: 'Service tokens are minted with a lifetime of at most an hour.',
    evidence,
  };
}

/** SC5: short-lived credentials. */
function sc5(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  if (s.internal.length === 0) return outcome('N/A', ONLY_EXTERNAL);
  const staticOnes = credentials(s, ...STATIC_KINDS, 'marker');
  const expiring = [
    ...s.tessera,
    ...evidenceOf(credentials(s, 'client-credentials')),
    ...s.serviceTokens
      .filter((t) => typeof t.lifetime === 'number' && t.lifetime <= 3600)
      .map((t) => t.evidence),
  ];
  if (staticOnes[0] !== undefined && expiring[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Some calls carry short-lived tokens (${where(expiring[0])}), but others a static credential (${where(staticOnes[0].evidence)}) that never expires.`,
      top([...evidenceOf(staticOnes), ...expiring]),
    );
  }
  if (staticOnes[0] !== undefined) {
    return outcome(
      'FAIL',
      `Outbound calls use a static credential (${where(staticOnes[0].evidence)}) that never expires.`,
      top(evidenceOf(staticOnes)),
    );
  }
  const forwarded = credentials(s, 'forwarded-user');
  if (forwarded[0] !== undefined && s.tessera.length === 0 && s.serviceTokens.length === 0) {
    return outcome(
      'FAIL',
      `There is no service credential to be short-lived: the caller's token is forwarded (${where(forwarded[0].evidence)}).`,
      top(evidenceOf(forwarded)),
    );
  }
  if (s.tessera.length > 0) {
    return outcome(
      'PASS',
      'Tokens come from the Tessera token source: short-lived access tokens refreshed before they expire.',
      top(s.tessera),
    );
  }
  const minted = mintedLifetime(s);
  const obtained = credentials(s, 'client-credentials');
  if (obtained.length > 0 && (minted === undefined || minted.status === 'PASS')) {
    return outcome(
      'PASS',
      'Calls carry access tokens obtained from the token endpoint, which the identity provider issues with a lifetime (expires_in) and the service requests again when they expire.',
      top([...evidenceOf(obtained), ...(minted?.evidence ?? [])]),
    );
  }
  if (minted !== undefined) return outcome(minted.status, minted.why, minted.evidence);
  const mtls = credentials(s, 'mtls');
  if (mtls.length > 0)
    return outcome(
      'PARTIAL',
      'Calls use client certificates whose lifetime is not visible in the code.',
      top(evidenceOf(mtls)),
    );
  return outcome(
    'FAIL',
    'Outbound service calls carry no short-lived service credential.',
    top(s.internal.map((c) => c.evidence)),
  );
}

/** SC6: automated credential rotation. */
function sc6(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  if (s.internal.length === 0) return outcome('N/A', ONLY_EXTERNAL);
  const sources = secretSources(ctx);
  const infra = infraModel(ctx).platform;
  if (s.tessera.length > 0) {
    return outcome(
      'PASS',
      'The Tessera token source renews service tokens automatically before they expire.',
      top(s.tessera),
    );
  }
  const rotation = [...sources.leases, ...sources.rotation, ...infra.secretRotation];
  const staticOnes = credentials(s, 'shared-static', 'static-bearer', 'literal', 'marker');
  const renewed = [
    ...evidenceOf(credentials(s, 'client-credentials')),
    ...s.serviceTokens.filter((t) => typeof t.lifetime === 'number').map((t) => t.evidence),
  ];
  if (staticOnes[0] !== undefined && renewed[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Expiring tokens are renewed at run time (${where(renewed[0])}), but the static credential at ${where(staticOnes[0].evidence)} is a fixed value that is never rotated.`,
      top([...evidenceOf(staticOnes), ...renewed]),
    );
  }
  if (staticOnes[0] !== undefined) {
    return outcome(
      'FAIL',
      `The outbound credential (${where(staticOnes[0].evidence)}) is a fixed value; rotating it means redeploying every service.`,
      top(evidenceOf(staticOnes)),
    );
  }
  const stored = credentials(s, 'stored-key');
  if (stored.length > 0) {
    return rotation.length > 0
      ? outcome(
          'PASS',
          'Credentials come from a secrets manager with rotation configured.',
          top([...evidenceOf(stored), ...rotation]),
        )
      : outcome(
          'PARTIAL',
          'Credentials are fetched from a secrets manager at run time (rotated values are picked up), but no rotation schedule is configured in the repository.',
          top([...evidenceOf(stored), ...sources.cacheTtl]),
        );
  }
  if (sources.leases.length > 0) {
    return outcome(
      'PASS',
      'Dynamic secrets with lease renewal rotate the credentials automatically.',
      top(sources.leases),
    );
  }
  const obtained = credentials(s, 'client-credentials');
  const clientSecrets = obtained.flatMap((c) => {
    const secret = c.obtainedBy?.secret;
    return secret === undefined ? [] : [evidenceAt(secret.unit, secret.node)];
  });
  if (obtained.length > 0 && credentials(s, 'signed').length === 0) {
    return clientSecrets.length > 0 && rotation.length === 0
      ? outcome(
          'PARTIAL',
          `Access tokens are obtained again automatically when they expire, but the OAuth client secret they are requested with (${where(clientSecrets[0])}) has no automated rotation.`,
          top([...evidenceOf(obtained), ...clientSecrets]),
        )
      : outcome(
          'PASS',
          clientSecrets.length > 0
            ? 'Access tokens are obtained again automatically when they expire, and the client secret is rotated.'
            : 'Access tokens are obtained again automatically when they expire; the token request sends no static client secret.',
          top([...evidenceOf(obtained), ...rotation]),
        );
  }
  const signed = credentials(s, 'signed');
  const unbounded = neverExpiring(s);
  if (signed.length > 0 && unbounded[0] !== undefined) {
    return outcome(
      'FAIL',
      `Tokens are signed without an expiry (${where(unbounded[0].evidence)}): minting new ones retires none, and the signing key has no automated rotation.`,
      top([...unbounded.map((t) => t.evidence), ...evidenceOf(signed)]),
    );
  }
  if (signed.length > 0) {
    return outcome(
      'PARTIAL',
      'Tokens are re-minted at run time, but the signing key itself has no automated rotation in the repository.',
      top([...evidenceOf(signed), ...rotation]),
    );
  }
  const forwarded = credentials(s, 'forwarded-user');
  if (forwarded[0] !== undefined) {
    return outcome(
      'FAIL',
      `There is no service credential to rotate: the caller's token is forwarded (${where(forwarded[0].evidence)}).`,
      top(evidenceOf(forwarded)),
    );
  }
  const mtls = credentials(s, 'mtls');
  if (mtls.length > 0)
    return outcome(
      'PARTIAL',
      'Client certificates are used; their rotation is not visible in the code.',
      top(evidenceOf(mtls)),
    );
  return outcome(
    'FAIL',
    'Outbound service calls carry no credential, so there is no rotation.',
    top(s.internal.map((c) => c.evidence)),
  );
}

const THROWING = new Set(['axios', 'got', 'request', 'superagent']);

/** SC7: failed authentication is logged. */
function sc7(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  const logs = httpModel(ctx).failureLogging;
  const auth = logs.filter((l) => l.auth);
  if (auth.length > 0) {
    return outcome(
      'PASS',
      '401/403 answers from upstream services are logged.',
      top(auth.map((l) => evidenceAt(l.at.unit, l.at.node))),
    );
  }
  if (logs.length > 0) {
    const evidence = top(logs.map((l) => evidenceAt(l.at.unit, l.at.node)));
    const throwing = s.channels.every((c) => c.proxy || THROWING.has(c.site.library));
    return throwing
      ? outcome(
          'PASS',
          'Outbound call failures, including 401/403 rejections (which these clients throw), are logged.',
          evidence,
        )
      : outcome(
          'PARTIAL',
          'Outbound errors are logged, but fetch/undici do not throw on 401/403 and those answers are not logged.',
          evidence,
        );
  }
  return outcome(
    'FAIL',
    'Failures of outbound calls, including authentication rejections, are not logged.',
    top(s.channels.map((c) => c.evidence)),
    {
      level: 'medium',
      reason:
        'Decided from the absence of a log call in the error handling found around the calls; logging in a shared error handler elsewhere is not seen.',
    },
  );
}

/** SC8: HTTPS for all internal calls. */
function sc8(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const model = httpModel(ctx);
  const insecureMaps = model.insecureServiceMaps.map((g) => evidenceAt(g.unit, g.node));
  if (insecureMaps[0] !== undefined) {
    return outcome(
      'FAIL',
      `The service map allows plain HTTP to non-loopback services (${where(insecureMaps[0])}).`,
      top(insecureMaps),
    );
  }
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  const t = transportSummary(ctx);
  const guards = model.httpsGuards.map((g) => evidenceAt(g.unit, g.node));
  if (s.meshMtls.length > 0) {
    return outcome(
      'PASS',
      'The service mesh encrypts every call between services with mutual TLS.',
      top(s.meshMtls),
    );
  }
  if (guards.length > 0) {
    const note =
      t.plain.length + t.plainDefaults.length > 0
        ? ' (http:// defaults in the code are refused by it)'
        : '';
    return outcome(
      'PASS',
      `The code refuses non-https service URLs${note}.`,
      top([...guards, ...t.plain, ...t.plainDefaults]),
    );
  }
  if (t.plain[0] !== undefined) {
    return outcome(
      'FAIL',
      `Internal calls use plain http:// (${where(t.plain[0])}) and nothing enforces https.`,
      top(t.plain),
    );
  }
  if (t.plainDefaults[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Service URLs come from configuration but default to plain http:// (${where(t.plainDefaults[0])}), and nothing enforces https.`,
      top(t.plainDefaults),
    );
  }
  if (t.unknown.length > 0) {
    return outcome(
      'PARTIAL',
      'HTTPS is not enforced: outbound URLs take their scheme from configuration.',
      top(t.unknown),
    );
  }
  return outcome('PASS', 'Every outbound URL uses https (or stays on loopback).', top(t.https));
}

/**
 * SC9 and SC16: service identity in every request. A client certificate counts for both: the
 * receiver learns the calling service from it during the handshake, verified, which a header
 * naming the caller would only repeat without proof. A mesh's mTLS counts for SC9 only: the
 * client code itself sends nothing.
 */
function identity(ctx: AuditContext, perRequest: boolean): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  if (s.internal.length === 0) return outcome('N/A', ONLY_EXTERNAL);
  // A token names the caller in `sub` (a service name) or `iss`; `{ id: target }` names the
  // receiver, so such signed tokens identify nobody.
  const minted = s.serviceTokens;
  const namesCaller =
    minted.length === 0 || minted.some((t) => t.subject === 'service' || t.issuer === true);
  const signedAt = (c: ChannelFacts) =>
    c.credentials.filter((k) => k.kind === 'signed').map((k) => k.evidence);
  const ids = (c: ChannelFacts) =>
    namesCaller ? c.identity : c.identity.filter((e) => !signedAt(c).includes(e));
  const mesh = perRequest ? s.meshMtls : [];
  const markers = (c: ChannelFacts) =>
    c.credentials.filter((k) => k.kind === 'marker').map((k) => k.evidence);
  const withId = s.internal.filter((c) => ids(c).length > 0 || mesh.length > 0);
  const weak = s.internal.filter((c) => !withId.includes(c) && markers(c).length > 0);
  const evidence = top([...withId.flatMap(ids), ...mesh]);
  const shared = minted.filter((t) => t.symmetric === true);
  const onlySharedKey =
    perRequest &&
    mesh.length === 0 &&
    shared.length > 0 &&
    shared.length === minted.length &&
    withId.every((c) => ids(c).every((e) => signedAt(c).includes(e)));
  if (withId.length === s.internal.length && onlySharedKey && shared[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Requests name the calling service in a token signed with a symmetric key (${where(shared[0].evidence)}): every service holding that key can mint the same identity, so the receiver cannot verify who called.`,
      top([...evidence, ...shared.map((t) => t.evidence)]),
    );
  }
  if (withId.length === s.internal.length) {
    return outcome(
      'PASS',
      perRequest
        ? 'Every outbound service request identifies the calling service (token subject, certificate or identity header).'
        : "Every outbound service client sends the calling service's identity (in its token, its client certificate or an identity header).",
      evidence,
    );
  }
  const missing = s.internal.filter((c) => !withId.includes(c) && !weak.includes(c));
  if (missing.length === 0) {
    const first = weak.flatMap(markers)[0];
    return outcome(
      'PARTIAL',
      `Requests mark where they come from only with a spoofable constant header (${first?.snippet ?? 'a marker'}${first === undefined ? '' : ` at ${where(first)}`}), not a verifiable service identity.`,
      top([...weak.flatMap(markers), ...evidence]),
    );
  }
  const forwarded = credentials(s, 'forwarded-user')[0];
  const reason =
    forwarded !== undefined
      ? ` (the forwarded user token at ${where(forwarded.evidence)} names the user, not the service)`
      : '';
  if (withId.length === 0 && weak.length === 0) {
    return outcome(
      'FAIL',
      `Outbound requests do not say which service is calling${reason}.`,
      top(missing.map((c) => c.evidence)),
    );
  }
  return outcome(
    'PARTIAL',
    `${countOf(missing.length, s.internal.length)} outbound service clients send no service identity${reason}.`,
    top([...missing.map((c) => c.evidence), ...evidence]),
  );
}

/**
 * Channels used only while the process starts (see `StartupAnalysis`) and the sentence that says
 * they were left out, for the checks about calls made while serving a request (SC10, SC12).
 */
function splitStartup(
  channels: readonly ChannelFacts[],
  why: string,
): { serving: ChannelFacts[]; startup: ChannelFacts[]; note: string; evidence: Evidence[] } {
  const startup = channels.filter((c) => c.startupOnly !== undefined);
  const serving = channels.filter((c) => c.startupOnly === undefined);
  const first = startup[0];
  const note =
    first === undefined
      ? ''
      : ` ${startup.length === 1 ? `The client at ${where(first.evidence)} is` : `${String(startup.length)} clients (${where(first.evidence)}, ...) are`} used only at start-up (called from ${where(first.startupOnly?.[0])}), ${why}.`;
  return {
    serving,
    startup,
    note,
    evidence: startup.flatMap((c) => [c.evidence, ...(c.startupOnly ?? [])]),
  };
}

/** SC10: correlation ID propagated. */
function sc10(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  // A token request obtains a credential; it is not a call the trace continues into.
  const split = splitStartup(
    s.channels.filter((c) => !c.tokenRequest),
    'serving no request, so it has no trace context to continue',
  );
  if (split.serving.length === 0) {
    return outcome(
      'N/A',
      `Every outbound request is made at start-up, outside any request, so there is no inbound trace context to propagate.${split.note}`,
      top(split.evidence),
    );
  }
  const nonExternal = split.serving.filter((c) => !c.external);
  const scope = nonExternal.length > 0 ? nonExternal : split.serving;
  const propagating = scope.filter((c) => c.trace.length > 0);
  if (propagating.length === scope.length) {
    return outcome(
      'PASS',
      `Outbound requests carry the trace context or correlation id of the request being served.${split.note}`,
      top([...propagating.flatMap((c) => c.trace), ...split.evidence]),
    );
  }
  const missing = scope.filter((c) => c.trace.length === 0);
  const missingAt = missing.flatMap((c) => [...c.calls, c.evidence]);
  const restarted = missing.flatMap((c) => c.traceRestarted);
  const note = restarted.length > 0 ? ' (a new random id per call is not propagation)' : '';
  if (propagating.length === 0) {
    return outcome(
      'FAIL',
      `No correlation id or traceparent is propagated to downstream services${note}.${split.note}`,
      top([...restarted, ...missingAt]),
    );
  }
  return outcome(
    'PARTIAL',
    `${countOf(missing.length, scope.length)} outbound clients do not propagate the correlation id or traceparent${note}.${split.note}`,
    top([...missingAt, ...propagating.flatMap((c) => c.trace)]),
  );
}

/** SC11: request timeouts. */
function sc11(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  const disabled = s.channels.flatMap((c) => (c.timeout.length === 0 ? c.timeoutDisabled : []));
  const covered = s.channels.filter((c) => c.timeout.length > 0);
  const missing = s.channels.filter((c) => c.timeout.length === 0);
  const defaults = missing.some((c) => c.site.library === 'fetch' || c.site.library === 'undici')
    ? " (undici's 300 s defaults are not a deliberate timeout)"
    : '';
  if (disabled[0] !== undefined) {
    return outcome(
      'FAIL',
      `A request timeout is switched off (${where(disabled[0])}).`,
      top(disabled),
    );
  }
  if (missing.length === 0) {
    return outcome(
      'PASS',
      'Every outbound client or call has a request timeout.',
      top(covered.flatMap((c) => c.timeout)),
    );
  }
  if (covered.length === 0) {
    return outcome(
      'FAIL',
      `No outbound call sets a request timeout${defaults}.`,
      top(missing.map((c) => c.evidence)),
    );
  }
  return outcome(
    'PARTIAL',
    `${countOf(missing.length, s.channels.length)} outbound clients have no request timeout${defaults}.`,
    top([...missing.map((c) => c.evidence), ...covered.flatMap((c) => c.timeout)]),
  );
}

/** SC12: circuit breaker (retries with backoff are reported alongside). */
function sc12(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const none = noChannels(ctx);
  if (none !== undefined) return none;
  // A reverse proxy relays its clients' requests; breakers guard the calls the service makes.
  // Nor does a token request: it obtains the credential for the calls a breaker guards.
  const own = s.channels.filter((c) => (!c.proxy || addsOwnCredential(c)) && !c.tokenRequest);
  if (own.length === 0) {
    return outcome(
      'N/A',
      'The service only relays requests through a reverse proxy; it makes no calls of its own.',
    );
  }
  // A breaker sheds a stream of calls to a failing service; start-up calls are made once.
  const split = splitStartup(
    own,
    'made once per start, not a stream of calls a breaker could shed',
  );
  const channels = split.serving;
  if (channels.length === 0) {
    return outcome(
      'N/A',
      `Every outbound call is made once, at start-up, outside any request: there is no stream of calls for a circuit breaker to cut off.${split.note}`,
      top(split.evidence),
    );
  }
  const retries = top(
    channels.flatMap((c) => c.retry),
    3,
  );
  const retryNote =
    retries.length > 0 ? ` Retries: ${where(retries[0])}.` : ' No retry with backoff was found.';
  const covered = channels.filter((c) => c.breaker.length > 0);
  const missing = channels.filter((c) => c.breaker.length === 0);
  if (missing.length === 0) {
    return outcome(
      'PASS',
      `Outbound calls go through a circuit breaker.${retryNote}${split.note}`,
      top([...covered.flatMap((c) => c.breaker), ...retries, ...split.evidence]),
    );
  }
  if (covered.length === 0) {
    return outcome(
      'FAIL',
      `No circuit breaker protects outbound calls.${retryNote}${split.note}`,
      top([...missing.map((c) => c.evidence), ...retries]),
      {
        level: 'medium',
        reason:
          'Decided from the absence of a known breaker (opossum, cockatiel, Tessera) around the calls; a hand-written breaker is not recognised.',
      },
    );
  }
  return outcome(
    'PARTIAL',
    `${countOf(missing.length, channels.length)} outbound clients have no circuit breaker.${retryNote}${split.note}`,
    top([...missing.map((c) => c.evidence), ...covered.flatMap((c) => c.breaker), ...retries]),
  );
}

function tlsOff(ctx: AuditContext): Evidence[] {
  const model = httpModel(ctx);
  return [
    ...model.tlsDisabledInCode.map((t) => evidenceAt(t.unit, t.node)),
    ...infraModel(ctx).tlsDisabled,
  ];
}

/** SC13: TLS certificate validation. */
function sc13(ctx: AuditContext): Outcome {
  const insecure = httpModel(ctx).insecureTls.map((t) => evidenceAt(t.unit, t.node));
  const off = tlsOff(ctx);
  if (insecure[0] !== undefined) {
    return outcome(
      'FAIL',
      `Certificate validation is switched off (${insecure[0].snippet} at ${where(insecure[0])}).`,
      top([...insecure, ...off]),
    );
  }
  if (off[0] !== undefined) {
    return outcome(
      'FAIL',
      `NODE_TLS_REJECT_UNAUTHORIZED=0 turns off certificate validation for every client (${where(off[0])}).`,
      top(off),
    );
  }
  if (credentialSummary(ctx).channels.length === 0) return outcome('N/A', NO_CALLS);
  const t = transportSummary(ctx);
  const clear = [...t.plain, ...t.plainDefaults];
  if (clear[0] !== undefined && httpModel(ctx).httpsGuards.length === 0) {
    return outcome(
      'PARTIAL',
      `Validation is left at Node's default, which checks nothing on the plain http:// calls (${where(clear[0])}).`,
      top(clear),
    );
  }
  return outcome(
    'PASS',
    "HTTP clients keep Node's default certificate validation; nothing turns it off.",
    [],
    {
      level: 'medium',
      reason: 'Decided from the absence of options that switch certificate validation off.',
    },
  );
}

/** SC14: undici/got rather than the deprecated `request`. */
function sc14(ctx: AuditContext): Outcome {
  const deprecated = httpModel(ctx).deprecatedClients.map((d) => evidenceAt(d.unit, d.node));
  if (deprecated[0] !== undefined) {
    return outcome(
      'FAIL',
      `The deprecated \`request\` client is used (${where(deprecated[0])}).`,
      top(deprecated),
    );
  }
  const declared: Evidence[] = [];
  for (const file of ctx.project.textFiles) {
    if (!file.path.endsWith('package.json')) continue;
    for (const module of DEPRECATED_HTTP_MODULES) {
      const index = file.text.indexOf(`"${module}"`);
      if (index !== -1 && /"[^"]+"\s*:/.test(file.text.slice(index, index + module.length + 6))) {
        declared.push(evidenceAtLine(file.path, file.text, lineAtOffset(file.text, index)));
      }
    }
  }
  const s = credentialSummary(ctx);
  if (declared[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `The deprecated \`request\` package is declared as a dependency (${where(declared[0])}), though the service's code does not import it.`,
      top(declared),
    );
  }
  if (s.channels.length === 0) return outcome('N/A', NO_CALLS);
  const libraries = [
    ...new Set(
      s.channels.map((c) => (c.site.library === 'tessera' ? 'undici (Tessera)' : c.site.library)),
    ),
  ];
  return outcome(
    'PASS',
    `Outbound calls use maintained clients (${libraries.join(', ')}).`,
    top(
      s.channels.map((c) => c.evidence),
      4,
    ),
  );
}

/** SC15: no NODE_TLS_REJECT_UNAUTHORIZED=0. */
function sc15(ctx: AuditContext): Outcome {
  const off = tlsOff(ctx);
  if (off[0] !== undefined) {
    return outcome(
      'FAIL',
      `NODE_TLS_REJECT_UNAUTHORIZED is set to 0 (${where(off[0])}), disabling certificate checks process-wide.`,
      top(off),
    );
  }
  if (credentialSummary(ctx).channels.length === 0) return outcome('N/A', NO_CALLS);
  return outcome(
    'PASS',
    'NODE_TLS_REJECT_UNAUTHORIZED=0 is not set in code, env files, compose files, images or manifests.',
  );
}

export const serviceClientRules: RuleSet = {
  SC1: sc1,
  SC2: sc2,
  SC3: sc3,
  SC4: sc4,
  SC5: sc5,
  SC6: sc6,
  SC7: sc7,
  SC8: sc8,
  SC9: (ctx) => identity(ctx, true),
  SC10: sc10,
  SC11: sc11,
  SC12: sc12,
  SC13: sc13,
  SC14: sc14,
  SC15: sc15,
  SC16: (ctx) => identity(ctx, false),
};
