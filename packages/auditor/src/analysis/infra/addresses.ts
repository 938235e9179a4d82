import type { Evidence } from '../../model.ts';
import type { AuditContext } from '../context.ts';
import { INTERNAL_SUFFIX, isPrivateIp, staysOnHost } from '../outbound/urls.ts';
import { secretSourceModel } from '../secrets/provenance.ts';
import { serviceDeployment } from './deployment.ts';

/**
 * The addresses of other services and backends the service is configured with, whatever the
 * client library: URL defaults of environment variables in code (`process.env.X ?? 'http://…'`,
 * a schema's `.default('amqp://…')`) and the URLs its deployment sets (compose `environment:`,
 * Kubernetes `env`, a committed Secret's value).
 */
export interface ServiceAddress {
  readonly url: string;
  readonly scheme: string;
  readonly host: string;
  readonly evidence: Evidence;
  /** `default`: the code's fallback, replaced by configuration; `deployed`: what runs. */
  readonly source: 'default' | 'deployed';
  readonly kind: 'loopback' | 'cluster' | 'private-ip' | 'public-ip' | 'public-dns';
  /** Sent without TLS: `http://`, `amqp://`, `redis://`, a database URL without `sslmode`… */
  readonly plaintext: boolean;
  /** A public DNS name whose labels say it is internal (`pricing.internal.example.com`). */
  readonly internalOnPublicDns: boolean;
}

const URL_SHAPE = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/?#\s]*@)?(\[[^\]]+\]|[^:/?#\s,]+)/i;
const ENCRYPTED_SCHEMES = new Set([
  'https',
  'wss',
  'amqps',
  'rediss',
  'grpcs',
  'ldaps',
  'mqtts',
  'nats+tls',
  'tls',
  'ssl',
  'mongodb+srv',
]);
const PLAIN_SCHEMES = new Set([
  'http',
  'ws',
  'amqp',
  'redis',
  'nats',
  'mqtt',
  'ldap',
  'ftp',
  'tcp',
]);
/** Database URLs are encrypted only when they ask for it. */
const DATABASE_SCHEME =
  /^(postgres(ql)?|mysql|mariadb|mongodb|mssql|sqlserver|cockroachdb)(\+.*)?$/;
const TLS_PARAMETER =
  /[?&](sslmode=(require|verify-ca|verify-full)|ssl=true|tls=true|encrypt=true)/i;
/** Variables whose URLs are browser origins or identifiers, not services the code calls. */
const NOT_A_BACKEND =
  /(ORIGIN|CORS|REDIRECT|CALLBACK|RETURN_URL|ISSUER|AUDIENCE|PUBLIC|HOMEPAGE|SITE_URL|FRONTEND|CLIENT_URL|WEB_URL|APP_URL)/i;
const INTERNAL_LABEL = /^(internal|intranet|corp|private|svc|cluster|priv)$/i;

/** Classifies one URL; undefined when the text is not an absolute URL with a host. */
export function classifyAddress(
  url: string,
  evidence: Evidence,
  source: ServiceAddress['source'],
): ServiceAddress | undefined {
  const match = URL_SHAPE.exec(url.trim());
  if (match === null) return undefined;
  const scheme = (match[1] ?? '').toLowerCase();
  const host = (match[2] ?? '').toLowerCase();
  if (host === '' || host.includes('${') || host.includes('$')) return undefined;
  const plaintext = DATABASE_SCHEME.test(scheme)
    ? !TLS_PARAMETER.test(url)
    : PLAIN_SCHEMES.has(scheme) || (!ENCRYPTED_SCHEMES.has(scheme) && scheme.endsWith('+http'));
  const ip = /^\d+(\.\d+){3}$/.test(host);
  const kind: ServiceAddress['kind'] = staysOnHost(host)
    ? 'loopback'
    : ip
      ? isPrivateIp(host)
        ? 'private-ip'
        : 'public-ip'
      : !host.includes('.') || INTERNAL_SUFFIX.test(host)
        ? 'cluster'
        : 'public-dns';
  return {
    url,
    scheme,
    host,
    evidence,
    source,
    kind,
    plaintext,
    internalOnPublicDns:
      kind === 'public-dns' &&
      host
        .split('.')
        .slice(0, -2)
        .some((l) => INTERNAL_LABEL.test(l)),
  };
}

/** The service's configured addresses, computed once per audit. */
export function serviceAddresses(ctx: AuditContext): readonly ServiceAddress[] {
  return ctx.memo('infra.addresses', () => {
    const out: ServiceAddress[] = [];
    for (const read of secretSourceModel(ctx).reads) {
      if (read.via !== 'env' || read.fallback === undefined || read.developmentOnly) continue;
      if (read.name !== undefined && NOT_A_BACKEND.test(read.name)) continue;
      if (read.fallback.value === undefined) continue;
      const address = classifyAddress(read.fallback.value, read.fallback.evidence, 'default');
      if (address !== undefined) out.push(address);
    }
    for (const variable of serviceDeployment(ctx).environment) {
      if (variable.value === undefined || NOT_A_BACKEND.test(variable.name)) continue;
      // Compose and Kubernetes values can list several (`CORS_ORIGINS: http://a,https://b`).
      for (const part of variable.value.split(/[,\s]+/)) {
        const address = classifyAddress(
          part,
          variable.valueEvidence ?? variable.evidence,
          'deployed',
        );
        if (address !== undefined) out.push(address);
      }
    }
    return out;
  });
}
