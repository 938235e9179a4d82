import { evidenceAtLine } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { InfraFile } from './files.ts';
import { entry, forEachMap, get, items, path, str, type YMap, type YNode } from './yaml.ts';

/** A Kubernetes NetworkPolicy (or Cilium/Calico equivalent), reduced to what NW rules ask. */
export interface NetworkPolicyFact {
  readonly evidence: Evidence;
  readonly name: string;
  /** Restricts ingress; `fromSelectors` when at least one rule names its allowed peers. */
  readonly ingress: boolean;
  readonly fromSelectors: boolean;
  /** An ingress rule that allows everyone (`ingress: [{}]`). */
  readonly allowsAllIngress: boolean;
  readonly egress: boolean;
  /** Egress restricted for every pod with no open rule (default deny or allowlist only). */
  readonly egressAllowlist: boolean;
  /** An egress rule to anywhere (`to` missing, `0.0.0.0/0`). */
  readonly egressOpen: boolean;
  /** Where that open egress rule is. */
  readonly openEgressEvidence?: Evidence;
  /** The pods it selects, as text (for Kafka segmentation). */
  readonly selects: string;
}

/** A way a workload is reachable from outside the cluster/host. */
export interface Exposure {
  readonly evidence: Evidence;
  readonly service: string;
  readonly how: string;
  /** The exposed thing is a gateway/ingress/proxy (allowed to face the internet). */
  readonly gateway: boolean;
  /** Only in a development-named file. */
  readonly development: boolean;
  /** Published ports (compose) or service ports (Kubernetes). */
  readonly ports: readonly string[];
}

/** One service of a docker-compose file. */
export interface ComposeService {
  readonly file: string;
  readonly name: string;
  readonly evidence: Evidence;
  readonly image: string;
  readonly environment: ReadonlyMap<
    string,
    { readonly value: string; readonly evidence: Evidence }
  >;
  readonly publicPorts: readonly { readonly port: string; readonly evidence: Evidence }[];
  readonly development: boolean;
  /** `build:` context (or `build.context`), relative to the compose file's directory. */
  readonly build: string | undefined;
  /** Networks the service joins; empty when it is only on the project's default network. */
  readonly networks: readonly string[];
  /** `secrets:` it mounts (files under `/run/secrets`). */
  readonly secrets: readonly Evidence[];
}

/** A network declared at the top of a compose file; `internal: true` has no route out. */
export interface ComposeNetwork {
  readonly file: string;
  readonly name: string;
  readonly internal: boolean;
  readonly evidence: Evidence;
}

/** A variable a Kubernetes container sets: a literal value, a Secret or ConfigMap key. */
export interface KubernetesVariable {
  readonly name: string;
  readonly value: string | undefined;
  readonly from: 'value' | 'secret' | 'config-map' | 'field';
  /** For `secret`/`config-map`: `name/key` of the referenced object. */
  readonly ref: string | undefined;
  readonly evidence: Evidence;
}

/** A workload (Deployment, StatefulSet …) and what its containers are given. */
export interface KubernetesWorkload {
  readonly name: string;
  readonly kind: string;
  readonly evidence: Evidence;
  readonly development: boolean;
  readonly env: readonly KubernetesVariable[];
  /** Volumes filled from Secrets (mounted as files). */
  readonly secretVolumes: readonly Evidence[];
}

/** A committed Kubernetes Secret or ConfigMap: its keys and their values. */
export interface KubernetesData {
  readonly kind: 'Secret' | 'ConfigMap';
  readonly name: string;
  readonly evidence: Evidence;
  readonly values: ReadonlyMap<string, { readonly value: string; readonly evidence: Evidence }>;
}

export interface PlatformModel {
  readonly kubernetes: readonly Evidence[];
  readonly compose: readonly Evidence[];
  readonly composeServices: readonly ComposeService[];
  readonly composeNetworks: readonly ComposeNetwork[];
  /** Compose files that say they are for local development only (a header comment). */
  readonly composeForDevelopment: ReadonlySet<string>;
  readonly workloads: readonly KubernetesWorkload[];
  readonly kubernetesData: readonly KubernetesData[];
  readonly networkPolicies: readonly NetworkPolicyFact[];
  /** Helm values switching a chart's NetworkPolicy on. */
  readonly helmNetworkPolicies: readonly Evidence[];
  readonly mesh: readonly {
    readonly evidence: Evidence;
    readonly mode: 'strict' | 'permissive' | 'disabled';
  }[];
  readonly meshAuthorization: readonly Evidence[];
  /** Mesh-level egress control: Istio REGISTRY_ONLY, Sidecar egress hosts. */
  readonly meshEgress: readonly Evidence[];
  readonly exposures: readonly Exposure[];
  /** Env vars filled from Kubernetes Secrets / external secret stores. */
  readonly secretRefs: readonly {
    readonly evidence: Evidence;
    readonly secret: string;
    readonly workload: string;
  }[];
  /** ExternalSecret, SecretProviderClass, Vault agent injection, SealedSecret. */
  readonly externalSecrets: readonly Evidence[];
  /** ExternalSecret `refreshInterval`, Terraform/CloudFormation rotation. */
  readonly secretRotation: readonly Evidence[];
  /** CloudTrail, Vault audit devices, audit configs. */
  readonly secretAudit: readonly Evidence[];
  /** IAM/Vault/RBAC access to secrets: scoped or wide open. */
  readonly secretPolicies: readonly { readonly evidence: Evidence; readonly scoped: boolean }[];
  /** Strimzi `Kafka`/`KafkaUser` and RabbitMQ operator resources. */
  readonly brokerResources: readonly {
    readonly kind: string;
    readonly document: YNode;
    readonly file: InfraFile;
  }[];
  /** Internal service URLs in deployment configuration (`http://billing:3000`). */
  readonly internalUrls: readonly Evidence[];
}

const GATEWAY =
  /(gateway|ingress|proxy|nginx|traefik|envoy|kong|haproxy|caddy|edge|frontend|front-end|web|bff|apisix|istio|lb|load-?balancer)/i;
const WORKLOADS = new Set([
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'Pod',
  'Job',
  'CronJob',
  'ReplicaSet',
  'Service',
]);
const INTERNAL_URL =
  /\bhttps?:\/\/([a-z0-9-]+)(\.[a-z0-9-]+)*?(\.svc(\.cluster\.local)?)?(:\d+)?(\/|\b)/i;

function ev(file: InfraFile, line: number): Evidence {
  return evidenceAtLine(file.file.path, file.file.text, line);
}

function metadataName(document: YNode): string {
  return str(path(document, 'metadata', 'name')) ?? '';
}

/** Reads Kubernetes, Helm, compose, mesh and cloud configuration files. */
export function analysePlatform(files: readonly InfraFile[]): PlatformModel {
  const model = emptyModel();
  for (const file of files) {
    if (file.isTest) continue;
    if (file.kind === 'kubernetes') {
      for (const document of file.documents) readKubernetes(file, document, model);
    } else if (file.kind === 'compose') {
      for (const document of file.documents) readCompose(file, document, model);
    } else if (file.kind === 'helm-values') {
      for (const document of file.documents) readHelmValues(file, document, model);
    } else if (file.kind === 'terraform') {
      readTerraform(file, model);
    } else if (file.kind === 'config' || file.kind === 'ci') {
      for (const document of file.documents) readCloudFormation(file, document, model);
    }
  }
  return model;
}

type Mutable = ReturnType<typeof emptyModel>;
function emptyModel() {
  return {
    kubernetes: [] as Evidence[],
    compose: [] as Evidence[],
    composeServices: [] as ComposeService[],
    composeNetworks: [] as ComposeNetwork[],
    composeForDevelopment: new Set<string>(),
    workloads: [] as KubernetesWorkload[],
    kubernetesData: [] as KubernetesData[],
    networkPolicies: [] as NetworkPolicyFact[],
    helmNetworkPolicies: [] as Evidence[],
    mesh: [] as { evidence: Evidence; mode: 'strict' | 'permissive' | 'disabled' }[],
    meshAuthorization: [] as Evidence[],
    meshEgress: [] as Evidence[],
    exposures: [] as Exposure[],
    secretRefs: [] as { evidence: Evidence; secret: string; workload: string }[],
    externalSecrets: [] as Evidence[],
    secretRotation: [] as Evidence[],
    secretAudit: [] as Evidence[],
    secretPolicies: [] as { evidence: Evidence; scoped: boolean }[],
    brokerResources: [] as { kind: string; document: YNode; file: InfraFile }[],
    internalUrls: [] as Evidence[],
  };
}

function readKubernetes(file: InfraFile, document: YNode, model: Mutable): void {
  const kind = str(get(document, 'kind')) ?? '';
  const apiVersion = str(get(document, 'apiVersion')) ?? '';
  const name = metadataName(document);
  const at = ev(file, document.line);
  if (kind === 'List') {
    for (const item of items(get(document, 'items'))) readKubernetes(file, item, model);
    return;
  }
  if (WORKLOADS.has(kind)) model.kubernetes.push(at);
  if (
    kind === 'NetworkPolicy' ||
    kind === 'CiliumNetworkPolicy' ||
    kind === 'CiliumClusterwideNetworkPolicy' ||
    kind === 'GlobalNetworkPolicy'
  ) {
    model.networkPolicies.push(networkPolicy(file, document, kind, apiVersion));
  } else if (kind === 'PeerAuthentication') {
    const mode = (str(path(document, 'spec', 'mtls', 'mode')) ?? 'PERMISSIVE').toUpperCase();
    model.mesh.push({
      evidence: ev(file, path(document, 'spec', 'mtls', 'mode')?.line ?? document.line),
      mode: mode === 'STRICT' ? 'strict' : mode === 'DISABLE' ? 'disabled' : 'permissive',
    });
  } else if (
    kind === 'AuthorizationPolicy' ||
    kind === 'ServerAuthorization' ||
    kind === 'MeshTLSAuthentication' ||
    kind === 'ServiceIntentions'
  ) {
    model.meshAuthorization.push(at);
  } else if (kind === 'Sidecar' && get(get(document, 'spec'), 'egress') !== undefined) {
    model.meshEgress.push(at);
  } else if (kind === 'IstioOperator' || kind === 'ConfigMap') {
    forEachMap(document, (map) => {
      const mode = entry(map, 'mode');
      if (mode !== undefined && str(mode.value) === 'REGISTRY_ONLY')
        model.meshEgress.push(ev(file, mode.line));
    });
    // An Istio mesh ConfigMap carries its config as a YAML string.
    const mesh = str(path(document, 'data', 'mesh'));
    if (mesh?.includes('REGISTRY_ONLY') === true) model.meshEgress.push(at);
  } else if (kind === 'Service') {
    const type = str(path(document, 'spec', 'type')) ?? 'ClusterIP';
    if (type === 'LoadBalancer' || type === 'NodePort') {
      const ports = items(path(document, 'spec', 'ports')).map((p) => str(get(p, 'port')) ?? '');
      model.exposures.push({
        evidence: ev(file, path(document, 'spec', 'type')?.line ?? document.line),
        service: name,
        how: `Service type ${type}`,
        gateway: GATEWAY.test(name),
        development: file.isDevelopment,
        ports,
      });
    }
  } else if (
    kind === 'ExternalSecret' ||
    kind === 'SecretProviderClass' ||
    kind === 'SealedSecret' ||
    kind === 'VaultStaticSecret' ||
    kind === 'VaultDynamicSecret'
  ) {
    model.externalSecrets.push(at);
    const refresh =
      entry(get(document, 'spec'), 'refreshInterval') ??
      entry(get(document, 'spec'), 'refreshAfter');
    if (refresh !== undefined && str(refresh.value) !== '0')
      model.secretRotation.push(ev(file, refresh.line));
  } else if ((kind === 'Role' || kind === 'ClusterRole') && apiVersion.startsWith('rbac')) {
    for (const rule of items(get(document, 'rules'))) {
      const resources = items(get(rule, 'resources')).map((r) => str(r));
      if (!resources.includes('secrets') && !resources.includes('*')) continue;
      const scoped = items(get(rule, 'resourceNames')).length > 0;
      model.secretPolicies.push({ evidence: ev(file, rule.line), scoped });
    }
  } else if (
    /^(Kafka|KafkaUser|KafkaTopic|RabbitmqCluster|User|Permission|Vhost)$/.test(kind) &&
    /(strimzi|rabbitmq)/.test(apiVersion)
  ) {
    model.brokerResources.push({ kind, document, file });
  }
  // Pod templates: mesh injection, host networking, env from secrets.
  const template =
    kind === 'Pod'
      ? document
      : (path(document, 'spec', 'template') ??
        path(document, 'spec', 'jobTemplate', 'spec', 'template'));
  const annotations = [
    path(document, 'metadata', 'annotations'),
    path(template, 'metadata', 'annotations'),
    path(document, 'metadata', 'labels'),
    path(template, 'metadata', 'labels'),
  ];
  for (const map of annotations) {
    if (map?.kind !== 'map') continue;
    for (const e of map.entries) {
      const value = str(e.value) ?? '';
      if (
        (e.key === 'linkerd.io/inject' && value === 'enabled') ||
        (e.key === 'consul.hashicorp.com/connect-inject' && value === 'true')
      ) {
        model.mesh.push({ evidence: ev(file, e.line), mode: 'strict' });
      } else if (
        (e.key === 'istio-injection' && value === 'enabled') ||
        (e.key === 'sidecar.istio.io/inject' && value === 'true')
      ) {
        model.mesh.push({ evidence: ev(file, e.line), mode: 'permissive' });
      } else if (e.key === 'vault.hashicorp.com/agent-inject' && value === 'true') {
        model.externalSecrets.push(ev(file, e.line));
      }
    }
  }
  if (kind === 'Secret' || kind === 'ConfigMap')
    model.kubernetesData.push(dataOf(file, document, kind));
  const spec = get(template, 'spec');
  const env: KubernetesVariable[] = [];
  const secretVolumes: Evidence[] = [];
  if (spec !== undefined) {
    for (const volume of items(get(spec, 'volumes'))) {
      if (get(volume, 'secret') !== undefined) secretVolumes.push(ev(file, volume.line));
    }
    const hostNetwork = entry(spec, 'hostNetwork');
    if (hostNetwork !== undefined && str(hostNetwork.value) === 'true') {
      model.exposures.push({
        evidence: ev(file, hostNetwork.line),
        service: name,
        how: 'hostNetwork',
        gateway: GATEWAY.test(name),
        development: file.isDevelopment,
        ports: [],
      });
    }
    for (const container of [
      ...items(get(spec, 'containers')),
      ...items(get(spec, 'initContainers')),
    ]) {
      for (const port of items(get(container, 'ports'))) {
        const hostPort = entry(port, 'hostPort');
        if (hostPort !== undefined) {
          model.exposures.push({
            evidence: ev(file, hostPort.line),
            service: name,
            how: 'hostPort',
            gateway: GATEWAY.test(name),
            development: file.isDevelopment,
            ports: [str(hostPort.value) ?? ''],
          });
        }
      }
      for (const variable of items(get(container, 'env'))) {
        env.push(kubernetesVariable(file, variable));
        const ref = path(variable, 'valueFrom', 'secretKeyRef');
        if (ref !== undefined) {
          model.secretRefs.push({
            evidence: ev(file, variable.line),
            secret: `${str(get(ref, 'name')) ?? ''}/${str(get(ref, 'key')) ?? ''}`,
            workload: name,
          });
        }
        const value = str(get(variable, 'value'));
        if (value !== undefined && INTERNAL_URL.test(value))
          model.internalUrls.push(ev(file, variable.line));
      }
      for (const source of items(get(container, 'envFrom'))) {
        const ref = get(source, 'secretRef');
        if (ref !== undefined)
          model.secretRefs.push({
            evidence: ev(file, source.line),
            secret: `${str(get(ref, 'name')) ?? ''}/*`,
            workload: name,
          });
      }
    }
  }
  if (WORKLOADS.has(kind) && kind !== 'Service' && spec !== undefined) {
    model.workloads.push({
      name,
      kind,
      evidence: at,
      development: file.isDevelopment,
      env,
      secretVolumes,
    });
  }
}

function kubernetesVariable(file: InfraFile, variable: YNode): KubernetesVariable {
  const name = str(get(variable, 'name')) ?? '';
  const evidence = ev(file, variable.line);
  const secret = path(variable, 'valueFrom', 'secretKeyRef');
  const configMap = path(variable, 'valueFrom', 'configMapKeyRef');
  const refOf = (ref: YNode) => `${str(get(ref, 'name')) ?? ''}/${str(get(ref, 'key')) ?? ''}`;
  if (secret !== undefined)
    return { name, value: undefined, from: 'secret', ref: refOf(secret), evidence };
  if (configMap !== undefined)
    return { name, value: undefined, from: 'config-map', ref: refOf(configMap), evidence };
  const value = get(variable, 'value');
  if (value !== undefined)
    return {
      name,
      value: str(value),
      from: 'value',
      ref: undefined,
      evidence: ev(file, value.line),
    };
  return { name, value: undefined, from: 'field', ref: undefined, evidence };
}

/** A Secret's `data` (base64) and `stringData`, or a ConfigMap's `data`. */
function dataOf(file: InfraFile, document: YNode, kind: 'Secret' | 'ConfigMap'): KubernetesData {
  const values = new Map<string, { value: string; evidence: Evidence }>();
  for (const key of ['data', 'stringData']) {
    const data = get(document, key);
    if (data?.kind !== 'map') continue;
    for (const e of data.entries) {
      const raw = str(e.value);
      if (raw === undefined) continue;
      const value =
        kind === 'Secret' && key === 'data' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
      values.set(e.key, { value, evidence: ev(file, e.line) });
    }
  }
  return { kind, name: metadataName(document), evidence: ev(file, document.line), values };
}

function networkPolicy(
  file: InfraFile,
  document: YNode,
  kind: string,
  apiVersion: string,
): NetworkPolicyFact {
  const spec = get(document, 'spec');
  const calico = apiVersion.includes('projectcalico');
  const cilium = kind.startsWith('Cilium');
  const selector = cilium
    ? get(spec, 'endpointSelector')
    : calico
      ? get(spec, 'selector')
      : get(spec, 'podSelector');
  const selectsAll =
    selector === undefined ||
    (selector.kind === 'map' && selector.entries.length === 0) ||
    (calico && str(selector) === 'all()');
  const types = items(get(spec, 'policyTypes')).map((t) => str(t));
  const ingressRules = items(get(spec, 'ingress'));
  const egressRules = items(get(spec, 'egress'));
  const hasIngress =
    types.includes('Ingress') ||
    get(spec, 'ingress') !== undefined ||
    (types.length === 0 && !cilium && !calico);
  const hasEgress = types.includes('Egress') || get(spec, 'egress') !== undefined;
  const peerKeys = cilium
    ? ['fromEndpoints', 'fromEntities', 'fromCIDR']
    : calico
      ? ['source']
      : ['from'];
  const fromSelectors = ingressRules.some((rule) =>
    peerKeys.some((key) => {
      const peers = get(rule, key);
      return peers !== undefined && !openPeers(peers);
    }),
  );
  const allowsAllIngress = ingressRules.some(
    (rule) =>
      rule.kind === 'map' &&
      peerKeys.every((key) => get(rule, key) === undefined) &&
      (calico ? str(get(rule, 'action')) === 'Allow' : true),
  );
  const toKeys = cilium
    ? ['toEndpoints', 'toEntities', 'toCIDR', 'toFQDNs', 'toServices']
    : calico
      ? ['destination']
      : ['to'];
  const openRule = egressRules.find((rule) => {
    const peers = toKeys.map((key) => get(rule, key)).filter((p): p is YNode => p !== undefined);
    // A rule without destinations allows every destination.
    if (peers.length === 0) return true;
    return (
      peers.some(openPeers) ||
      (cilium && items(get(rule, 'toEntities')).some((e) => str(e) === 'world' || str(e) === 'all'))
    );
  });
  const egressOpen = openRule !== undefined;
  return {
    evidence: ev(file, document.line),
    name: metadataName(document),
    ingress: hasIngress,
    fromSelectors,
    allowsAllIngress,
    egress: hasEgress,
    egressAllowlist: hasEgress && !egressOpen && (selectsAll || egressRules.length > 0),
    egressOpen: hasEgress && egressOpen,
    ...(hasEgress && openRule !== undefined ? { openEgressEvidence: ev(file, openRule.line) } : {}),
    selects: JSON.stringify(plain(selector)),
  };
}

/** Peers that mean "anyone": `{}`, `0.0.0.0/0` without exceptions, `world`. */
function openPeers(peers: YNode): boolean {
  const list = peers.kind === 'seq' ? peers.items : [peers];
  return list.some((peer) => {
    if (peer.kind === 'map' && peer.entries.length === 0) return true;
    const cidr = str(path(peer, 'ipBlock', 'cidr')) ?? str(get(peer, 'nets'));
    if ((cidr === '0.0.0.0/0' || cidr === '::/0') && path(peer, 'ipBlock', 'except') === undefined)
      return true;
    const nets = items(get(peer, 'nets')).map((n) => str(n));
    return nets.includes('0.0.0.0/0');
  });
}

function plain(node: YNode | undefined): unknown {
  if (node === undefined) return null;
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(plain);
  return Object.fromEntries(node.entries.map((e) => [e.key, plain(e.value)]));
}

function readCompose(file: InfraFile, document: YNode, model: Mutable): void {
  const services = get(document, 'services');
  if (services?.kind !== 'map') return;
  model.compose.push(ev(file, document.line));
  if (LOCAL_ONLY_HEADER.test(leadingComments(file.file.text))) {
    model.composeForDevelopment.add(file.file.path);
  }
  const networks = get(document, 'networks');
  if (networks?.kind === 'map') {
    for (const network of networks.entries) {
      model.composeNetworks.push({
        file: file.file.path,
        name: network.key,
        internal: str(get(network.value, 'internal')) === 'true',
        evidence: ev(file, network.line),
      });
    }
  }
  for (const service of services.entries) {
    const body = service.value;
    const image = str(get(body, 'image')) ?? '';
    const environment = new Map<string, { value: string; evidence: Evidence }>();
    const env = get(body, 'environment');
    if (env?.kind === 'map') {
      for (const e of env.entries)
        environment.set(e.key, { value: str(e.value) ?? '', evidence: ev(file, e.line) });
    } else {
      for (const item of items(env)) {
        const text = str(item);
        const match = text === undefined ? null : /^([^=]+)=(.*)$/.exec(text);
        if (match !== null)
          environment.set(match[1] ?? '', { value: match[2] ?? '', evidence: ev(file, item.line) });
      }
    }
    for (const value of environment.values()) {
      if (INTERNAL_URL.test(value.value)) model.internalUrls.push(value.evidence);
    }
    const publicPorts: { port: string; evidence: Evidence }[] = [];
    for (const port of items(get(body, 'ports'))) {
      if (port.kind === 'scalar') {
        const text = String(port.value);
        const parts = text.split(':');
        // "8080:80" and "8080" publish on every interface; "127.0.0.1:8080:80" does not.
        const hostIp = parts.length === 3 ? parts[0] : undefined;
        if (hostIp === undefined || hostIp === '0.0.0.0' || hostIp === '')
          publicPorts.push({ port: text, evidence: ev(file, port.line) });
      } else if (port.kind === 'map') {
        const hostIp = str(get(port, 'host_ip'));
        const published = str(get(port, 'published'));
        if (published !== undefined && (hostIp === undefined || hostIp === '0.0.0.0')) {
          publicPorts.push({
            port: `${published}:${str(get(port, 'target')) ?? ''}`,
            evidence: ev(file, port.line),
          });
        }
      }
    }
    const hostMode = str(get(body, 'network_mode')) === 'host';
    const record: ComposeService = {
      file: file.file.path,
      name: service.key,
      evidence: ev(file, service.line),
      image,
      environment,
      publicPorts,
      development: file.isDevelopment,
      build: str(get(body, 'build')) ?? str(path(body, 'build', 'context')),
      networks: composeNetworks(get(body, 'networks')),
      secrets: items(get(body, 'secrets')).map((item) => ev(file, item.line)),
    };
    model.composeServices.push(record);
    if (publicPorts.length > 0 || hostMode) {
      model.exposures.push({
        evidence: publicPorts[0]?.evidence ?? ev(file, service.line),
        service: service.key,
        how: hostMode
          ? 'network_mode: host'
          : `published port ${publicPorts.map((p) => p.port).join(', ')}`,
        gateway: GATEWAY.test(service.key) || GATEWAY.test(image),
        development: file.isDevelopment,
        ports: publicPorts.map((p) => p.port),
      });
    }
  }
}

/** `networks: [a, b]` or `networks: { a: { aliases: … } }`. */
function composeNetworks(node: YNode | undefined): string[] {
  if (node?.kind === 'map') return node.entries.map((e) => e.key);
  return items(node)
    .map((item) => str(item))
    .filter((name): name is string => name !== undefined);
}

/** The comment lines a file starts with. */
function leadingComments(text: string): string {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) lines.push(line);
    else if (line.trim() !== '' || lines.length > 0) break;
  }
  return lines.join('\n');
}

/**
 * A header that says the file is for running things locally ("Local development only",
 * "for local testing"), the way compose files kept next to Kubernetes manifests often start.
 */
const LOCAL_ONLY_HEADER =
  /\b(local(ly)?\s+(dev(elopment)?|testing|only)|(dev(elopment)?|testing)\s+only|not\s+for\s+production)\b/i;

function readHelmValues(file: InfraFile, document: YNode, model: Mutable): void {
  forEachMap(document, (map: YMap, trail) => {
    const last = trail.at(-1) ?? '';
    if (/^networkpolic(y|ies)$/i.test(last)) {
      const enabled = entry(map, 'enabled') ?? entry(map, 'create');
      if (enabled !== undefined && str(enabled.value) === 'true')
        model.helmNetworkPolicies.push(ev(file, enabled.line));
    }
    if (last === 'service') {
      const type = entry(map, 'type');
      const value = type === undefined ? undefined : str(type.value);
      if (type !== undefined && (value === 'LoadBalancer' || value === 'NodePort')) {
        const service = trail.length >= 2 ? (trail.at(-2) ?? '') : file.file.path;
        model.exposures.push({
          evidence: ev(file, type.line),
          service,
          how: `Helm service.type ${value}`,
          gateway: GATEWAY.test(service) || GATEWAY.test(file.file.path),
          development: file.isDevelopment,
          ports: [],
        });
      }
    }
    const mode = entry(map, 'mode');
    if (
      last === 'outboundTrafficPolicy' &&
      mode !== undefined &&
      str(mode.value) === 'REGISTRY_ONLY'
    )
      model.meshEgress.push(ev(file, mode.line));
    if (last === 'mtls' && mode !== undefined) {
      const value = (str(mode.value) ?? '').toUpperCase();
      model.mesh.push({
        evidence: ev(file, mode.line),
        mode: value === 'STRICT' ? 'strict' : value === 'DISABLE' ? 'disabled' : 'permissive',
      });
    }
  });
}

/** Terraform and HCL: secret rotation, audit trails, IAM and Vault policies over secrets. */
function readTerraform(file: InfraFile, model: Mutable): void {
  const lines = file.file.text.split('\n');
  lines.forEach((line, index) => {
    const at = () => ev(file, index + 1);
    if (
      /resource\s+"aws_secretsmanager_secret_rotation"|rotation_rules|rotation_period|automatically_after_days|"rotation"\s*=|rotation_lambda_arn/.test(
        line,
      )
    )
      model.secretRotation.push(at());
    if (
      /resource\s+"(aws_cloudtrail|google_project_iam_audit_config|azurerm_monitor_diagnostic_setting|vault_audit)"|^\s*audit\s+"/.test(
        line,
      )
    )
      model.secretAudit.push(at());
    if (
      /resource\s+"(aws_secretsmanager_secret|vault_kv_secret|google_secret_manager_secret|azurerm_key_vault_secret)"/.test(
        line,
      )
    )
      model.externalSecrets.push(at());
    // Vault policy: path "secret/*" (everything) versus path "secret/data/order-service/*".
    const vaultPath = /^\s*path\s+"([^"]+)"/.exec(line);
    if (vaultPath !== null && /secret|kv|database|creds/.test(vaultPath[1] ?? '')) {
      const target = vaultPath[1] ?? '';
      model.secretPolicies.push({
        evidence: at(),
        scoped: !/^[^/]+\/\*$|^\*$|^[^/]+\/data\/\*$/.test(target),
      });
    }
  });
  // IAM statements granting secretsmanager:GetSecretValue: on "*" or on specific ARNs.
  const text = file.file.text;
  const grant = /secretsmanager:(GetSecretValue|\*)/g;
  for (const match of text.matchAll(grant)) {
    const window = text.slice(match.index, match.index + 600);
    const resource = /[Rr]esources?\s*[=:]\s*\[?\s*"([^"]*)"/.exec(window);
    const line = text.slice(0, match.index).split('\n').length;
    model.secretPolicies.push({
      evidence: ev(file, line),
      scoped: resource !== null && resource[1] !== '*',
    });
  }
}

/** CloudFormation/SAM templates and IAM policy JSON: rotation, trails, secret access. */
function readCloudFormation(file: InfraFile, document: YNode, model: Mutable): void {
  forEachMap(document, (map) => {
    const type = str(get(map, 'Type'));
    if (type === 'AWS::SecretsManager::RotationSchedule')
      model.secretRotation.push(ev(file, map.line));
    if (type === 'AWS::CloudTrail::Trail') model.secretAudit.push(ev(file, map.line));
    const action = get(map, 'Action');
    const actions =
      action?.kind === 'seq' ? action.items.map((a) => str(a) ?? '') : [str(action) ?? ''];
    if (actions.some((a) => /^secretsmanager:(GetSecretValue|\*)$/.test(a))) {
      const resource = get(map, 'Resource');
      const resources =
        resource?.kind === 'seq' ? resource.items.map((r) => str(r) ?? '') : [str(resource) ?? ''];
      model.secretPolicies.push({ evidence: ev(file, map.line), scoped: !resources.includes('*') });
    }
  });
}
