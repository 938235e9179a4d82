/**
 * The service credential: what this service presents when it calls other services (`issued`)
 * and what it accepts from the services that call it (`verified`), decided once here so that
 * every SV and TM rule starts from the same answer.
 *
 * The mechanisms a service can use, and which checks apply to each (the wording of
 * `src/catalog/checks.ts` decides; "issuer side" is about tokens this code mints or obtains,
 * "verifier side" about tokens it accepts from calling services):
 *
 * | mechanism                          | SV7 alg | SV8 key | SV9 sub | SV10 iss | SV11 aud | SV12 exp | SV13 expired | SV19 per-service | TM1 expiry | TM2 refresh | TM3 short | TM7 bound |
 * | ---------------------------------- | ------- | ------- | ------- | -------- | -------- | -------- | ------------ | ---------------- | ---------- | ----------- | --------- | --------- |
 * | none                               | N/A     | N/A     | N/A     | N/A      | N/A      | N/A      | N/A          | N/A              | N/A        | N/A         | N/A       | N/A       |
 * | static shared token or header      | N/A     | N/A     | N/A     | N/A      | N/A      | N/A      | N/A          | judged (SV19)    | FAIL       | FAIL        | FAIL      | FAIL      |
 * | HS256 JWT, shared secret (minted)  | FAIL    | N/A¹    | judged  | N/A¹     | N/A¹     | judged   | N/A¹         | FAIL unless kid  | judged     | judged²     | judged    | judged    |
 * | HS256 JWT, shared secret (verified)| FAIL    | FAIL    | judged  | judged   | judged   | judged   | judged       | FAIL unless kid  | judged³    | N/A         | judged³   | judged³   |
 * | asymmetric JWT with JWKS           | judged  | judged¹ | judged  | judged¹  | judged¹  | judged   | judged¹      | N/A              | judged     | judged      | judged    | judged    |
 * | OAuth client credentials (IdP)     | N/A⁴    | N/A⁴    | N/A⁴    | N/A⁴     | N/A⁴     | N/A⁴     | N/A⁴         | N/A              | judged     | judged      | judged    | judged    |
 * | mutual TLS / Tessera               | SV1–SV6 judge certificates; Tessera tokens are judged like an asymmetric JWT                                                            |
 *
 * ¹ verifier-side checks apply only where this code verifies service tokens; a service that only
 *   mints them, or only verifies end users' tokens (SE checks), gets N/A with that reason.
 * ² a token minted anew for every call with no `exp` has nothing to renew (TM1 reports it).
 * ³ judged from the tokens it accepts: a verifier that never requires `exp`, for tokens this code
 *   mints without one, accepts them forever.
 * ⁴ the IdP mints those tokens: their claims are not in this code.
 */
import ts from 'typescript';
import { evidenceAt } from '../ast/syntax.ts';
import type { Evidence } from '../model.ts';
import type { AuditContext } from './context.ts';
import { summaryVerdict } from './inbound/coverage.ts';
import type { JwtVerifier } from './inbound/jwt.ts';
import { ev, inbound, type InboundModel } from './inbound/model.ts';
import { credentialSummary, STATIC_KINDS } from './outbound/summary.ts';
import { productionFacts } from './outbound/scan.ts';
import { secretSources } from './secrets/index.ts';
import type { MintedToken } from './secrets/sources.ts';

/** An OAuth 2.0 client-credentials token obtained from an identity provider's token endpoint. */
export interface ObtainedToken {
  /** The grant (`grant_type: 'client_credentials'`, simple-oauth2 `ClientCredentials`). */
  readonly evidence: Evidence;
  /** Where the response's `expires_in` is read: the token is used only until it expires. */
  readonly expiry: Evidence | undefined;
  /** The cached token is compared with the clock before use (renewed ahead of expiry). */
  readonly renewal: Evidence | undefined;
  /** `audience` or `resource` requested: one token per target service. */
  readonly audience: Evidence | undefined;
}

/** A JWT verifier, with whose token it checks. */
export interface VerifiedJwt {
  readonly verifier: JwtVerifier;
  /**
   * `service`: the caller is a service (its claims name a service, or the key is the one this
   * code mints service tokens with); `user`: an end user's session or access token;
   * `unknown`: nothing tells, and it is judged as a service token.
   */
  readonly holder: 'service' | 'user' | 'unknown';
}

export interface IssuedCredentials {
  readonly tessera: readonly Evidence[];
  /** Service tokens this code mints and sends. */
  readonly minted: readonly MintedToken[];
  readonly obtained: readonly ObtainedToken[];
  /** Static secrets sent as credentials (API keys, shared tokens, marker headers). */
  readonly static: readonly Evidence[];
  /** The caller's own token passed on. */
  readonly forwarded: readonly Evidence[];
  /** Calls to other services with no credential at all (token endpoints excluded). */
  readonly unauthenticated: readonly Evidence[];
}

export interface VerifiedCredentials {
  readonly tessera: readonly Evidence[];
  /** Verifiers of tokens that calling services present (holder `service` or `unknown`). */
  readonly serviceJwt: readonly VerifiedJwt[];
  /** Verifiers of end users' tokens only. */
  readonly userJwt: readonly VerifiedJwt[];
  /**
   * Service-token verifiers that accept tokens without `exp`: they never require one (no
   * `maxAge`, no `requiredClaims`), and the tokens minted here with the same key carry none.
   */
  readonly unbounded: readonly { readonly verifier: JwtVerifier; readonly minted: MintedToken }[];
  /** Inbound checks of a static shared secret (a header compared with a configured value). */
  readonly staticSecret: readonly Evidence[];
}

export interface ServiceCredentials {
  readonly issued: IssuedCredentials;
  readonly verified: VerifiedCredentials;
  /** Every token minted in this code (service or not), to know what verifiers here accept. */
  readonly mintedAll: readonly MintedToken[];
}

/** Builds (once per audit) the service credential picture. */
export function serviceCredentials(ctx: AuditContext): ServiceCredentials {
  return ctx.memo('service.credentials', () => {
    const summary = credentialSummary(ctx);
    const sources = secretSources(ctx);
    const obtained = obtainedTokens(ctx);
    const grantFiles = new Set(obtained.map((o) => o.evidence.file));
    // A token whose `sub` is a fixed name is a service's token (end users are not constants).
    const minted = [
      ...summary.serviceTokens,
      ...sources.minted.filter(
        (m) => m.subject === 'service' && !summary.serviceTokens.includes(m),
      ),
    ].map((m) => withCallers(ctx, m));
    const staticOnes = [...STATIC_KINDS, 'marker' as const].flatMap((k) =>
      (summary.byKind.get(k) ?? []).map((c) => c.evidence),
    );
    const model = inbound(ctx);
    const verifiers = model.verifiers
      .filter((verifier) => inUse(model, verifier))
      .map((verifier) => ({ verifier, holder: holderOf(model, verifier, sources.minted) }));
    const serviceJwt = verifiers.filter((v) => v.holder !== 'user');
    const unbounded = serviceJwt.flatMap(({ verifier }) => {
      if (verifier.maxAge !== undefined || verifier.requiresExp === true) return [];
      const written = verifier.key.written;
      const token = sources.minted.find(
        (m) => m.lifetime === 'missing' && written !== undefined && m.keyText === written,
      );
      return token === undefined ? [] : [{ verifier, minted: token }];
    });
    const staticSecret = model.authSummaries
      .filter((a) => summaryVerdict(a.summary).level === 'shared-secret')
      .map((a) => ev(a.site));
    return {
      issued: {
        tessera: summary.tessera,
        minted,
        obtained,
        static: staticOnes,
        forwarded: (summary.byKind.get('forwarded-user') ?? []).map((c) => c.evidence),
        unauthenticated: summary.unauthenticated
          .filter((c) => !grantFiles.has(c.evidence.file))
          .map((c) => c.evidence),
      },
      verified: {
        tessera: model.tessera.map((t) => ev(t.site)),
        serviceJwt,
        userJwt: verifiers.filter((v) => v.holder === 'user'),
        unbounded,
        staticSecret,
      },
      mintedAll: sources.minted,
    };
  });
}

// ---- Whose token a verifier checks ---------------------------------------------------------

/** Claims and names that identify a calling service. */
const SERVICE_HOLDER =
  /\.(azp|client_id|clientId|cid)\b|['"](azp|client_id)['"]|spiffe|\bcaller\b|callingService|serviceToken|ServiceToken|gateway[-_]?token|service[-_]?token|internal[-_]?token|allowedServices|allowedCallers/i;
/** What code does with an end user's token: a session, a user object, a profile's e-mail. */
const USER_HOLDER =
  /\bcurrentUser\b|\buser(Id|_id|name|Name)\b|\bsession\b|\bcookies?\b|\bemail\b|verifyUser|authenticateUser|\bUser\b|\bAuthUser\b/;

function holderOf(
  model: InboundModel,
  verifier: JwtVerifier,
  minted: readonly MintedToken[],
): VerifiedJwt['holder'] {
  if (verifier.tessera || verifier.subject !== undefined) return 'service';
  const written = verifier.key.written;
  if (written !== undefined && minted.some((m) => m.keyText === written)) return 'service';
  const scope = scopeText(model, verifier);
  if (SERVICE_HOLDER.test(scope)) return 'service';
  if (USER_HOLDER.test(scope)) return 'user';
  return 'unknown';
}

/**
 * Is a verify call (jsonwebtoken, jose) in front of a route or hook of this service? A helper of
 * a shared workspace package that the service imports for something else (it only mints the
 * token) verifies nothing here. Decided only where the framework's routes are modelled.
 */
function inUse(model: InboundModel, verifier: JwtVerifier): boolean {
  if (verifier.library !== 'jsonwebtoken' && verifier.library !== 'jose') return true;
  if (model.authSummaries.length === 0 || model.routes.length === 0) return true;
  return model.authSummaries.some((a) =>
    a.summary.verifications.some((v) => v.node === verifier.site.node),
  );
}

/**
 * The verifying function, and its class when it is a method or a constructor. A verifier
 * configured once at registration (@fastify/jwt) is used where `request.jwtVerify()` is called.
 */
function scopeText(model: InboundModel, verifier: JwtVerifier): string {
  const owner = verifier.owner;
  const sourceFile = verifier.site.unit.sourceFile;
  if (owner === undefined || ts.isSourceFile(owner.node)) {
    const statement = topStatement(verifier.site.node)?.getText(sourceFile) ?? '';
    const users = model.functions
      .filter((fn) => fn.verifications.some((v) => v.kind === 'fastify-jwt'))
      .map((fn) => fn.node.getText(fn.unit.sourceFile));
    return [statement, ...users].join('\n');
  }
  let node: ts.Node = owner.node;
  if (ts.isClassLike(node.parent)) node = node.parent;
  return [node.getText(sourceFile), ...calledHere(node, sourceFile)].join('\n');
}

/**
 * Functions of the same file that the verifying code calls (`req.user = toUser(payload)`): what
 * they build from the claims tells whose token it is.
 */
function calledHere(scope: ts.Node, sourceFile: ts.SourceFile): string[] {
  const names = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression))
      names.add(node.expression.text);
    ts.forEachChild(node, visit);
  };
  visit(scope);
  return sourceFile.statements
    .filter(
      (statement): statement is ts.FunctionDeclaration =>
        ts.isFunctionDeclaration(statement) &&
        statement.name !== undefined &&
        names.has(statement.name.text) &&
        statement !== scope,
    )
    .map((statement) => statement.getText(sourceFile));
}

function topStatement(node: ts.Node): ts.Node | undefined {
  let current: ts.Node = node;
  while (!ts.isSourceFile(current.parent)) current = current.parent;
  return current;
}

// ---- Tokens minted once ---------------------------------------------------------------------

/**
 * A token minted by a helper (`signGatewayToken(target)`) that is only called from constructors
 * or at module load is minted once per process and never renewed.
 */
function withCallers(ctx: AuditContext, token: MintedToken): MintedToken {
  const name = token.mintedIn;
  if (token.once || name === undefined) return token;
  const callers: ts.CallExpression[] = [];
  for (const file of productionFacts(ctx)) {
    for (const call of file.calls) {
      const callee = call.expression;
      const called = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : undefined;
      if (called === name) callers.push(call);
    }
  }
  const once =
    callers.length > 0 &&
    callers.every((call) => {
      for (
        let current: ts.Node = call.parent;
        !ts.isSourceFile(current);
        current = current.parent
      ) {
        if (ts.isConstructorDeclaration(current)) return true;
        if (ts.isFunctionLike(current)) return false;
      }
      return true;
    });
  return once ? { ...token, once } : token;
}

// ---- OAuth client-credentials tokens --------------------------------------------------------

const CLIENT_CREDENTIALS = /^client_credentials$|grant_type=client_credentials/;
/** simple-oauth2's and @badgateway/oauth2-client's client-credentials flows. */
const CLIENT_CREDENTIALS_CALLS = /^(ClientCredentials|clientCredentials)$/;
const EXPIRY_FIELD = /^(expires_in|expiresIn|expires_at|expiresAt|expired)$/;
const AUDIENCE_FIELD = /^(audience|resource)$/;

/**
 * Client-credentials grants: a token request with `grant_type=client_credentials` (fetch, got,
 * axios, undici, openid-client's `grant`) or a client-credentials client of simple-oauth2. The
 * class (or file) around the grant is the token source: it honours the expiry when it reads
 * `expires_in`, renews ahead when it compares the cached expiry with the clock, and binds tokens
 * to a target when it requests an `audience` (or `resource`).
 */
function obtainedTokens(ctx: AuditContext): ObtainedToken[] {
  const found: ObtainedToken[] = [];
  const seen = new Set<ts.Node>();
  for (const file of productionFacts(ctx)) {
    const { unit } = file;
    const grants: ts.Node[] = [
      ...file.strings.filter((s) => CLIENT_CREDENTIALS.test(s.text)),
      ...file.news.filter((n) =>
        CLIENT_CREDENTIALS_CALLS.test(
          n.expression.getText(unit.sourceFile).split('.').at(-1) ?? '',
        ),
      ),
      ...file.calls.filter((c) => {
        const callee = c.expression;
        return (
          ts.isPropertyAccessExpression(callee) && CLIENT_CREDENTIALS_CALLS.test(callee.name.text)
        );
      }),
    ];
    for (const grant of grants) {
      const scope = tokenSourceScope(grant);
      if (seen.has(scope)) continue;
      seen.add(scope);
      let expiry: Evidence | undefined;
      let renewal: Evidence | undefined;
      let audience: Evidence | undefined;
      const visit = (node: ts.Node): void => {
        if (expiry === undefined && isFieldRead(node, EXPIRY_FIELD)) {
          expiry = evidenceAt(unit, node);
        }
        if (
          renewal === undefined &&
          ts.isBinaryExpression(node) &&
          isComparison(node.operatorToken.kind) &&
          /Date\.now\(\)|\bnow\b/.test(node.getText(unit.sourceFile)) &&
          /expires|expiry|refresh|exp\b/i.test(node.getText(unit.sourceFile))
        ) {
          renewal = evidenceAt(unit, node);
        }
        if (audience === undefined && isAudienceParameter(node, unit.sourceFile)) {
          audience = evidenceAt(unit, node);
        }
        ts.forEachChild(node, visit);
      };
      visit(scope);
      found.push({ evidence: evidenceAt(unit, grant), expiry, renewal, audience });
    }
  }
  return found;
}

/** `{ audience }`, `{ resource: x }`, `params.set('audience', x)`, `params.append('resource', x)`. */
function isAudienceParameter(node: ts.Node, sourceFile: ts.SourceFile): boolean {
  if (ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) {
    return AUDIENCE_FIELD.test(node.name.getText(sourceFile));
  }
  if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
    const first = node.arguments[0];
    return (
      /^(set|append)$/.test(node.expression.name.text) &&
      first !== undefined &&
      ts.isStringLiteralLike(first) &&
      AUDIENCE_FIELD.test(first.text)
    );
  }
  return false;
}

/** The class around a grant, else its file. */
function tokenSourceScope(node: ts.Node): ts.Node {
  for (let current: ts.Node = node; !ts.isSourceFile(current); current = current.parent) {
    if (ts.isClassLike(current)) return current;
  }
  return node.getSourceFile();
}

function isFieldRead(node: ts.Node, name: RegExp): boolean {
  if (ts.isPropertyAccessExpression(node)) return name.test(node.name.text);
  if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression)) {
    return name.test(node.argumentExpression.text);
  }
  if (ts.isBindingElement(node)) {
    const property = node.propertyName ?? node.name;
    return ts.isIdentifier(property) && name.test(property.text);
  }
  return false;
}

function isComparison(kind: ts.SyntaxKind): boolean {
  return (
    kind === ts.SyntaxKind.LessThanToken ||
    kind === ts.SyntaxKind.LessThanEqualsToken ||
    kind === ts.SyntaxKind.GreaterThanToken ||
    kind === ts.SyntaxKind.GreaterThanEqualsToken
  );
}

// ---- Wording -------------------------------------------------------------------------------

/**
 * What a minted token is, as the code makes it: "an HS256 JWT signed with a shared secret, with
 * no `exp` claim".
 */
export function describeMinted(token: MintedToken): string {
  const lifetime =
    token.lifetime === 'missing'
      ? 'with no `exp` claim'
      : token.lifetime === 'unknown'
        ? 'with an expiry set from configuration'
        : `that expires after ${formatSeconds(token.lifetime)}`;
  return `${describeAlgorithm(token)}, ${lifetime}`;
}

/** "an HS256 JWT signed with a shared secret (the jsonwebtoken default algorithm)", "an ES256 JWT". */
export function describeAlgorithm(token: MintedToken): string {
  if (token.symmetric === true) {
    const algorithm = token.algorithm ?? 'HS256';
    const defaulted = token.algorithm === undefined ? ' (the jsonwebtoken default algorithm)' : '';
    return `an ${algorithm} JWT signed with a shared secret${defaulted}`;
  }
  if (token.symmetric === false) return `an ${token.algorithm ?? 'asymmetrically signed'} JWT`;
  return 'a JWT';
}

function formatSeconds(seconds: number): string {
  if (seconds % 86_400 === 0) return `${String(seconds / 86_400)} d`;
  if (seconds % 3600 === 0) return `${String(seconds / 3600)} h`;
  if (seconds % 60 === 0) return `${String(seconds / 60)} min`;
  return `${String(seconds)} s`;
}
