import { generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import {
  certificateThumbprint,
  createLeafIssuer,
  isTesseraError,
  issueCertificate,
  issueCertificateRevocationList,
  parseWorkloadId,
  pemDecodeAll,
  pemEncode,
  TesseraError,
  type Clock,
  type LeafIssuer,
} from '@tessera/core';
import { decryptPrivateKey, encryptPrivateKey, type KeyEncryptionKey } from '../keys/kek.ts';
import type { CaRecord, Store } from '../store/types.ts';
import { resolveRotation, type Rotation } from '../keys/rotation.ts';
import { caTimings } from './timings.ts';

/** The part of the {@link Store} the CA uses. */
export type CaStore = Pick<
  Store,
  | 'insertCa'
  | 'updateCa'
  | 'listCas'
  | 'recordSvid'
  | 'listRevokedSvids'
  | 'latestSvidExpiry'
  | 'getSvid'
  | 'revokeSvid'
>;

/** An operator's CA under which the authority makes its own CAs (config `ca.certFile`/`keyFile`). */
export interface OperatorRoot {
  /** The operator's CA certificate (PEM): a trust anchor in the bundle. */
  readonly certificatePem: string;
  readonly privateKey: KeyObject;
}

export interface CertificateAuthorityOptions {
  readonly trustDomain: string;
  /** Defaults and limits: see {@link caTimings}. */
  readonly caLifetimeSeconds?: number | undefined;
  readonly rotateEverySeconds?: number | undefined;
  /**
   * How long a new CA is in the bundle before it signs; at least the longest SVID lifetime, so
   * every verifier's bundle has the new CA before a certificate it signed reaches them.
   */
  readonly prepublishSeconds?: number | undefined;
  readonly defaultSvidLifetimeSeconds?: number | undefined;
  readonly maxSvidLifetimeSeconds?: number | undefined;
  /** `spiffe_refresh_hint` of the bundle. Default 300. */
  readonly bundleRefreshHintSeconds?: number;
  /** Issue under this CA instead of self-signing. */
  readonly operatorRoot?: OperatorRoot;
}

export interface IssueSvidRequest {
  /** The SPIFFE ID of the subject, in this trust domain: the certificate's only URI SAN. */
  readonly spiffeId: string;
  /** The subject's public key (P-256 or Ed25519). */
  readonly publicKey: KeyObject;
  /** Its SubjectPublicKeyInfo DER, when at hand (`parseCertificationRequest` gives it). */
  readonly spki?: Uint8Array;
  /** Requested lifetime; default `defaultSvidLifetimeSeconds`, capped at the maximum and at the CA's expiry. */
  readonly lifetimeSeconds?: number;
  /** IP addresses and DNS names to add as SANs. */
  readonly hosts?: readonly string[];
}

export interface IssuedSvid {
  /** Leaf first, then the CAs above it up to, not including, a self-signed root. */
  readonly chainPem: string;
  /** The leaf alone (PEM). */
  readonly certificatePem: string;
  /** Lower-case hex, as `parseX509Svid` reads it. */
  readonly serialNumber: string;
  /** notAfter, seconds since the epoch. */
  readonly expiresAt: number;
  readonly notBefore: number;
  /** The signing CA's id. */
  readonly caId: string;
}

/** One CA as `GET /v1/admin/ca` shows it. */
export interface CaSummary {
  readonly id: string;
  /** The role it has now (may run ahead of the stored state until the next tick). */
  readonly role: 'active' | 'next' | 'retired';
  readonly subject: string;
  readonly issuer: string;
  /** Seconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly activatesAt: number;
  readonly retiredAt: number | null;
  /** Retired CAs: when it leaves the bundle. */
  readonly publishUntil: number | null;
  /** Whether it is in the bundle now. */
  readonly published: boolean;
}

/** What a call to {@link CertificateAuthority.tick} changed, for logs and the audit log. */
export interface CaChanges {
  readonly created: string[];
  readonly activated: string[];
  readonly retired: string[];
  /** Retired CAs whose bundle publication was extended to cover certificates they signed. */
  readonly extended: string[];
  /** Retired CAs that left the bundle. */
  readonly unpublished: string[];
}

const DAY_S = 86_400;
/** Issued certificates start a minute early, for peers whose clocks run behind. */
const BACKDATE_SECONDS = 60;
/** A CRL is valid this long; verifiers fetch a new one before. */
const CRL_VALIDITY_SECONDS = 3600;
/** How long a built CRL is served before it is built again (new revocations show sooner). */
const CRL_CACHE_MS = 5_000;
/** AAD prefix: a CA key blob cannot be passed off as a signing key's, or the reverse. */
const AAD_PREFIX = 'ca:';
const MAX_HOSTS = 32;
/** Subject of every X.509-SVID; the identity is the URI SAN (SPIFFE X.509-SVID §2). */
const LEAF_SUBJECT = { organization: 'Tessera' } as const;

function invalid(detail: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', detail);
}

function integerIn(value: number, min: number, max: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in ${min}..${max}`);
  }
  return value;
}

/**
 * Which CA signs now and next, as for the signing keys ({@link resolveRotation}): activation
 * times are stored, so instances sharing a store switch at the same moment.
 */
function resolve(records: readonly CaRecord[], nowMs: number): Rotation<CaRecord> {
  return resolveRotation(records, nowMs, (record) => record.id);
}

function noChanges(): CaChanges {
  return { created: [], activated: [], retired: [], extended: [], unpublished: [] };
}

function derOf(pem: string): Uint8Array {
  const [der] = pemDecodeAll(pem, 'CERTIFICATE');
  if (der === undefined) throw invalid('a CA record holds no certificate');
  return der;
}

function isSelfSigned(certificate: X509Certificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** A loaded CA: its record, certificate and decrypted key. */
interface LoadedCa {
  readonly record: CaRecord;
  readonly der: Uint8Array;
  readonly privateKey: KeyObject;
  /** The certificates above it that go into an SVID's chain (not a self-signed root). */
  readonly chainTailPem: string;
  readonly leaves: LeafIssuer;
}

/**
 * The trust domain's certificate authority: it issues X.509-SVIDs, publishes the bundle and the
 * CRL, and rotates its CA with overlap.
 *
 * Lifecycle of a CA, like the signing keys': `next` (in the bundle, not signing) → `active`
 * (signing) → `retired` (in the bundle until the last certificate it signed has expired).
 * - A CA is created `prepublishSeconds` (at least one maximum SVID lifetime) before it signs, so
 *   every verifier's bundle holds it before the first certificate it signs arrives.
 * - A retired CA stays published until the latest `notAfter` among the SVIDs it signed (the
 *   store keeps each issued serial until it expires), re-checked at every tick.
 * - All state lives in the store; every instance reads the records on `tick()` and computes the
 *   same answer (see {@link resolve}). Activation times are stored, so instances sharing a store
 *   switch CAs at the same moment, even between ticks.
 *
 * CA keys are P-256, created here, stored only as AES-256-GCM ciphertext under the KEK (as
 * `keys/kek.ts` does for signing keys, with the CA id as associated data). Self-signed by
 * default; with an {@link OperatorRoot}, each CA is an intermediate signed by the operator's CA.
 * Every CA certificate carries a critical name constraint permitting only `spiffe://<td>` URIs
 * and `pathLenConstraint` 0.
 *
 * @example
 * ```ts
 * const ca = new CertificateAuthority({ store, kek, clock }, { trustDomain: 'tessera.local' });
 * await ca.init();
 * const { chainPem, expiresAt } = await ca.issueSvid({ spiffeId, publicKey });
 * ```
 */
export class CertificateAuthority {
  readonly #store: CaStore;
  readonly #kek: KeyEncryptionKey;
  readonly #clock: Clock;
  readonly trustDomain: string;
  readonly caLifetimeSeconds: number;
  readonly rotateEverySeconds: number;
  readonly prepublishSeconds: number;
  readonly defaultSvidLifetimeSeconds: number;
  readonly maxSvidLifetimeSeconds: number;
  readonly bundleRefreshHintSeconds: number;
  readonly #operatorRoot: (OperatorRoot & { readonly certificate: X509Certificate }) | undefined;

  #records: readonly CaRecord[] = [];
  readonly #loaded = new Map<string, LoadedCa>();
  #crl: { key: string; der: Uint8Array; builtAtMs: number } | undefined;
  #bundleCache: { key: string; certificates: string[]; pem: string } | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    deps: { readonly store: CaStore; readonly kek: KeyEncryptionKey; readonly clock: Clock },
    options: CertificateAuthorityOptions,
  ) {
    this.#store = deps.store;
    this.#kek = deps.kek;
    this.#clock = deps.clock;
    this.trustDomain = options.trustDomain;
    const timings = caTimings({
      lifetimeSeconds: options.caLifetimeSeconds,
      rotateEverySeconds: options.rotateEverySeconds,
      prepublishSeconds: options.prepublishSeconds,
      svidLifetimeSeconds: options.defaultSvidLifetimeSeconds,
      maxSvidLifetimeSeconds: options.maxSvidLifetimeSeconds,
    });
    this.caLifetimeSeconds = timings.lifetimeSeconds;
    this.rotateEverySeconds = timings.rotateEverySeconds;
    this.prepublishSeconds = timings.prepublishSeconds;
    this.defaultSvidLifetimeSeconds = timings.svidLifetimeSeconds;
    this.maxSvidLifetimeSeconds = timings.maxSvidLifetimeSeconds;
    this.bundleRefreshHintSeconds = integerIn(
      options.bundleRefreshHintSeconds ?? 300,
      1,
      DAY_S,
      'ca.bundleRefreshHintSeconds',
    );
    if (options.operatorRoot !== undefined) {
      this.#operatorRoot = {
        ...options.operatorRoot,
        certificate: checkOperatorRoot(options.operatorRoot),
      };
    }
  }

  /** Creates the first CA when there is none and loads the signing ones (fails fast on a wrong KEK). */
  init(): Promise<CaChanges> {
    return this.tick();
  }

  /** Promotes, retires and creates CAs as the schedule says, and reloads the records. */
  tick(): Promise<CaChanges> {
    return this.#exclusive(() => this.#reconcile(this.#clock.now()));
  }

  /**
   * Starts a rotation now (`tessera ca rotate`): a next CA is published at once and signs
   * `prepublishSeconds` later; the current one retires then. When a next CA is already
   * published, its activation is brought forward to `prepublishSeconds` after its creation.
   */
  rotate(): Promise<{ next: CaSummary; changes: CaChanges }> {
    return this.#exclusive(async () => {
      const now = this.#clock.now();
      const changes = await this.#reconcile(now);
      const { next } = resolve(this.#records, now);
      if (next === undefined) {
        const created = await this.#createCa('next', now + this.prepublishSeconds * 1000, now);
        changes.created.push(created.id);
      } else {
        const earliest = Math.max(now, next.createdAtMs + this.prepublishSeconds * 1000);
        if (next.activatesAtMs > earliest) {
          await this.#store.updateCa(next.id, { activatesAtMs: earliest });
        }
      }
      const after = await this.#reconcile(now);
      for (const name of Object.keys(after) as (keyof CaChanges)[]) {
        changes[name].push(...after[name]);
      }
      const summary = this.show().find((ca) => ca.role === 'next');
      if (summary === undefined) throw new TesseraError('ERR_INTERNAL', 'no next CA after rotate');
      return { next: summary, changes };
    });
  }

  /** The CAs in the store that matter now: active, next, and retired ones still published. */
  show(): CaSummary[] {
    const now = this.#clock.now();
    const { active, next } = resolve(this.#records, now);
    return this.#records
      .filter((record) => record === active || record === next || this.#isPublished(record, now))
      .map((record) => {
        const certificate = new X509Certificate(record.certificatePem);
        const role = record === active ? 'active' : record === next ? 'next' : 'retired';
        return {
          id: record.id,
          role,
          subject: certificate.subject,
          issuer: certificate.issuer,
          notBefore: seconds(record.notBeforeMs),
          notAfter: seconds(record.notAfterMs),
          activatesAt: seconds(record.activatesAtMs),
          retiredAt: record.retiredAtMs === null ? null : seconds(record.retiredAtMs),
          publishUntil: record.publishUntilMs === null ? null : seconds(record.publishUntilMs),
          published: this.#isPublished(record, now),
        } satisfies CaSummary;
      })
      .sort((a, b) => rank(a.role) - rank(b.role) || b.activatesAt - a.activatesAt);
  }

  /**
   * Issues an X.509-SVID (SPIFFE X.509-SVID §4, §5): exactly one URI SAN (`spiffeId`), the given
   * hosts as IP/DNS SANs, `CA:false`, keyUsage digitalSignature, extKeyUsage serverAuth and
   * clientAuth, a random 128-bit serial. The serial is recorded (revocation, CRL, how long this
   * CA stays in the bundle) before the certificate is handed out.
   */
  async issueSvid(request: IssueSvidRequest): Promise<IssuedSvid> {
    const id = parseWorkloadId(request.spiffeId, this.trustDomain);
    const hosts = request.hosts ?? [];
    if (hosts.length > MAX_HOSTS) throw new TesseraError('ERR_REQUEST_INVALID', 'too many hosts');
    const ca = this.#signing();
    const nowMs = this.#clock.now();
    const now = seconds(nowMs);
    const lifetime = Math.min(
      request.lifetimeSeconds ?? this.defaultSvidLifetimeSeconds,
      this.maxSvidLifetimeSeconds,
    );
    if (!Number.isSafeInteger(lifetime) || lifetime < 1) {
      throw new TesseraError('ERR_REQUEST_INVALID', 'lifetime must be a positive integer');
    }
    const caNotAfter = seconds(ca.record.notAfterMs);
    const notAfter = Math.min(now + lifetime, caNotAfter);
    if (notAfter <= now) throw new TesseraError('ERR_UNAVAILABLE', 'the active CA has expired');
    const notBefore = Math.max(now - BACKDATE_SECONDS, seconds(ca.record.notBeforeMs));
    const serial = randomSerial();
    const der = ca.leaves.issue({
      serialNumber: serial.bytes,
      publicKey: request.publicKey,
      ...(request.spki !== undefined ? { spki: request.spki } : {}),
      notBefore,
      notAfter,
      uris: [id.uri],
      dnsNames: hosts.filter((host) => isIP(host) === 0),
      ipAddresses: hosts.filter((host) => isIP(host) !== 0),
    });
    await this.#store.recordSvid({
      serialNumber: serial.hex,
      caId: ca.record.id,
      serviceName: id.path.slice(1),
      spiffeId: id.uri,
      issuedAtMs: nowMs,
      notAfterMs: notAfter * 1000,
      revokedAtMs: null,
    });
    const certificatePem = pemEncode('CERTIFICATE', der);
    return {
      chainPem: certificatePem + ca.chainTailPem,
      certificatePem,
      serialNumber: serial.hex,
      expiresAt: notAfter,
      notBefore,
      caId: ca.record.id,
    };
  }

  /** The CA certificates in the bundle (PEM, each once): the operator's root, then ours. */
  bundleCertificates(): string[] {
    return this.#bundle().certificates;
  }

  /** `GET /v1/bundle.pem`: every trusted CA certificate, for openssl and curl. */
  bundlePem(): string {
    return this.#bundle().pem;
  }

  /** The bundle, rebuilt only when the set of published CAs changed (every SVID response has it). */
  #bundle(): { key: string; certificates: string[]; pem: string } {
    const now = this.#clock.now();
    const { active, next } = resolve(this.#records, now);
    const ordered = [
      ...(active === undefined ? [] : [active]),
      ...(next === undefined ? [] : [next]),
      ...this.#records.filter((r) => r !== active && r !== next && this.#isPublished(r, now)),
    ];
    const key = ordered.map((record) => record.id).join(' ');
    if (this.#bundleCache?.key === key) return this.#bundleCache;
    const pems: string[] = [];
    if (this.#operatorRoot !== undefined) pems.push(this.#operatorRoot.certificate.toString());
    for (const record of ordered) pems.push(new X509Certificate(record.certificatePem).toString());
    const certificates = [...new Set(pems)];
    this.#bundleCache = { key, certificates, pem: certificates.join('') };
    return this.#bundleCache;
  }

  /**
   * The SPIFFE bundle's X.509 authorities (SPIFFE Trust Domain and Bundle §4.2.1): one JWK per CA
   * certificate, `use: "x509-svid"`, with the certificate as its only `x5c` entry.
   */
  bundleJwks(): Record<string, unknown>[] {
    return this.bundleCertificates().map((pem) => {
      const certificate = new X509Certificate(pem);
      const jwk = certificate.publicKey.export({ format: 'jwk' });
      return {
        ...jwk,
        use: 'x509-svid',
        x5c: [certificate.raw.toString('base64')],
      };
    });
  }

  /**
   * A CRL (RFC 5280 §5) signed by the CA `caId` (default: the active one) listing the serials it
   * signed that are revoked and not yet expired. Valid for an hour; the CRL number is the build
   * time in milliseconds, so it increases with every CRL any instance builds.
   */
  async crlDer(caId?: string): Promise<Uint8Array | undefined> {
    const nowMs = this.#clock.now();
    const ca = caId === undefined ? this.#signing() : this.#loadedPublished(caId, nowMs);
    if (ca === undefined) return undefined;
    const revoked = await this.#store.listRevokedSvids(ca.record.id, nowMs);
    const key = `${ca.record.id} ${revoked.map((r) => r.serialNumber).join(',')}`;
    if (this.#crl?.key === key && nowMs - this.#crl.builtAtMs < CRL_CACHE_MS) return this.#crl.der;
    const now = seconds(nowMs);
    const der = issueCertificateRevocationList({
      issuer: { privateKey: ca.privateKey, certificate: ca.der },
      thisUpdate: now - BACKDATE_SECONDS,
      nextUpdate: now + CRL_VALIDITY_SECONDS,
      crlNumber: nowMs,
      revoked: revoked.map((r) => ({
        serialNumber: r.serialNumber,
        revokedAt: seconds(r.revokedAtMs ?? nowMs),
      })),
    });
    this.#crl = { key, der, builtAtMs: nowMs };
    return der;
  }

  /** The active CA, loaded; switches to the next one at its activation time even between ticks. */
  #signing(): LoadedCa {
    const { active } = resolve(this.#records, this.#clock.now());
    const loaded = active === undefined ? undefined : this.#loaded.get(active.id);
    if (loaded === undefined) {
      throw new TesseraError('ERR_UNAVAILABLE', 'no CA loaded: call CertificateAuthority.init()');
    }
    return loaded;
  }

  #loadedPublished(caId: string, nowMs: number): LoadedCa | undefined {
    const record = this.#records.find((r) => r.id === caId);
    if (record === undefined) return undefined;
    const { active, next } = resolve(this.#records, nowMs);
    if (record !== active && record !== next && !this.#isPublished(record, nowMs)) return undefined;
    return this.#loaded.get(caId) ?? this.#load(record);
  }

  #isPublished(record: CaRecord, nowMs: number): boolean {
    if (record.notAfterMs <= nowMs) return false;
    if (record.state !== 'retired') return true;
    return record.publishUntilMs !== null && record.publishUntilMs > nowMs;
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reconcile(now: number): Promise<CaChanges> {
    const changes = noChanges();
    const store = this.#store;
    const records = await store.listCas();
    const plan = resolve(records, now);
    for (const record of plan.superseded) {
      await store.updateCa(record.id, {
        state: 'retired',
        retiredAtMs: now,
        publishUntilMs: Math.max(now, (await store.latestSvidExpiry(record.id)) ?? now),
      });
      changes.retired.push(record.id);
    }
    for (const record of plan.discarded) {
      await store.updateCa(record.id, { state: 'retired', retiredAtMs: now, publishUntilMs: now });
      changes.retired.push(record.id);
    }
    let { active, next } = plan;
    if (active === undefined && next !== undefined) {
      // Already in everyone's bundle: the best CA to start signing with.
      active = { ...next, state: 'active', activatesAtMs: now };
      next = undefined;
      await store.updateCa(active.id, { state: 'active', activatesAtMs: now });
      changes.activated.push(active.id);
    } else if (active === undefined) {
      active = await this.#createCa('active', now, now);
      changes.created.push(active.id);
    } else if (active.state === 'next') {
      await store.updateCa(active.id, { state: 'active' });
      changes.activated.push(active.id);
    }
    const rotateAt = active.activatesAtMs + this.rotateEverySeconds * 1000;
    if (next === undefined && now >= rotateAt - this.prepublishSeconds * 1000) {
      const created = await this.#createCa(
        'next',
        Math.max(rotateAt, now + this.prepublishSeconds * 1000),
        now,
      );
      changes.created.push(created.id);
    }
    // A retired CA stays in the bundle while a certificate it signed is valid: an issuance that
    // raced its retirement (another instance, a slow store write) extends it here.
    for (const record of await store.listCas()) {
      if (record.state !== 'retired' || !this.#isPublished(record, now)) continue;
      const latest = await store.latestSvidExpiry(record.id);
      if (latest !== null && latest > (record.publishUntilMs ?? 0)) {
        await store.updateCa(record.id, { publishUntilMs: latest });
        changes.extended.push(record.id);
      }
    }
    const previous = new Set(
      this.#records.filter((r) => this.#isPublished(r, now)).map((r) => r.id),
    );
    const current = await store.listCas();
    this.#adopt(current, now);
    for (const record of current) {
      if (previous.has(record.id) && !this.#isPublished(record, now)) {
        changes.unpublished.push(record.id);
      }
    }
    return changes;
  }

  /** Replaces the in-memory view; decrypts the signing CAs first, so a failure changes nothing. */
  #adopt(records: readonly CaRecord[], now: number): void {
    const live = records.filter((r) => r.state === 'active' || r.state === 'next');
    const loaded = new Map<string, LoadedCa>();
    for (const record of live)
      loaded.set(record.id, this.#loaded.get(record.id) ?? this.#load(record));
    this.#records = records.filter(
      (r) => r.state === 'active' || r.state === 'next' || this.#isPublished(r, now),
    );
    this.#loaded.clear();
    for (const [id, ca] of loaded) this.#loaded.set(id, ca);
  }

  #load(record: CaRecord): LoadedCa {
    let privateKey: KeyObject;
    try {
      privateKey = decryptPrivateKey(this.#kek, record.encryptedPrivateKey, AAD_PREFIX + record.id);
    } catch (error) {
      const why = isTesseraError(error) ? (error.detail ?? error.message) : 'cannot be loaded';
      throw invalid(`CA ${record.id}: ${why}`);
    }
    const der = derOf(record.certificatePem);
    const certificate = new X509Certificate(der);
    if (certificateThumbprint(der) !== record.id || !certificate.checkPrivateKey(privateKey)) {
      throw invalid(`CA ${record.id}: the record's certificate and key do not match`);
    }
    // Self-signed: the leaf alone (the CA is in every verifier's bundle). Under an operator's
    // CA: this CA and the operator's, unless the latter is a self-signed root (a trust anchor
    // the peer already has).
    const parents = record.parentsPem === '' ? [] : pemDecodeAll(record.parentsPem, 'CERTIFICATE');
    const chainTailPem =
      parents.length === 0
        ? ''
        : [der, ...parents.filter((parent) => !isSelfSigned(new X509Certificate(parent)))]
            .map((cert) => pemEncode('CERTIFICATE', cert))
            .join('');
    return {
      record,
      der,
      privateKey,
      chainTailPem,
      leaves: createLeafIssuer({ privateKey, certificate: der }, LEAF_SUBJECT),
    };
  }

  async #createCa(state: 'active' | 'next', activatesAtMs: number, now: number): Promise<CaRecord> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const notBefore = seconds(now) - BACKDATE_SECONDS;
    let notAfter = seconds(activatesAtMs) + this.caLifetimeSeconds;
    const root = this.#operatorRoot;
    if (root !== undefined) {
      notAfter = Math.min(notAfter, seconds(Date.parse(root.certificate.validTo)));
    }
    const der = issueCertificate({
      serialNumber: randomSerial().bytes,
      subject: {
        organization: 'Tessera',
        // Distinct names: CRLs and chain building match an issuer by name first.
        commonName: `Tessera CA ${this.trustDomain} ${randomBytes(8).toString('hex')}`,
      },
      publicKey: privateKey,
      notBefore,
      notAfter,
      profile: { kind: 'ca', permittedUriDomain: this.trustDomain, pathLength: 0 },
      issuer:
        root === undefined
          ? { privateKey }
          : { privateKey: root.privateKey, certificate: new Uint8Array(root.certificate.raw) },
    });
    const id = certificateThumbprint(der);
    const record: CaRecord = {
      id,
      state,
      certificatePem: pemEncode('CERTIFICATE', der),
      parentsPem: root === undefined ? '' : root.certificate.toString(),
      encryptedPrivateKey: encryptPrivateKey(this.#kek, privateKey, AAD_PREFIX + id),
      notBeforeMs: notBefore * 1000,
      notAfterMs: notAfter * 1000,
      createdAtMs: now,
      activatesAtMs,
      retiredAtMs: null,
      publishUntilMs: null,
    };
    await this.#store.insertCa(record);
    return record;
  }
}

function rank(role: CaSummary['role']): number {
  return role === 'active' ? 0 : role === 'next' ? 1 : 2;
}

/** A random 128-bit serial, with its hex as `parseX509Svid` reads it (no leading zero octets). */
function randomSerial(): { bytes: Uint8Array; hex: string } {
  for (;;) {
    const bytes = new Uint8Array(randomBytes(16));
    const hex = Buffer.from(bytes)
      .toString('hex')
      .replace(/^(00)+(?=.)/, '');
    if (hex !== '0') return { bytes, hex };
  }
}

/** The operator's CA must be a CA certificate whose key is the one given, P-256 or Ed25519. */
function checkOperatorRoot(root: OperatorRoot): X509Certificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(root.certificatePem);
  } catch {
    throw invalid('ca.certFile: not a PEM certificate');
  }
  if (!certificate.ca)
    throw invalid('ca.certFile: not a CA certificate (basicConstraints CA:TRUE)');
  if (!certificate.checkPrivateKey(root.privateKey)) {
    throw invalid('ca.keyFile: not the key of the certificate in ca.certFile');
  }
  const type = root.privateKey.asymmetricKeyType;
  const curve = root.privateKey.asymmetricKeyDetails?.namedCurve;
  if (!(type === 'ed25519' || (type === 'ec' && curve === 'prime256v1'))) {
    throw invalid('ca.keyFile: the key must be P-256 or Ed25519');
  }
  return certificate;
}
