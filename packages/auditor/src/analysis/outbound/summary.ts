import { evidenceAt } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { AuditContext } from '../context.ts';
import { infraModel } from '../infra/index.ts';
import { secretSources } from '../secrets/index.ts';
import type { MintedToken } from '../secrets/sources.ts';
import type { ChannelFacts, Credential, CredentialKind } from './channels.ts';
import { httpModel, outboundChannels } from './index.ts';

/** The outbound credential picture of a service, shared by the SC, TM and SM rules. */
export interface CredentialSummary {
  readonly channels: readonly ChannelFacts[];
  /**
   * Channels to other services: not to public third-party APIs, not requests to a token
   * endpoint, and not reverse proxies that only relay their clients' credentials (a proxy that
   * adds a credential of the gateway's own calls the upstream as itself).
   */
  readonly internal: readonly ChannelFacts[];
  /** Every credential of every channel, by kind. */
  readonly byKind: ReadonlyMap<CredentialKind, readonly Credential[]>;
  /** Internal channels that send no credential at all. */
  readonly unauthenticated: readonly ChannelFacts[];
  /** Tessera token sources and dispatchers. */
  readonly tessera: readonly Evidence[];
  /** Service tokens minted by this code. */
  readonly serviceTokens: readonly MintedToken[];
  /** Istio STRICT / Linkerd / Consul Connect: the mesh gives every call mTLS. */
  readonly meshMtls: readonly Evidence[];
}

/** Credentials that are static values (they never expire and are rarely rotated). */
export const STATIC_KINDS: readonly CredentialKind[] = [
  'shared-static',
  'static-bearer',
  'stored-key',
  'literal',
];

/** Builds (once per audit) the {@link CredentialSummary}. */
export function credentialSummary(ctx: AuditContext): CredentialSummary {
  return ctx.memo('outbound.credentials', () => {
    const channels = outboundChannels(ctx);
    const internal = channels.filter(
      (c) => !c.external && !c.tokenRequest && (!c.proxy || addsOwnCredential(c)),
    );
    const byKind = new Map<CredentialKind, Credential[]>();
    for (const channel of channels) {
      for (const credential of channel.credentials) {
        const list = byKind.get(credential.kind) ?? [];
        if (!list.some((c) => sameEvidence(c.evidence, credential.evidence))) list.push(credential);
        byKind.set(credential.kind, list);
      }
    }
    const model = httpModel(ctx);
    const tessera = [
      ...model.tokenSources.map((t) => evidenceAt(t.unit, t.node)),
      ...(byKind.get('tessera') ?? []).map((c) => c.evidence),
    ];
    const minted = secretSources(ctx).minted;
    const signedUsed = (byKind.get('signed') ?? []).length > 0;
    const serviceTokens = minted.filter((m) => m.service || (signedUsed && minted.length <= 3));
    const meshMtls = infraModel(ctx)
      .platform.mesh.filter((m) => m.mode === 'strict')
      .map((m) => m.evidence);
    return {
      channels,
      internal,
      byKind,
      unauthenticated: internal.filter((c) => c.credentials.length === 0),
      tessera: dedupe(tessera),
      serviceTokens,
      meshMtls,
    };
  });
}

/** Does a reverse proxy add a credential of its own (not its client's) to what it relays? */
export function addsOwnCredential(channel: ChannelFacts): boolean {
  return channel.credentials.some((c) => c.kind !== 'forwarded-user' && c.kind !== 'unknown');
}

function sameEvidence(a: Evidence, b: Evidence): boolean {
  return a.file === b.file && a.line === b.line;
}

/** Evidence without duplicates (same file and line), in first-seen order. */
function dedupe(evidence: readonly Evidence[]): Evidence[] {
  const seen = new Set<string>();
  const out: Evidence[] = [];
  for (const e of evidence) {
    const key = `${e.file}:${String(e.line)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}

/** At most `max` pieces of evidence (reports stay readable; the first ones decide). */
export function top(evidence: readonly Evidence[], max = 8): Evidence[] {
  return dedupe(evidence).slice(0, max);
}

/** `src/a.ts:12` for sentences. */
export function where(evidence: Evidence | undefined): string {
  return evidence === undefined ? 'the code' : `${evidence.file}:${String(evidence.line)}`;
}

/** "3 of 5" style counts for sentences. */
export function countOf(part: number, whole: number): string {
  return `${String(part)} of ${String(whole)}`;
}

/** How the service's outbound URLs stand on TLS (SC8, SC13, NW1). */
export interface TransportSummary {
  /** Fixed `http://` URLs to other hosts. */
  readonly plain: readonly Evidence[];
  /** Configurable URLs whose default is `http://` (loopback included: production sets it). */
  readonly plainDefaults: readonly Evidence[];
  /** Channels whose URL scheme is only known from configuration. */
  readonly unknown: readonly Evidence[];
  readonly https: readonly Evidence[];
}

/** Classifies every outbound URL once per audit. */
export function transportSummary(ctx: AuditContext): TransportSummary {
  return ctx.memo('outbound.transport', () => {
    const plain: Evidence[] = [];
    const plainDefaults: Evidence[] = [];
    const unknown: Evidence[] = [];
    const https: Evidence[] = [];
    for (const channel of outboundChannels(ctx)) {
      if (channel.urls.length === 0) unknown.push(channel.evidence);
      for (const { url, evidence } of channel.urls) {
        if (url.scheme === 'https') https.push(evidence);
        else if (url.scheme === 'unknown') unknown.push(evidence);
        else if (url.configurable) plainDefaults.push(evidence);
        else if (!url.loopback) plain.push(evidence);
      }
    }
    return {
      plain: dedupe(plain),
      plainDefaults: dedupe(plainDefaults),
      unknown: dedupe(unknown),
      https: dedupe(https),
    };
  });
}
