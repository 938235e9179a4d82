/**
 * Fail-Secure (seed audit 001): FS1 access check fails secure, FS2 token validation fails
 * secure, FS3 health-check errors handled.
 */
import { authenticates } from '../analysis/inbound/coverage.ts';
import type { Site } from '../analysis/inbound/facts.ts';
import {
  evidenceOf,
  guardedRoutes,
  handlerSummaries,
  routeName,
  listed,
  noAuthenticatedApi,
  sitesOf,
  usesTessera,
  withServer,
  workCalls,
} from './inbound.ts';
import type { InboundModel } from '../analysis/inbound/model.ts';
import type { Outcome } from '../model.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

/** Error paths of authentication code that let the request through. */
function failOpenSites(model: InboundModel, tokenOnly: boolean): Site[] {
  const sites: Site[] = [];
  for (const fn of model.functions) {
    if (fn.failOpen.length === 0) continue;
    const verifiesToken =
      fn.verifications.some((v) => v.kind !== 'timing-safe') || fn.decodes.length > 0;
    if (tokenOnly && !verifiesToken) continue;
    sites.push(...fn.failOpen);
  }
  return sites;
}

/** Where the access checks are, for PASS evidence. */
function checkSites(model: InboundModel): Site[] {
  return [
    ...model.tessera.map((t) => t.site),
    ...guardedRoutes(model).flatMap((r) => r.protection.deciding.map((d) => d.site)),
  ];
}

function hasAccessCheck(model: InboundModel): boolean {
  return usesTessera(model) || model.routes.some((r) => authenticates(r.protection.level));
}

/** What FS1 and FS2 say at each step; they walk the same steps over different checks. */
interface FailSecureWording {
  readonly unset: string;
  readonly failOpen: string;
  readonly noCheck: string;
  readonly passTessera: string;
  readonly passOther: string;
}

/**
 * The steps FS1 and FS2 share, in order: a check that allows everything when its secret is
 * unset, an error path that lets the request through (of token verification only, for FS2),
 * `extra` (FS2's serve-stale), no check at all, else PASS.
 */
function failSecure(
  ctx: AuditContext,
  tokenOnly: boolean,
  wording: FailSecureWording,
  extra?: (model: InboundModel) => Outcome | undefined,
): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const unset = sitesOf(model, (f) => f.allowWhenUnset);
  if (unset.length > 0) return outcome('FAIL', wording.unset, evidenceOf(unset));
  const open = failOpenSites(model, tokenOnly);
  if (open.length > 0) return outcome('FAIL', wording.failOpen, evidenceOf(open));
  const found = extra?.(model);
  if (found !== undefined) return found;
  if (!hasAccessCheck(model)) {
    return (
      noAuthenticatedApi(model) ?? outcome('FAIL', wording.noCheck, evidenceOf(model.serverSites))
    );
  }
  return outcome(
    'PASS',
    usesTessera(model) ? wording.passTessera : wording.passOther,
    evidenceOf(checkSites(model), 5),
  );
}

function fs1(ctx: AuditContext): Outcome {
  return failSecure(ctx, false, {
    unset:
      'The access check lets every request through when its secret is not configured, instead of refusing.',
    failOpen:
      'When the access check throws, its error handler lets the request through instead of refusing it.',
    noCheck: 'There is no access check at all, so nothing can fail secure.',
    passTessera:
      'Tessera refuses on any verification or policy error (deny by default, fail-closed on stale revocations).',
    passOther:
      'Access checks refuse the request when they fail or throw; no error path lets it through.',
  });
}

function fs2(ctx: AuditContext): Outcome {
  return failSecure(
    ctx,
    true,
    {
      unset:
        'Token validation is skipped entirely when the secret is unset, so a missing variable disables it.',
      failOpen:
        'A token that fails verification is let through: the error is caught (or ignored) and the request continues.',
      noCheck: 'No token is validated, so there is nothing that could fail secure.',
      passTessera:
        'Tessera refuses every token it cannot verify, and refuses all tokens while revocations are stale (fail-closed).',
      passOther:
        'A token that fails validation ends the request with an error; no error path lets it through.',
    },
    (model) => {
      const stale = model.tessera.flatMap((t) =>
        t.serveStale === undefined ? [] : [t.serveStale],
      );
      return stale.length === 0
        ? undefined
        : outcome(
            'PARTIAL',
            'Tessera is set to `staleRevocations: serve-stale`: when the revocation feed is down, revoked tokens keep verifying.',
            evidenceOf(stale),
          );
    },
  );
}

function fs3(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const probes = model.routes.filter((r) => r.health);
  if (probes.length === 0) {
    return outcome('N/A', 'No health-check route was found in this code.');
  }
  const unhandled: typeof probes = [];
  const handled: Site[] = [];
  for (const probe of probes) {
    const summaries = handlerSummaries(probe, model);
    const work = summaries.flatMap(workCalls);
    if (work.length === 0) continue;
    const guarded = summaries.some((s) =>
      s.functions.some(
        (f) => f.tries.some((t) => t.catchClause !== undefined) || f.promiseCatches.length > 0,
      ),
    );
    if (guarded) handled.push(probe.route.site);
    else unhandled.push(probe);
  }
  if (unhandled.length > 0) {
    return outcome(
      'FAIL',
      `Dependency errors are not caught in ${listed(unhandled.map(routeName))}, so a failing dependency surfaces as an unhandled 500 rather than an "unhealthy" answer.`,
      evidenceOf(unhandled.map((p) => p.route.site)),
    );
  }
  return outcome(
    'PASS',
    handled.length > 0
      ? 'Health checks catch dependency errors and answer with an unhealthy status.'
      : 'Health checks answer without calling anything that can throw.',
    evidenceOf(probes.map((p) => p.route.site)),
  );
}

export const failSecureRules: RuleSet = {
  FS1: fs1,
  FS2: fs2,
  FS3: fs3,
};
