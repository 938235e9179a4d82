import { evidenceAt } from '../ast/syntax.ts';
import type { ConfidenceNote, Evidence, Outcome } from '../model.ts';
import { httpModel } from '../analysis/outbound/index.ts';
import { top, where } from '../analysis/outbound/summary.ts';
import { loggedSecrets, secretSources, urlTokens } from '../analysis/secrets/index.ts';
import { ev } from '../analysis/inbound/model.ts';
import {
  describeMinted,
  serviceCredentials,
  type ObtainedToken,
} from '../analysis/service-credential.ts';
import type { MintedToken } from '../analysis/secrets/sources.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

const NO_TOKENS =
  'No service tokens are issued or used: no outbound service calls and no token minting.';

/** One credential's answer to a TM check; the check combines the answers of all of them. */
interface Part {
  status: 'PASS' | 'PARTIAL' | 'FAIL';
  why: string;
  evidence: Evidence[];
  /** Set where the part is inferred rather than shown (the check takes the least sure). */
  confidence?: ConfidenceNote;
}

/**
 * Combines the parts: all PASS is PASS, all FAIL is FAIL, anything else is PARTIAL, and every
 * part's sentence is kept, failures first (a service with a short-lived token for one upstream
 * and a static key for another gets both named).
 */
function combine(parts: readonly Part[], none: string): Outcome {
  if (parts.length === 0) return outcome('N/A', none);
  const statuses = new Set(parts.map((p) => p.status));
  const status = statuses.size === 1 ? (parts[0]?.status ?? 'PARTIAL') : ('PARTIAL' as const);
  const ordered = [...parts].sort((a, b) => RANK[a.status] - RANK[b.status]);
  const why = ordered
    .map((p, i) => {
      const sentence = p.why.replace(/\.$/, '');
      return i === 0 ? sentence : sentence.charAt(0).toLowerCase() + sentence.slice(1);
    })
    .join('; ');
  const notes = parts.flatMap((p) => (p.confidence === undefined ? [] : [p.confidence]));
  const least = notes.find((n) => n.level === 'low') ?? notes[0];
  return outcome(status, `${why}.`, top(ordered.flatMap((p) => p.evidence)), least);
}

const RANK = { FAIL: 0, PARTIAL: 1, PASS: 2 } as const;

/**
 * The parts every service-token check starts from, from {@link serviceCredentials}: Tessera,
 * tokens obtained from an IdP, tokens minted here, static secrets; the caller's token passed
 * on and calls without any token count only when the service sends no credential of its own.
 */
function issuedParts(
  ctx: AuditContext,
  judge: {
    tessera: (evidence: Evidence[]) => Part;
    obtained: (token: ObtainedToken) => Part | undefined;
    minted: (token: MintedToken) => Part | undefined;
    static: (evidence: Evidence[]) => Part;
    what: string;
  },
): Part[] {
  const { issued } = serviceCredentials(ctx);
  const parts: Part[] = [];
  if (issued.tessera.length > 0) parts.push(judge.tessera(top(issued.tessera)));
  for (const token of issued.obtained) {
    const part = judge.obtained(token);
    if (part !== undefined) parts.push(part);
  }
  for (const token of issued.minted) {
    const part = judge.minted(token);
    if (part !== undefined) parts.push(part);
  }
  if (issued.static.length > 0) parts.push(judge.static(top(issued.static)));
  const own =
    issued.tessera.length + issued.obtained.length + issued.minted.length + issued.static.length;
  if (own > 0) return merge(parts);
  if (issued.forwarded.length > 0) {
    return [
      {
        status: 'FAIL',
        why: `There are no service tokens: the caller's token is forwarded (${where(issued.forwarded[0])}), so ${judge.what}`,
        evidence: top(issued.forwarded),
      },
    ];
  }
  if (issued.unauthenticated.length > 0) {
    return [
      {
        status: 'FAIL',
        why: `Outbound service calls carry no token at all, so ${judge.what}`,
        evidence: top(issued.unauthenticated),
      },
    ];
  }
  return parts;
}

/** Parts with the same status and sentence become one, with their evidence together. */
function merge(parts: readonly Part[]): Part[] {
  const out: Part[] = [];
  for (const part of parts) {
    const same = out.find((p) => p.status === part.status && p.why === part.why);
    if (same === undefined) out.push({ ...part, evidence: [...part.evidence] });
    else {
      same.evidence.push(...part.evidence);
      if (same.confidence === undefined && part.confidence !== undefined) {
        same.confidence = part.confidence;
      }
    }
  }
  return out;
}

/** Service-token verifiers here that accept tokens without `exp`, with the unexpiring token. */
function unboundedVerifiers(ctx: AuditContext): { verifier: Evidence; minted: Evidence }[] {
  return serviceCredentials(ctx).verified.unbounded.map((u) => ({
    verifier: ev(u.verifier.site),
    minted: u.minted.evidence,
  }));
}

const STATIC_PART =
  (what: string) =>
  (evidence: Evidence[]): Part => ({
    status: 'FAIL',
    why: `Service calls use a static credential (${where(evidence[0])}), so ${what}`,
    evidence,
  });

/** TM1: service tokens expire. */
function tm1(ctx: AuditContext): Outcome {
  const parts = issuedParts(ctx, {
    what: 'nothing expires',
    tessera: (evidence) => ({
      status: 'PASS',
      why: 'Service tokens come from the Tessera authority with an expiry, and expired ones are never used',
      evidence,
    }),
    obtained: (token) => ({
      status: 'PASS',
      ...(token.expiry === undefined
        ? {
            confidence: {
              level: 'medium' as const,
              reason:
                "The identity provider's tokens are taken to carry an expiry; this code never reads `expires_in`.",
            },
          }
        : {}),
      why:
        token.expiry === undefined
          ? `Service tokens are OAuth client-credentials tokens from the identity provider (${where(token.evidence)}), which sets their expiry`
          : `Service tokens are OAuth client-credentials tokens from the identity provider (${where(token.evidence)}), used only until their \`expires_in\``,
      evidence: [token.evidence, ...(token.expiry === undefined ? [] : [token.expiry])],
    }),
    minted: (token) =>
      token.lifetime === 'missing'
        ? {
            status: 'FAIL',
            why: `Service tokens are minted as ${describeMinted(token)} (${where(token.evidence)}), so they never expire`,
            evidence: [token.evidence],
          }
        : token.lifetime === 'unknown'
          ? {
              status: 'PARTIAL',
              why: `The expiry of service tokens comes from configuration (${where(token.evidence)})`,
              evidence: [token.evidence],
            }
          : {
              status: 'PASS',
              why: 'Service tokens are minted with an expiry',
              evidence: [token.evidence],
            },
    static: STATIC_PART('nothing expires'),
  });
  for (const unbounded of unboundedVerifiers(ctx)) {
    parts.push({
      status: 'FAIL',
      why: `Service tokens accepted here carry no \`exp\` (minted at ${where(unbounded.minted)}) and the verifier does not require one`,
      evidence: [unbounded.verifier, unbounded.minted],
    });
  }
  return combine(merge(parts), NO_TOKENS);
}

/** TM2: tokens are refreshed. */
function tm2(ctx: AuditContext): Outcome {
  const skipped: Evidence[] = [];
  const parts = issuedParts(ctx, {
    what: 'there is nothing to refresh',
    tessera: (evidence) => ({
      status: 'PASS',
      why: 'The Tessera token source refreshes tokens ahead of expiry (single flight, jittered, with backoff)',
      evidence,
    }),
    obtained: (token) =>
      token.renewal !== undefined || token.expiry !== undefined
        ? {
            status: 'PASS',
            why: `Client-credentials tokens are cached until their \`expires_in\` and renewed ahead of it (${where(token.renewal ?? token.expiry)})`,
            evidence: [token.evidence, ...[token.renewal, token.expiry].filter(present)],
          }
        : {
            status: 'PARTIAL',
            why: `A client-credentials token is obtained (${where(token.evidence)}) but its \`expires_in\` is never read, so renewal before expiry is not visible`,
            evidence: [token.evidence],
          },
    minted: (token) => {
      if (token.once) {
        return {
          status: 'FAIL',
          why: `A service token is minted once per process (${where(token.evidence)}) and never renewed`,
          evidence: [token.evidence],
        };
      }
      if (token.lifetime === 'missing') {
        skipped.push(token.evidence);
        return undefined;
      }
      return {
        status: 'PASS',
        why: 'Service tokens are minted at run time when needed, so a fresh one replaces each expired token',
        evidence: [token.evidence, ...secretSources(ctx).leases],
      };
    },
    static: STATIC_PART('there is nothing to refresh'),
  });
  if (parts.length === 0 && skipped.length > 0) {
    return outcome(
      'N/A',
      `A new service token is minted for every call and it carries no \`exp\` (${where(skipped[0])}), so there is nothing to renew; TM1 reports the missing expiry.`,
      top(skipped),
    );
  }
  return combine(merge(parts), NO_TOKENS);
}

/** TM3: short-lived tokens. */
function tm3(ctx: AuditContext): Outcome {
  const parts = issuedParts(ctx, {
    what: 'nothing is short-lived',
    tessera: (evidence) => ({
      status: 'PASS',
      why: 'Tessera access tokens are short-lived and renewed by the token source',
      evidence,
    }),
    obtained: (token) =>
      token.expiry !== undefined
        ? {
            status: 'PASS',
            why: `Client-credentials tokens live as long as the identity provider's \`expires_in\` says, and no longer (${where(token.expiry)})`,
            evidence: [token.evidence, token.expiry],
          }
        : {
            status: 'PARTIAL',
            why: `Client-credentials tokens are obtained (${where(token.evidence)}), but their lifetime is the identity provider's setting and this code never reads \`expires_in\``,
            evidence: [token.evidence],
          },
    minted: (token) => {
      if (token.lifetime === 'missing') {
        return {
          status: 'FAIL',
          why: `Service tokens never expire: ${describeMinted(token)} (${where(token.evidence)})`,
          evidence: [token.evidence],
        };
      }
      if (typeof token.lifetime === 'number' && token.lifetime > 3600) {
        const hours = token.lifetime / 3600;
        return {
          status: hours > 24 ? 'FAIL' : 'PARTIAL',
          why: `Service tokens live ${String(Math.round(hours * 10) / 10)} h (${where(token.evidence)}), longer than an hour`,
          evidence: [token.evidence],
        };
      }
      if (token.lifetime === 'unknown') {
        return {
          status: 'PARTIAL',
          why: `Token lifetime comes from configuration (${where(token.evidence)})`,
          evidence: [token.evidence],
        };
      }
      return {
        status: 'PASS',
        why: 'Service tokens live at most an hour',
        evidence: [token.evidence],
      };
    },
    static: STATIC_PART('nothing is short-lived'),
  });
  for (const unbounded of unboundedVerifiers(ctx)) {
    parts.push({
      status: 'FAIL',
      why: `Service tokens accepted here have an unbounded lifetime: they carry no \`exp\` (${where(unbounded.minted)}) and the verifier sets no \`maxAge\``,
      evidence: [unbounded.verifier, unbounded.minted],
    });
  }
  return combine(merge(parts), NO_TOKENS);
}

function present<T>(value: T | undefined): value is T {
  return value !== undefined;
}

/** TM4: tokens not in logs. */
function tm4(ctx: AuditContext): Outcome {
  const logged = loggedSecrets(ctx).filter((l) => l.kind === 'token');
  if (logged[0] !== undefined) {
    return outcome(
      'FAIL',
      `A log call writes ${logged[0].what} (${where(logged[0].evidence)}).`,
      top(logged.map((l) => l.evidence)),
    );
  }
  return outcome('PASS', 'No log call writes a token, authorization header or session value.');
}

/** TM5: tokens not in URLs. */
function tm5(ctx: AuditContext): Outcome {
  const found = urlTokens(ctx);
  if (found[0] !== undefined) {
    return outcome(
      'FAIL',
      `A credential travels in a URL: ${found[0].what} (${where(found[0].evidence)}).`,
      top(found.map((f) => f.evidence)),
    );
  }
  return outcome(
    'PASS',
    'Tokens travel in headers only; none is put in or read from a URL query string.',
  );
}

/**
 * Tokens and secrets this service checks on requests it receives (TM6 and TM8 are about the
 * verifying side: scopes are checked, and revocation looked up, where a token is accepted).
 */
function acceptedTokens(ctx: AuditContext): Evidence[] {
  const { verified } = serviceCredentials(ctx);
  return [
    ...verified.tessera,
    ...[...verified.serviceJwt, ...verified.userJwt].map((v) => ev(v.verifier.site)),
    ...secretSources(ctx).verification,
    ...verified.staticSecret,
  ];
}

/** N/A for TM6/TM8 when the service accepts no token (it may still obtain or send some). */
function noAcceptedTokens(ctx: AuditContext, what: string): Outcome | undefined {
  if (acceptedTokens(ctx).length > 0) return undefined;
  const { issued } = serviceCredentials(ctx);
  const sends =
    issued.tessera.length + issued.obtained.length + issued.minted.length + issued.static.length;
  return outcome(
    'N/A',
    sends > 0
      ? `This service verifies no tokens on the requests it receives (it only obtains or sends them), so there is no ${what} for it to do.`
      : NO_TOKENS,
  );
}

/** TM6: token scopes validated. */
function tm6(ctx: AuditContext): Outcome {
  const sources = secretSources(ctx);
  if (sources.tesseraPlugin.length > 0) {
    return outcome(
      'PASS',
      "Inbound tokens are checked against the policy's required scopes by @tessera/fastify.",
      top([...sources.tesseraPlugin, ...sources.scopeChecks]),
    );
  }
  if (sources.scopeChecks.length > 0) {
    return outcome(
      'PASS',
      'Token scopes are checked before access is granted.',
      top(sources.scopeChecks),
    );
  }
  const none = noAcceptedTokens(ctx, 'scope check');
  if (none !== undefined) return none;
  // Scopes asked for on the tokens it sends are checked by their receivers, not here.
  const requested = [
    ...sources.scopesRequested,
    ...httpModel(ctx).requestedScopes.map((r) => evidenceAt(r.unit, r.node)),
  ];
  return outcome(
    'FAIL',
    requested.length > 0
      ? 'No scope is checked on the tokens this service accepts (it only requests scopes for the tokens it sends): any valid token can do anything here.'
      : 'Tokens carry no scopes and none are checked: any valid token can do anything.',
    top([...acceptedTokens(ctx), ...requested]),
    {
      level: 'medium',
      reason: 'Decided from the absence of a scope or permission check on the accepted tokens.',
    },
  );
}

/** TM7: tokens bound to the target service (audience). */
function tm7(ctx: AuditContext): Outcome {
  const parts = issuedParts(ctx, {
    what: 'no token is bound to its audience',
    tessera: (evidence) => ({
      status: 'PASS',
      why: "Tessera requests one token per upstream, with that service's SPIFFE ID as audience",
      evidence,
    }),
    obtained: (token) =>
      token.audience !== undefined
        ? {
            status: 'PASS',
            why: 'Client-credentials tokens are requested for one audience at a time',
            evidence: [token.audience],
          }
        : {
            status: 'FAIL',
            why: `Client-credentials tokens are requested without an \`audience\` (${where(token.evidence)}), so one token is good at every service`,
            evidence: [token.evidence],
          },
    minted: (token) =>
      token.audience
        ? { status: 'PASS', why: 'Service tokens name their audience', evidence: [token.evidence] }
        : {
            status: 'FAIL',
            why: `Service tokens are minted without an audience (${where(token.evidence)}), so one token is accepted by every service`,
            evidence: [token.evidence],
          },
    static: (evidence) => ({
      status: 'FAIL',
      why: `Service calls use a static credential (${where(evidence[0])}), valid at every service that holds it`,
      evidence,
    }),
  });
  const { issued, verified } = serviceCredentials(ctx);
  const checked = [...verified.serviceJwt, ...verified.userJwt].filter(
    (v) => v.verifier.audience !== undefined && !v.verifier.tessera,
  );
  const unchecked = verified.serviceJwt.filter((v) => v.verifier.audience === undefined);
  const own =
    issued.tessera.length + issued.obtained.length + issued.minted.length + issued.static.length;
  // The tokens it accepts count beside its own; a forwarded token is judged on its own.
  if (own > 0 || (parts.length === 0 && unchecked.length > 0)) {
    if (checked.length > 0) {
      parts.push({
        status: 'PASS',
        why: 'Tokens this service accepts must name it in `aud`',
        evidence: top(checked.map((v) => ev(v.verifier.audience ?? v.verifier.site))),
      });
    }
    const evidence = unchecked.map((v) => ev(v.verifier.site));
    if (evidence.length > 0) {
      parts.push({
        status: 'FAIL',
        why: `Service tokens accepted here are not checked for an audience (${where(evidence[0])}), so a token meant for another service works here`,
        evidence: top(evidence),
      });
    }
  }
  return combine(merge(parts), NO_TOKENS);
}

/** TM8: compromised tokens can be revoked. */
function tm8(ctx: AuditContext): Outcome {
  const sources = secretSources(ctx);
  if (sources.tesseraPlugin.length > 0 || sources.revocationChecks.length > 0) {
    const tessera =
      sources.tesseraPlugin.length > 0
        ? 'the @tessera/fastify revocation feed is checked on every request'
        : 'tokens are checked against a revocation/deny list';
    return outcome(
      'PASS',
      `Compromised tokens can be revoked: ${tessera}.`,
      top([...sources.tesseraPlugin, ...sources.revocationChecks]),
    );
  }
  const none = noAcceptedTokens(ctx, 'revocation check');
  if (none !== undefined) return none;
  const inPlay = acceptedTokens(ctx);
  // The lifetime that limits a stolen token is that of the tokens accepted here: Tessera's
  // access tokens live minutes; the lifetime of tokens this service sends is no mitigation here.
  const { verified } = serviceCredentials(ctx);
  const accepted = [...verified.serviceJwt, ...verified.userJwt];
  const shortLived =
    accepted.length > 0 &&
    accepted.every((v) => v.verifier.tessera) &&
    verified.staticSecret.length === 0;
  if (shortLived) {
    return outcome(
      'PARTIAL',
      'There is no revocation check; only the short token lifetime limits how long a stolen token works.',
      top(inPlay),
    );
  }
  return outcome(
    'FAIL',
    'There is no way to revoke a compromised token before it expires.',
    top(inPlay),
  );
}

export const tokenManagementRules: RuleSet = {
  TM1: tm1,
  TM2: tm2,
  TM3: tm3,
  TM4: tm4,
  TM5: tm5,
  TM6: tm6,
  TM7: tm7,
  TM8: tm8,
};
