import { evidenceAt } from '../ast/syntax.ts';
import type { Evidence, Outcome } from '../model.ts';
import { httpModel } from '../analysis/outbound/index.ts';
import {
  credentialSummary,
  STATIC_KINDS,
  top,
  where,
  type CredentialSummary,
} from '../analysis/outbound/summary.ts';
import { loggedSecrets, secretSources, urlTokens } from '../analysis/secrets/index.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

const NO_TOKENS =
  'No service tokens are issued or used: no outbound service calls and no token minting.';

interface Verdict {
  status: 'PASS' | 'PARTIAL' | 'FAIL';
  why: string;
  evidence: Evidence[];
}

/**
 * The service-token situation, shared by TM1–TM3 and TM7: Tessera's token source, tokens minted
 * here, static tokens, forwarded user tokens, or calls without any token.
 */
function tokenSituation(
  ctx: AuditContext,
):
  | { kind: 'none' }
  | { kind: 'static'; evidence: Evidence[] }
  | { kind: 'forwarded'; evidence: Evidence[] }
  | { kind: 'unauthenticated'; evidence: Evidence[] }
  | { kind: 'tokens'; s: CredentialSummary } {
  const s = credentialSummary(ctx);
  const staticOnes = STATIC_KINDS.flatMap((k) => s.byKind.get(k) ?? []).concat(
    s.byKind.get('marker') ?? [],
  );
  if (staticOnes.length > 0)
    return { kind: 'static', evidence: top(staticOnes.map((c) => c.evidence)) };
  if (s.tessera.length > 0 || s.serviceTokens.length > 0) return { kind: 'tokens', s };
  const forwarded = s.byKind.get('forwarded-user') ?? [];
  if (forwarded.length > 0)
    return { kind: 'forwarded', evidence: top(forwarded.map((c) => c.evidence)) };
  if (s.internal.length > 0)
    return { kind: 'unauthenticated', evidence: top(s.internal.map((c) => c.evidence)) };
  return { kind: 'none' };
}

/** Applies a per-token verdict, with the shared FAIL/N/A cases. */
function judgeTokens(
  ctx: AuditContext,
  what: string,
  decide: (s: CredentialSummary) => Verdict,
): Outcome {
  const situation = tokenSituation(ctx);
  switch (situation.kind) {
    case 'none':
      return outcome('N/A', NO_TOKENS);
    case 'static':
      return outcome(
        'FAIL',
        `Service calls use a static credential (${where(situation.evidence[0])}), so ${what}.`,
        situation.evidence,
      );
    case 'forwarded':
      return outcome(
        'FAIL',
        `There are no service tokens: the caller's token is forwarded (${where(situation.evidence[0])}), so ${what}.`,
        situation.evidence,
      );
    case 'unauthenticated':
      return outcome(
        'FAIL',
        `Outbound service calls carry no token at all, so ${what}.`,
        situation.evidence,
      );
    case 'tokens': {
      const verdict = decide(situation.s);
      return outcome(verdict.status, verdict.why, verdict.evidence);
    }
  }
}

/** TM1: service tokens expire. */
function tm1(ctx: AuditContext): Outcome {
  return judgeTokens(ctx, 'nothing expires', (s) => {
    if (s.tessera.length > 0)
      return {
        status: 'PASS',
        why: 'Service tokens come from the Tessera authority with an expiry, and expired ones are never used.',
        evidence: top(s.tessera),
      };
    const missing = s.serviceTokens.filter((t) => t.lifetime === 'missing');
    if (missing[0] !== undefined)
      return {
        status: 'FAIL',
        why: `Service tokens are minted without an expiry (${where(missing[0].evidence)}).`,
        evidence: top(missing.map((t) => t.evidence)),
      };
    const unknown = s.serviceTokens.filter((t) => t.lifetime === 'unknown');
    if (unknown[0] !== undefined)
      return {
        status: 'PARTIAL',
        why: `The expiry of service tokens comes from configuration (${where(unknown[0].evidence)}).`,
        evidence: top(unknown.map((t) => t.evidence)),
      };
    return {
      status: 'PASS',
      why: 'Service tokens are minted with an expiry.',
      evidence: top(s.serviceTokens.map((t) => t.evidence)),
    };
  });
}

/** TM2: tokens are refreshed. */
function tm2(ctx: AuditContext): Outcome {
  return judgeTokens(ctx, 'there is nothing to refresh', (s) => {
    if (s.tessera.length > 0)
      return {
        status: 'PASS',
        why: 'The Tessera token source refreshes tokens ahead of expiry (single flight, jittered, with backoff).',
        evidence: top(s.tessera),
      };
    const leases = secretSources(ctx).leases;
    const atStartup = s.serviceTokens.filter((t) => t.once);
    if (atStartup[0] !== undefined)
      return {
        status: 'FAIL',
        why: `A service token is minted once at start-up (${where(atStartup[0].evidence)}) and never renewed.`,
        evidence: top(atStartup.map((t) => t.evidence)),
      };
    return {
      status: 'PASS',
      why: 'Service tokens are minted at run time when needed, so a fresh one replaces each expired token.',
      evidence: top([...s.serviceTokens.map((t) => t.evidence), ...leases]),
    };
  });
}

/** TM3: short-lived tokens. */
function tm3(ctx: AuditContext): Outcome {
  return judgeTokens(ctx, 'nothing is short-lived', (s) => {
    if (s.tessera.length > 0)
      return {
        status: 'PASS',
        why: 'Tessera access tokens are short-lived and renewed by the token source.',
        evidence: top(s.tessera),
      };
    const missing = s.serviceTokens.filter((t) => t.lifetime === 'missing');
    if (missing[0] !== undefined)
      return {
        status: 'FAIL',
        why: `Service tokens never expire (${where(missing[0].evidence)}).`,
        evidence: top(missing.map((t) => t.evidence)),
      };
    const long = s.serviceTokens.filter((t) => typeof t.lifetime === 'number' && t.lifetime > 3600);
    if (long[0] !== undefined) {
      const hours = Number(long[0].lifetime) / 3600;
      return {
        status: hours > 24 ? 'FAIL' : 'PARTIAL',
        why: `Service tokens live ${String(Math.round(hours * 10) / 10)} h (${where(long[0].evidence)}), longer than an hour.`,
        evidence: top(long.map((t) => t.evidence)),
      };
    }
    const unknown = s.serviceTokens.filter((t) => t.lifetime === 'unknown');
    if (unknown[0] !== undefined)
      return {
        status: 'PARTIAL',
        why: `Token lifetime comes from configuration (${where(unknown[0].evidence)}).`,
        evidence: top(unknown.map((t) => t.evidence)),
      };
    return {
      status: 'PASS',
      why: 'Service tokens live at most an hour.',
      evidence: top(s.serviceTokens.map((t) => t.evidence)),
    };
  });
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

/** Is there any token handling at all (for TM6/TM8 applicability)? */
function tokensInPlay(ctx: AuditContext): Evidence[] {
  const s = credentialSummary(ctx);
  const sources = secretSources(ctx);
  return [
    ...s.tessera,
    ...s.serviceTokens.map((t) => t.evidence),
    ...sources.verification,
    ...[...s.byKind.values()].flat().map((c) => c.evidence),
  ];
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
  const requested = [
    ...sources.scopesRequested,
    ...httpModel(ctx).requestedScopes.map((r) => evidenceAt(r.unit, r.node)),
  ];
  if (requested.length > 0) {
    return outcome(
      'PARTIAL',
      'Outbound tokens are requested with scopes, but no scope is checked on tokens this service accepts.',
      top(requested),
    );
  }
  const inPlay = tokensInPlay(ctx);
  if (inPlay.length === 0) return outcome('N/A', NO_TOKENS);
  return outcome(
    'FAIL',
    'Tokens carry no scopes and none are checked: any valid token can do anything.',
    top(inPlay),
  );
}

/** TM7: tokens bound to the target service (audience). */
function tm7(ctx: AuditContext): Outcome {
  return judgeTokens(ctx, 'no token is bound to its audience', (s) => {
    if (s.tessera.length > 0)
      return {
        status: 'PASS',
        why: "Tessera requests one token per upstream, with that service's SPIFFE ID as audience.",
        evidence: top(s.tessera),
      };
    const unbound = s.serviceTokens.filter((t) => !t.audience);
    if (unbound[0] !== undefined)
      return {
        status: 'FAIL',
        why: `Service tokens are minted without an audience (${where(unbound[0].evidence)}), so one token is accepted by every service.`,
        evidence: top(unbound.map((t) => t.evidence)),
      };
    return {
      status: 'PASS',
      why: 'Service tokens name their audience.',
      evidence: top(s.serviceTokens.map((t) => t.evidence)),
    };
  });
}

/** TM8: compromised tokens can be revoked. */
function tm8(ctx: AuditContext): Outcome {
  const sources = secretSources(ctx);
  const s = credentialSummary(ctx);
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
  const inPlay = tokensInPlay(ctx);
  if (inPlay.length === 0) return outcome('N/A', NO_TOKENS);
  const shortLived =
    s.tessera.length > 0 ||
    (s.serviceTokens.length > 0 &&
      s.serviceTokens.every((t) => typeof t.lifetime === 'number' && t.lifetime <= 900));
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
