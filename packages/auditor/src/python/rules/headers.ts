/** The proxy-header (PH) checks for a Python service: identity headers it trusts. */
import type { AuditContext } from '../../analysis/context.ts';
import type { Outcome } from '../../model.ts';
import { outcome, type RuleSet } from '../../rules/rule.ts';
import type { Site } from '../facts.ts';
import { isSpoofableHeader, spoofableReads } from '../inbound.ts';
import { pythonModel, type PythonModel } from '../model.ts';
import { allFacts, authFacts, evidenceOf } from './common.ts';

const withModel =
  (decide: (m: PythonModel) => Outcome) =>
  (ctx: AuditContext): Outcome =>
    decide(pythonModel(ctx));

/** A gateway forwards inbound requests: it has outbound calls made from route handlers with the path. */
const isGateway = (m: PythonModel): boolean =>
  m.outbound.calls.some((c) =>
    /request\.(url|path)|path_params|full_path|\{path\}/.test(c.url?.text ?? ''),
  );

const ph1 = withModel((m) => {
  const reads = spoofableReads(allFacts(m));
  if (reads.length > 0) {
    // Behind authentication (a dependency after the credential check, an authenticated route's
    // handler, a request log): still trusted, but only from callers that authenticated.
    const open = reads.filter((r) => !behindAuthentication(m, r.site));
    return outcome(
      open.length > 0 ? 'FAIL' : 'PARTIAL',
      open.length > 0
        ? `Identity or internal-marker headers from the network are trusted (${[...new Set(open.map((r) => r.name))].join(', ')}).`
        : `Identity headers (${[...new Set(reads.map((r) => r.name))].join(', ')}) are not stripped: authenticated callers can set them and are believed.`,
      evidenceOf(
        m,
        (open.length > 0 ? open : reads).map((r) => r.site),
      ),
    );
  }
  const forwarded = m.outbound.calls.flatMap((c) =>
    c.headers.filter((h) => isSpoofableHeader(h.name)),
  );
  if (forwarded.length > 0) {
    return outcome(
      'PASS',
      'Identity headers sent downstream are set from the verified caller, never copied from the client.',
      evidenceOf(
        m,
        forwarded.map((h) => h.site),
      ),
    );
  }
  if (!isGateway(m))
    return outcome(
      'N/A',
      'The service is not a gateway and trusts no identity or internal-marker header.',
    );
  return outcome('PASS', 'No identity or internal-marker header from the client is trusted.');
});

/** Is the function at `site` reached only behind a credential check? */
function behindAuthentication(m: PythonModel, site: Site): boolean {
  const protections = m.inbound.protections.filter((p) => {
    const fns = [
      ...p.dependencies.map((f) => f.fn),
      ...(p.route.handler === undefined ? [] : [p.route.handler]),
    ];
    return fns.some(
      (fn) => fn.file === site.file && fn.node.line <= site.line && fn.node.endLine >= site.line,
    );
  });
  if (protections.length > 0) return protections.every((p) => p.authenticated);
  // Middleware reading it: believed for every request, authenticated or not.
  return (
    m.surface.middleware.some(
      (mw) =>
        mw.fn?.file === site.file &&
        mw.fn.node.line <= site.line &&
        mw.fn.node.endLine >= site.line,
    ) && m.inbound.authMiddleware.length > 0
  );
}

const gatewayOnly = (what: string) =>
  withModel((m) =>
    isGateway(m)
      ? outcome('N/A', `not analysed for Python: ${what} in a Python gateway.`)
      : outcome('N/A', 'The service is not a gateway: it forwards no request.'),
  );

const ph4 = withModel((m) => {
  const owner = allFacts(m).flatMap((f) =>
    f.headerReads.filter((h) =>
      /tenant|org(anization)?-id|account-id|user-?id|^x-user$|forwarded-user|remote-user/.test(
        h.name,
      ),
    ),
  );
  if (owner.length > 0) {
    return outcome(
      'FAIL',
      'The tenant or data owner is taken from a request header, not from the verified token.',
      evidenceOf(
        m,
        owner.map((h) => h.site),
      ),
    );
  }
  if (authFacts(m).length > 0)
    return outcome(
      'PASS',
      'The user and tenant come only from the verified credential; no header sets them.',
    );
  return outcome('N/A', 'The service reads no tenant or user id.');
});

export const pythonHeaderRules: RuleSet = {
  PH1: ph1,
  PH2: gatewayOnly('the gateway marker added to forwarded requests'),
  PH3: gatewayOnly('forwarding of the original client IP'),
  PH4: ph4,
  PH5: gatewayOnly('filtering of response headers'),
};
