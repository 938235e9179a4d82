/** The proxy-header (PH) checks for a Python service: identity headers it trusts. */
import type { AuditContext } from '../../analysis/context.ts';
import type { Outcome } from '../../model.ts';
import { outcome, type RuleSet } from '../../rules/rule.ts';
import { spoofableReads } from '../inbound.ts';
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
  if (reads.length > 0)
    return outcome(
      'FAIL',
      `Identity or internal-marker headers from the network are trusted (${[...new Set(reads.map((r) => r.name))].join(', ')}).`,
      evidenceOf(
        m,
        reads.map((r) => r.site),
      ),
    );
  if (!isGateway(m))
    return outcome(
      'N/A',
      'The service is not a gateway and trusts no identity or internal-marker header.',
    );
  return outcome('PASS', 'No identity or internal-marker header from the client is trusted.');
});

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
