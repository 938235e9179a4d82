import { evidenceAt } from '../ast/syntax.ts';
import type { Evidence, Outcome } from '../model.ts';
import { workloadIdentityFacts } from '../analysis/identity.ts';
import { serviceAddresses } from '../analysis/infra/addresses.ts';
import { serviceDeployment } from '../analysis/infra/deployment.ts';
import { infraModel } from '../analysis/infra/index.ts';
import type { ComposeService } from '../analysis/infra/platform.ts';
import { optionOf, resolveObject } from '../analysis/outbound/expressions.ts';
import { httpModel } from '../analysis/outbound/index.ts';
import { productionFacts } from '../analysis/outbound/scan.ts';
import { credentialSummary, top, transportSummary, where } from '../analysis/outbound/summary.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

const NO_MANIFESTS = 'No Kubernetes or compose manifests are in the repository.';
const LOCAL_COMPOSE =
  'No Kubernetes manifests deploy the service; its compose files are for local development.';

/**
 * How a compose deployment separates the service from its neighbours: the other containers
 * that share a network with it (every one of them on the default network), and whether all of
 * its networks are `internal` (no route out of the host).
 */
interface ComposeReach {
  readonly service: ComposeService;
  readonly neighbours: readonly ComposeService[];
  readonly others: number;
  readonly internalOnly: boolean;
  readonly evidence: readonly Evidence[];
}

/** The compose deployment of the service, when compose (not Kubernetes) deploys it. */
function composeReach(ctx: AuditContext): ComposeReach | undefined {
  const deployment = serviceDeployment(ctx);
  const service = deployment.composeServices[0];
  if (!deployment.composeDeploys || service === undefined) return undefined;
  const networksOf = (s: ComposeService) => (s.networks.length === 0 ? ['default'] : s.networks);
  const own = new Set(networksOf(service));
  const others = deployment.composeStack.filter((s) => s !== service);
  const declared = infraModel(ctx).platform.composeNetworks.filter(
    (n) => n.file === service.file && own.has(n.name),
  );
  return {
    service,
    neighbours: others.filter((s) => networksOf(s).some((n) => own.has(n))),
    others: others.length,
    internalOnly:
      own.size > 0 && [...own].every((n) => declared.some((d) => d.name === n && d.internal)),
    evidence: [service.evidence, ...declared.map((n) => n.evidence)],
  };
}

/** Compose files may describe a test stack rather than production. */
const COMPOSE_CONFIDENCE = {
  level: 'medium',
  reason:
    'Decided from a compose file taken for the deployment (no Kubernetes manifests, not named or headed for development).',
} as const;

/** Why an infrastructure check cannot be decided: no manifests, or only local compose files. */
function undecided(ctx: AuditContext): Outcome {
  return infraModel(ctx).platform.compose.length > 0
    ? outcome('N/A', LOCAL_COMPOSE)
    : outcome('N/A', NO_MANIFESTS);
}

/**
 * Servers that terminate TLS themselves (`https.createServer`, `fastify({ https })`, a Tessera
 * workload identity's `tlsServerOptions()` or `attachServer()`).
 */
function inboundTls(ctx: AuditContext): Evidence[] {
  const out: Evidence[] = workloadIdentityFacts(ctx).servers.map((s) =>
    evidenceAt(s.site.unit, s.site.node),
  );
  for (const file of productionFacts(ctx)) {
    for (const call of file.calls) {
      const reference = ctx.symbols.moduleReference(file.unit, call.expression);
      const name = reference?.path.at(-1);
      if (
        (reference?.module === 'https' ||
          reference?.module === 'node:https' ||
          reference?.module === 'http2' ||
          reference?.module === 'node:http2' ||
          reference?.module === 'tls' ||
          reference?.module === 'node:tls') &&
        (name === 'createServer' || name === 'createSecureServer')
      ) {
        out.push(evidenceAt(file.unit, call));
      }
      if (reference?.module === 'fastify' && reference.path.length === 0) {
        const options =
          call.arguments[0] === undefined
            ? undefined
            : resolveObject(ctx.symbols, file.unit, call.arguments[0]);
        if (options !== undefined && optionOf(ctx.symbols, options, 'https') !== undefined) {
          out.push(evidenceAt(file.unit, call));
        }
      }
    }
  }
  return out;
}

/** NW1: all internal traffic encrypted. */
function nw1(ctx: AuditContext): Outcome {
  const mesh = infraModel(ctx).platform.mesh;
  const disabled = mesh.filter((m) => m.mode === 'disabled');
  const strict = mesh.filter((m) => m.mode === 'strict');
  const permissive = mesh.filter((m) => m.mode === 'permissive');
  if (disabled[0] !== undefined)
    return outcome(
      'FAIL',
      `Mesh mTLS is switched off (${where(disabled[0].evidence)}).`,
      top(disabled.map((m) => m.evidence)),
    );
  if (strict.length > 0)
    return outcome(
      'PASS',
      'The service mesh enforces mutual TLS between workloads.',
      top(strict.map((m) => m.evidence)),
    );
  if (permissive.length > 0) {
    return outcome(
      'PARTIAL',
      'The mesh runs in permissive mode: plain-text traffic is still accepted.',
      top(permissive.map((m) => m.evidence)),
    );
  }
  const s = credentialSummary(ctx);
  const t = transportSummary(ctx);
  const guards = httpModel(ctx).httpsGuards.map((g) => evidenceAt(g.unit, g.node));
  const addresses = serviceAddresses(ctx).filter((a) => a.kind !== 'loopback');
  const deployedPlain = addresses.filter((a) => a.source === 'deployed' && a.plaintext);
  if (guards.length === 0 && deployedPlain[0] !== undefined) {
    return outcome(
      'FAIL',
      `The deployment connects the service over unencrypted ${deployedPlain[0].scheme}:// (${deployedPlain[0].host} at ${where(deployedPlain[0].evidence)}) and no mesh encrypts it.`,
      top(deployedPlain.map((a) => a.evidence)),
    );
  }
  if (guards.length === 0 && t.plain[0] !== undefined) {
    return outcome(
      'FAIL',
      `Service traffic uses plain http:// (${where(t.plain[0])}) and no mesh encrypts it.`,
      top(t.plain),
    );
  }
  if (guards.length === 0 && t.plainDefaults[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Service URLs default to plain http:// (${where(t.plainDefaults[0])}); encryption depends on configuration.`,
      top(t.plainDefaults),
    );
  }
  const server = inboundTls(ctx);
  const outboundTls =
    s.channels.length > 0 && (guards.length > 0 || (t.unknown.length === 0 && t.https.length > 0));
  const unverified = httpModel(ctx).insecureTls.map((i) => evidenceAt(i.unit, i.node));
  if ((outboundTls || server.length > 0) && unverified[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Traffic is encrypted, but a client does not verify the server's certificate (${where(unverified[0])}): anyone on the path can stand in for the server and read it.`,
      top([...unverified, ...server, ...guards]),
    );
  }
  if (outboundTls && server.length > 0) {
    return outcome(
      'PASS',
      'The service serves TLS and its outbound calls require https.',
      top([...server, ...guards]),
    );
  }
  if (outboundTls || server.length > 0) {
    const which = outboundTls
      ? 'Outbound calls require https, but the service itself serves plain HTTP without a mesh.'
      : 'The service serves TLS, but its outbound calls do not require https.';
    return outcome('PARTIAL', which, top([...server, ...guards]));
  }
  if (t.unknown.length > 0) {
    return outcome(
      'PARTIAL',
      'HTTPS between services is not enforced: URLs take their scheme from configuration.',
      top(t.unknown),
    );
  }
  // No client the outbound analysis models, but the configuration names the backends.
  const defaultsPlain = addresses.filter((a) => a.source === 'default' && a.plaintext);
  if (defaultsPlain[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Backend addresses default to unencrypted ${[...new Set(defaultsPlain.map((a) => `${a.scheme}://`))].join(' and ')} (${where(defaultsPlain[0].evidence)}); encryption depends on configuration.`,
      top(defaultsPlain.map((a) => a.evidence)),
      { level: 'medium', reason: 'Decided from defaults that configuration may replace.' },
    );
  }
  return outcome(
    'N/A',
    'Neither a service mesh nor TLS settings for service traffic are visible in the repository.',
  );
}

/** NW2: network policies restrict service-to-service traffic. */
function nw2(ctx: AuditContext): Outcome {
  const platform = infraModel(ctx).platform;
  const ingress = platform.networkPolicies.filter((p) => p.ingress);
  const restricting = ingress.filter((p) => !p.allowsAllIngress);
  if (restricting.length > 0)
    return outcome(
      'PASS',
      'NetworkPolicies restrict which workloads may reach each other.',
      top(restricting.map((p) => p.evidence)),
    );
  if (ingress[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `The network policy allows ingress from everyone (${where(ingress[0].evidence)}).`,
      top(ingress.map((p) => p.evidence)),
    );
  }
  if (platform.helmNetworkPolicies.length > 0) {
    return outcome(
      'PASS',
      "The Helm chart's NetworkPolicy is enabled.",
      top(platform.helmNetworkPolicies),
    );
  }
  if (platform.meshAuthorization.length > 0) {
    return outcome(
      'PASS',
      'Mesh authorization policies restrict service-to-service traffic.',
      top(platform.meshAuthorization),
    );
  }
  if (platform.kubernetes.length > 0) {
    return outcome(
      'FAIL',
      'Kubernetes workloads are deployed without any NetworkPolicy: every pod can reach every other.',
      top(platform.kubernetes),
    );
  }
  const compose = composeReach(ctx);
  if (compose === undefined || compose.others === 0) return undecided(ctx);
  if (compose.neighbours.length < compose.others) {
    return outcome(
      'PASS',
      `Compose networks separate \`${compose.service.name}\` from ${String(compose.others - compose.neighbours.length)} of the ${String(compose.others)} other containers.`,
      top(compose.evidence),
      COMPOSE_CONFIDENCE,
    );
  }
  return outcome(
    'FAIL',
    `The compose deployment puts \`${compose.service.name}\` on one network with every other container (${where(compose.service.evidence)}): nothing restricts who reaches it.`,
    top(compose.evidence),
    COMPOSE_CONFIDENCE,
  );
}

/** NW3: services cannot reach arbitrary external endpoints. */
function nw3(ctx: AuditContext): Outcome {
  const platform = infraModel(ctx).platform;
  const egress = platform.networkPolicies.filter((p) => p.egress);
  const open = egress.filter((p) => p.egressOpen);
  const allowlist = egress.filter((p) => p.egressAllowlist);
  if (allowlist.length > 0 && open.length === 0) {
    return outcome(
      'PASS',
      'Egress is limited to an allowlist of destinations.',
      top(allowlist.map((p) => p.evidence)),
    );
  }
  if (platform.meshEgress.length > 0 && open.length === 0) {
    return outcome(
      'PASS',
      'The mesh only lets workloads reach registered destinations (REGISTRY_ONLY / Sidecar egress).',
      top(platform.meshEgress),
    );
  }
  if (open[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `An egress rule allows any destination (${where(open[0].openEgressEvidence ?? open[0].evidence)}).`,
      top(open.map((p) => p.openEgressEvidence ?? p.evidence)),
    );
  }
  if (platform.kubernetes.length > 0) {
    return outcome(
      'FAIL',
      'No egress policy: workloads can reach any external endpoint.',
      top(platform.kubernetes),
    );
  }
  return composeEgress(ctx, 'No egress restriction in the compose deployment');
}

/** NW3/NW4 for a compose deployment: only `internal` networks have no route out. */
function composeEgress(ctx: AuditContext, missing: string): Outcome {
  const compose = composeReach(ctx);
  if (compose === undefined) return undecided(ctx);
  if (compose.internalOnly) {
    return outcome(
      'PASS',
      `\`${compose.service.name}\` is only on internal compose networks, which have no route out of the host.`,
      top(compose.evidence),
      COMPOSE_CONFIDENCE,
    );
  }
  return outcome(
    'FAIL',
    `${missing}: \`${compose.service.name}\` (${where(compose.service.evidence)}) can reach any external endpoint.`,
    top(compose.evidence),
    COMPOSE_CONFIDENCE,
  );
}

/** NW4: egress filtering configured. */
function nw4(ctx: AuditContext): Outcome {
  const platform = infraModel(ctx).platform;
  const egress = platform.networkPolicies.filter((p) => p.egress);
  const open = egress.filter((p) => p.egressOpen);
  if (open[0] !== undefined && platform.meshEgress.length === 0) {
    const at = open[0].openEgressEvidence ?? open[0].evidence;
    return outcome(
      'PARTIAL',
      `An egress policy exists, but a rule lets traffic out to any destination (${where(at)}) and no egress gateway filters it.`,
      top(open.map((p) => p.openEgressEvidence ?? p.evidence)),
    );
  }
  if (egress.length > 0 || platform.meshEgress.length > 0) {
    return outcome(
      'PASS',
      'Egress filtering is configured.',
      top([...egress.map((p) => p.evidence), ...platform.meshEgress]),
    );
  }
  if (platform.kubernetes.length > 0)
    return outcome(
      'FAIL',
      'No egress filtering is configured for the Kubernetes workloads.',
      top(platform.kubernetes),
    );
  return composeEgress(ctx, 'No egress filtering in the compose deployment');
}

/**
 * NW5: internal DNS for internal services: the hosts of the service's outbound calls, of its
 * configured backend addresses and of the URLs its deployment sets. An internal service on a
 * public domain (`pricing.internal.example.com`) resolves through public DNS.
 */
function nw5(ctx: AuditContext): Outcome {
  const s = credentialSummary(ctx);
  const urls = s.channels.flatMap((c) => c.urls);
  const publicIp = urls.filter(
    (u) =>
      u.url.host !== undefined &&
      /^\d+(\.\d+){3}$/.test(u.url.host) &&
      !u.url.internalName &&
      !u.url.loopback,
  );
  const addresses = serviceAddresses(ctx);
  const publicIpAddresses = addresses.filter((a) => a.kind === 'public-ip');
  const firstPublicIp = publicIp[0];
  if (firstPublicIp !== undefined || publicIpAddresses[0] !== undefined) {
    const text = firstPublicIp?.url.text ?? publicIpAddresses[0]?.url ?? '';
    const at = firstPublicIp?.evidence ?? publicIpAddresses[0]?.evidence;
    return outcome(
      'FAIL',
      `A service is addressed by a public IP address (${text}${at === undefined ? '' : ` at ${where(at)}`}).`,
      top([...publicIp.map((u) => u.evidence), ...publicIpAddresses.map((a) => a.evidence)]),
    );
  }
  const internal = [
    ...urls.filter((u) => u.url.internalName).map((u) => u.evidence),
    ...addresses
      .filter((a) => a.kind === 'cluster' || a.kind === 'private-ip')
      .map((a) => a.evidence),
    ...infraModel(ctx).platform.internalUrls,
  ];
  const publicDns = addresses.filter((a) => a.internalOnPublicDns);
  if (publicDns[0] !== undefined) {
    return outcome(
      internal.length > 0 ? 'PARTIAL' : 'FAIL',
      `${internal.length > 0 ? 'Most services are addressed by internal names, but ' : ''}\`${publicDns[0].host}\` is an internal service under a public domain, resolved through public DNS (${where(publicDns[0].evidence)}).`,
      top([...publicDns.map((a) => a.evidence), ...internal]),
      { level: 'medium', reason: 'Decided from the host name saying the service is internal.' },
    );
  }
  if (internal.length > 0)
    return outcome(
      'PASS',
      'Services are addressed by internal names (cluster DNS, compose service names).',
      top(internal),
    );
  return outcome('N/A', 'Service addresses come from configuration that is not in the repository.');
}

/**
 * NW6: no service exposed directly to the internet without a gateway. Kubernetes and Helm
 * exposures count wherever they are; compose files count only where they deploy the service
 * (no Kubernetes manifests beside them, not local-development files), and then for the service
 * itself when the compose file shows which one it is.
 */
function nw6(ctx: AuditContext): Outcome {
  const platform = infraModel(ctx).platform;
  const composeFiles = new Set(platform.composeServices.map((s) => s.file));
  const kubernetes = platform.kubernetes.length > 0;
  const compose = kubernetes ? undefined : composeReach(ctx);
  if (compose !== undefined) return composeExposure(ctx, compose);
  const exposures = platform.exposures.filter(
    (e) =>
      !composeFiles.has(e.evidence.file) ||
      (!kubernetes && !platform.composeForDevelopment.has(e.evidence.file)),
  );
  const direct = exposures.filter((e) => !e.gateway);
  const production = direct.filter((e) => !e.development);
  if (production[0] !== undefined) {
    return outcome(
      'FAIL',
      `\`${production[0].service}\` is exposed directly (${production[0].how}, ${where(production[0].evidence)}), not through a gateway.`,
      top(production.map((e) => e.evidence)),
    );
  }
  if (direct[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Development configuration exposes \`${direct[0].service}\` directly (${direct[0].how}).`,
      top(direct.map((e) => e.evidence)),
    );
  }
  if (kubernetes || platform.compose.length > 0) {
    const gateways = exposures.filter((e) => e.gateway);
    return outcome(
      'PASS',
      gateways.length > 0
        ? 'Only the gateway is exposed; other services stay internal.'
        : 'No service is exposed outside the cluster/host network.',
      top(gateways.map((e) => e.evidence)),
    );
  }
  return outcome('N/A', NO_MANIFESTS);
}

/**
 * NW6 for the service's own compose entry: publishing a gateway is its job; publishing a
 * service the other containers call (it is in their URLs) lets anyone skip the gateway; an
 * entry-point service published with nothing in front of it is PARTIAL.
 */
function composeExposure(ctx: AuditContext, compose: ComposeReach): Outcome {
  const { service } = compose;
  const exposure = infraModel(ctx).platform.exposures.find(
    (e) => e.evidence.file === service.file && e.service === service.name,
  );
  if (exposure === undefined) {
    return outcome(
      'PASS',
      `\`${service.name}\` publishes no port; it is reachable only on the compose network.`,
      [service.evidence],
    );
  }
  if (exposure.gateway) {
    return outcome(
      'PASS',
      `Only the gateway \`${service.name}\` is published (${where(exposure.evidence)}).`,
      [exposure.evidence],
    );
  }
  const host = new RegExp(`(^|[/@,\\s])${escapeRegExp(service.name)}(:\\d+|/|$)`);
  const callers = serviceDeployment(ctx).composeStack.filter(
    (s) => s !== service && [...s.environment.values()].some((v) => host.test(v.value)),
  );
  if (callers[0] !== undefined) {
    return outcome(
      'FAIL',
      `\`${service.name}\`, which \`${callers[0].name}\` calls inside the stack, is published on the host (${exposure.how}, ${where(exposure.evidence)}): clients reach it without a gateway.`,
      [exposure.evidence],
      COMPOSE_CONFIDENCE,
    );
  }
  return outcome(
    'PARTIAL',
    `\`${service.name}\` is the stack's entry point but is published directly (${exposure.how}, ${where(exposure.evidence)}), with no gateway or TLS terminator in front.`,
    [exposure.evidence],
    COMPOSE_CONFIDENCE,
  );
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** NW7: mesh or network policies enforce allowlists. */
function nw7(ctx: AuditContext): Outcome {
  const platform = infraModel(ctx).platform;
  const allowlists = [
    ...platform.meshAuthorization,
    ...platform.networkPolicies
      .filter((p) => p.ingress && p.fromSelectors && !p.allowsAllIngress)
      .map((p) => p.evidence),
  ];
  if (allowlists.length > 0)
    return outcome(
      'PASS',
      'Allowed callers are listed per workload (mesh authorization or policy peer selectors).',
      top(allowlists),
    );
  if (platform.networkPolicies.length > 0) {
    return outcome(
      'PARTIAL',
      'Network policies exist but do not name which workloads may call each service.',
      top(platform.networkPolicies.map((p) => p.evidence)),
    );
  }
  if (platform.kubernetes.length > 0)
    return outcome(
      'FAIL',
      'Neither a mesh authorization policy nor a network policy enforces an allowlist of callers.',
      top(platform.kubernetes),
    );
  const compose = composeReach(ctx);
  if (compose === undefined || compose.others === 0) return undecided(ctx);
  if (compose.neighbours.length < compose.others) {
    return outcome(
      'PARTIAL',
      `Compose networks limit which containers reach \`${compose.service.name}\`, but no mesh or policy names its allowed callers.`,
      top(compose.evidence),
      COMPOSE_CONFIDENCE,
    );
  }
  return outcome(
    'FAIL',
    `The compose deployment has no mesh or network allowlist: every container can call \`${compose.service.name}\` (${where(compose.service.evidence)}).`,
    top(compose.evidence),
    COMPOSE_CONFIDENCE,
  );
}

export const networkRules: RuleSet = {
  NW1: nw1,
  NW2: nw2,
  NW3: nw3,
  NW4: nw4,
  NW5: nw5,
  NW6: nw6,
  NW7: nw7,
};
