/**
 * Service Identity Verification Checklist, rows 1–19: mTLS (SV1–SV6), JWT service tokens
 * (SV7–SV13), HMAC signatures (SV14–SV19).
 *
 * The checklist offers three ways to prove a caller's identity, so each family is judged only
 * where its mechanism exists, and is otherwise N/A with the reason (one missing mechanism is not
 * counted six times):
 * - SV1 (mutual TLS enabled) is the row that reports "no cryptographic caller identity at all":
 *   FAIL for an inbound server with no client certificates (in code, or a STRICT mesh policy in
 *   the manifests) and no signed service tokens; N/A when signed service tokens (Tessera, or
 *   verified JWTs whose subject is used as the calling service) identify callers instead. A
 *   service whose JWTs only carry end users gets FAIL, as seed audit 000 reports "No mTLS" for
 *   a service with user tokens only. SV2–SV6 are N/A without mTLS in code.
 * - SV7–SV13 are N/A when no JWT is verified or decoded.
 * - SV14–SV17 are N/A without HMAC request signing; SV18 (constant-time comparison) and SV19
 *   (per-service secrets) are also judged wherever a static shared secret authenticates callers,
 *   since that is the same comparison with the same secret-sharing problem.
 */
import ts from 'typescript';
import type { SymbolTable } from '../ast/symbols.ts';
import type { FunctionFacts, Site } from '../analysis/inbound/facts.ts';
import type { Summary } from '../analysis/inbound/functions.ts';
import { summaryVerdict } from '../analysis/inbound/coverage.ts';
import {
  evidenceOf,
  handlesJwt,
  identityReads,
  listed,
  noAuthenticatedApi,
  sitesOf,
  unverifiedDecodes,
  usesTessera,
  where,
  withServer,
} from './inbound.ts';
import { isAsymmetric, isSymmetricOrNone, type JwtVerifier } from '../analysis/inbound/jwt.ts';
import { ev, inbound, type InboundModel } from '../analysis/inbound/model.ts';
import { SIGNATURE_HEADER, STRONG_HMAC, TIMESTAMP_NAME } from '../analysis/inbound/vocabulary.ts';
import type { ConfidenceNote, Evidence, Outcome } from '../model.ts';
import { certificateLifetimes } from '../analysis/certificate-lifetime.ts';
import { isLoopbackHost } from '../analysis/outbound/urls.ts';
import type { MintedToken } from '../analysis/secrets/sources.ts';
import {
  describeAlgorithm,
  describeMinted,
  serviceCredentials,
} from '../analysis/service-credential.ts';
import { claimOutcome } from './service-endpoint.ts';
import { outcome, type AuditContext, type RuleSet } from './rule.ts';

// ---- mTLS (SV1–SV6) ---------------------------------------------------------------------

/** mTLS configured in code: `requestCert` on a TLS server. */
function mtlsInCode(model: InboundModel) {
  return model.mutualTls.filter((m) => m.requestCert);
}

function sv1(ctx: AuditContext): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const configs = mtlsInCode(model);
  const required = configs.filter((m) => m.optional === undefined);
  if (required.length > 0) {
    return outcome(
      'PASS',
      required.every((m) => m.tessera)
        ? "The TLS server requires a client certificate from the trust domain (Tessera's workload identity through `tesseraHttpsOptions()` or `tlsServerOptions()`)."
        : 'The TLS server requires a client certificate (`requestCert` with `rejectUnauthorized` left on).',
      evidenceOf(required.map((m) => m.site)),
    );
  }
  if (configs.length > 0) {
    const checked = model.files.flatMap((f) => f.certFields).filter((c) => c.name === 'authorized');
    return checked.length > 0
      ? outcome(
          'PASS',
          'Client certificates are requested and the code refuses connections that are not `authorized`.',
          evidenceOf([...configs.map((m) => m.site), ...checked.map((c) => c.site)]),
        )
      : outcome(
          'PARTIAL',
          'Client certificates are requested but `rejectUnauthorized: false` makes them optional, and nothing checks `socket.authorized`.',
          evidenceOf(configs.flatMap((m) => (m.optional === undefined ? [m.site] : [m.optional]))),
        );
  }
  if (model.mesh !== undefined) {
    return outcome(
      'PASS',
      'Mutual TLS is enforced by the service mesh (Istio PeerAuthentication in STRICT mode).',
      [model.mesh],
    );
  }
  const tokens = serviceTokenEvidence(serviceTokenModel(ctx));
  if (tokens.length > 0) {
    return outcome(
      'N/A',
      "Callers prove their identity with signed service tokens (judged by SV7–SV13), the checklist's alternative to mutual TLS; no mTLS is configured.",
      evidenceOf(tokens, 3),
    );
  }
  // A listener that only answers probes and metrics receives no service calls to authenticate
  // (a gateway's API is what it proxies, so it still has one).
  const noApi = model.proxies.length > 0 ? undefined : noAuthenticatedApi(model);
  if (noApi !== undefined) return noApi;
  return outcome(
    'FAIL',
    'No server requires client certificates (no `requestCert` in TLS options, no STRICT mesh policy) and no signed service token proves who is calling.',
    evidenceOf(model.tlsServers.length > 0 ? model.tlsServers : model.serverSites, 3),
  );
}

/**
 * Where signed service tokens identify the calling service: Tessera, or verified JWTs whose
 * subject is used as a service (not an end user's) identity, or HMAC keys chosen per caller.
 */
function serviceTokenEvidence(model: InboundModel): Site[] {
  if (usesTessera(model)) return model.tessera.map((t) => t.site);
  const identity = identityReads(model);
  if (model.verifiers.length > 0 && identity.service.length > 0) {
    return [...model.verifiers.map((v) => v.site), ...identity.service];
  }
  const perCaller = hmacVerifiers(model)
    .flatMap((s) => s.hmacs)
    .filter((h) => h.key !== undefined && perCallerKey(h.key));
  return perCaller;
}

/** SV2–SV6 are judged only where mTLS is configured in code. */
function mtlsFamily(
  ctx: AuditContext,
  judge: (model: InboundModel, sites: readonly Site[]) => Outcome,
): Outcome {
  const { model, na } = withServer(ctx);
  if (na !== undefined) return na;
  const configs = mtlsInCode(model);
  if (configs.length === 0) {
    return outcome(
      'N/A',
      model.mesh !== undefined
        ? 'Mutual TLS is terminated by the service mesh; its CA, revocation and rotation are mesh configuration, not this code.'
        : 'No mutual TLS is configured in this code (SV1 reports its absence), so there is nothing to judge here.',
      model.mesh === undefined ? [] : [model.mesh],
    );
  }
  return judge(
    model,
    configs.map((m) => m.site),
  );
}

function sv2(ctx: AuditContext): Outcome {
  return mtlsFamily(ctx, (model) => {
    const configs = mtlsInCode(model);
    const missing = configs.filter((m) => m.ca === undefined);
    const publicStore = configs.filter(
      (m) => m.ca?.node.getText(m.ca.unit.sourceFile).includes('rootCertificates') === true,
    );
    if (missing.length > 0 || publicStore.length > 0) {
      return outcome(
        'FAIL',
        missing.length > 0
          ? "Client certificates are checked against Node's default CA store (no `ca` option), so a certificate from any public CA is accepted."
          : 'The client CA bundle is the public root store (`tls.rootCertificates`).',
        evidenceOf([...missing, ...publicStore].map((m) => m.ca ?? m.site)),
      );
    }
    return outcome(
      'PASS',
      configs.every((m) => m.tessera)
        ? "Client certificates must chain to the trust domain's CA bundle from the Tessera authority."
        : 'Client certificates must chain to the CA bundle given in `ca`.',
      evidenceOf(configs.flatMap((m) => (m.ca === undefined ? [] : [m.ca]))),
    );
  });
}

/** Tessera plugin registrations in mTLS mode: the caller is read from the client certificate. */
function tesseraMtls(model: InboundModel) {
  return model.tessera.filter((t) => t.mtls !== undefined);
}

function sv3(ctx: AuditContext): Outcome {
  return mtlsFamily(ctx, (model, sites) => {
    const plugin = tesseraMtls(model);
    if (plugin.length > 0) {
      return outcome(
        'PASS',
        "Tessera's plugin in mTLS mode takes the caller from the client certificate's single SPIFFE URI SAN (parsed strictly, in the trust domain) and applies the policy to it.",
        evidenceOf(plugin.flatMap((t) => (t.mtls === undefined ? [] : [t.mtls.site]))),
      );
    }
    const fields = model.files
      .flatMap((f) => f.certFields)
      .filter(
        (c) => c.name === 'subject' || c.name === 'subjectaltname' || c.name === 'fingerprint256',
      );
    if (fields.length > 0) {
      return outcome(
        'PASS',
        "The client certificate's subject (CN/SAN) is read and checked.",
        evidenceOf(fields.map((f) => f.site)),
      );
    }
    return outcome(
      'FAIL',
      'Any certificate issued by the CA is accepted: the subject (CN) or SAN of the client certificate is never checked.',
      evidenceOf(sites),
    );
  });
}

function sv4(ctx: AuditContext): Outcome {
  return mtlsFamily(ctx, (model, sites) => {
    const fed = tesseraMtls(model).filter((t) => t.authority !== undefined);
    if (fed.length > 0) {
      return outcome(
        'PASS',
        "Revoked certificate serials and disabled services reach Tessera's plugin on the authority's revocation feed; it refuses them on the next request.",
        evidenceOf(fed.flatMap((t) => (t.mtls === undefined ? [] : [t.mtls.site]))),
      );
    }
    const checks = model.files.flatMap((f) => f.revocationChecks);
    if (checks.length > 0) {
      return outcome(
        'PASS',
        'Revoked client certificates are refused (CRL or OCSP).',
        evidenceOf(checks),
      );
    }
    // Certificates that live hours are the checklist's alternative to revocation.
    const shortest = certificateLifetimes(ctx)[0];
    if (shortest !== undefined && shortest.seconds <= SHORT_LIVED_CERTIFICATE) {
      return outcome(
        'PARTIAL',
        `No CRL or OCSP check, but ${shortest.issuer} issues certificates that live ${hoursText(shortest.seconds)} (${whereEvidence(shortest.evidence)}), so a compromised one stops working within that time.`,
        [...evidenceOf(sites), shortest.evidence],
      );
    }
    return outcome(
      'FAIL',
      'No CRL (`crl` option) or OCSP check: a revoked client certificate keeps working until it expires.',
      evidenceOf(sites),
    );
  });
}

/** A day: certificates that live at most this long limit a compromise without revocation. */
const SHORT_LIVED_CERTIFICATE = 24 * 3600;

function hoursText(seconds: number): string {
  return seconds >= 3600
    ? `${String(Math.round((seconds / 3600) * 10) / 10)} h`
    : `${String(Math.round(seconds / 60))} min`;
}

function sv5(ctx: AuditContext): Outcome {
  return mtlsFamily(ctx, (model, sites) => {
    const expiry = model.files
      .flatMap((f) => f.certFields)
      .filter((c) => c.name === 'valid_to' || c.name === 'validTo');
    const reloads = model.certificateReloads;
    if (expiry.length > 0 || reloads.length > 0) {
      return outcome(
        'PASS',
        'Certificate expiry is handled: validity dates are checked or certificates are reloaded without a restart.',
        evidenceOf([...expiry.map((e) => e.site), ...reloads]),
      );
    }
    return outcome(
      'PARTIAL',
      "TLS refuses expired client certificates, but nothing watches this server's own certificate: it is loaded once and fails when it expires.",
      evidenceOf(sites),
    );
  });
}

function sv6(ctx: AuditContext): Outcome {
  return mtlsFamily(ctx, (model, sites) => {
    const reloads = model.certificateReloads;
    return reloads.length > 0
      ? outcome(
          'PASS',
          'Certificates are reloaded at run time (`setSecureContext`, a file watch, or a workload identity attached to the server), so rotation needs no restart.',
          evidenceOf(reloads),
        )
      : outcome(
          'FAIL',
          'Certificates are read once at start-up; rotating them needs a redeploy or restart.',
          evidenceOf(sites),
        );
  });
}

// ---- JWT service tokens (SV7–SV13) ------------------------------------------------------------

/*
 * Which side of a service token each row judges (see the table in
 * analysis/service-credential.ts): SV7 (algorithm), SV9 (sub) and SV12 (exp) are about the tokens
 * themselves, so they judge tokens this code mints for services and tokens it verifies from
 * services; SV8 (key retrieval), SV10 (iss), SV11 (aud) and SV13 (expired refused) are about
 * verification, so they apply only where this code verifies service tokens. Verifiers of end
 * users' tokens are the SE checks' business, and a static shared secret has no claims or
 * algorithm: both give N/A with the reason.
 */

/** Marks a decided outcome with a confidence, unless the rule already gave one. */
function sureOf(result: Outcome, note: ConfidenceNote | undefined): Outcome {
  if (note === undefined || result.status === 'N/A' || result.confidence !== undefined)
    return result;
  return { ...result, confidence: note.level, confidenceReason: note.reason };
}

/**
 * Medium when nothing in the code tells whose token the verifiers check (no service claim, no
 * user profile, no key shared with a minting site): they are judged as service tokens.
 */
function holderConfidence(ctx: AuditContext): ConfidenceNote | undefined {
  const serviceJwt = serviceCredentials(ctx).verified.serviceJwt;
  if (serviceJwt.length === 0 || serviceJwt.some((v) => v.holder === 'service')) return undefined;
  return {
    level: 'medium',
    reason:
      "Nothing in the code says whether the verified JWTs are a calling service's or an end user's; they are judged as service tokens.",
  };
}

/** The inbound model seen through service tokens: verifiers of end users' tokens left out. */
function serviceTokenModel(ctx: AuditContext): InboundModel {
  const model = inbound(ctx);
  const verifiers = serviceCredentials(ctx).verified.serviceJwt.map((v) => v.verifier);
  return verifiers.length === model.verifiers.length ? model : { ...model, verifiers };
}

/** Why there is no service token for a row to judge, naming what the service does use. */
function noServiceToken(ctx: AuditContext, side: 'verifier' | 'token'): Outcome {
  const { issued, verified } = serviceCredentials(ctx);
  const users = verified.userJwt.map((v) => ev(v.verifier.site));
  const first = (evidence: readonly Evidence[]) => evidence.slice(0, 3);
  if (side === 'verifier' && issued.minted.length > 0) {
    const minted = issued.minted.map((m) => m.evidence);
    return outcome(
      'N/A',
      `This service mints service tokens (${whereEvidence(minted[0])}) but verifies none from its callers${users.length > 0 ? " (the JWTs it verifies are end users' tokens, judged by the SE checks)" : ''}, so there is no service-token verification to judge; SV7, SV9 and SV12 judge the tokens it mints.`,
      first([...minted, ...users]),
    );
  }
  if (users.length > 0) {
    return outcome(
      'N/A',
      `The JWTs this service verifies are end users' tokens (${whereEvidence(users[0])}), judged by the SE checks; no service token is minted or verified here.`,
      first(users),
    );
  }
  const staticOnes = [...verified.staticSecret, ...issued.static];
  if (staticOnes.length > 0) {
    return outcome(
      'N/A',
      `The service credential is a static shared secret (${whereEvidence(staticOnes[0])}), not a token: it has no signature algorithm or claims to judge (SV18 and SV19 judge the secret, TM1 its lack of expiry).`,
      first(staticOnes),
    );
  }
  if (issued.obtained.length > 0) {
    const obtained = issued.obtained.map((o) => o.evidence);
    return outcome(
      'N/A',
      `Service tokens are OAuth client-credentials tokens minted by the identity provider (${whereEvidence(obtained[0])}); their claims are not in this code, and this service verifies no service token.`,
      first(obtained),
    );
  }
  return outcome(
    'N/A',
    'No JWT service tokens are minted or verified in this code (no JWT is signed, verified or decoded), so the JWT rows do not apply.',
  );
}

function whereEvidence(evidence: Evidence | undefined): string {
  return evidence === undefined ? 'the code' : `${evidence.file}:${String(evidence.line)}`;
}

/** Does this code verify (or only decode) service tokens on requests it receives? */
function verifiesServiceTokens(model: InboundModel): boolean {
  return handlesJwt(model);
}

/** A verifier-side row (SV8, SV10, SV11, SV13): judged only where service tokens are verified. */
function verifierRow(ctx: AuditContext, judge: (model: InboundModel) => Outcome): Outcome {
  const { na } = withServer(ctx);
  if (na !== undefined) return na;
  const model = serviceTokenModel(ctx);
  if (!verifiesServiceTokens(model)) return noServiceToken(ctx, 'verifier');
  return sureOf(judge(model), holderConfidence(ctx));
}

const RANK = { FAIL: 0, PARTIAL: 1, PASS: 2, 'N/A': 3 } as const;

/**
 * A token row (SV7, SV9, SV12): the tokens this code mints for services and the service tokens
 * it verifies are judged apart, and the worse answer is the row's (a service that verifies
 * ES256 but mints HS256 tokens still hands out tokens any holder of the secret can forge).
 */
function tokenRow(
  ctx: AuditContext,
  verifierSide: (model: InboundModel) => Outcome,
  mintedSide: (tokens: readonly MintedToken[]) => Outcome,
  usersOnly?: (users: readonly Evidence[]) => Outcome,
): Outcome {
  const { issued, verified } = serviceCredentials(ctx);
  const minted = issued.minted;
  const { na } = withServer(ctx);
  const model = serviceTokenModel(ctx);
  const outcomes: Outcome[] = [];
  if (minted.length > 0) outcomes.push(mintedSide(minted));
  if (na === undefined && verifiesServiceTokens(model)) {
    outcomes.push(sureOf(verifierSide(model), holderConfidence(ctx)));
  }
  if (outcomes.length === 0 && usersOnly !== undefined && verified.userJwt.length > 0) {
    outcomes.push(usersOnly(verified.userJwt.map((v) => ev(v.verifier.site))));
  }
  const sorted = [...outcomes].sort((a, b) => RANK[a.status] - RANK[b.status]);
  const worst = sorted[0];
  if (worst === undefined) return na ?? noServiceToken(ctx, 'token');
  const same = sorted.filter((o) => o.status === worst.status);
  if (same.length === 1) return worst;
  return outcome(
    worst.status,
    same.map((o) => o.why.replace(/\.$/, '')).join('; ') + '.',
    same.flatMap((o) => o.evidence).slice(0, 8),
  );
}

const decodeOnly = (model: InboundModel, why: string): Outcome | undefined => {
  const decodes = unverifiedDecodes(model);
  if (model.verifiers.length > 0 || usesTessera(model) || decodes.length === 0) return undefined;
  return outcome('FAIL', why, evidenceOf(decodes));
};

/** SV7 for the tokens this code mints: a shared-secret algorithm lets every verifier forge them. */
function mintedAlgorithm(tokens: readonly MintedToken[]): Outcome {
  const symmetric = tokens.filter((t) => t.symmetric === true);
  const first = symmetric[0];
  if (first !== undefined) {
    return outcome(
      'FAIL',
      `Service tokens are minted as ${describeAlgorithm(first)} (${whereEvidence(first.evidence)}): every service that holds the secret to verify them can also mint them.`,
      symmetric.flatMap((t) => [
        t.evidence,
        ...(t.keyEvidence === undefined ? [] : [t.keyEvidence]),
      ]),
    );
  }
  const unknown = tokens.filter((t) => t.symmetric === undefined);
  if (unknown[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `The signing algorithm of minted service tokens is not shown in the code (${whereEvidence(unknown[0].evidence)}).`,
      unknown.map((t) => t.evidence),
    );
  }
  return outcome(
    'PASS',
    `Service tokens are minted with an asymmetric algorithm (${listed([...new Set(tokens.map((t) => t.algorithm ?? 'a private key'))])}).`,
    tokens.map((t) => t.evidence),
  );
}

function sv7Verifiers(model: InboundModel): Outcome {
  const early = decodeOnly(
    model,
    'Tokens are decoded without verification, so any algorithm (including `none`) is accepted.',
  );
  if (early !== undefined) return early;
  const symmetric: { verifier: JwtVerifier; site: Site }[] = [];
  const unknown: JwtVerifier[] = [];
  const good: JwtVerifier[] = [];
  for (const verifier of model.verifiers) {
    const pinned = verifier.algorithms;
    if (pinned?.some(isSymmetricOrNone) === true) {
      symmetric.push({ verifier, site: verifier.algorithmsSite ?? verifier.site });
    } else if (pinned !== undefined && pinned.length > 0 && pinned.every(isAsymmetric)) {
      good.push(verifier);
    } else if (verifier.key.kind === 'inherited') {
      continue;
    } else if (verifier.key.symmetric === true) {
      symmetric.push({ verifier, site: verifier.key.site });
    } else if (verifier.key.symmetric === false) {
      good.push(verifier);
    } else {
      unknown.push(verifier);
    }
  }
  if (symmetric.length > 0) {
    return outcome(
      'FAIL',
      'Service tokens are verified with a shared HMAC secret (HS256 family): every service that can verify a token can also mint one.',
      evidenceOf(symmetric.map((s) => s.site)),
    );
  }
  if (unknown.length > 0) {
    return outcome(
      'PARTIAL',
      'The accepted algorithms are not pinned and the key type could not be traced, so HS256 may be accepted.',
      evidenceOf(unknown.map((v) => v.site)),
    );
  }
  return outcome(
    'PASS',
    `Tokens are verified with asymmetric algorithms (${listed([...new Set(good.flatMap((v) => v.algorithms ?? ['public key']))])}).`,
    evidenceOf(good.map((v) => v.algorithmsSite ?? v.key.site)),
  );
}

function sv7(ctx: AuditContext): Outcome {
  return tokenRow(ctx, sv7Verifiers, mintedAlgorithm);
}

function sv8(ctx: AuditContext): Outcome {
  return verifierRow(ctx, (model) => {
    const early = decodeOnly(
      model,
      'Tokens are never verified, so no verification key is retrieved at all.',
    );
    if (early !== undefined) return early;
    const verifiers = model.verifiers.filter((v) => v.key.kind !== 'inherited');
    const secret = verifiers.filter(
      (v) =>
        v.key.symmetric === true &&
        !(
          v.algorithms !== undefined &&
          v.algorithms.length > 0 &&
          v.algorithms.every(isAsymmetric)
        ),
    );
    if (secret.length > 0) {
      return outcome(
        'FAIL',
        'Verification uses a shared secret, not a public key: the verifying service holds signing power.',
        evidenceOf(secret.map((v) => v.key.site)),
      );
    }
    const plainHttp = verifiers.filter((v) => {
      const host = /^http:\/\/(\[[^\]]*\]|[^/:?#]*)/.exec(v.key.url ?? '')?.[1];
      return host !== undefined && !isLoopbackHost(host);
    });
    if (plainHttp.length > 0) {
      return outcome(
        'PARTIAL',
        'The JWKS is fetched over plain HTTP, so a network attacker can substitute keys.',
        evidenceOf(plainHttp.map((v) => v.key.site)),
      );
    }
    const unknown = verifiers.filter((v) => v.key.kind === 'unknown');
    if (unknown.length > 0) {
      return outcome(
        'PARTIAL',
        'Where the verification key comes from could not be traced in the code.',
        evidenceOf(unknown.map((v) => v.key.site)),
      );
    }
    return outcome(
      'PASS',
      usesTessera(model)
        ? "Public keys come from the authority's JWKS, cached and refreshed by Tessera."
        : 'Public keys come from a JWKS endpoint, a key provider or a public key file.',
      evidenceOf(verifiers.map((v) => v.key.site)),
    );
  });
}

/** SV9 for the tokens this code mints: does `sub` name this service? */
function mintedSubject(tokens: readonly MintedToken[]): Outcome {
  const byKind = (kind: MintedToken['subject']) => tokens.filter((t) => t.subject === kind);
  const user = byKind('user');
  const missing = byKind('missing');
  const bad = user[0] ?? missing[0];
  if (bad !== undefined) {
    const issuer = bad.issuer === true ? '; the service appears only in `iss`' : '';
    const confidence: ConfidenceNote | undefined =
      bad.subject === 'user'
        ? {
            level: 'medium',
            reason: "The `sub` is taken for an end user's id from the names it is built from.",
          }
        : undefined;
    return outcome(
      'FAIL',
      bad.subject === 'user'
        ? `The \`sub\` of minted service tokens is the end user's id (${whereEvidence(bad.subjectEvidence ?? bad.evidence)}), not the calling service${issuer}.`
        : `Minted service tokens carry no \`sub\` (${whereEvidence(bad.evidence)}), so they do not say which service sent them${issuer}.`,
      [...user, ...missing].map((t) => t.subjectEvidence ?? t.evidence),
      confidence,
    );
  }
  const unknown = [...byKind('unknown'), ...byKind(undefined)];
  if (unknown[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `The \`sub\` of minted service tokens is not a value the code shows (${whereEvidence(unknown[0].evidence)}).`,
      unknown.map((t) => t.evidence),
    );
  }
  return outcome(
    'PASS',
    'Minted service tokens name the calling service in `sub`.',
    tokens.map((t) => t.subjectEvidence ?? t.evidence),
  );
}

function sv9Verifiers(model: InboundModel): Outcome {
  if (usesTessera(model)) {
    return outcome(
      'PASS',
      "Tessera requires `sub` to be the calling service's SPIFFE ID and exposes it as `request.caller`.",
      evidenceOf(model.tessera.map((t) => t.site)),
    );
  }
  const pinned = model.verifiers.filter((v) => v.subject !== undefined);
  const identity = identityReads(model);
  const reads = identity.service.filter((c) => /^(sub|azp|client_id|clientId)$/.test(c.name));
  if (pinned.length > 0 || reads.length > 0) {
    return outcome(
      'PASS',
      "The token subject (`sub`) is used as the caller's identity.",
      evidenceOf(
        [...pinned.flatMap((v) => (v.subject === undefined ? [] : [v.subject])), ...reads],
        5,
      ),
    );
  }
  if (identity.user.length > 0) {
    return outcome(
      'FAIL',
      'The token subject is used as an end-user id; no token names the calling service.',
      evidenceOf(identity.user),
    );
  }
  return outcome(
    'FAIL',
    "The token's `sub` claim is never read or checked, so the caller's service identity is not taken from it.",
    evidenceOf([...model.verifiers.map((v) => v.site), ...unverifiedDecodes(model)]),
  );
}

function sv9(ctx: AuditContext): Outcome {
  // Receivers of end users' tokens only: every `sub` they see is a user, none names a service.
  return tokenRow(ctx, sv9Verifiers, mintedSubject, (users) =>
    outcome(
      'FAIL',
      `The only tokens this service verifies are end users' (${whereEvidence(users[0])}): their \`sub\` is a user id, and no token names the calling service.`,
      users.slice(0, 5),
    ),
  );
}

/** SV12 for the tokens this code mints: `exp`, and how far ahead. */
function mintedExpiry(tokens: readonly MintedToken[]): Outcome {
  const missing = tokens.filter((t) => t.lifetime === 'missing');
  if (missing[0] !== undefined) {
    return outcome(
      'FAIL',
      `Service tokens are minted as ${describeMinted(missing[0])} (${whereEvidence(missing[0].evidence)}), so a captured token is valid forever.`,
      missing.map((t) => t.evidence),
    );
  }
  const long = tokens.filter((t) => typeof t.lifetime === 'number' && t.lifetime > 3600);
  if (long[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Minted service tokens carry \`exp\`, but live longer than an hour: ${describeMinted(long[0])} (${whereEvidence(long[0].evidence)}).`,
      long.map((t) => t.evidence),
    );
  }
  const unknown = tokens.filter((t) => t.lifetime === 'unknown');
  if (unknown[0] !== undefined) {
    return outcome(
      'PARTIAL',
      `Minted service tokens carry an \`exp\` whose lifetime comes from configuration (${whereEvidence(unknown[0].evidence)}).`,
      unknown.map((t) => t.evidence),
    );
  }
  const first = tokens[0];
  return outcome(
    'PASS',
    first === undefined
      ? 'Minted service tokens carry `exp`.'
      : `Minted service tokens carry \`exp\`: ${describeMinted(first)}.`,
    tokens.map((t) => t.evidence),
  );
}

/** Verifiers that accept the tokens minted here without `exp`, forever. */
function unboundedOutcome(ctx: AuditContext): Outcome | undefined {
  const unbounded = serviceCredentials(ctx).verified.unbounded;
  const first = unbounded[0];
  if (first === undefined) return undefined;
  return outcome(
    'FAIL',
    `Tokens without \`exp\` are accepted indefinitely: the verifier (${where(first.verifier.site)}) requires no \`exp\` (no \`maxAge\` or \`requiredClaims\`), and the service tokens minted with the same key (${whereEvidence(first.minted.evidence)}) carry none.`,
    [...evidenceOf(unbounded.map((u) => u.verifier.site)), first.minted.evidence],
  );
}

function sv12(ctx: AuditContext): Outcome {
  return tokenRow(
    ctx,
    (model) => {
      const failing = unboundedOutcome(ctx) ?? expiryFailures(model);
      if (failing !== undefined) return failing;
      const bounded = model.verifiers.filter((v) => v.maxAge !== undefined);
      return outcome(
        'PASS',
        bounded.length > 0
          ? '`exp` is checked and token age is bounded (`maxAge` or short-lived tokens from the authority).'
          : '`exp` is checked by the verifier (its default).',
        evidenceOf(model.verifiers.map((v) => v.maxAge ?? v.site)),
      );
    },
    mintedExpiry,
  );
}

/** Expired tokens accepted: `ignoreExpiration`, unverified claims, or a callback that ignores errors. */
function expiryFailures(model: InboundModel): Outcome | undefined {
  const decodes = unverifiedDecodes(model);
  const ignoring = model.verifiers.flatMap((v) =>
    v.ignoreExpiration === undefined ? [] : [v.ignoreExpiration],
  );
  const bare = model.verifiers.filter((v) => !v.claimsChecked).map((v) => v.site);
  if (ignoring.length > 0) {
    return outcome(
      'FAIL',
      '`ignoreExpiration: true` accepts expired tokens.',
      evidenceOf(ignoring),
    );
  }
  if (
    bare.length > 0 ||
    (decodes.length > 0 && model.verifiers.length === 0 && !usesTessera(model))
  ) {
    return outcome(
      'FAIL',
      'Token claims are never validated (decoded, or verified as a bare JWS), so `exp` is not checked.',
      evidenceOf([...bare, ...decodes]),
    );
  }
  const unknown = model.verifiers.filter((v) => !v.configKnown);
  if (unknown.length > 0 && unknown.length === model.verifiers.length) {
    return outcome(
      'PARTIAL',
      'Tokens are verified with @fastify/jwt, but its registration options are not in this code.',
      evidenceOf(unknown.map((v) => v.site)),
    );
  }
  return undefined;
}

function sv13(ctx: AuditContext): Outcome {
  return verifierRow(ctx, (model) => {
    const failing = unboundedOutcome(ctx) ?? expiryFailures(model);
    if (failing !== undefined) return failing;
    const ignoredErrors = model.verifiers
      .filter((v) => v.library === 'jsonwebtoken' && v.owner !== undefined)
      .flatMap((v) => v.owner?.failOpen ?? []);
    if (ignoredErrors.length > 0) {
      return outcome(
        'FAIL',
        'The verification error (expired included) is ignored, so an expired token still passes.',
        evidenceOf(ignoredErrors),
      );
    }
    const tolerant = model.verifiers.filter((v) => (v.clockToleranceSeconds ?? 0) > 300);
    if (tolerant.length > 0) {
      return outcome(
        'PARTIAL',
        `A clock tolerance of ${String(tolerant[0]?.clockToleranceSeconds ?? 0)} s keeps expired tokens valid for minutes.`,
        evidenceOf(tolerant.map((v) => v.site)),
      );
    }
    return outcome(
      'PASS',
      'Expired tokens are refused by the verifier.',
      evidenceOf(model.verifiers.map((v) => v.site)),
    );
  });
}

// ---- HMAC signatures (SV14–SV19) --------------------------------------------------------

/** Functions that verify an HMAC request signature: compute an HMAC and compare it with one sent. */
function hmacVerifiers(model: InboundModel): Summary[] {
  const summaries: Summary[] = [];
  const seen = new Set<Summary>();
  for (const fn of model.functions) {
    if (fn.hmacs.length === 0) continue;
    const summary = model.index.summary(fn);
    if (seen.has(summary)) continue;
    const compares =
      summary.constantTime.length > 0 ||
      summary.secretComparisons.length > 0 ||
      digestComparisons(fn).length > 0;
    const readsSignature = summary.headerReads.some((h) => SIGNATURE_HEADER.test(h.header));
    if (compares || readsSignature) {
      seen.add(summary);
      summaries.push(summary);
    }
  }
  return summaries;
}

/**
 * `received === expected` where `expected` is an HMAC digest computed in the function
 * (`createHmac(…).update(…).digest('hex')`): a signature compared with `===`, whatever carried it
 * (an HTTP header, a message property of amqplib or kafkajs).
 */
function digestComparisons(fn: FunctionFacts): Site[] {
  if (fn.hmacs.length === 0 || ts.isSourceFile(fn.node)) return [];
  const sourceFile = fn.unit.sourceFile;
  const digests = new Set<string>();
  const isDigest = (node: ts.Expression): boolean => {
    const text = node.getText(sourceFile);
    return /createHmac\s*\(/.test(text) || (ts.isIdentifier(node) && digests.has(node.text));
  };
  const found: Site[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.initializer !== undefined &&
      /createHmac\s*\(/.test(node.initializer.getText(sourceFile))
    ) {
      digests.add(node.name.text);
    }
    if (
      ts.isBinaryExpression(node) &&
      EQUALITY.has(node.operatorToken.kind) &&
      (isDigest(node.left) || isDigest(node.right)) &&
      !ts.isStringLiteralLike(node.left) &&
      !ts.isStringLiteralLike(node.right)
    ) {
      found.push({ unit: fn.unit, node });
    }
    ts.forEachChild(node, visit);
  };
  visit(fn.node);
  return found;
}

const EQUALITY = new Set([
  ts.SyntaxKind.EqualsEqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsEqualsToken,
  ts.SyntaxKind.EqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsToken,
]);

function hmacFamily(
  ctx: AuditContext,
  judge: (model: InboundModel, verifiers: Summary[]) => Outcome,
): Outcome {
  const model = inbound(ctx);
  const verifiers = hmacVerifiers(model);
  if (verifiers.length === 0) {
    return outcome(
      'N/A',
      'No HMAC request signing is verified in this code, so the HMAC rows do not apply.',
    );
  }
  return judge(model, verifiers);
}

function sv14(ctx: AuditContext): Outcome {
  return hmacFamily(ctx, (_model, verifiers) => {
    const uses = verifiers.flatMap((s) => s.hmacs);
    const weak = uses.filter((h) => h.algorithm !== undefined && !STRONG_HMAC.test(h.algorithm));
    if (weak.length > 0) {
      return outcome(
        'FAIL',
        `Signatures use ${weak[0]?.algorithm ?? 'a weak digest'}, weaker than SHA-256.`,
        evidenceOf(weak),
      );
    }
    const unknown = uses.filter((h) => h.algorithm === undefined);
    if (unknown.length > 0) {
      return outcome(
        'PARTIAL',
        'The HMAC digest algorithm is not a literal the code shows.',
        evidenceOf(unknown),
      );
    }
    return outcome('PASS', 'Signatures use HMAC with SHA-256 or stronger.', evidenceOf(uses));
  });
}

function sv15(ctx: AuditContext): Outcome {
  return hmacFamily(ctx, (_model, verifiers) => {
    const windows = verifiers.flatMap((s) => s.timeWindows);
    const timestamps = verifiers.flatMap((s) =>
      s.headerReads.filter((h) => TIMESTAMP_NAME.test(h.header)),
    );
    if (windows.length > 0) {
      return outcome(
        'PASS',
        'A request timestamp is checked against the current time, limiting replay.',
        evidenceOf(windows),
      );
    }
    if (timestamps.length > 0) {
      return outcome(
        'PARTIAL',
        'A timestamp is read, but never compared with the current time, so old signed requests can be replayed.',
        evidenceOf(timestamps),
      );
    }
    return outcome(
      'FAIL',
      'No timestamp is part of the signature check: a captured request can be replayed forever.',
      evidenceOf(verifiers.flatMap((s) => s.hmacs)),
    );
  });
}

function sv16(ctx: AuditContext): Outcome {
  return hmacFamily(ctx, (_model, verifiers) => {
    const windows = verifiers.flatMap((s) => s.timeWindows);
    if (windows.length === 0) {
      return outcome(
        'FAIL',
        'No clock-skew window is enforced on signed requests.',
        evidenceOf(verifiers.flatMap((s) => s.hmacs)),
      );
    }
    const wide = windows.filter((w) => w.seconds !== undefined && w.seconds > 30);
    if (wide.length > 0) {
      return outcome(
        'FAIL',
        `The accepted clock skew is ${String(wide[0]?.seconds ?? 0)} s, more than 30 s.`,
        evidenceOf(wide),
      );
    }
    const unknown = windows.filter((w) => w.seconds === undefined);
    if (unknown.length === windows.length) {
      return outcome(
        'PARTIAL',
        'The skew window is not a constant the code shows.',
        evidenceOf(unknown),
      );
    }
    return outcome('PASS', 'The clock-skew window is 30 seconds or less.', evidenceOf(windows));
  });
}

function sv17(ctx: AuditContext): Outcome {
  return hmacFamily(ctx, (_model, verifiers) => {
    const inputs = verifiers.flatMap((s) => s.digestInputs);
    const body = inputs.filter((i) =>
      // `content` is the body of an amqplib message.
      /\b(body|rawBody|raw_body|payload|bodyHash|contentHash|digest|content)\b/i.test(
        i.node.getText(i.unit.sourceFile),
      ),
    );
    if (body.length > 0) {
      return outcome('PASS', 'The request body is part of the signed data.', evidenceOf(body, 5));
    }
    return outcome(
      'FAIL',
      'The signature does not cover the request body, so the body can be changed without breaking it.',
      evidenceOf(verifiers.flatMap((s) => s.hmacs)),
    );
  });
}

function sv18(ctx: AuditContext): Outcome {
  const model = inbound(ctx);
  const hmac = hmacVerifiers(model);
  const compared = [
    ...sitesOf(model, (f) => f.secretComparisons),
    ...sitesOf(model, digestComparisons),
  ];
  const constant = sitesOf(model, (f) => f.constantTime);
  if (compared.length > 0) {
    return outcome(
      'FAIL',
      'A secret or signature is compared with `==`/`!=`, which leaks through timing how much of it matched; use `crypto.timingSafeEqual`.',
      evidenceOf(compared),
    );
  }
  if (constant.length > 0) {
    return outcome(
      'PASS',
      'Secrets and signatures are compared with a constant-time function.',
      evidenceOf(constant),
    );
  }
  if (hmac.length > 0) {
    return outcome(
      'FAIL',
      'The computed signature is not compared with a constant-time function.',
      evidenceOf(hmac.flatMap((s) => s.hmacs)),
    );
  }
  return outcome('N/A', 'No HMAC signature or shared secret is compared in this code.');
}

/**
 * SV19 judges every secret that proves a caller: HMAC signing keys, static shared secrets, and
 * the secret of HS256 service tokens (one secret that mints and verifies the tokens of every
 * service). The worst answer is the row's.
 */
function sv19(ctx: AuditContext): Outcome {
  const model = inbound(ctx);
  const parts = [hmacSecrets(model), staticSecrets(ctx, model), jwtSecrets(ctx)].filter(
    (o): o is Outcome => o !== undefined,
  );
  const worst = [...parts].sort((a, b) => RANK[a.status] - RANK[b.status])[0];
  return (
    worst ??
    outcome(
      'N/A',
      'No HMAC request signing, shared-secret authentication or shared-secret (HS256) service token in this code, so there are no per-service secrets to judge.',
    )
  );
}

/** Signature headers of webhook senders that sign with a secret of their own (one per sender). */
const WEBHOOK_SIGNATURE =
  /^(stripe-signature|x-hub-signature(-256)?|x-shopify-hmac-sha256|x-slack-signature|svix-signature|webhook-signature|x-twilio-signature|paddle-signature|x-webhook-signature)$/i;

function hmacSecrets(model: InboundModel): Outcome | undefined {
  const verifiers = hmacVerifiers(model);
  if (verifiers.length === 0) return undefined;
  const uses = verifiers.flatMap((s) => s.hmacs);
  const perCaller = uses.filter((h) => h.key !== undefined && perCallerKey(h.key));
  if (perCaller.length > 0) {
    return outcome('PASS', 'The HMAC key is looked up per calling service.', evidenceOf(perCaller));
  }
  // A webhook's sender signs with a secret only it and this service hold: one secret per sender.
  const webhooks = verifiers.filter(
    (s) =>
      s.headerReads.some((h) => WEBHOOK_SIGNATURE.test(h.header)) ||
      s.hmacs.every((h) => /webhook/i.test(h.unit.path)),
  );
  if (webhooks.length === verifiers.length) {
    return outcome(
      'PASS',
      'The HMAC secret verifies webhooks from one external sender, which signs with its own secret; no signing secret is shared among services.',
      evidenceOf(webhooks.flatMap((s) => s.hmacs)),
      {
        level: 'medium',
        reason:
          "The sender is taken to be one external webhook provider from the signature header's or the file's name.",
      },
    );
  }
  return outcome(
    'FAIL',
    'One HMAC secret is shared by every caller, so any of them can impersonate the others.',
    evidenceOf(uses.map((h) => ({ unit: h.unit, node: h.key ?? h.node }))),
  );
}

function staticSecrets(ctx: AuditContext, model: InboundModel): Outcome | undefined {
  if (hmacVerifiers(model).length > 0) return undefined;
  const shared = model.authSummaries.filter(
    (a) => summaryVerdict(a.summary).level === 'shared-secret',
  );
  if (shared.length === 0) return undefined;
  const comparisons = shared.flatMap((a) => [
    ...a.summary.secretComparisons,
    ...a.summary.constantTime,
  ]);
  const perCaller = comparisons.filter((c) => perCallerKey(c.node));
  if (perCaller.length > 0) {
    return outcome(
      'PASS',
      'The expected secret is looked up per calling service.',
      evidenceOf(perCaller),
    );
  }
  return outcome(
    'FAIL',
    'One static secret is shared by every calling service, so any of them can pass for the others.',
    evidenceOf([...secretSources(ctx.symbols, comparisons), ...comparisons]),
  );
}

/**
 * HS256 service tokens: the one secret that signs them signs for every service, unless the
 * verifier picks the key per caller (a key callback, `secrets[kid]`).
 */
function jwtSecrets(ctx: AuditContext): Outcome | undefined {
  const { issued, verified } = serviceCredentials(ctx);
  const minted = issued.minted.filter((t) => t.symmetric === true);
  const verifiers = verified.serviceJwt
    .map((v) => v.verifier)
    .filter(
      (v) =>
        v.key.symmetric === true &&
        !v.tessera &&
        !(
          v.algorithms !== undefined &&
          v.algorithms.length > 0 &&
          v.algorithms.every(isAsymmetric)
        ),
    );
  if (minted.length === 0 && verifiers.length === 0) return undefined;
  const perCaller = verifiers.filter(
    (v) => v.key.kind === 'callback' || perCallerKey(v.key.site.node),
  );
  if (perCaller.length > 0 && perCaller.length === verifiers.length && minted.length === 0) {
    return outcome(
      'PASS',
      'The secret that verifies service tokens is chosen per calling service (a key lookup).',
      evidenceOf(perCaller.map((v) => v.key.site)),
    );
  }
  const first = minted[0];
  const firstVerifier = verifiers[0];
  const key = first?.keyText ?? firstVerifier?.key.written;
  const keyNote = key === undefined ? '' : ` (\`${key}\`)`;
  const at =
    first !== undefined
      ? whereEvidence(first.evidence)
      : firstVerifier === undefined
        ? 'the code'
        : where(firstVerifier.site);
  return outcome(
    'FAIL',
    first !== undefined
      ? `One secret${keyNote} signs the service tokens for every service: they are ${describeAlgorithm(first)} (${at}), so any holder of the secret can mint a token as any service.`
      : `Service tokens are verified with one shared secret${keyNote} (${at}), the same for every calling service, so any of them can mint a token as another.`,
    [
      ...minted.flatMap((t) => [
        t.evidence,
        ...(t.keyEvidence === undefined ? [] : [t.keyEvidence]),
      ]),
      ...evidenceOf(verifiers.map((v) => v.site)),
    ].slice(0, 8),
  );
}

/**
 * Where the secrets compared at these sites come from: the expression that reads them
 * (`process.env.X`), following local values and a small getter function (`internalToken()`).
 */
function secretSources(symbols: SymbolTable, sites: readonly Site[]): Site[] {
  const sources: Site[] = [];
  const follow = (site: Site, depth: number): void => {
    if (depth > 3) return;
    const visit = (node: ts.Node): void => {
      if (
        ts.isPropertyAccessExpression(node) &&
        node.getText(site.unit.sourceFile).startsWith('process.env.')
      ) {
        sources.push({ unit: site.unit, node });
        return;
      }
      if (
        ts.isIdentifier(node) &&
        !(ts.isPropertyAccessExpression(node.parent) && node.parent.name === node)
      ) {
        const value = symbols.valueOf(site.unit, node);
        if (value !== undefined && value.expression !== node) {
          follow({ unit: value.unit, node: value.expression }, depth + 1);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(site.node);
  };
  for (const site of sites) follow(site, 0);
  return sources;
}

/** `secrets[keyId]`, `keys.get(serviceId)`, `getSecretFor(caller)`: a key chosen by the caller's id. */
function perCallerKey(key: ts.Node): boolean {
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (ts.isElementAccessExpression(node) && !ts.isStringLiteralLike(node.argumentExpression)) {
      found = true;
    } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
      const text = node.arguments.map((a) => a.getText()).join(' ');
      if (/(service|caller|client|key_?id|keyId|kid|sender|source|app)/i.test(text)) found = true;
    }
    ts.forEachChild(node, visit);
  };
  visit(key);
  return found;
}

export const identityVerificationRules: RuleSet = {
  SV1: sv1,
  SV2: sv2,
  SV3: sv3,
  SV4: sv4,
  SV5: sv5,
  SV6: sv6,
  SV7: sv7,
  SV8: sv8,
  SV9: sv9,
  SV10: (ctx) => verifierRow(ctx, (model) => claimOutcome(model, 'issuer', () => noJwt())),
  SV11: (ctx) => verifierRow(ctx, (model) => claimOutcome(model, 'audience', () => noJwt())),
  SV12: sv12,
  SV13: sv13,
  SV14: sv14,
  SV15: sv15,
  SV16: sv16,
  SV17: sv17,
  SV18: sv18,
  SV19: sv19,
};

function noJwt(): Outcome {
  return outcome('N/A', 'No JWT is verified in this code.');
}
