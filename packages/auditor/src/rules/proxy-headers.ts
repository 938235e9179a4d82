/**
 * Proxy Headers (seed audit 001): PH1 internal headers blocked, PH2 gateway marker added, PH3
 * original IP forwarded, PH4 tenant id from the JWT only, PH5 response headers filtered.
 * PH1, PH2, PH3 and PH5 concern services that proxy requests to upstreams (gateways) and are
 * N/A elsewhere: a backend that trusts an identity header is SE8's finding (and PH4's for a
 * tenant), not a header the service should have blocked on the way through. PH4 applies to any
 * service that reads a tenant.
 */
import ts from 'typescript';
import type { HeaderRead, Site } from '../analysis/inbound/facts.ts';
import {
  evidenceOf,
  isInternalHeader,
  listed,
  sitesOf,
  strippedHeaders,
  usesTessera,
  withServer,
} from './inbound.ts';
import type { InboundModel } from '../analysis/inbound/model.ts';
import { TENANT_HEADER, TENANT_NAME } from '../analysis/inbound/vocabulary.ts';
import type { Outcome } from '../model.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

/** Is the service a proxy/gateway (it forwards requests upstream)? */
function proxySites(model: InboundModel): readonly Site[] {
  return model.proxies;
}

function ph1(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const stripped = strippedHeaders(model);
  const proxies = proxySites(model);
  const reads = sitesOf(model, (f) => f.headerReads).filter((h) => isInternalHeader(h.header));
  const trusted = reads.filter((h) => !stripped.headers.has(h.header));
  if (trusted.length > 0 && proxies.length > 0) {
    return outcome(
      'FAIL',
      `Incoming "${listed([...new Set(trusted.map((t) => t.header))])}" headers are read and trusted, and nothing removes them when a client sends them.`,
      evidenceOf(trusted),
    );
  }
  if (stripped.sites.length > 0) {
    return outcome(
      'PASS',
      usesTessera(model)
        ? 'Tessera removes spoofable identity and "internal" headers before any handler sees them.'
        : `Internal headers (${listed([...stripped.headers])}) are removed from incoming requests.`,
      evidenceOf(stripped.sites, 5),
    );
  }
  if (proxies.length > 0) {
    return outcome(
      'FAIL',
      'Requests are proxied upstream without removing internal or identity headers a client may have set.',
      evidenceOf(proxies),
    );
  }
  return outcome(
    'N/A',
    trusted.length > 0
      ? `The service does not proxy requests, so there is no hop to block headers at; its trust in "${listed([...new Set(trusted.map((t) => t.header))])}" is judged by SE8 (caller identity) and PH4 (tenant).`
      : 'The service does not proxy requests upstream, so there are no forwarded headers to block.',
    evidenceOf(trusted),
  );
}

/** Does a proxy rewrite add a header (a marker or a service credential)? */
function addsHeader(site: Site): boolean {
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) {
      const text = node.name.getText(site.unit.sourceFile).replace(/['"`]/g, '').toLowerCase();
      if (/^(x-|authorization$)/.test(text)) found = true;
    } else if (ts.isCallExpression(node)) {
      const text = node.expression.getText(site.unit.sourceFile);
      if (/setHeader$|\.set$|\.header$/.test(text)) found = true;
    } else if (
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      node.left.getText(site.unit.sourceFile).includes('headers')
    ) {
      found = true;
    }
    ts.forEachChild(node, visit);
  };
  visit(site.node);
  return found;
}

/** Project functions called from inside a node (one level): a rewrite that delegates. */
function calledFunctions(model: InboundModel, site: Site): Site[] {
  const found: Site[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      for (const target of model.index.calleeTargets(site.unit, node)) {
        if (target.kind === 'function')
          found.push({ unit: target.facts.unit, node: target.facts.node });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(site.node);
  return found;
}

function proxyOnly(
  ctx: AuditContext,
  judge: (model: InboundModel, proxies: readonly Site[]) => Outcome,
): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const proxies = proxySites(model);
  if (proxies.length === 0) {
    return outcome(
      'N/A',
      'The service does not proxy requests to upstream services (no http-proxy, reply-from or proxy middleware).',
    );
  }
  return judge(model, proxies);
}

function ph2(ctx: AuditContext): Outcome {
  return proxyOnly(ctx, (model, proxies) => {
    const rewrites = model.files
      .flatMap((f) => f.proxyRequestRewrites)
      .filter((site) => addsHeader(site) || calledFunctions(model, site).some(addsHeader));
    return rewrites.length > 0
      ? outcome(
          'PASS',
          'The proxy adds its own header to forwarded requests.',
          evidenceOf(rewrites),
        )
      : outcome(
          'FAIL',
          'Forwarded requests carry nothing that marks them as coming through the gateway.',
          evidenceOf(proxies),
        );
  });
}

function ph3(ctx: AuditContext): Outcome {
  return proxyOnly(ctx, (model, proxies) => {
    const forwarded = model.files.flatMap((f) => f.forwardedFor);
    return forwarded.length > 0
      ? outcome(
          'PASS',
          "The client's address is forwarded upstream (X-Forwarded-For / Forwarded).",
          evidenceOf(forwarded),
        )
      : outcome(
          'FAIL',
          'Upstreams do not receive the original client address (no X-Forwarded-For or xfwd).',
          evidenceOf(proxies),
        );
  });
}

function ph4(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const fromHeaders: HeaderRead[] = sitesOf(model, (f) => f.headerReads).filter((h) =>
    TENANT_HEADER.test(h.header),
  );
  const stripped = strippedHeaders(model).headers;
  const live = fromHeaders.filter((h) => !stripped.has(h.header));
  if (live.length > 0) {
    return outcome(
      'FAIL',
      `The tenant is taken from the "${live[0]?.header ?? ''}" request header, which the caller controls, instead of from the verified token.`,
      evidenceOf(live),
    );
  }
  if (fromHeaders.length > 0) {
    return outcome(
      'PARTIAL',
      `The code reads "${fromHeaders[0]?.header ?? ''}", which is stripped before handlers run, so it is always empty; take the tenant from the verified token (request.caller.tenant).`,
      evidenceOf(fromHeaders),
    );
  }
  const claims = sitesOf(model, (f) => f.claimReads).filter((c) => TENANT_NAME.test(c.name));
  if (claims.length > 0) {
    return outcome(
      'PASS',
      "The tenant is read from the verified token's claims, never from a header.",
      evidenceOf(claims, 5),
    );
  }
  return outcome('N/A', 'The service has no notion of a tenant in this code.');
}

function ph5(ctx: AuditContext): Outcome {
  return proxyOnly(ctx, (model, proxies) => {
    const filters = [
      ...model.files.flatMap((f) => f.proxyResponseRewrites),
      ...model.files.flatMap((f) => f.responseHeaderFilters),
    ];
    return filters.length > 0
      ? outcome(
          'PASS',
          'Upstream response headers are filtered before reaching the client.',
          evidenceOf(filters),
        )
      : outcome(
          'FAIL',
          'Upstream responses are passed through with all their headers, internal ones included.',
          evidenceOf(proxies),
        );
  });
}

export const proxyHeadersRules: RuleSet = {
  PH1: ph1,
  PH2: ph2,
  PH3: ph3,
  PH4: ph4,
  PH5: ph5,
};
