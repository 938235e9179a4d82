import { X509Certificate, type KeyObject } from 'node:crypto';
import {
  parseX509Svid,
  pemDecodeAll,
  pemEncode,
  TesseraError,
  type X509SvidInfo,
} from '@tessera/core';
import { fetch as undiciFetch, type Dispatcher } from 'undici';

/** The CA certificates a workload trusts for its trust domain, as one PEM text. */
export interface TrustBundle {
  readonly pem: string;
  /** Sorted SHA-256 fingerprints: two bundles are the same trust when these are equal. */
  readonly fingerprints: string;
  readonly certificates: readonly X509Certificate[];
}

/** An X.509-SVID as the authority issued it, checked against the key it was requested for. */
export interface IssuedSvid {
  readonly info: X509SvidInfo;
  /** Leaf first, then intermediates (PEM). */
  readonly chainPem: string;
  readonly bundle: TrustBundle;
}

/** The bundle's refresh hint is kept within these bounds (seconds). */
const MIN_REFRESH_HINT_SECONDS = 1;
const MAX_REFRESH_HINT_SECONDS = 3600;
const MAX_CHAIN_LENGTH = 5;

/** Reads CA certificates; a bundle with none, or with a certificate that is not a CA, is refused. */
export function trustBundleFromDer(ders: readonly Uint8Array[]): TrustBundle {
  if (ders.length === 0) throw new TesseraError('ERR_X509_INVALID', 'trust bundle is empty');
  const certificates = ders.map((der) => {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(der);
    } catch {
      throw new TesseraError('ERR_X509_INVALID', 'trust bundle holds an unreadable certificate');
    }
    if (!certificate.ca)
      throw new TesseraError('ERR_X509_INVALID', 'trust bundle holds a non-CA certificate');
    return certificate;
  });
  return {
    pem: ders.map((der) => pemEncode('CERTIFICATE', der)).join(''),
    fingerprints: certificates
      .map((certificate) => certificate.fingerprint256)
      .sort()
      .join(','),
    certificates,
  };
}

export function trustBundleFromPem(pem: unknown): TrustBundle {
  if (typeof pem !== 'string') throw new TesseraError('ERR_X509_INVALID', 'bundle is not PEM');
  let ders: Uint8Array[];
  try {
    ders = pemDecodeAll(pem, 'CERTIFICATE');
  } catch {
    throw new TesseraError('ERR_X509_INVALID', 'bundle is not PEM');
  }
  return trustBundleFromDer(ders);
}

/** Whether `certificate` chains through `intermediates` to a CA of `bundle`, signatures checked. */
function chainsTo(
  certificate: X509Certificate,
  intermediates: readonly X509Certificate[],
  bundle: TrustBundle,
): boolean {
  let current = certificate;
  for (let depth = 0; depth < MAX_CHAIN_LENGTH; depth++) {
    const issuedBy = (candidate: X509Certificate) =>
      current.checkIssued(candidate) && current.verify(candidate.publicKey);
    if (bundle.certificates.some(issuedBy)) return true;
    const next = intermediates.find(issuedBy);
    if (next === undefined) return false;
    current = next;
  }
  return false;
}

/**
 * Checks what the authority answered before it is served: an X.509-SVID (strict, core
 * `parseX509Svid`) for exactly this workload's SPIFFE ID, for the key this workload holds, that
 * chains to the bundle. A certificate that peers would refuse is refused here, where the current
 * one can still be kept.
 */
export function checkIssuedSvid(
  chainPem: unknown,
  bundle: TrustBundle,
  expected: { readonly spiffeId: string; readonly trustDomain: string; readonly key: KeyObject },
): IssuedSvid {
  if (typeof chainPem !== 'string') throw new TesseraError('ERR_X509_INVALID', 'svid is not PEM');
  let ders: Uint8Array[];
  try {
    ders = pemDecodeAll(chainPem, 'CERTIFICATE');
  } catch {
    throw new TesseraError('ERR_X509_INVALID', 'svid is not PEM');
  }
  const [leafDer, ...intermediateDers] = ders;
  if (leafDer === undefined || ders.length > MAX_CHAIN_LENGTH)
    throw new TesseraError('ERR_X509_INVALID', 'svid chain is empty or too long');
  const info = parseX509Svid(leafDer, { trustDomain: expected.trustDomain });
  if (info.spiffeId.uri !== expected.spiffeId)
    throw new TesseraError('ERR_SVID_UNEXPECTED', `authority issued ${info.spiffeId.uri}`);
  const leaf = new X509Certificate(leafDer);
  if (!leaf.checkPrivateKey(expected.key))
    throw new TesseraError('ERR_X509_INVALID', 'svid is not for the requested key');
  const intermediates = intermediateDers.map((der) => new X509Certificate(der));
  if (!chainsTo(leaf, intermediates, bundle))
    throw new TesseraError('ERR_X509_INVALID', 'svid does not chain to the bundle');
  return {
    info,
    chainPem: ders.map((der) => pemEncode('CERTIFICATE', der)).join(''),
    bundle,
  };
}

async function send(
  url: URL,
  init: { method: 'GET' | 'POST'; body?: string; dispatcher?: Dispatcher; timeoutMs: number },
): Promise<{ status: number; json: Record<string, unknown> }> {
  let response;
  try {
    response = await undiciFetch(url, {
      method: init.method,
      headers: {
        accept: 'application/json',
        ...(init.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(init.body !== undefined ? { body: init.body } : {}),
      ...(init.dispatcher !== undefined ? { dispatcher: init.dispatcher } : {}),
      signal: AbortSignal.timeout(init.timeoutMs),
    });
  } catch (error) {
    throw new TesseraError('ERR_UNAVAILABLE', 'authority unreachable', { cause: error });
  }
  const json: unknown = await response.json().catch(() => ({}));
  return {
    status: response.status,
    json: typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {},
  };
}

/**
 * `POST /v1/svid/x509` with a CSR and the given client authentication fields. Errors: the
 * authority's refusal (400/401, `ERR_CLIENT_AUTH` with its RFC 6749 error name) or
 * `ERR_UNAVAILABLE` (unreachable, 5xx, malformed answer); never the credential.
 */
export async function requestSvid(
  authorityUrl: URL,
  fields: Readonly<Record<string, string>>,
  options: { readonly dispatcher?: Dispatcher; readonly timeoutMs: number },
): Promise<{ svid: unknown; bundle: unknown }> {
  const { status, json } = await send(new URL('/v1/svid/x509', authorityUrl), {
    method: 'POST',
    body: new URLSearchParams(fields).toString(),
    timeoutMs: options.timeoutMs,
    ...(options.dispatcher !== undefined ? { dispatcher: options.dispatcher } : {}),
  });
  if (status !== 200) {
    const reason = typeof json.error === 'string' ? json.error : `status ${status}`;
    throw new TesseraError(
      status >= 500 || status === 429 ? 'ERR_UNAVAILABLE' : 'ERR_CLIENT_AUTH',
      `X.509-SVID request refused (${reason.slice(0, 64)})`,
    );
  }
  return { svid: json.svid, bundle: json.bundle };
}

/**
 * `GET /v1/bundle` (the SPIFFE bundle format): the `x509-svid` keys' certificates and the refresh
 * hint, bounded to 1 s ... 1 h.
 */
export async function fetchTrustBundle(
  authorityUrl: URL,
  options: { readonly dispatcher?: Dispatcher; readonly timeoutMs: number },
): Promise<{ bundle: TrustBundle; refreshHintSeconds: number | undefined }> {
  const { status, json } = await send(new URL('/v1/bundle', authorityUrl), {
    method: 'GET',
    timeoutMs: options.timeoutMs,
    ...(options.dispatcher !== undefined ? { dispatcher: options.dispatcher } : {}),
  });
  if (status !== 200 || !Array.isArray(json.keys))
    throw new TesseraError('ERR_UNAVAILABLE', `trust bundle request answered ${status}`);
  const ders: Uint8Array[] = [];
  for (const key of json.keys as unknown[]) {
    const { use, x5c } = (typeof key === 'object' && key !== null ? key : {}) as {
      use?: unknown;
      x5c?: unknown;
    };
    if (use !== 'x509-svid') continue;
    if (!Array.isArray(x5c) || typeof x5c[0] !== 'string')
      throw new TesseraError('ERR_X509_INVALID', 'x509-svid key without x5c');
    ders.push(new Uint8Array(Buffer.from(x5c[0], 'base64')));
  }
  const hint = json.spiffe_refresh_hint;
  return {
    bundle: trustBundleFromDer(ders),
    refreshHintSeconds:
      typeof hint === 'number' && Number.isFinite(hint)
        ? Math.min(MAX_REFRESH_HINT_SECONDS, Math.max(MIN_REFRESH_HINT_SECONDS, hint))
        : undefined,
  };
}
