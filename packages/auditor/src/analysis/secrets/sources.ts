import ts from 'typescript';
import {
  accessChain,
  enclosingFunction,
  evidenceAt,
  propertyNameText,
  unwrap,
} from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { SourceUnit } from '../../project/load.ts';
import type { AuditContext } from '../context.ts';
import { isSecretName } from '../names.ts';
import {
  ancestors,
  calleeName,
  functionDeclarationFor,
  optionOf,
  OriginAnalysis,
  resolveObject,
  SECRET_MANAGER_MODULES,
  staticNumber,
  type Origin,
  staticText,
} from '../outbound/expressions.ts';
import { productionFacts, type FileFacts } from '../outbound/scan.ts';
import { HASH_NAME } from './literals.ts';

/** A service token made by this code (`jwt.sign`, jose `SignJWT`, Tessera `mintAccessToken`). */
export interface MintedToken {
  readonly evidence: Evidence;
  /** Looks like a token for calling services (by names and claims), not a user session. */
  readonly service: boolean;
  /** Lifetime in seconds; `missing` when no expiry is set, `unknown` when it is not static. */
  readonly lifetime: number | 'missing' | 'unknown';
  readonly audience: boolean;
  /** Where the signing key comes from. */
  readonly keyOrigins: ReadonlySet<Origin>;
  /** `HS256` and friends: the verifier holds the same key. */
  readonly symmetric: boolean | undefined;
  /** Minted once at module load (outside any function), so never renewed. */
  readonly once: boolean;
  /** The algorithm named in the signing options or header (`HS256`); undefined when defaulted. */
  readonly algorithm?: string | undefined;
  /**
   * What `sub` names: a fixed service name (`'orders-service'`), an end user's id (`user.sub`,
   * `req.user.id`), nothing (`missing`), or something the code does not show (`unknown`).
   */
  readonly subject?: 'service' | 'user' | 'missing' | 'unknown';
  /** Where `sub` (or `subject`) is written. */
  readonly subjectEvidence?: Evidence | undefined;
  /** `iss` (or `issuer`) is set. */
  readonly issuer?: boolean;
  /** The signing key expression as written (`gatewaySecret()`), to pair it with a verifier. */
  readonly keyText?: string | undefined;
  readonly keyEvidence?: Evidence | undefined;
  /** The named function the token is minted in (`signGatewayToken`), to find its callers. */
  readonly mintedIn?: string | undefined;
}

export interface SecretSources {
  /** Imports of secrets-manager clients. */
  readonly managers: readonly { readonly evidence: Evidence; readonly module: string }[];
  /** Secret fetches at run time, with the secret's path when static. */
  readonly fetches: readonly { readonly evidence: Evidence; readonly path: string | undefined }[];
  /** Secret-named environment variables read by the code. */
  readonly envSecrets: readonly {
    readonly evidence: Evidence;
    readonly name: string;
    /** Read only in a development branch (`if (NODE_ENV !== 'production')`). */
    readonly developmentOnly: boolean;
  }[];
  /** Secrets read from mounted files (`/run/secrets/…`, Vault agent, Kubernetes). */
  readonly secretFiles: readonly Evidence[];
  /** Caching with a lifetime around secret fetches (rotated values get picked up). */
  readonly cacheTtl: readonly Evidence[];
  /** Dynamic secrets and lease renewal (Vault `…/creds/…`, `renew`). */
  readonly leases: readonly Evidence[];
  /** Rotation driven from code (`RotateSecretCommand`, a rotation handler). */
  readonly rotation: readonly Evidence[];
  readonly minted: readonly MintedToken[];
  /** Scope checks on verified tokens. */
  readonly scopeChecks: readonly Evidence[];
  /** Scopes put into tokens this code mints or requests. */
  readonly scopesRequested: readonly Evidence[];
  /** Revocation/deny-list checks for tokens. */
  readonly revocationChecks: readonly Evidence[];
  /** Inbound token verification of any kind (for deciding whether TM rows apply). */
  readonly verification: readonly Evidence[];
  /** `@tessera/fastify` (policy scopes, revocation feed). */
  readonly tesseraPlugin: readonly Evidence[];
}

/** Calls that only secrets-manager clients make. */
const FETCH_METHODS =
  /^(getSecretValue|GetSecretValueCommand|accessSecretVersion|readKVSecret|kvRead|GetParameterCommand|GetParametersByPathCommand)$/;
/**
 * Names a secrets-manager client uses (Azure `SecretClient.getSecret`, SSM `getParameter`), but
 * also any project helper that reads an environment variable or a file (`readSecret(name)`):
 * a fetch only where the file, or the helper's own file, uses a secrets-manager client.
 */
const GENERIC_FETCH_METHODS =
  /^(getSecret|getSecrets|getParameter|getParameters|fetchSecret|loadSecret|readSecret|retrieveSecret)$/;
const SECRET_PATH_PROPERTIES = [
  'SecretId',
  'secretId',
  'name',
  'Name',
  'secretName',
  'path',
  'key',
];
const MOUNTED_SECRET =
  /^\/(run|var\/run)\/secrets\/|^\/etc\/secrets\/|^\/vault\/secrets\/|^\/mnt\/secrets/;
const CACHE_NAME =
  /(cache[-_]?ttl|ttl|max[-_]?age|refresh[-_]?interval|cache[-_]?duration|cache[-_]?ms|expires[-_]?at)/i;
const SERVICE_WORDS =
  /(service|s2s|internal|machine|m2m|client[-_]?credentials|worker|daemon|system)/i;
const SCOPE_CALL =
  /^(hasScopes?|requireScopes?|checkScopes?|requiredScopes|verifyScopes?|ensureScopes?|scopesSatisfied|scopeIncludesAny|claimIncludes|authorizeScopes?|assertScopes?)$/;
const REVOCATION = /(revok|blacklist|blocklist|denylist|deny[-_]?list|isRevoked|tokenBlacklist)/i;
const VERIFY_MODULES = new Map<string, readonly string[]>([
  ['jsonwebtoken', ['verify']],
  ['jose', ['jwtVerify', 'compactVerify']],
  ['@tessera/core', ['verifyAccessToken', 'createAccessTokenVerifier']],
]);
const VERIFY_PACKAGES = [
  '@fastify/jwt',
  'fastify-jwt',
  'passport-jwt',
  'express-jwt',
  'express-oauth2-jwt-bearer',
  'koa-jwt',
  '@tessera/fastify',
];

/** `'5m'`, `'1h'`, `300`, `'7 days'` → seconds (jsonwebtoken/ms and jose conventions). */
export function durationSeconds(value: string | number): number | undefined {
  if (typeof value === 'number') return value;
  const match =
    /^\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?|y|yrs?|years?)?\s*$/i.exec(
      value,
    );
  if (match === null) return undefined;
  const amount = Number(match[1]);
  const unit = (match[2] ?? 's').toLowerCase();
  if (unit.startsWith('ms') || unit.startsWith('milli')) return amount / 1000;
  if (unit.startsWith('s')) return amount;
  if (unit.startsWith('m')) return amount * 60;
  if (unit.startsWith('h')) return amount * 3600;
  if (unit.startsWith('d')) return amount * 86_400;
  if (unit.startsWith('w')) return amount * 604_800;
  return amount * 31_557_600;
}

/** Where the code gets its secrets and how it makes and checks tokens. */
export function analyseSources(ctx: AuditContext): SecretSources {
  const origins = ctx.memo('s2s.origins', () => new OriginAnalysis(ctx.symbols));
  const result = {
    managers: [] as { evidence: Evidence; module: string }[],
    fetches: [] as { evidence: Evidence; path: string | undefined }[],
    envSecrets: [] as { evidence: Evidence; name: string; developmentOnly: boolean }[],
    secretFiles: [] as Evidence[],
    cacheTtl: [] as Evidence[],
    leases: [] as Evidence[],
    rotation: [] as Evidence[],
    minted: [] as MintedToken[],
    scopeChecks: [] as Evidence[],
    scopesRequested: [] as Evidence[],
    revocationChecks: [] as Evidence[],
    verification: [] as Evidence[],
    tesseraPlugin: [] as Evidence[],
  };
  const managerUnits = new Set(
    productionFacts(ctx)
      .filter((file) => [...file.modules].some((m) => isManagerModule(file.unit, m)))
      .map((file) => file.unit),
  );
  for (const file of productionFacts(ctx)) {
    const { unit } = file;
    const isManager = (module: string) => isManagerModule(unit, module);
    const usesManager = managerUnits.has(unit);
    for (const module of file.modules) {
      if (isManager(module)) {
        result.managers.push({ evidence: importEvidence(file, module), module });
      }
      if (VERIFY_PACKAGES.includes(module)) result.verification.push(importEvidence(file, module));
      if (module === '@tessera/fastify') result.tesseraPlugin.push(importEvidence(file, module));
      if (
        module === 'aws-secrets-manager-cache' ||
        module === '@aws-crypto/secrets-manager-caching'
      ) {
        result.cacheTtl.push(importEvidence(file, module));
      }
    }
    let fetchesHere = false;
    for (const expression of [...file.calls, ...file.news]) {
      const name = calleeName(expression) ?? '';
      const args = expression.arguments ?? [];
      if (
        FETCH_METHODS.test(name) ||
        (GENERIC_FETCH_METHODS.test(name) &&
          (usesManager || helperUsesManager(ctx, unit, expression, managerUnits))) ||
        (name === 'read' && /vault/i.test(receiverText(expression)))
      ) {
        fetchesHere = true;
        result.fetches.push({
          evidence: evidenceAt(unit, expression),
          path: secretPath(ctx, unit, args[0]),
        });
        const path = secretPath(ctx, unit, args[0]) ?? '';
        if (path.includes('/creds/')) result.leases.push(evidenceAt(unit, expression));
      }
      if (/^(renew|renewSelf|tokenRenewSelf|leaseRenew|renewLease)$/.test(name)) {
        result.leases.push(evidenceAt(unit, expression));
      }
      if (/^(RotateSecretCommand|rotateSecret)$/.test(name))
        result.rotation.push(evidenceAt(unit, expression));
    }
    if (usesManager || fetchesHere) {
      for (const property of file.properties) {
        const name = propertyNameText(property.name);
        if (name !== undefined && CACHE_NAME.test(name))
          result.cacheTtl.push(evidenceAt(unit, property));
      }
      for (const declaration of file.variables) {
        if (ts.isIdentifier(declaration.name) && CACHE_NAME.test(declaration.name.text)) {
          result.cacheTtl.push(evidenceAt(unit, declaration));
        }
      }
    }
    for (const read of file.envReads) {
      if (!isSecretName(read.name) || HASH_NAME.test(read.name)) continue;
      result.envSecrets.push({
        evidence: evidenceAt(unit, read.node),
        name: read.name,
        developmentOnly: inDevelopmentBranch(unit, read.node),
      });
    }
    for (const literal of file.strings) {
      if (MOUNTED_SECRET.test(literal.text)) result.secretFiles.push(evidenceAt(unit, literal));
    }
    for (const call of file.calls) collectCall(ctx, origins, file, call, result);
    for (const expression of file.news) {
      const reference = ctx.symbols.moduleReference(unit, expression.expression);
      if (reference?.module === 'jose' && reference.path.at(-1) === 'SignJWT') {
        result.minted.push(joseToken(ctx, origins, unit, expression));
      }
    }
    for (const property of file.properties) {
      const name = propertyNameText(property.name);
      if (
        (name === 'scope' || name === 'scp' || name === 'scopes') &&
        ts.isPropertyAssignment(property)
      ) {
        if (insideTokenPayload(ctx, unit, property))
          result.scopesRequested.push(evidenceAt(unit, property));
      }
    }
  }
  return result;
}

/** The aggregated aws-sdk v2 package is a secrets manager only where its clients are used. */
function isManagerModule(unit: SourceUnit, module: string): boolean {
  return (
    SECRET_MANAGER_MODULES.includes(module) &&
    (module !== 'aws-sdk' || /\b(SecretsManager|SSM)\b/.test(unit.text))
  );
}

/** `getSecret(id)` where `getSecret` is a project function in a file using a manager client. */
function helperUsesManager(
  ctx: AuditContext,
  unit: SourceUnit,
  expression: ts.CallExpression | ts.NewExpression,
  managerUnits: ReadonlySet<SourceUnit>,
): boolean {
  if (!ts.isCallExpression(expression)) return false;
  const target = functionDeclarationFor(ctx.symbols, unit, expression.expression);
  return target !== undefined && managerUnits.has(target.unit);
}

function receiverText(expression: ts.CallExpression | ts.NewExpression): string {
  const callee = unwrap(expression.expression);
  return ts.isPropertyAccessExpression(callee) ? callee.expression.getText() : '';
}

/** The secret's name/path: a string argument or `{ SecretId: '…' }`. */
function secretPath(
  ctx: AuditContext,
  unit: SourceUnit,
  argument: ts.Expression | undefined,
): string | undefined {
  if (argument === undefined) return undefined;
  const object = resolveObject(ctx.symbols, unit, argument);
  if (object !== undefined) {
    for (const name of SECRET_PATH_PROPERTIES) {
      const value = optionOf(ctx.symbols, object, name);
      if (value !== undefined) return staticText(ctx.symbols, value.unit, value.node)?.text;
    }
    return undefined;
  }
  return staticText(ctx.symbols, unit, argument)?.text;
}

function importEvidence(file: FileFacts, module: string): Evidence {
  for (const statement of file.unit.sourceFile.statements) {
    if (
      ts.isImportDeclaration(statement) &&
      ts.isStringLiteral(statement.moduleSpecifier) &&
      statement.moduleSpecifier.text === module
    ) {
      return evidenceAt(file.unit, statement);
    }
  }
  for (const call of file.calls) {
    const first = call.arguments[0];
    if (first !== undefined && ts.isStringLiteralLike(first) && first.text === module) {
      return evidenceAt(file.unit, call);
    }
  }
  return evidenceAt(file.unit, file.unit.sourceFile.statements[0] ?? file.unit.sourceFile);
}

const ENVIRONMENT_TEST =
  /NODE_ENV|isDev|isDevelopment|isProd|isProduction|isTest|isLocal|APP_ENV|\bdev\b|\bprod\b/;
const DEVELOPMENT_TEST =
  /^!\s*\(?\s*(is)?Prod(uction)?\b|^!\s*\(?\s*prod\b|\b(is)?(Dev|Development|Local|Test)\b|^dev$|NODE_ENV\s*===?\s*['"`](development|dev|test|local)|NODE_ENV\s*!==?\s*['"`]production/i;
const PRODUCTION_TEST =
  /^\(?\s*(is)?Prod(uction)?\b|^prod$|NODE_ENV\s*===?\s*['"`]production|NODE_ENV\s*!==?\s*['"`](development|dev|test|local)/i;

/**
 * Inside the development side of an environment test: `if (NODE_ENV !== 'production') { … }`,
 * `isDev ? … : …`, `isProd ? prodValue : …` (the second branch), `dev && …`. A test whose
 * direction cannot be told counts as development for both branches, as before.
 */
export function inDevelopmentBranch(unit: SourceUnit, node: ts.Node): boolean {
  let child: ts.Node = node;
  for (const current of ancestors(node)) {
    let condition: ts.Expression | undefined;
    // Which outcome of the condition leads to `child`.
    let whenTrue = true;
    if (ts.isIfStatement(current) && current.expression !== child) {
      condition = current.expression;
      whenTrue = current.thenStatement === child;
    } else if (ts.isConditionalExpression(current) && current.condition !== child) {
      condition = current.condition;
      whenTrue = current.whenTrue === child;
    } else if (
      ts.isBinaryExpression(current) &&
      current.right === child &&
      (current.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken ||
        current.operatorToken.kind === ts.SyntaxKind.BarBarToken)
    ) {
      condition = current.left;
      whenTrue = current.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken;
    }
    if (condition !== undefined) {
      const text = condition.getText(unit.sourceFile).trim();
      if (ENVIRONMENT_TEST.test(text)) {
        const development = DEVELOPMENT_TEST.test(text);
        const production = !development && PRODUCTION_TEST.test(text);
        if (!development && !production) return true;
        if (development === whenTrue) return true;
      }
    }
    if (ts.isSourceFile(current)) break;
    child = current;
  }
  return false;
}

/** Is this `scope:` property in a token payload or token request (not a DI scope option)? */
function insideTokenPayload(ctx: AuditContext, unit: SourceUnit, property: ts.Node): boolean {
  for (const current of ancestors(property)) {
    if (ts.isCallExpression(current) || ts.isNewExpression(current)) {
      const reference = ctx.symbols.moduleReference(unit, current.expression);
      if (reference?.module === 'jsonwebtoken' || reference?.module === 'jose') return true;
      const name = calleeName(current) ?? '';
      return /token|sign|mint|jwt|assertion|URLSearchParams/i.test(name);
    }
    if (ts.isFunctionLike(current)) return false;
  }
  return false;
}

const collectCall = (
  ctx: AuditContext,
  origins: OriginAnalysis,
  file: FileFacts,
  call: ts.CallExpression,
  result: {
    minted: MintedToken[];
    scopeChecks: Evidence[];
    revocationChecks: Evidence[];
    verification: Evidence[];
  },
): void => {
  const { unit } = file;
  const reference = ctx.symbols.moduleReference(unit, call.expression);
  const name = calleeName(call) ?? '';
  if (reference?.module === 'jsonwebtoken' && reference.path.at(-1) === 'sign') {
    result.minted.push(jsonwebtoken(ctx, origins, unit, call));
  } else if (reference === undefined && isNestJwtSign(ctx, unit, call)) {
    result.minted.push(nestJwtToken(ctx, origins, unit, call));
  } else if (reference?.module === '@tessera/core' && reference.path.at(-1) === 'mintAccessToken') {
    result.minted.push({
      evidence: evidenceAt(unit, call),
      service: true,
      lifetime: 'unknown',
      audience: true,
      keyOrigins: new Set(['dynamic']),
      symmetric: false,
      once: enclosingFunction(call) === undefined,
    });
  }
  const verifies = reference === undefined ? undefined : VERIFY_MODULES.get(reference.module);
  if (verifies?.includes(reference?.path.at(-1) ?? '') === true || name === 'jwtVerify') {
    result.verification.push(evidenceAt(unit, call));
  }
  if (SCOPE_CALL.test(name)) result.scopeChecks.push(evidenceAt(unit, call));
  // `claims.scope.split(' ').includes('x')`, `payload.scp.includes(…)`, `token.scopes.some(…)`.
  const chain = accessChain(call.expression);
  if (
    chain !== undefined &&
    /^(includes|split|some|every|has|indexOf)$/.test(chain.at(-1) ?? '') &&
    chain.slice(0, -1).some((part) => part === 'scope' || part === 'scp' || part === 'scopes') &&
    chain.length >= 3
  ) {
    result.scopeChecks.push(evidenceAt(unit, call));
  }
  const argumentsText = call.arguments.map((a) => a.getText(unit.sourceFile)).join(' ');
  if (REVOCATION.test(name) || REVOCATION.test(argumentsText)) {
    const scope = enclosingFunction(call) ?? unit.sourceFile;
    if (/jti|token|jwt/i.test(scope.getText(unit.sourceFile))) {
      result.revocationChecks.push(evidenceAt(unit, call));
    }
  }
};

function lifetimeFrom(
  ctx: AuditContext,
  unit: SourceUnit,
  options: ReturnType<typeof optionOf>,
): number | 'unknown' | undefined {
  if (options === undefined) return undefined;
  const text = staticText(ctx.symbols, options.unit, options.node);
  if (text?.complete === true) return durationSeconds(text.text) ?? 'unknown';
  const number = staticNumber(ctx.symbols, unit, options.node);
  return number ?? 'unknown';
}

/** `exp: Math.floor(Date.now() / 1000) + 300` → 300. */
function expClaimLifetime(
  ctx: AuditContext,
  unit: SourceUnit,
  exp: ts.Expression,
): number | 'unknown' {
  const node = unwrap(exp);
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const added = staticNumber(ctx.symbols, unit, node.right);
    if (added !== undefined) {
      // `Date.now() + 5 * 60 * 1000` is in milliseconds.
      return /Date\.now\(\)\s*$/.test(node.left.getText(unit.sourceFile)) ? added / 1000 : added;
    }
  }
  return 'unknown';
}

function isServiceToken(call: ts.Node, payloadText: string): boolean {
  const scope = enclosingFunction(call);
  let name = '';
  const own =
    scope !== undefined &&
    (ts.isFunctionDeclaration(scope) ||
      ts.isFunctionExpression(scope) ||
      ts.isMethodDeclaration(scope))
      ? scope.name
      : undefined;
  if (own !== undefined && ts.isIdentifier(own)) name = own.text;
  if (
    scope !== undefined &&
    ts.isVariableDeclaration(scope.parent) &&
    ts.isIdentifier(scope.parent.name)
  ) {
    name = scope.parent.name.text;
  }
  const declaration = call.parent;
  if (ts.isVariableDeclaration(declaration) && ts.isIdentifier(declaration.name)) {
    name += ` ${declaration.name.text}`;
  }
  if (
    ts.isAwaitExpression(declaration) &&
    ts.isVariableDeclaration(declaration.parent) &&
    ts.isIdentifier(declaration.parent.name)
  ) {
    name += ` ${declaration.parent.name.text}`;
  }
  return SERVICE_WORDS.test(name) || SERVICE_WORDS.test(payloadText);
}

function jsonwebtoken(
  ctx: AuditContext,
  origins: OriginAnalysis,
  unit: SourceUnit,
  call: ts.CallExpression,
): MintedToken {
  const [payload, key, optionsArgument] = call.arguments;
  const options =
    optionsArgument === undefined ? undefined : resolveObject(ctx.symbols, unit, optionsArgument);
  return signOptionsToken(ctx, origins, unit, call, payload, key, optionsArgument, options);
}

/**
 * `jwtService.sign(payload, { secret, algorithm, subject, expiresIn, … })` of `@nestjs/jwt`: the
 * options are jsonwebtoken's, the key is `secret` or `privateKey` (or the module's, not shown).
 */
function nestJwtToken(
  ctx: AuditContext,
  origins: OriginAnalysis,
  unit: SourceUnit,
  call: ts.CallExpression,
): MintedToken {
  const [payload, optionsArgument] = call.arguments;
  const options =
    optionsArgument === undefined ? undefined : resolveObject(ctx.symbols, unit, optionsArgument);
  const key =
    options === undefined
      ? undefined
      : (optionOf(ctx.symbols, options, 'secret') ?? optionOf(ctx.symbols, options, 'privateKey'));
  return signOptionsToken(ctx, origins, unit, call, payload, key?.node, optionsArgument, options);
}

/** Is `call` `this.jwtService.sign(…)` in a file that imports `JwtService` from `@nestjs/jwt`? */
function isNestJwtSign(ctx: AuditContext, unit: SourceUnit, call: ts.CallExpression): boolean {
  const callee = unwrap(call.expression);
  if (!ts.isPropertyAccessExpression(callee)) return false;
  if (callee.name.text !== 'sign' && callee.name.text !== 'signAsync') return false;
  for (const binding of ctx.symbols.importsOf(unit).values()) {
    if (binding.module === '@nestjs/jwt' && binding.imported === 'JwtService') return true;
  }
  return false;
}

/** A token signed with jsonwebtoken's options (`expiresIn`, `audience`, `subject`, `algorithm`). */
function signOptionsToken(
  ctx: AuditContext,
  origins: OriginAnalysis,
  unit: SourceUnit,
  call: ts.CallExpression,
  payload: ts.Expression | undefined,
  key: ts.Expression | undefined,
  optionsArgument: ts.Expression | undefined,
  options: ReturnType<typeof resolveObject>,
): MintedToken {
  const claims = payload === undefined ? undefined : resolveObject(ctx.symbols, unit, payload);
  const option = (name: string) =>
    options === undefined ? undefined : optionOf(ctx.symbols, options, name);
  const claim = (name: string) =>
    claims === undefined ? undefined : optionOf(ctx.symbols, claims, name);
  const expiresIn = option('expiresIn');
  const exp = claim('exp');
  let lifetime: MintedToken['lifetime'] = 'missing';
  const fromOption = lifetimeFrom(ctx, unit, expiresIn);
  if (fromOption !== undefined) lifetime = fromOption;
  else if (exp !== undefined) lifetime = expClaimLifetime(ctx, exp.unit, exp.node);
  else if (optionsArgument !== undefined && options === undefined) lifetime = 'unknown';
  else if (payload !== undefined && claims === undefined) lifetime = 'unknown';
  const audience = option('audience') !== undefined || claim('aud') !== undefined;
  const algorithm = option('algorithm');
  const algorithmText =
    algorithm === undefined
      ? undefined
      : staticText(ctx.symbols, algorithm.unit, algorithm.node)?.text;
  const subject = option('subject') ?? claim('sub');
  return {
    evidence: evidenceAt(unit, call),
    service: isServiceToken(call, payload?.getText(unit.sourceFile) ?? ''),
    lifetime,
    audience,
    keyOrigins: key === undefined ? new Set(['unknown']) : origins.of(unit, key),
    // jsonwebtoken defaults to HS256.
    symmetric: algorithmText === undefined ? true : algorithmText.startsWith('HS'),
    once: enclosingFunction(call) === undefined || isConstructor(enclosingFunction(call)),
    algorithm: algorithmText,
    subject: subjectKind(ctx, subject, claims === undefined && payload !== undefined),
    subjectEvidence: subject === undefined ? undefined : evidenceAt(subject.unit, subject.node),
    issuer: option('issuer') !== undefined || claim('iss') !== undefined,
    keyText: key?.getText(unit.sourceFile),
    keyEvidence: key === undefined ? undefined : evidenceAt(unit, key),
    mintedIn: functionNameOf(call),
  };
}

function isConstructor(scope: ts.SignatureDeclaration | undefined): boolean {
  return scope !== undefined && ts.isConstructorDeclaration(scope);
}

/** The name of the function a node is in (`function f`, `const f = () =>`, a method). */
function functionNameOf(node: ts.Node): string | undefined {
  const scope = enclosingFunction(node);
  if (scope === undefined) return undefined;
  if (
    (ts.isFunctionDeclaration(scope) || ts.isMethodDeclaration(scope)) &&
    scope.name !== undefined &&
    ts.isIdentifier(scope.name)
  ) {
    return scope.name.text;
  }
  if (ts.isVariableDeclaration(scope.parent) && ts.isIdentifier(scope.parent.name)) {
    return scope.parent.name.text;
  }
  return undefined;
}

/** Names that hold an end user's identity, not a service's. */
const USER_SUBJECT =
  /\b(user|users|account|customer|member|principal|person|profile|session)\b|\b(req|request|ctx)\.|user(Id|_id|name)|payload\.sub|claims\.sub/i;
const SERVICE_SUBJECT = /service|client_?id|clientId|app_?(name|id)|spiffe|workload/i;

/**
 * What the `sub` of a minted token names: a fixed string is a service name (end users are never
 * constants); `user.sub` or `req.user.id` is an end user.
 */
function subjectKind(
  ctx: AuditContext,
  subject: ReturnType<typeof optionOf>,
  payloadUnknown: boolean,
): NonNullable<MintedToken['subject']> {
  if (subject === undefined) return payloadUnknown ? 'unknown' : 'missing';
  const text = staticText(ctx.symbols, subject.unit, subject.node);
  if (text?.complete === true) return 'service';
  const written = subject.node.getText(subject.unit.sourceFile);
  if (SERVICE_SUBJECT.test(written)) return 'service';
  if (USER_SUBJECT.test(written)) return 'user';
  return 'unknown';
}

/** `new SignJWT(payload).setSubject(x)` or `sub` in the payload. */
function joseSubject(
  ctx: AuditContext,
  unit: SourceUnit,
  setSubject: ts.CallExpression | undefined,
  payload: ts.Expression | undefined,
): NonNullable<MintedToken['subject']> {
  const argument = setSubject?.arguments[0];
  if (argument !== undefined) return subjectKind(ctx, { unit, node: argument }, false);
  const claims = payload === undefined ? undefined : resolveObject(ctx.symbols, unit, payload);
  if (claims === undefined) return payload === undefined ? 'missing' : 'unknown';
  return subjectKind(ctx, optionOf(ctx.symbols, claims, 'sub'), false);
}

function joseToken(
  ctx: AuditContext,
  origins: OriginAnalysis,
  unit: SourceUnit,
  expression: ts.NewExpression,
): MintedToken {
  const methods = new Map<string, ts.CallExpression>();
  let current: ts.Node = expression;
  for (let i = 0; i < 16; i++) {
    const parent: ts.Node = current.parent;
    if (!ts.isPropertyAccessExpression(parent) || !ts.isCallExpression(parent.parent)) break;
    methods.set(parent.name.text, parent.parent);
    current = parent.parent;
  }
  const expiry = methods.get('setExpirationTime')?.arguments[0];
  let lifetime: MintedToken['lifetime'] = 'missing';
  if (expiry !== undefined) {
    const text = staticText(ctx.symbols, unit, expiry);
    lifetime = text?.complete === true ? (durationSeconds(text.text) ?? 'unknown') : 'unknown';
  }
  const protectedHeader = methods.get('setProtectedHeader')?.arguments[0];
  const headerText = protectedHeader?.getText(unit.sourceFile) ?? '';
  const key = methods.get('sign')?.arguments[0];
  const payload = expression.arguments?.[0];
  const setSubject = methods.get('setSubject');
  return {
    evidence: evidenceAt(unit, expression),
    service: isServiceToken(current, payload?.getText(unit.sourceFile) ?? ''),
    lifetime,
    audience: methods.has('setAudience') || /\baud\b/.test(payload?.getText(unit.sourceFile) ?? ''),
    keyOrigins: key === undefined ? new Set(['unknown']) : origins.of(unit, key),
    symmetric: /HS\d{3}/.test(headerText)
      ? true
      : /(RS|ES|PS)\d{3}|EdDSA/.test(headerText)
        ? false
        : undefined,
    once:
      enclosingFunction(expression) === undefined || isConstructor(enclosingFunction(expression)),
    algorithm: /\b(HS|RS|ES|PS)\d{3}\b|EdDSA/.exec(headerText)?.[0],
    subject: joseSubject(ctx, unit, setSubject, payload),
    subjectEvidence: setSubject === undefined ? undefined : evidenceAt(unit, setSubject),
    issuer: methods.has('setIssuer') || /\biss\b/.test(payload?.getText(unit.sourceFile) ?? ''),
    keyText: key?.getText(unit.sourceFile),
    keyEvidence: key === undefined ? undefined : evidenceAt(unit, key),
    mintedIn: functionNameOf(expression),
  };
}
