/**
 * How each JWT verifier in the service is configured: algorithms, issuer, audience, subject,
 * expiry handling, and where its key comes from. One entry per verify call or verifier
 * configuration (jsonwebtoken, jose, fast-jwt, @fastify/jwt, express-jwt, passport-jwt, Tessera).
 */
import ts from 'typescript';
import type { SymbolTable } from '../../ast/symbols.ts';
import { accessChain, propertyNameText, unwrap } from '../../ast/syntax.ts';
import type { SourceUnit } from '../../project/load.ts';
import { jwtModuleOptions } from './adapters/nest/jwt.ts';
import {
  booleanValue,
  calleeName,
  calleeReceiver,
  isFunctionNode,
  looseChain,
  numericValue,
} from './ast.ts';
import type { FileFacts, FunctionFacts, JwtConfigSite, Site } from './facts.ts';
import type { FunctionIndex } from './functions.ts';
import type { Registration } from './scopes.ts';

export type KeyKind =
  | 'jwks'
  | 'public-key'
  | 'callback'
  | 'secrets-manager'
  | 'env'
  | 'literal'
  | 'unknown'
  | 'inherited';

export interface KeySource {
  readonly kind: KeyKind;
  readonly site: Site;
  /** True for shared secrets (HMAC keys), false for public keys, undefined when unknown. */
  readonly symmetric: boolean | undefined;
  /** `https://…` or `http://…` JWKS URL when static. */
  readonly url: string | undefined;
  /** The key argument as written (`gatewaySecret()`), to pair the verifier with a signer. */
  readonly written?: string | undefined;
}

export interface JwtVerifier {
  readonly site: Site;
  readonly library: string;
  /** The function the verification runs in, for claim checks written by hand. */
  readonly owner: FunctionFacts | undefined;
  readonly algorithms: readonly string[] | undefined;
  readonly algorithmsSite: Site | undefined;
  readonly issuer: Site | undefined;
  readonly audience: Site | undefined;
  readonly subject: Site | undefined;
  readonly ignoreExpiration: Site | undefined;
  readonly maxAge: Site | undefined;
  /** `requiredClaims` names `exp` (jose, fast-jwt): a token without an expiry is refused. */
  readonly requiresExp?: boolean;
  readonly clockToleranceSeconds: number | undefined;
  readonly key: KeySource;
  /** False for bare JWS verification (jose `compactVerify`): claims are not validated at all. */
  readonly claimsChecked: boolean;
  /** Tessera: asymmetric keys from the authority's JWKS, issuer and audience always pinned. */
  readonly tessera: boolean;
  /** The options were found; false when e.g. `request.jwtVerify()` is used but the registration is not in the project. */
  readonly configKnown: boolean;
}

const SECRETS_MANAGER_CALL =
  /(getSecret|getSecretValue|fetchSecret|loadSecret|readSecret|getParameter|secretsManager|secretManager|vault|keyvault)/i;
const JWKS_CALL =
  /(jwks|JWKSet|expressJwtSecret|passportJwtSecret|koaJwtSecret|getSigningKey|getPublicKey|publicKeyFor|getKey)/i;
const PUBLIC_KEY_CALL = /^(importSPKI|importX509|importJWK|createPublicKey)$/;

interface Prop {
  readonly unit: SourceUnit;
  readonly expression: ts.Expression;
}

/** Reads verifier configurations from the collected facts and plugin registrations. */
export function collectVerifiers(
  files: readonly FileFacts[],
  registrations: readonly Registration[],
  symbols: SymbolTable,
  index: FunctionIndex,
): JwtVerifier[] {
  const verifiers: JwtVerifier[] = [];
  const calls: JwtConfigSite[] = files.flatMap((f) => f.jwtConfigs);

  const objectOf = (unit: SourceUnit, expression: ts.Expression | undefined) => {
    if (expression === undefined) return undefined;
    const value = symbols.finalValue(unit, expression);
    const node = unwrap(value.expression);
    return ts.isObjectLiteralExpression(node) ? { unit: value.unit, object: node } : undefined;
  };

  /** A property of an options object, looking into `...spread` objects too. */
  const prop = (
    options: { unit: SourceUnit; object: ts.ObjectLiteralExpression } | undefined,
    name: string,
    depth = 0,
  ): Prop | undefined => {
    if (options === undefined || depth > 3) return undefined;
    for (const property of options.object.properties) {
      if (ts.isSpreadAssignment(property)) {
        const hit = prop(objectOf(options.unit, property.expression), name, depth + 1);
        if (hit !== undefined) return hit;
        continue;
      }
      if (propertyNameText(property.name) !== name) continue;
      if (ts.isPropertyAssignment(property)) {
        return { unit: options.unit, expression: property.initializer };
      }
      if (ts.isShorthandPropertyAssignment(property)) {
        return { unit: options.unit, expression: property.name };
      }
    }
    return undefined;
  };

  const present = (value: Prop | undefined): Site | undefined => {
    if (value === undefined) return undefined;
    const node = unwrap(value.expression);
    if (ts.isIdentifier(node) && node.text === 'undefined') return undefined;
    if (node.kind === ts.SyntaxKind.NullKeyword) return undefined;
    if (ts.isArrayLiteralExpression(node) && node.elements.length === 0) return undefined;
    if (ts.isStringLiteralLike(node) && node.text === '') return undefined;
    return { unit: value.unit, node: value.expression };
  };

  const strings = (value: Prop | undefined): string[] | undefined => {
    if (value === undefined) return undefined;
    const resolved = symbols.finalValue(value.unit, value.expression);
    const node = unwrap(resolved.expression);
    if (ts.isArrayLiteralExpression(node)) {
      return node.elements.map((e) => {
        const text = symbols.staticString(resolved.unit, e);
        return text?.complete === true ? text.text : '?';
      });
    }
    const single = symbols.staticString(resolved.unit, node);
    return single?.complete === true ? [single.text] : ['?'];
  };

  const seconds = (value: Prop | undefined, milliseconds: boolean): number | undefined => {
    if (value === undefined) return undefined;
    const resolved = symbols.finalValue(value.unit, value.expression);
    const n = numericValue(resolved.expression);
    if (n !== undefined) return milliseconds ? n / 1000 : n;
    return undefined;
  };

  const flag = (value: Prop | undefined): Site | undefined => {
    if (value === undefined) return undefined;
    const resolved = symbols.finalValue(value.unit, value.expression);
    return booleanValue(resolved.expression) === true
      ? { unit: value.unit, node: value.expression }
      : undefined;
  };

  /** `exp: false` in Hono's verification options switches the expiry check off. */
  const exemptFlag = (value: Prop | undefined): Site | undefined => {
    if (value === undefined) return undefined;
    const resolved = symbols.finalValue(value.unit, value.expression);
    return booleanValue(resolved.expression) === false
      ? { unit: value.unit, node: value.expression }
      : undefined;
  };

  const ownerOf = (unit: SourceUnit, node: ts.Node): FunctionFacts | undefined => {
    for (let current = node.parent; !ts.isSourceFile(current); current = current.parent) {
      if (isFunctionNode(current)) return index.factsOf(unit, current);
    }
    return index.factsOf(unit, unit.sourceFile);
  };

  const keySource = (
    unit: SourceUnit,
    expression: ts.Expression | undefined,
    at: Site,
  ): KeySource =>
    expression === undefined
      ? { kind: 'unknown', site: at, symmetric: undefined, url: undefined }
      : {
          ...classifyKey(symbols, index, unit, expression, 0),
          written: expression.getText(unit.sourceFile),
        };

  const make = (
    site: Site,
    library: string,
    options: { unit: SourceUnit; object: ts.ObjectLiteralExpression } | undefined,
    key: KeySource,
    names: {
      readonly algorithms: string;
      readonly issuer: string;
      readonly audience: string;
      readonly subject: string;
      readonly maxAge: string;
      readonly msTimes: boolean;
    },
    extra: Partial<JwtVerifier> = {},
  ): JwtVerifier => {
    const algorithmsProp = prop(options, names.algorithms);
    return {
      site,
      library,
      owner: ownerOf(site.unit, site.node),
      algorithms: strings(algorithmsProp),
      algorithmsSite:
        algorithmsProp === undefined
          ? undefined
          : { unit: algorithmsProp.unit, node: algorithmsProp.expression },
      issuer: present(prop(options, names.issuer)),
      audience: present(prop(options, names.audience)),
      subject: present(prop(options, names.subject)),
      ignoreExpiration: flag(prop(options, 'ignoreExpiration')),
      maxAge: present(prop(options, names.maxAge)),
      requiresExp: strings(prop(options, 'requiredClaims'))?.includes('exp') === true,
      clockToleranceSeconds: seconds(prop(options, 'clockTolerance'), names.msTimes),
      key,
      claimsChecked: true,
      tessera: false,
      configKnown: true,
      ...extra,
    };
  };

  const JSONWEBTOKEN = {
    algorithms: 'algorithms',
    issuer: 'issuer',
    audience: 'audience',
    subject: 'subject',
    maxAge: 'maxAge',
    msTimes: false,
  };
  const FAST_JWT = {
    algorithms: 'algorithms',
    issuer: 'allowedIss',
    audience: 'allowedAud',
    subject: 'allowedSub',
    maxAge: 'maxAge',
    msTimes: true,
  };
  const JOSE = { ...JSONWEBTOKEN, maxAge: 'maxTokenAge' };

  // `JwtService.verify` options complete `JwtModule.register`'s (`secret`, `verifyOptions`).
  const nestModules = calls.flatMap((c) => {
    if (c.library !== 'nest-jwt-module') return [];
    const options = jwtModuleOptions(symbols, c.unit, c.call);
    return options === undefined ? [] : [options];
  });
  const nestJwtVerifier = (
    site: Site,
    options: { unit: SourceUnit; object: ts.ObjectLiteralExpression } | undefined,
  ): JwtVerifier => {
    const module = nestModules[0];
    const verifyOptions = prop(module, 'verifyOptions');
    const defaults =
      verifyOptions === undefined
        ? undefined
        : objectOf(verifyOptions.unit, verifyOptions.expression);
    const secret =
      prop(options, 'secret') ??
      prop(options, 'publicKey') ??
      prop(module, 'secret') ??
      prop(module, 'publicKey') ??
      prop(module, 'secretOrKeyProvider');
    const key = keySource(secret?.unit ?? site.unit, secret?.expression, site);
    const own = make(site, '@nestjs/jwt', options, key, JSONWEBTOKEN);
    const base = make(site, '@nestjs/jwt', defaults, key, JSONWEBTOKEN);
    return {
      ...own,
      algorithms: own.algorithms ?? base.algorithms,
      algorithmsSite: own.algorithmsSite ?? base.algorithmsSite,
      issuer: own.issuer ?? base.issuer,
      audience: own.audience ?? base.audience,
      subject: own.subject ?? base.subject,
      ignoreExpiration: own.ignoreExpiration ?? base.ignoreExpiration,
      maxAge: own.maxAge ?? base.maxAge,
      clockToleranceSeconds: own.clockToleranceSeconds ?? base.clockToleranceSeconds,
    };
  };

  const fastifyJwtCallOptions: JwtVerifier[] = [];
  for (const config of calls) {
    const { unit, call } = config;
    const args: readonly ts.Expression[] = call.arguments ?? [];
    const site: Site = { unit, node: call };
    try {
      switch (config.library) {
        case 'jsonwebtoken': {
          const third = args[2];
          const options =
            third !== undefined && !isFunctionNode(unwrap(third))
              ? objectOf(unit, third)
              : undefined;
          verifiers.push(
            make(site, 'jsonwebtoken', options, keySource(unit, args[1], site), JSONWEBTOKEN),
          );
          break;
        }
        case 'jose':
        case 'jose-jws': {
          const options = objectOf(unit, args[2]);
          verifiers.push(
            make(site, 'jose', options, keySource(unit, args[1], site), JOSE, {
              claimsChecked: config.library === 'jose',
            }),
          );
          break;
        }
        case 'fast-jwt': {
          const options = objectOf(unit, args[0]);
          const key = prop(options, 'key');
          verifiers.push(
            make(
              site,
              'fast-jwt',
              options,
              keySource(key?.unit ?? unit, key?.expression, site),
              FAST_JWT,
            ),
          );
          break;
        }
        case 'fastify-jwt-call': {
          const options = objectOf(unit, args[0]);
          fastifyJwtCallOptions.push(
            make(
              site,
              '@fastify/jwt',
              options,
              { kind: 'inherited', site, symmetric: undefined, url: undefined },
              FAST_JWT,
            ),
          );
          break;
        }
        case 'koa-jwt':
        case 'express-jwt': {
          const options = objectOf(unit, args[0]);
          const secret = prop(options, 'secret');
          verifiers.push(
            make(
              site,
              config.library,
              options,
              keySource(secret?.unit ?? unit, secret?.expression, site),
              JSONWEBTOKEN,
            ),
          );
          break;
        }
        case 'hono-jwk': {
          // `jwk({ jwks_uri, keys, alg: [...], verification: { iss, aud } })`: asymmetric only.
          const options = objectOf(unit, args[0]);
          const source = prop(options, 'jwks_uri') ?? prop(options, 'keys');
          const url =
            source === undefined ? undefined : symbols.staticString(source.unit, source.expression);
          const nested = prop(options, 'verification');
          const claims =
            nested === undefined ? undefined : objectOf(nested.unit, nested.expression);
          const alg = prop(options, 'alg');
          verifiers.push(
            make(
              site,
              'hono/jwk',
              undefined,
              {
                kind: 'jwks',
                site: source === undefined ? site : { unit: source.unit, node: source.expression },
                symmetric: false,
                url: url?.text,
              },
              JSONWEBTOKEN,
              {
                algorithms: strings(alg),
                algorithmsSite:
                  alg === undefined ? undefined : { unit: alg.unit, node: alg.expression },
                issuer: present(prop(claims, 'iss')),
                audience: present(prop(claims, 'aud')),
                ignoreExpiration: exemptFlag(prop(claims, 'exp')),
              },
            ),
          );
          break;
        }
        case 'hono-jwt':
        case 'hono-jwt-verify': {
          // Middleware `jwt({ secret, alg, verification })`; `verify(token, secret, alg | options)`.
          const middleware = config.library === 'hono-jwt';
          const options = middleware ? objectOf(unit, args[0]) : objectOf(unit, args[2]);
          const secret = middleware ? prop(options, 'secret') : { unit, expression: args[1] };
          const alg = middleware || options !== undefined ? prop(options, 'alg') : undefined;
          const algProp =
            alg ??
            (middleware || args[2] === undefined ? undefined : { unit, expression: args[2] });
          const nested = prop(options, 'verification');
          const claims = nested === undefined ? options : objectOf(nested.unit, nested.expression);
          verifiers.push(
            make(
              site,
              'hono/jwt',
              undefined,
              keySource(secret?.unit ?? unit, secret?.expression, site),
              JSONWEBTOKEN,
              {
                // Hono accepts one algorithm, HS256 unless `alg` says otherwise.
                algorithms: strings(algProp) ?? ['HS256'],
                algorithmsSite:
                  algProp === undefined ? site : { unit: algProp.unit, node: algProp.expression },
                issuer: present(prop(claims, 'iss')),
                audience: present(prop(claims, 'aud')),
                ignoreExpiration: exemptFlag(prop(claims, 'exp')),
              },
            ),
          );
          break;
        }
        case 'passport-jwt': {
          const options = objectOf(unit, args[0]);
          const secret = prop(options, 'secretOrKey') ?? prop(options, 'secretOrKeyProvider');
          const nested = prop(options, 'jsonWebTokenOptions');
          const nestedOptions =
            nested === undefined ? undefined : objectOf(nested.unit, nested.expression);
          const verifier = make(
            site,
            'passport-jwt',
            options,
            keySource(secret?.unit ?? unit, secret?.expression, site),
            JSONWEBTOKEN,
          );
          verifiers.push({
            ...verifier,
            maxAge: verifier.maxAge ?? present(prop(nestedOptions, 'maxAge')),
          });
          break;
        }
        case 'nest-jwt':
          verifiers.push(nestJwtVerifier(site, objectOf(unit, args[1])));
          break;
        case 'tessera-core': {
          const options = objectOf(unit, args[0]);
          const keys = prop(options, 'keys');
          verifiers.push(
            make(
              site,
              '@tessera/core',
              options,
              {
                kind: 'jwks',
                site: keys === undefined ? site : { unit: keys.unit, node: keys.expression },
                symmetric: false,
                url: undefined,
              },
              JSONWEBTOKEN,
              { tessera: true, algorithms: ['ES256', 'EdDSA'] },
            ),
          );
          break;
        }
      }
    } catch {
      // A configuration the reader did not expect is skipped, not fatal.
    }
  }

  for (const registration of registrations) {
    const options =
      registration.options === undefined
        ? undefined
        : { unit: registration.optionsUnit, object: registration.options };
    if (registration.module === '@fastify/jwt' || registration.module === 'fastify-jwt') {
      const secret = prop(options, 'secret');
      const verify = prop(options, 'verify');
      const verifyOptions =
        verify === undefined ? undefined : objectOf(verify.unit, verify.expression);
      const sign = prop(options, 'sign');
      const signOptions = sign === undefined ? undefined : objectOf(sign.unit, sign.expression);
      const key = keySource(
        secret?.unit ?? registration.site.unit,
        secret?.expression,
        registration.site,
      );
      const signAlgorithm = strings(prop(signOptions, 'algorithm'));
      let verifier = make(registration.site, '@fastify/jwt', verifyOptions, key, FAST_JWT);
      if (verifier.algorithms === undefined && signAlgorithm !== undefined) {
        verifier = { ...verifier, algorithms: signAlgorithm };
      }
      // Options given at `request.jwtVerify(options)` complete the registration's.
      for (const call of fastifyJwtCallOptions) {
        verifier = {
          ...verifier,
          issuer: verifier.issuer ?? call.issuer,
          audience: verifier.audience ?? call.audience,
          subject: verifier.subject ?? call.subject,
          maxAge: verifier.maxAge ?? call.maxAge,
          algorithms: verifier.algorithms ?? call.algorithms,
          ignoreExpiration: verifier.ignoreExpiration ?? call.ignoreExpiration,
        };
      }
      verifiers.push(verifier);
    } else if (registration.module === '@tessera/fastify') {
      const authority = prop(options, 'authority');
      const site = registration.site;
      verifiers.push({
        site,
        library: '@tessera/fastify',
        owner: undefined,
        algorithms: ['ES256', 'EdDSA'],
        algorithmsSite: undefined,
        issuer: site,
        audience: site,
        subject: site,
        ignoreExpiration: undefined,
        maxAge: site,
        clockToleranceSeconds: undefined,
        key: {
          kind: 'jwks',
          site:
            authority === undefined ? site : { unit: authority.unit, node: authority.expression },
          symmetric: false,
          url: undefined,
        },
        claimsChecked: true,
        tessera: true,
        configKnown: true,
      });
    }
  }

  // `request.jwtVerify()` with no registration in the project: configuration unknown.
  const registered = registrations.some(
    (r) => r.module === '@fastify/jwt' || r.module === 'fastify-jwt',
  );
  if (!registered) {
    const firstUse = files
      .flatMap((f) => f.functions)
      .flatMap((fn) => fn.verifications)
      .find((v) => v.kind === 'fastify-jwt');
    if (firstUse !== undefined) {
      verifiers.push({
        ...(fastifyJwtCallOptions[0] ??
          make(
            firstUse,
            '@fastify/jwt',
            undefined,
            {
              kind: 'unknown',
              site: firstUse,
              symmetric: undefined,
              url: undefined,
            },
            FAST_JWT,
          )),
        configKnown: fastifyJwtCallOptions.length > 0,
      });
    }
  }
  return verifiers;
}

/** Where a verification key comes from. */
function classifyKey(
  symbols: SymbolTable,
  index: FunctionIndex,
  unit: SourceUnit,
  expression: ts.Expression,
  depth: number,
): KeySource {
  const at: Site = { unit, node: expression };
  const unknown: KeySource = { kind: 'unknown', site: at, symmetric: undefined, url: undefined };
  if (depth > 4) return unknown;
  const resolved = symbols.finalValue(unit, expression);
  const node = unwrap(resolved.expression);
  const here: Site = { unit: resolved.unit, node };
  const recurse = (next: ts.Expression): KeySource =>
    classifyKey(symbols, index, resolved.unit, next, depth + 1);

  if (ts.isStringLiteralLike(node)) {
    return {
      kind: 'literal',
      site: here,
      symmetric: !/BEGIN (PUBLIC KEY|CERTIFICATE)/.test(node.text),
      url: undefined,
    };
  }
  if (ts.isTemplateExpression(node))
    return { kind: 'literal', site: here, symmetric: true, url: undefined };
  const chain = accessChain(node);
  // `process.env.X`, and Hono's environment bindings `c.env.X` (Cloudflare Workers, Node adapter).
  if (
    (chain?.[0] === 'process' || /^(c|ctx|context)$/.test(chain?.[0] ?? '')) &&
    chain?.[1] === 'env'
  ) {
    return {
      kind: 'env',
      site: here,
      symmetric: !/PUBLIC|PUB_?KEY|JWKS/i.test(chain[2] ?? ''),
      url: undefined,
    };
  }
  if (ts.isBinaryExpression(node)) {
    const kind = node.operatorToken.kind;
    if (kind === ts.SyntaxKind.BarBarToken || kind === ts.SyntaxKind.QuestionQuestionToken) {
      const right = recurse(node.right);
      // A hard-coded fallback is what runs when the variable is unset.
      if (right.kind === 'literal') return right;
      return recurse(node.left);
    }
  }
  if (isFunctionNode(node))
    return { kind: 'callback', site: here, symmetric: undefined, url: undefined };
  if (ts.isObjectLiteralExpression(node)) {
    for (const property of node.properties) {
      if (!ts.isPropertyAssignment(property) && !ts.isShorthandPropertyAssignment(property))
        continue;
      const name = propertyNameText(property.name);
      if (name === 'public' || name === 'publicKey') {
        const value = ts.isPropertyAssignment(property) ? property.initializer : property.name;
        const inner = recurse(value);
        return {
          ...inner,
          kind:
            inner.kind === 'unknown' || inner.kind === 'literal' || inner.kind === 'env'
              ? 'public-key'
              : inner.kind,
          symmetric: false,
        };
      }
    }
    return unknown;
  }
  if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
    const name = calleeName(node) ?? '';
    const ref = symbols.moduleReference(resolved.unit, node.expression);
    const member = ref?.path[ref.path.length - 1] ?? name;
    const firstArg = node.arguments?.[0];
    if (ref?.module === 'jwks-rsa' || JWKS_CALL.test(member)) {
      let url: string | undefined;
      if (firstArg !== undefined) {
        const urlNode = unwrap(firstArg);
        const inner =
          ts.isNewExpression(urlNode) && urlNode.arguments?.[0] !== undefined
            ? urlNode.arguments[0]
            : ts.isObjectLiteralExpression(urlNode)
              ? objectValue(urlNode, 'jwksUri')
              : urlNode;
        const text = inner === undefined ? undefined : symbols.staticString(resolved.unit, inner);
        url = text?.text;
      }
      return { kind: 'jwks', site: here, symmetric: false, url };
    }
    if (PUBLIC_KEY_CALL.test(member))
      return { kind: 'public-key', site: here, symmetric: false, url: undefined };
    if (member === 'createSecretKey' && firstArg !== undefined) {
      return { ...recurse(firstArg), symmetric: true };
    }
    if (
      (member === 'encode' || member === 'from' || member === 'toString') &&
      firstArg !== undefined
    ) {
      const inner = recurse(firstArg);
      return { ...inner, symmetric: inner.symmetric ?? true };
    }
    if (member === 'readFileSync' || member === 'readFile') {
      const text = firstArg === undefined ? '' : firstArg.getText(resolved.unit.sourceFile);
      const isPublic = /pub|\.crt|cert|jwks/i.test(text) && !/priv/i.test(text);
      return {
        kind: isPublic ? 'public-key' : 'unknown',
        site: here,
        symmetric: isPublic ? false : undefined,
        url: undefined,
      };
    }
    if (
      SECRETS_MANAGER_CALL.test(member) ||
      SECRETS_MANAGER_CALL.test(node.expression.getText(resolved.unit.sourceFile))
    ) {
      return { kind: 'secrets-manager', site: here, symmetric: undefined, url: undefined };
    }
    // NestJS `configService.get('JWT_SECRET')` reads the environment (through @nestjs/config).
    const receiver = ts.isCallExpression(node) ? calleeReceiver(node) : undefined;
    if (
      (member === 'get' || member === 'getOrThrow') &&
      receiver !== undefined &&
      /config/i.test(looseChain(receiver).join('.'))
    ) {
      const name =
        firstArg === undefined ? '' : (symbols.staticString(resolved.unit, firstArg)?.text ?? '');
      return {
        kind: 'env',
        site: here,
        symmetric: !/PUBLIC|PUB_?KEY|JWKS/i.test(name),
        url: undefined,
      };
    }
    // A project function that returns the key: look at what it returns.
    const targets = ts.isCallExpression(node) ? index.calleeTargets(resolved.unit, node) : [];
    for (const target of targets) {
      if (target.kind !== 'function' || ts.isSourceFile(target.facts.node)) continue;
      const body = target.facts.node.body;
      if (body === undefined) continue;
      if (!ts.isBlock(body)) return recurse(body);
      for (const statement of body.statements) {
        if (ts.isReturnStatement(statement) && statement.expression !== undefined) {
          return classifyKey(symbols, index, target.facts.unit, statement.expression, depth + 1);
        }
      }
    }
    return unknown;
  }
  if (ts.isPropertyAccessExpression(node)) {
    // `config.jwt.secret` with `const config = { jwt: { secret: process.env.X } }`.
    const member = memberValue(symbols, resolved.unit, node, 0);
    if (member !== undefined) {
      return classifyKey(symbols, index, member.unit, member.expression, depth + 1);
    }
    if (SECRETS_MANAGER_CALL.test(node.getText(resolved.unit.sourceFile))) {
      return { kind: 'secrets-manager', site: here, symmetric: undefined, url: undefined };
    }
  }
  return { ...unknown, site: here };
}

/** `a.b.c` where `a` is (or imports) an object literal: the value written for `c`. */
function memberValue(
  symbols: SymbolTable,
  unit: SourceUnit,
  access: ts.PropertyAccessExpression,
  depth: number,
): { unit: SourceUnit; expression: ts.Expression } | undefined {
  if (depth > 6) return undefined;
  const base = unwrap(access.expression);
  let owner: { unit: SourceUnit; expression: ts.Expression } | undefined;
  if (ts.isPropertyAccessExpression(base)) owner = memberValue(symbols, unit, base, depth + 1);
  else owner = symbols.finalValue(unit, base);
  if (owner === undefined) return undefined;
  const resolved = symbols.finalValue(owner.unit, owner.expression);
  const object = unwrap(resolved.expression);
  if (!ts.isObjectLiteralExpression(object)) return undefined;
  const value = objectValue(object, access.name.text);
  return value === undefined ? undefined : { unit: resolved.unit, expression: value };
}

function objectValue(object: ts.ObjectLiteralExpression, name: string): ts.Expression | undefined {
  for (const property of object.properties) {
    if (ts.isPropertyAssignment(property) && propertyNameText(property.name) === name) {
      return property.initializer;
    }
    if (ts.isShorthandPropertyAssignment(property) && property.name.text === name) {
      return property.name;
    }
  }
  return undefined;
}

/** Is an algorithm name asymmetric (RS/PS/ES/EdDSA)? */
export function isAsymmetric(algorithm: string): boolean {
  return /^(RS|PS|ES)(256|384|512)$|^ES256K$|^EdDSA$|^Ed25519$/i.test(algorithm);
}

/** Is an algorithm name a shared-secret HMAC (HS*) or `none`? */
export function isSymmetricOrNone(algorithm: string): boolean {
  return /^HS(256|384|512)$|^none$/i.test(algorithm);
}
