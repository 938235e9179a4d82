/**
 * One walk per file: every fact the inbound rules need, each filed under the innermost function
 * that contains it, so that "what does this hook do" is a union of small per-function lists and
 * no rule walks an AST again.
 */
import ts from 'typescript';
import type { SymbolTable } from '../../ast/symbols.ts';
import { accessChain, objectProperty, propertyNameText, unwrap } from '../../ast/syntax.ts';
import type { SourceUnit } from '../../project/load.ts';
import { looksLikeSecret } from '../secrets/literals.ts';
import { nestJwtCall } from './adapters/nest/jwt.ts';
import {
  IDENTITY_HEADERS,
  INTERNAL_MARKER_HEADERS,
  STATIC_SECRET_HEADERS,
  isHeader,
  isSecretName,
  isTokenName,
} from '../names.ts';
import {
  booleanValue,
  calleeName,
  calleeReceiver,
  contains,
  forEachInBody,
  headerNameOf,
  isAsyncFunction,
  isEquality,
  isFunctionNode,
  isNowCall,
  isPlainLiteral,
  isRelational,
  lastName,
  looksLikeHeaderName,
  looseChain,
  namesUnder,
  numericValue,
  someNode,
  type FunctionNode,
} from './ast.ts';
import { adapterCreation, honoServeTls, type AdapterCreationKind } from './adapters/index.ts';
import {
  CENTRAL_LOG_TARGET,
  CONSTANT_TIME_MODULES,
  IDENTITY_CLAIMS,
  LOG_METHODS,
  LOGGER_RECEIVER,
  PROXY_MODULES,
  ROUTE_METHODS,
  SCOPE_NAME,
  TENANT_NAME,
  TIMESTAMP_NAME,
  UNMODELLED_FRAMEWORKS,
  AUTHZ_FUNCTION,
} from './vocabulary.ts';

/** A node in a file: what evidence points at. */
export interface Site {
  readonly unit: SourceUnit;
  readonly node: ts.Node;
}

/** How a credential is checked. `compare` is a plain shared-secret comparison. */
export type VerificationKind =
  | 'jsonwebtoken'
  | 'jose'
  | 'fast-jwt'
  | 'fastify-jwt'
  | 'express-jwt'
  | 'koa-jwt'
  | 'hono-jwt'
  | 'passport'
  | 'tessera'
  | 'jwt'
  | 'timing-safe'
  | 'hmac'
  | 'peer-cert';

export interface Verification extends Site {
  readonly kind: VerificationKind;
}

export type DecodeKind =
  'jsonwebtoken' | 'jose' | 'fast-jwt' | 'fastify-jwt' | 'hono-jwt' | 'manual';

export interface Decode extends Site {
  readonly kind: DecodeKind;
}

/** A header read from the incoming request (lower-cased name). */
export interface HeaderRead extends Site {
  readonly header: string;
}

/** A property read that names a claim or caller attribute: `payload.sub`, `request.caller`. */
export interface ClaimRead extends Site {
  readonly name: string;
  /** True when the read is compared or tested (`payload.iss !== ISSUER`, `ALLOWED.includes(sub)`). */
  readonly compared: boolean;
  /** Compared only when present (`x.aud !== undefined && x.aud !== expected`). */
  readonly conditional?: boolean;
}

export interface LogCall extends Site {
  readonly method: string;
  /** Object keys, identifiers and property names mentioned in the arguments. */
  readonly fields: ReadonlySet<string>;
  readonly console: boolean;
  /** Carries context beyond a fixed message: an object, a template with values, a variable. */
  readonly structured: boolean;
}

export interface HmacUse extends Site {
  readonly algorithm: string | undefined;
  readonly key: ts.Expression | undefined;
}

/** A time-window comparison such as `Math.abs(Date.now() - ts) > 300_000`. */
export interface TimeWindow extends Site {
  /** The window in seconds, when the limit is a constant. */
  readonly seconds: number | undefined;
}

/** Where a JWT is verified or how a verifier is configured; `options` is decided later. */
export interface JwtConfigSite extends Site {
  readonly library:
    | 'jsonwebtoken'
    | 'jose'
    | 'jose-jws'
    | 'fast-jwt'
    | 'fastify-jwt-call'
    | 'express-jwt'
    | 'koa-jwt'
    | 'hono-jwt'
    | 'hono-jwt-verify'
    | 'hono-jwk'
    | 'passport-jwt'
    | 'tessera-core'
    | 'nest-jwt'
    | 'nest-jwt-module';
  readonly call: ts.CallExpression | ts.NewExpression;
}

/** `app.get(...)`, `app.addHook(...)`, `app.register(...)`, `router.use(...)` and friends. */
export interface ApiCall extends Site {
  readonly node: ts.CallExpression;
  readonly method: string;
  readonly receiver: ts.Expression;
  readonly owner: FunctionFacts;
}

export type CreationKind =
  'fastify' | 'express' | 'router' | 'node-http' | 'node-https' | AdapterCreationKind;

/** `fastify()`, `express()`, `Router()`, `http.createServer()`, `new Koa()`, `new Hono()`. */
export interface Creation extends Site {
  readonly node: ts.CallExpression | ts.NewExpression;
  readonly kind: CreationKind;
}

/** Facts of one function (or of a file's top level). */
export interface FunctionFacts {
  readonly unit: SourceUnit;
  readonly node: FunctionNode | ts.SourceFile;
  readonly parent: FunctionFacts | undefined;
  readonly nested: FunctionFacts[];
  /** Calls that may reach project functions (identifiers and property accesses). */
  readonly calls: ts.CallExpression[];
  readonly verifications: Verification[];
  readonly decodes: Decode[];
  /** `==`/`!=` between a secret or credential header and something not a literal. */
  readonly secretComparisons: Site[];
  /** Constant-time comparisons (`crypto.timingSafeEqual`, tsscmp). */
  readonly constantTime: Site[];
  /** A static "internal" marker or identity header treated as proof: `x-gateway-internal === 'true'`. */
  readonly markerChecks: HeaderRead[];
  readonly rejections: Site[];
  readonly logs: LogCall[];
  /** `if (!SECRET) return next()`: authentication switched off when a secret is unset. */
  readonly allowWhenUnset: Site[];
  /** A verification error path that lets the request through. */
  readonly failOpen: Site[];
  readonly claimReads: ClaimRead[];
  readonly headerReads: HeaderRead[];
  readonly hmacs: HmacUse[];
  /** Arguments of `.update(...)` calls (what goes into an HMAC). */
  readonly digestInputs: Site[];
  readonly timeWindows: TimeWindow[];
  /** Calls like `requireScope('events:read')`: a per-endpoint authorisation rule. */
  readonly authzCalls: Site[];
  readonly tries: ts.TryStatement[];
  readonly promiseCatches: ts.CallExpression[];
  readonly isAsync: boolean;
}

export interface HeaderStrip extends Site {
  /** Lower-cased header name, or undefined when the name is computed (a loop over a list). */
  readonly header: string | undefined;
}

/** Everything one file says. */
export interface FileFacts {
  readonly unit: SourceUnit;
  readonly test: boolean;
  readonly root: FunctionFacts;
  readonly functions: readonly FunctionFacts[];
  readonly functionOf: ReadonlyMap<ts.Node, FunctionFacts>;
  /** Named function declarations and `const f = () => …` by name. */
  readonly functionsByName: ReadonlyMap<string, FunctionNode[]>;
  readonly classesByName: ReadonlyMap<string, ts.ClassLikeDeclaration>;
  readonly apiCalls: readonly ApiCall[];
  readonly creations: readonly Creation[];
  readonly jwtConfigs: readonly JwtConfigSite[];
  readonly headerStrips: readonly HeaderStrip[];
  /** Lower-cased header names listed in array literals (a block list). */
  readonly listedHeaders: readonly { readonly header: string; readonly site: Site }[];
  /** Object literals with TLS server options (`requestCert`). */
  readonly tlsOptions: readonly {
    readonly site: Site;
    readonly object: ts.ObjectLiteralExpression;
  }[];
  /** Reads of peer-certificate fields (`subjectaltname`, `subject.CN`, `valid_to`, `authorized`). */
  readonly certFields: readonly { readonly name: string; readonly site: Site }[];
  readonly secureContextReloads: readonly Site[];
  readonly revocationChecks: readonly Site[];
  readonly proxies: readonly Site[];
  /** Proxy options that rewrite outgoing request headers (`rewriteRequestHeaders`, `onProxyReq`). */
  readonly proxyRequestRewrites: readonly Site[];
  readonly proxyResponseRewrites: readonly Site[];
  readonly forwardedFor: readonly Site[];
  readonly responseHeaderFilters: readonly Site[];
  readonly centralLogging: readonly Site[];
  readonly unmodelled: readonly { readonly framework: string; readonly site: Site }[];
  /** Identifiers used as receivers of API calls: candidate framework instances. */
  readonly receiverNames: ReadonlySet<string>;
}

const API_METHODS = new Set([
  ...ROUTE_METHODS,
  'route',
  'register',
  'addHook',
  'use',
  'decorate',
  'decorateRequest',
  'setErrorHandler',
  'setNotFoundHandler',
  'after',
  'listen',
  'onError',
  'on',
]);

const RESPONSE_ROOT = /^(res|response|resp|reply|upstream\w*|result|axiosResponse)$/;
const ERROR_NAME = /^(e|err|error|ex|exception|cause|reason)$/i;
const ALLOW_CALLBACK = /^(next|done|cb|callback|proceed)$/;
const REJECT_STATUS = new Set([401, 403, 407]);
const HEADERS_OBJECT = /^(headers|header)$/;
/** A response status assignment: `res.statusCode = 401`, Koa's `ctx.status = 401`. */
const STATUS_PROPERTY = /^(statusCode|status)$/;
/** Hono's `c.json(body, 401)`, `c.text('…', 403)`: a response with its status second. */
const RESPOND_WITH_STATUS = /^(json|text|body|html|newResponse)$/;
const REJECT_NAME = /^(unauthori[sz]ed|forbidden|Unauthori[sz]ed|Forbidden|denied|deny|reject)$/;
const CLAIM_NAMES = new Set([
  ...IDENTITY_CLAIMS,
  'iss',
  'aud',
  'exp',
  'nbf',
  'iat',
  'tenant',
  'tenantId',
  'tenant_id',
  'orgId',
  'org_id',
  'scope',
  'scopes',
  'scp',
  'permissions',
  'roles',
]);
/** `hono/jwt` (and the `Jwt` helper under `hono/utils/jwt`): middleware, verify, decode. */
const HONO_JWT_MODULES: ReadonlySet<string> = new Set(['hono/jwt', 'hono/utils/jwt']);
/** A configuration key that names a credential (`INTERNAL_TOKEN`, `SERVICE_API_KEY`). */
function configuredSecret(key: string): boolean {
  return isSecretName(key) || isTokenName(key) || /(^|[-_.])key$/i.test(key);
}

const AUTH_FLAG =
  /^(skip_?auth|disable_?auth|auth_?disabled|no_?auth|bypass_?auth|auth_?enabled)$/i;

/** Walks one file once and returns its facts. Never throws for odd but parsed code. */
export function collectFileFacts(unit: SourceUnit, symbols: SymbolTable, test: boolean): FileFacts {
  const functions: FunctionFacts[] = [];
  const functionOf = new Map<ts.Node, FunctionFacts>();
  const functionsByName = new Map<string, FunctionNode[]>();
  const classesByName = new Map<string, ts.ClassLikeDeclaration>();
  const apiCalls: ApiCall[] = [];
  const creations: Creation[] = [];
  const jwtConfigs: JwtConfigSite[] = [];
  const headerStrips: HeaderStrip[] = [];
  const listedHeaders: { header: string; site: Site }[] = [];
  const tlsOptions: { site: Site; object: ts.ObjectLiteralExpression }[] = [];
  const certFields: { name: string; site: Site }[] = [];
  const secureContextReloads: Site[] = [];
  const revocationChecks: Site[] = [];
  const proxies: Site[] = [];
  const proxyRequestRewrites: Site[] = [];
  const proxyResponseRewrites: Site[] = [];
  const forwardedFor: Site[] = [];
  const responseHeaderFilters: Site[] = [];
  const centralLogging: Site[] = [];
  const unmodelled: { framework: string; site: Site }[] = [];
  const receiverNames = new Set<string>();
  const site = (node: ts.Node): Site => ({ unit, node });
  // Verifiers built by `createVerifier` (fast-jwt, @tessera/core) may be imported from another
  // file, so the text of the whole project decides whether calls need following to a factory.
  const mayUseVerifierFactory = verifierFactories(symbols);

  const newFacts = (node: FunctionNode | ts.SourceFile, parent?: FunctionFacts): FunctionFacts => {
    const facts: FunctionFacts = {
      unit,
      node,
      parent,
      nested: [],
      calls: [],
      verifications: [],
      decodes: [],
      secretComparisons: [],
      constantTime: [],
      markerChecks: [],
      rejections: [],
      logs: [],
      allowWhenUnset: [],
      failOpen: [],
      claimReads: [],
      headerReads: [],
      hmacs: [],
      digestInputs: [],
      timeWindows: [],
      authzCalls: [],
      tries: [],
      promiseCatches: [],
      isAsync: isAsyncFunction(node),
    };
    functions.push(facts);
    functionOf.set(node, facts);
    parent?.nested.push(facts);
    return facts;
  };

  const moduleOf = (expression: ts.Expression) => {
    try {
      return symbols.moduleReference(unit, expression);
    } catch {
      return undefined;
    }
  };

  /** The header a request-header read names, if `node` is one. */
  const headerRead = (node: ts.Node): string | undefined => {
    if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
      // `ctx.header` is Koa's alias of `ctx.headers`.
      if (!HEADERS_OBJECT.test(lastName(node.expression) ?? '')) return undefined;
      const chain = accessChain(node);
      if (chain === undefined || chain.length < 3) return undefined;
      if (!HEADERS_OBJECT.test(chain[chain.length - 2] ?? '')) return undefined;
      if (RESPONSE_ROOT.test(chain[0] ?? '')) return undefined;
      const name = chain[chain.length - 1];
      return name?.toLowerCase();
    }
    if (ts.isCallExpression(node)) {
      const name = calleeName(node);
      if (name !== 'get' && name !== 'header' && name !== 'getHeader') return undefined;
      const first = node.arguments[0];
      if (first === undefined || node.arguments.length !== 1) return undefined;
      const header = headerNameOf(first);
      if (header === undefined || !looksLikeHeaderName(header)) return undefined;
      const receiver = calleeReceiver(node);
      if (receiver === undefined) return undefined;
      const root = looseChain(receiver)[0] ?? '';
      if (RESPONSE_ROOT.test(root)) return undefined;
      return header;
    }
    return undefined;
  };

  /**
   * `const CLIENT_CREDENTIALS = 'client_credentials'` or `const JWT_BEARER = 'urn:…'`: a name
   * that sounds secret bound to a literal that does not look like one is a protocol constant.
   */
  const protocolConstant = (identifier: ts.Identifier): boolean => {
    const value = symbols.valueOf(unit, identifier);
    const initial = value === undefined ? undefined : unwrap(value.expression);
    return (
      initial !== undefined &&
      ts.isStringLiteralLike(initial) &&
      initial.text !== '' &&
      !looksLikeSecret(initial.text, 'named')
    );
  };

  /** Does an expression hold a secret or a credential (by name, header or one step of data flow)? */
  const secretish = (expression: ts.Expression, depth = 0): boolean => {
    const node = unwrap(expression);
    if (depth > 3) return false;
    const header = headerRead(node);
    if (header !== undefined) {
      return (
        isHeader(STATIC_SECRET_HEADERS, header) ||
        header === 'authorization' ||
        isTokenName(header) ||
        /signature|hmac/.test(header)
      );
    }
    if (ts.isTemplateExpression(node)) {
      return node.templateSpans.some((span) => secretish(span.expression, depth + 1));
    }
    if (ts.isCallExpression(node)) {
      const key = configRead(node);
      if (key !== undefined) return configuredSecret(key);
      const name = calleeName(node);
      if (name === 'toString' || name === 'trim' || name === 'String' || name === 'from') {
        const target = node.arguments[0] ?? calleeReceiver(node);
        return target !== undefined && secretish(target, depth + 1);
      }
      return false;
    }
    const name = lastName(node);
    if (name === undefined) return false;
    if (isSecretName(name) || isTokenName(name) || /signature|digest|hmac/i.test(name)) {
      if (ts.isIdentifier(node) && protocolConstant(node)) return false;
      return !/(type|kind|header|name|length|format|prefix|scheme|claims?)$/i.test(name);
    }
    if (ts.isIdentifier(node)) {
      const value = symbols.valueOf(unit, node);
      if (value?.unit === unit && value.expression !== node) {
        return secretish(value.expression, depth + 1);
      }
    }
    return false;
  };

  /** A configured secret (not a request value) tested for absence: `!SECRET`, `SECRET === undefined`. */
  const unsetSecretTest = (condition: ts.Expression): ts.Expression | undefined => {
    const node = unwrap(condition);
    if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.ExclamationToken) {
      const operand = unwrap(node.operand);
      if (configSecret(operand) || authFlag(operand) === 'enabled') return node;
      return undefined;
    }
    if (ts.isBinaryExpression(node)) {
      const kind = node.operatorToken.kind;
      if (kind === ts.SyntaxKind.BarBarToken || kind === ts.SyntaxKind.AmpersandAmpersandToken) {
        return kind === ts.SyntaxKind.BarBarToken
          ? (unsetSecretTest(node.left) ?? unsetSecretTest(node.right))
          : undefined;
      }
      if (isEquality(kind)) {
        const negative =
          kind === ts.SyntaxKind.EqualsEqualsToken ||
          kind === ts.SyntaxKind.EqualsEqualsEqualsToken;
        const [value, other] = isPlainLiteral(node.right)
          ? [node.left, node.right]
          : [node.right, node.left];
        const otherText = unwrap(other).getText(unit.sourceFile);
        const empty = ['undefined', 'null', "''", '""', '``'].includes(otherText);
        if (negative && empty && configSecret(unwrap(value))) return node;
      }
    }
    if (authFlag(node) === 'disabled') return node;
    return undefined;
  };

  const authFlag = (expression: ts.Expression): 'enabled' | 'disabled' | undefined => {
    const name = lastName(expression);
    if (name === undefined || !AUTH_FLAG.test(name)) return undefined;
    return /enabled/i.test(name) ? 'enabled' : 'disabled';
  };

  /** A secret that comes from configuration, not from the request. */
  const configSecret = (expression: ts.Expression, depth = 0): boolean => {
    const node = unwrap(expression);
    if (depth > 3) return false;
    // NestJS `config.get<string>('INTERNAL_TOKEN')` (@nestjs/config) reads the environment.
    if (ts.isCallExpression(node) && configRead(node) !== undefined) {
      return configuredSecret(configRead(node) ?? '');
    }
    // `const expected = internalToken()` with `const internalToken = () => process.env.X`.
    if (ts.isCallExpression(node) && node.arguments.length === 0) {
      const returned = returnedValue(node.expression);
      return returned !== undefined && configSecret(returned, depth + 1);
    }
    const name = lastName(node);
    if (name === undefined) return false;
    const text = node.getText(unit.sourceFile);
    if (/\b(req|request|headers|body|query|params|cookies|ctx)\b/.test(text)) return false;
    if (
      isSecretName(name) ||
      (isTokenName(name) && (/^[A-Z0-9_]{4,}$/.test(name) || /secret|key|expected/i.test(name)))
    ) {
      if (ts.isIdentifier(node)) {
        const value = symbols.valueOf(unit, node);
        if (value?.unit === unit) {
          const valueText = value.expression.getText(unit.sourceFile);
          if (/\b(req|request|headers|body|query|params|cookies)\b/.test(valueText)) return false;
        }
        if (protocolConstant(node)) return false;
      }
      return true;
    }
    if (ts.isIdentifier(node)) {
      const value = symbols.valueOf(unit, node);
      if (value?.unit === unit && value.expression !== node) {
        return configSecret(value.expression, depth + 1);
      }
    }
    return false;
  };

  /** The key of `config.get('KEY')` / `configService.getOrThrow('KEY')`, if the call is one. */
  const configRead = (call: ts.CallExpression): string | undefined => {
    const name = calleeName(call);
    const receiver = calleeReceiver(call);
    const first = call.arguments[0];
    if (
      (name !== 'get' && name !== 'getOrThrow') ||
      receiver === undefined ||
      first === undefined
    ) {
      return undefined;
    }
    if (!/config/i.test(looseChain(receiver).join('.'))) return undefined;
    const key = symbols.staticString(unit, first);
    return key?.complete === true ? key.text : undefined;
  };

  /** What a local function (arrow or declaration) returns, when it is one expression. */
  const returnedValue = (callee: ts.Expression): ts.Expression | undefined => {
    const node = unwrap(callee);
    if (!ts.isIdentifier(node)) return undefined;
    const fn: ts.Node | undefined =
      symbols.valueOf(unit, node)?.expression ??
      unit.sourceFile.statements.find(
        (s) => ts.isFunctionDeclaration(s) && s.name?.text === node.text,
      );
    if (fn === undefined || !isFunctionNode(fn) || fn.body === undefined) return undefined;
    if (!ts.isBlock(fn.body)) return fn.body;
    const [only] = fn.body.statements;
    return only !== undefined && ts.isReturnStatement(only) ? only.expression : undefined;
  };

  /** Does a statement let the request through: `next()`, `done()`, `return true`, bare `return` in async? */
  const allows = (statement: ts.Node, fn: FunctionFacts): boolean => {
    let allowed = false;
    const check = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression)) {
        if (ALLOW_CALLBACK.test(node.expression.text)) {
          const first = node.arguments[0];
          if (first === undefined || isNullish(first)) allowed = true;
        }
      } else if (ts.isReturnStatement(node)) {
        if (node.expression === undefined) {
          // A middleware given `next` passes only by calling it (Koa, Hono, async Express).
          if (fn.isAsync && !takesNext(fn)) allowed = true;
        } else if (unwrap(node.expression).kind === ts.SyntaxKind.TrueKeyword) {
          allowed = true;
        }
      }
    };
    check(statement);
    forEachInBody(statement, check);
    return allowed;
  };

  /** Does a statement refuse: throw, 401/403, `next(err)`, `return false`? */
  const refuses = (statement: ts.Node): boolean => {
    let refused = false;
    const check = (node: ts.Node): void => {
      if (refused) return;
      if (ts.isThrowStatement(node)) refused = true;
      else if (ts.isCallExpression(node) && rejectionCall(node)) refused = true;
      else if (ts.isReturnStatement(node) && node.expression !== undefined) {
        const value = unwrap(node.expression);
        if (value.kind === ts.SyntaxKind.FalseKeyword || isNullish(value)) refused = true;
        else if (ts.isCallExpression(value) && rejectionCall(value)) refused = true;
        else if (
          value.kind !== ts.SyntaxKind.TrueKeyword &&
          !(ts.isCallExpression(value) && allowsCall(value))
        ) {
          // Returning some other value (a reply, an error object) is an answer, not a pass.
          refused = !ts.isIdentifier(value) || ERROR_NAME.test(value.text);
        }
      } else if (
        ts.isBinaryExpression(node) &&
        node.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
        STATUS_PROPERTY.test(lastName(node.left) ?? '') &&
        REJECT_STATUS.has(numericValue(node.right) ?? 0)
      ) {
        refused = true;
      }
    };
    check(statement);
    forEachInBody(statement, check);
    return refused;
  };

  const allowsCall = (call: ts.CallExpression): boolean =>
    ts.isIdentifier(call.expression) &&
    ALLOW_CALLBACK.test(call.expression.text) &&
    (call.arguments[0] === undefined || isNullish(call.arguments[0]));

  /** `reply.code(401)`, `res.sendStatus(403)`, `reply.unauthorized()`, `next(err)`, `reply.send(err)`. */
  const rejectionCall = (call: ts.CallExpression): boolean => {
    const name = calleeName(call);
    if (name === undefined) return false;
    const first = call.arguments[0];
    if (['code', 'status', 'sendStatus', 'writeHead', 'createError', 'httpError'].includes(name)) {
      if (first === undefined) return false;
      const value = numericValue(first);
      if (value !== undefined) return REJECT_STATUS.has(value);
      return /UNAUTHORI[SZ]ED|FORBIDDEN/i.test(lastName(first) ?? '');
    }
    if (REJECT_NAME.test(name)) return true;
    // Koa's `ctx.throw(401)` and `ctx.assert(user, 403)`.
    if (name === 'throw' || name === 'assert') return call.arguments.some(isRejectStatus);
    const second = call.arguments[1];
    if (RESPOND_WITH_STATUS.test(name) && second !== undefined && isRejectStatus(second)) {
      return true;
    }
    if (ts.isIdentifier(call.expression) && ALLOW_CALLBACK.test(name)) {
      return first !== undefined && !isNullish(first);
    }
    if (name === 'send' || name === 'json') {
      if (first === undefined) return false;
      const arg = unwrap(first);
      if (ts.isIdentifier(arg) && ERROR_NAME.test(arg.text)) return true;
      if (ts.isNewExpression(arg)) return true;
      if (ts.isObjectLiteralExpression(arg)) {
        return arg.properties.some(
          (p) =>
            ts.isPropertyAssignment(p) &&
            /^(statusCode|status|code)$/.test(propertyNameText(p.name) ?? '') &&
            REJECT_STATUS.has(numericValue(p.initializer) ?? 0),
        );
      }
    }
    return false;
  };

  const root = newFacts(unit.sourceFile);

  const recordFunctionName = (node: FunctionNode): void => {
    let name: string | undefined;
    if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.name) {
      name = propertyNameText(node.name);
    } else if (
      (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) &&
      ts.isVariableDeclaration(node.parent) &&
      ts.isIdentifier(node.parent.name)
    ) {
      name = node.parent.name.text;
    }
    if (name === undefined) return;
    const list = functionsByName.get(name);
    if (list === undefined) functionsByName.set(name, [node]);
    else list.push(node);
  };

  // The function being walked; `visit` is one closure for the whole file (no per-node allocation).
  let current: FunctionFacts = root;
  const visit = (node: ts.Node): void => {
    const fn = current;
    if (isFunctionNode(node)) {
      recordFunctionName(node);
      const inner = newFacts(node, fn);
      current = inner;
      ts.forEachChild(node, visit);
      current = fn;
      finishFunction(inner);
      return;
    }
    if (ts.isClassDeclaration(node) && node.name) classesByName.set(node.name.text, node);
    if (ts.isCallExpression(node)) onCall(node, fn);
    else if (ts.isNewExpression(node)) onNew(node, fn);
    else if (ts.isBinaryExpression(node)) onBinary(node, fn);
    else if (ts.isDeleteExpression(node)) onDelete(node);
    else if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
      onAccess(node, fn);
    } else if (ts.isVariableDeclaration(node)) onDeclaration(node, fn);
    else if (ts.isIfStatement(node)) onIf(node, fn);
    else if (ts.isConditionalExpression(node)) onCondition(node.condition, fn);
    else if (ts.isThrowStatement(node)) fn.rejections.push(site(node));
    else if (ts.isTryStatement(node)) fn.tries.push(node);
    else if (ts.isArrayLiteralExpression(node)) onArray(node);
    else if (ts.isObjectLiteralExpression(node)) onObject(node);
    else if (ts.isStringLiteral(node) && node.text === 'OCSPRequest') {
      revocationChecks.push(site(node));
    }
    ts.forEachChild(node, visit);
  };

  const onCall = (call: ts.CallExpression, fn: FunctionFacts): void => {
    const callee = unwrap(call.expression);
    const name = calleeName(call);
    const receiver = calleeReceiver(call);
    const ref =
      ts.isIdentifier(callee) ||
      ts.isPropertyAccessExpression(callee) ||
      ts.isElementAccessExpression(callee) ||
      ts.isCallExpression(callee)
        ? moduleOf(callee)
        : undefined;
    const module = ref?.module.replace(/^node:/, '');
    const member = ref?.path[ref.path.length - 1];
    let classified = true;

    if (module !== undefined && UNMODELLED_FRAMEWORKS.has(module) && unmodelled.length === 0) {
      unmodelled.push({ framework: UNMODELLED_FRAMEWORKS.get(module) ?? module, site: site(call) });
    }
    if (module !== undefined && PROXY_MODULES.has(module)) proxies.push(site(call));
    if (module?.includes('helmet') === true || module === 'hono/secure-headers') {
      responseHeaderFilters.push(site(call));
    }
    if (
      module !== undefined &&
      /^(winston-(?!daily)|pino-(?!pretty|std|http|abstract)|@google-cloud\/logging|@datadog|@logtail|aws-cloudwatch|@opentelemetry\/(sdk-logs|exporter-logs))/.test(
        module,
      )
    ) {
      centralLogging.push(site(call));
    }

    if (module === 'jsonwebtoken' && member === 'verify') {
      fn.verifications.push({ ...site(call), kind: 'jsonwebtoken' });
      jwtConfigs.push({ ...site(call), library: 'jsonwebtoken', call });
      checkVerifyCallback(call, fn);
    } else if (module === 'jsonwebtoken' && member === 'decode') {
      fn.decodes.push({ ...site(call), kind: 'jsonwebtoken' });
    } else if (module === 'jose' && member === 'jwtVerify') {
      fn.verifications.push({ ...site(call), kind: 'jose' });
      jwtConfigs.push({ ...site(call), library: 'jose', call });
    } else if (
      module === 'jose' &&
      (member === 'compactVerify' || member === 'flattenedVerify' || member === 'generalVerify')
    ) {
      fn.verifications.push({ ...site(call), kind: 'jose' });
      jwtConfigs.push({ ...site(call), library: 'jose-jws', call });
    } else if (module === 'jose' && member === 'decodeJwt') {
      fn.decodes.push({ ...site(call), kind: 'jose' });
    } else if (module === 'fast-jwt' && member === 'createVerifier') {
      jwtConfigs.push({ ...site(call), library: 'fast-jwt', call });
    } else if (module === 'fast-jwt' && member === 'createDecoder') {
      // The decoder itself is harmless; calling it is the decode (found through `factoryOf`).
    } else if (module === '@tessera/core' && member === 'createVerifier') {
      jwtConfigs.push({ ...site(call), library: 'tessera-core', call });
    } else if (module === 'express-jwt') {
      fn.verifications.push({ ...site(call), kind: 'express-jwt' });
      jwtConfigs.push({ ...site(call), library: 'express-jwt', call });
    } else if ((module === 'passport' || module === 'koa-passport') && member === 'authenticate') {
      fn.verifications.push({ ...site(call), kind: 'passport' });
    } else if (module === 'crypto' && member === 'timingSafeEqual') {
      fn.constantTime.push(site(call));
      fn.verifications.push({ ...site(call), kind: 'timing-safe' });
    } else if (module !== undefined && CONSTANT_TIME_MODULES.has(module)) {
      fn.constantTime.push(site(call));
      fn.verifications.push({ ...site(call), kind: 'timing-safe' });
    } else if (module === 'crypto' && member === 'createHmac') {
      const algorithm = call.arguments[0];
      const algorithmText =
        algorithm === undefined ? undefined : symbols.staticString(unit, algorithm);
      fn.hmacs.push({
        ...site(call),
        algorithm: algorithmText?.complete === true ? algorithmText.text : undefined,
        key: call.arguments[1],
      });
    } else if (module === 'fastify' && (ref?.path.length === 0 || member === 'fastify')) {
      creations.push({ ...site(call), node: call, kind: 'fastify' });
    } else if (module === 'express' && ref?.path.length === 0) {
      creations.push({ ...site(call), node: call, kind: 'express' });
    } else if (module === 'express' && member === 'Router') {
      creations.push({ ...site(call), node: call, kind: 'router' });
    } else if (ref !== undefined && adapterCreation(ref) === 'koa-router') {
      // koa-router also builds a router when called without `new`.
      creations.push({ ...site(call), node: call, kind: 'koa-router' });
    } else if (module === '@hono/node-server' && member === 'serve') {
      const secure = honoServeTls(symbols, unit, call);
      creations.push({ ...site(call), node: call, kind: secure ? 'node-https' : 'node-http' });
    } else if (module === 'koa-jwt') {
      fn.verifications.push({ ...site(call), kind: 'koa-jwt' });
      jwtConfigs.push({ ...site(call), library: 'koa-jwt', call });
    } else if (HONO_JWT_MODULES.has(module ?? '') && member === 'jwt') {
      fn.verifications.push({ ...site(call), kind: 'hono-jwt' });
      jwtConfigs.push({ ...site(call), library: 'hono-jwt', call });
    } else if (module === 'hono/jwk' && member === 'jwk') {
      fn.verifications.push({ ...site(call), kind: 'hono-jwt' });
      jwtConfigs.push({ ...site(call), library: 'hono-jwk', call });
    } else if (HONO_JWT_MODULES.has(module ?? '') && member === 'verify') {
      fn.verifications.push({ ...site(call), kind: 'hono-jwt' });
      jwtConfigs.push({ ...site(call), library: 'hono-jwt-verify', call });
    } else if (HONO_JWT_MODULES.has(module ?? '') && member === 'decode') {
      fn.decodes.push({ ...site(call), kind: 'hono-jwt' });
    } else if (
      (module === 'http' || module === 'https' || module === 'http2' || module === 'tls') &&
      (member === 'createServer' || member === 'createSecureServer')
    ) {
      const secure = module !== 'http' && !(module === 'http2' && member === 'createServer');
      creations.push({ ...site(call), node: call, kind: secure ? 'node-https' : 'node-http' });
    } else {
      classified = false;
    }
    if (classified) return;
    if (onNestJwtCall(call, fn)) return;

    // Calls recognised by shape rather than by module.
    const chain = looseChain(callee);
    if (name === 'jwtVerify') {
      fn.verifications.push({ ...site(call), kind: 'fastify-jwt' });
      if (call.arguments.length > 0) {
        jwtConfigs.push({ ...site(call), library: 'fastify-jwt-call', call });
      }
    } else if (name === 'jwtDecode') {
      fn.decodes.push({ ...site(call), kind: 'fastify-jwt' });
    } else if (chain.length >= 3 && chain[chain.length - 2] === 'jwt' && name === 'verify') {
      fn.verifications.push({ ...site(call), kind: 'fastify-jwt' });
    } else if (chain.length >= 3 && chain[chain.length - 2] === 'jwt' && name === 'decode') {
      fn.decodes.push({ ...site(call), kind: 'fastify-jwt' });
    } else if (chain.join('.') === 'jwt.verify') {
      fn.verifications.push({ ...site(call), kind: 'jwt' });
    } else if (chain.join('.') === 'jwt.decode') {
      fn.decodes.push({ ...site(call), kind: 'manual' });
    } else if (name === 'getPeerCertificate') {
      fn.verifications.push({ ...site(call), kind: 'peer-cert' });
    } else if (name === 'setSecureContext') {
      secureContextReloads.push(site(call));
    } else if (
      (name === 'watch' || name === 'watchFile') &&
      /cert|pem|tls|crt/i.test(argText(call))
    ) {
      secureContextReloads.push(site(call));
    } else if (
      name === 'from' &&
      receiver !== undefined &&
      /^(reply|res)$/.test(lastName(receiver) ?? '')
    ) {
      proxies.push(site(call));
    } else if (name === 'disable' && argText(call).includes('x-powered-by')) {
      responseHeaderFilters.push(site(call));
    } else if (name === 'removeHeader' && receiver !== undefined) {
      responseHeaderFilters.push(site(call));
    } else if (name === 'deleteProperty' && chain[0] === 'Reflect') {
      const target = call.arguments[0];
      if (target !== undefined && lastName(target) === 'headers') {
        const header =
          call.arguments[1] === undefined ? undefined : headerNameOf(call.arguments[1]);
        headerStrips.push({ ...site(call), header });
      }
    } else if (name === 'update' && call.arguments[0] !== undefined) {
      fn.digestInputs.push(...call.arguments.map((argument) => site(argument)));
    } else if (name === 'catch' && call.arguments.length === 1) {
      fn.promiseCatches.push(call);
    }

    const decodeKind = manualDecode(call);
    if (decodeKind) fn.decodes.push({ ...site(call), kind: 'manual' });

    const factory = mayUseVerifierFactory ? factoryOf(callee) : undefined;
    if (factory === 'fast-jwt-verifier') fn.verifications.push({ ...site(call), kind: 'fast-jwt' });
    else if (factory === 'fast-jwt-decoder') fn.decodes.push({ ...site(call), kind: 'fast-jwt' });
    else if (factory === 'tessera-verifier')
      fn.verifications.push({ ...site(call), kind: 'tessera' });

    if (name !== undefined && rejectionCall(call)) fn.rejections.push(site(call));

    if (name !== undefined && LOG_METHODS.has(name) && receiver !== undefined) {
      const receiverChain = looseChain(receiver);
      const last = receiverChain[receiverChain.length - 1] ?? '';
      if (LOGGER_RECEIVER.test(last) || (last === 'child' && receiverChain.length > 1)) {
        const fields = new Set<string>();
        for (const arg of call.arguments) {
          for (const field of namesUnder(arg)) fields.add(field);
        }
        const structured = call.arguments.some((arg) => {
          const value = unwrap(arg);
          return !ts.isStringLiteralLike(value) && !ts.isNumericLiteral(value);
        });
        fn.logs.push({
          ...site(call),
          method: name,
          fields,
          console: last === 'console',
          structured,
        });
      }
    }

    if (name !== undefined && API_METHODS.has(name) && receiver !== undefined) {
      const receiverNode = unwrap(receiver);
      if (ts.isIdentifier(receiverNode)) receiverNames.add(receiverNode.text);
      apiCalls.push({ ...site(call), node: call, method: name, receiver, owner: fn });
    }

    if (name !== undefined && AUTHZ_FUNCTION.test(name)) {
      fn.authzCalls.push(site(call));
    }
    if (
      (name === 'includes' || name === 'has' || name === 'indexOf' || name === 'some') &&
      call.arguments[0] !== undefined
    ) {
      const claim = claimNameOf(call.arguments[0]);
      if (claim !== undefined) fn.claimReads.push({ ...site(call), name: claim, compared: true });
      if (receiver !== undefined) {
        const receiverClaim = claimNameOf(receiver);
        if (receiverClaim !== undefined) {
          fn.claimReads.push({ ...site(call), name: receiverClaim, compared: true });
        }
      }
    }

    const header = headerRead(call);
    if (header !== undefined) fn.headerReads.push({ ...site(call), header });

    if (ts.isIdentifier(callee) || ts.isPropertyAccessExpression(callee)) fn.calls.push(call);
  };

  /** `this.jwtService.verify(token)`, `JwtModule.register(…)`, a passport-jwt strategy's `super(…)`. */
  const onNestJwtCall = (call: ts.CallExpression, fn: FunctionFacts): boolean => {
    const kind = nestJwtCall(unit, symbols, call);
    if (kind === 'jwt-service-verify') {
      fn.verifications.push({ ...site(call), kind: 'jwt' });
      jwtConfigs.push({ ...site(call), library: 'nest-jwt', call });
    } else if (kind === 'jwt-service-decode') {
      fn.decodes.push({ ...site(call), kind: 'jsonwebtoken' });
    } else if (kind === 'jwt-module') {
      jwtConfigs.push({ ...site(call), library: 'nest-jwt-module', call });
    } else if (kind === 'passport-jwt') {
      jwtConfigs.push({ ...site(call), library: 'passport-jwt', call });
    }
    return kind !== undefined;
  };

  const argText = (call: ts.CallExpression): string =>
    call.arguments.map((a) => a.getText(unit.sourceFile)).join(' ');

  /** `Buffer.from(token.split('.')[1], 'base64')`, `atob(parts[1])`: reading a JWT payload by hand. */
  const manualDecode = (call: ts.CallExpression): boolean => {
    const name = calleeName(call);
    if (name === undefined || !/^(from|atob|decode|parse)$/.test(name)) return false;
    const first = call.arguments[0];
    if (first === undefined) return false;
    const arg = unwrap(first);
    if (!ts.isElementAccessExpression(arg) || numericValue(arg.argumentExpression) !== 1) {
      return false;
    }
    const isDotSplit = (expression: ts.Expression): boolean => {
      const target = unwrap(expression);
      return (
        ts.isCallExpression(target) &&
        calleeName(target) === 'split' &&
        target.arguments[0] !== undefined &&
        ts.isStringLiteralLike(target.arguments[0]) &&
        target.arguments[0].text === '.'
      );
    };
    if (isDotSplit(arg.expression)) return true;
    const base = unwrap(arg.expression);
    if (ts.isIdentifier(base)) {
      const value = symbols.valueOf(unit, base);
      return value !== undefined && isDotSplit(value.expression);
    }
    return false;
  };

  /** What a called identifier was made by: `const verify = createVerifier(...)`; `verify(token)`. */
  const factoryOf = (
    callee: ts.Expression,
  ): 'fast-jwt-verifier' | 'fast-jwt-decoder' | 'tessera-verifier' | undefined => {
    let target: ts.Expression | undefined;
    if (ts.isIdentifier(callee)) target = callee;
    else if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'verify') {
      target = callee.expression;
    }
    if (target === undefined) return undefined;
    let value: { unit: SourceUnit; expression: ts.Expression };
    try {
      value = symbols.finalValue(unit, target);
    } catch {
      return undefined;
    }
    const made = unwrap(value.expression);
    if (!ts.isCallExpression(made)) return undefined;
    const ref = symbols.moduleReference(value.unit, made.expression);
    const member = ref?.path[ref.path.length - 1];
    if (ref?.module === 'fast-jwt' && member === 'createVerifier' && ts.isIdentifier(callee)) {
      return 'fast-jwt-verifier';
    }
    if (ref?.module === 'fast-jwt' && member === 'createDecoder' && ts.isIdentifier(callee)) {
      return 'fast-jwt-decoder';
    }
    if (ref?.module === '@tessera/core' && member === 'createVerifier') return 'tessera-verifier';
    return undefined;
  };

  /** jsonwebtoken's callback form: a callback that never looks at `err` lets every token through. */
  const checkVerifyCallback = (call: ts.CallExpression, fn: FunctionFacts): void => {
    const last = call.arguments[call.arguments.length - 1];
    if (last === undefined || call.arguments.length < 3) return;
    const callback = unwrap(last);
    if (!ts.isArrowFunction(callback) && !ts.isFunctionExpression(callback)) return;
    const errorParam = callback.parameters[0];
    if (errorParam === undefined || !ts.isIdentifier(errorParam.name)) return;
    const errorName = errorParam.name.text;
    const used = someNode(
      callback.body,
      (node) => ts.isIdentifier(node) && node.text === errorName,
    );
    if (!used) fn.failOpen.push(site(callback));
  };

  const onNew = (expression: ts.NewExpression, fn: FunctionFacts): void => {
    const ref = moduleOf(expression.expression);
    // A Fetch API answer (Hono and other fetch-style servers): `new Response(body, { status: 401 })`.
    if (ts.isIdentifier(expression.expression) && expression.expression.text === 'Response') {
      const init = expression.arguments?.[1];
      const object = init === undefined ? undefined : unwrap(init);
      const status =
        object !== undefined && ts.isObjectLiteralExpression(object)
          ? objectProperty(object, 'status')
          : undefined;
      if (status !== undefined && REJECT_STATUS.has(numericValue(status) ?? 0)) {
        fn.rejections.push(site(expression));
      }
    }
    const created = ref === undefined ? undefined : adapterCreation(ref);
    if (created !== undefined)
      creations.push({ ...site(expression), node: expression, kind: created });
    if (ref?.module === 'passport-jwt') {
      jwtConfigs.push({ ...site(expression), library: 'passport-jwt', call: expression });
    }
    const chain = looseChain(expression.expression);
    const className = chain[chain.length - 1] ?? '';
    if (
      (chain.includes('transports') || className.endsWith('Transport')) &&
      !/^(Console|File|Stream|DailyRotateFile)$/.test(className) &&
      CENTRAL_LOG_TARGET.test(className)
    ) {
      centralLogging.push(site(expression));
    }
  };

  const claimNameOf = (expression: ts.Expression): string | undefined => {
    const name = lastName(expression);
    if (name === undefined) return undefined;
    if (CLAIM_NAMES.has(name) || TENANT_NAME.test(name) || SCOPE_NAME.test(name)) return name;
    if (/^(service|serviceId|service_id|callerService|spiffe)$/i.test(name)) return name;
    // `request.user` (set by @fastify/jwt or passport): an end-user principal.
    if (name === 'user') {
      const chain = looseChain(expression);
      if (chain.length === 2 && /^(request|req)$/.test(chain[0] ?? '')) return name;
    }
    return undefined;
  };

  /** `x.aud !== undefined && x.aud !== expected`: the claim is only checked when present. */
  const presenceGuarded = (comparison: ts.Node, claim: string): boolean => {
    let current = comparison;
    while (ts.isParenthesizedExpression(current.parent)) current = current.parent;
    const parent = current.parent;
    if (
      !ts.isBinaryExpression(parent) ||
      parent.operatorToken.kind !== ts.SyntaxKind.AmpersandAmpersandToken ||
      parent.right !== current
    ) {
      return false;
    }
    return someNode(parent.left, (n) => ts.isIdentifier(n) && n.text === claim);
  };

  const onBinary = (node: ts.BinaryExpression, fn: FunctionFacts): void => {
    const kind = node.operatorToken.kind;
    if (kind === ts.SyntaxKind.EqualsToken) {
      const left = unwrap(node.left);
      if (
        STATUS_PROPERTY.test(lastName(left) ?? '') &&
        REJECT_STATUS.has(numericValue(node.right) ?? 0)
      ) {
        fn.rejections.push(site(node));
      }
      const leftChain = accessChain(left);
      if (leftChain?.[leftChain.length - 2] === 'headers') {
        const header = leftChain[leftChain.length - 1]?.toLowerCase();
        if (header === 'x-forwarded-for' || header === 'x-real-ip' || header === 'forwarded') {
          forwardedFor.push(site(node));
        }
        if (unwrap(node.right).getText(unit.sourceFile) === 'undefined') {
          headerStrips.push({ ...site(node), header });
        }
      }
      return;
    }
    if (isEquality(kind)) {
      const sides = [unwrap(node.left), unwrap(node.right)] as const;
      for (const [side, other] of [sides, [sides[1], sides[0]] as const]) {
        const header = headerRead(side);
        if (header !== undefined && isMarker(header) && isPlainLiteral(other)) {
          fn.markerChecks.push({ ...site(node), header });
          return;
        }
      }
      for (const [index, side] of sides.entries()) {
        const claim = claimNameOf(side);
        const other = sides[1 - index];
        if (claim !== undefined && other !== undefined) {
          fn.claimReads.push({
            ...site(node),
            name: claim,
            // `x.aud !== undefined` tests presence; it checks nothing.
            compared: !isNullish(other),
            conditional: presenceGuarded(node, claim),
          });
        }
      }
      const [left, right] = sides;
      if (
        !isPlainLiteral(left) &&
        !isPlainLiteral(right) &&
        (secretish(left) || secretish(right)) &&
        !isLengthOrType(left) &&
        !isLengthOrType(right)
      ) {
        fn.secretComparisons.push(site(node));
      }
      return;
    }
    if (isRelational(kind)) onTimeWindow(node, fn);
  };

  const isLengthOrType = (expression: ts.Expression): boolean => {
    const name = lastName(expression);
    return name === 'length' || name === 'byteLength' || ts.isTypeOfExpression(expression);
  };

  const isMarker = (header: string): boolean =>
    isHeader(INTERNAL_MARKER_HEADERS, header) || isHeader(IDENTITY_HEADERS, header);

  /** `Math.abs(Date.now() - ts) > 300_000`: a replay window; records its size in seconds. */
  const onTimeWindow = (node: ts.BinaryExpression, fn: FunctionFacts): void => {
    const sides = [node.left, node.right];
    for (const [index, side] of sides.entries()) {
      const other = sides[1 - index];
      if (other === undefined) continue;
      const names = namesUnder(side, 40);
      const usesNow = someNode(side, isNowCall);
      const aboutTime =
        usesNow ||
        [...names].some((n) => TIMESTAMP_NAME.test(n) || /^(now|skew|age|drift|elapsed)$/i.test(n));
      if (!aboutTime) continue;
      let limit = numericValue(other);
      if (limit === undefined && ts.isIdentifier(unwrap(other))) {
        const value = symbols.valueOf(unit, unwrap(other));
        limit = value === undefined ? undefined : numericValue(value.expression);
      }
      if (limit === undefined) {
        if (!someNode(other, isNowCall) && names.size > 0) {
          fn.timeWindows.push({ ...site(node), seconds: undefined });
        }
        return;
      }
      const dividedToSeconds = someNode(
        side,
        (n) =>
          ts.isBinaryExpression(n) &&
          n.operatorToken.kind === ts.SyntaxKind.SlashToken &&
          numericValue(n.right) === 1000,
      );
      const milliseconds = usesNow ? !dividedToSeconds : limit >= 1000;
      fn.timeWindows.push({ ...site(node), seconds: milliseconds ? limit / 1000 : limit });
      return;
    }
  };

  const onDelete = (node: ts.DeleteExpression): void => {
    const target = unwrap(node.expression);
    if (!ts.isPropertyAccessExpression(target) && !ts.isElementAccessExpression(target)) return;
    const base = unwrap(target.expression);
    if (lastName(base) !== 'headers') return;
    const header = ts.isPropertyAccessExpression(target)
      ? target.name.text.toLowerCase()
      : headerNameOf(target.argumentExpression);
    headerStrips.push({ ...site(node), header });
  };

  const onAccess = (
    node: ts.PropertyAccessExpression | ts.ElementAccessExpression,
    fn: FunctionFacts,
  ): void => {
    const parent = node.parent;
    const written =
      ts.isDeleteExpression(parent) ||
      (ts.isBinaryExpression(parent) &&
        parent.left === node &&
        parent.operatorToken.kind === ts.SyntaxKind.EqualsToken);
    if (written) return;
    const header = headerRead(node);
    if (header !== undefined) {
      fn.headerReads.push({ ...site(node), header });
      return;
    }
    recordCertField(node);
    recordClaim(node, fn);
  };

  const recordClaim = (
    node: ts.PropertyAccessExpression | ts.ElementAccessExpression,
    fn: FunctionFacts,
  ): void => {
    const claim = claimNameOf(node);
    if (claim === undefined) return;
    const chain = looseChain(node);
    if (chain[0] === 'process' || chain.includes('headers') || chain.includes('config')) return;
    fn.claimReads.push({ ...site(node), name: claim, compared: false });
  };

  const recordCertField = (
    node: ts.PropertyAccessExpression | ts.ElementAccessExpression,
  ): void => {
    const name = lastName(node);
    if (name === undefined) return;
    if (/^(subjectaltname|valid_to|validTo|fingerprint256|authorizationError)$/.test(name)) {
      certFields.push({ name, site: site(node) });
    } else if (name === 'subjectAltName') {
      // node:crypto X509Certificate (`new X509Certificate(socket.getPeerCertificate().raw)`).
      certFields.push({ name: 'subjectaltname', site: site(node) });
    } else if (name === 'CN' || name === 'subject') {
      const chain = looseChain(node);
      if (
        chain.includes('getPeerCertificate') ||
        chain.includes('subject') ||
        /cert/i.test(chain.join('.'))
      ) {
        certFields.push({ name: 'subject', site: site(node) });
      }
    } else if (name === 'authorized') {
      const chain = looseChain(node);
      if (chain.some((n) => /^(socket|client|connection|raw)$/.test(n))) {
        certFields.push({ name, site: site(node) });
      }
    }
  };

  const onDeclaration = (node: ts.VariableDeclaration, fn: FunctionFacts): void => {
    if (!ts.isObjectBindingPattern(node.name) || node.initializer === undefined) return;
    const initializer = unwrap(node.initializer);
    const chain = looseChain(initializer);
    const fromHeaders =
      chain[chain.length - 1] === 'headers' && !RESPONSE_ROOT.test(chain[0] ?? '');
    for (const element of node.name.elements) {
      const key =
        element.propertyName !== undefined
          ? propertyNameText(element.propertyName)
          : ts.isIdentifier(element.name)
            ? element.name.text
            : undefined;
      if (key === undefined) continue;
      if (fromHeaders) {
        fn.headerReads.push({ ...site(element), header: key.toLowerCase() });
      } else if (CLAIM_NAMES.has(key) || TENANT_NAME.test(key) || SCOPE_NAME.test(key)) {
        if (chain[0] !== 'process' && !chain.includes('config')) {
          fn.claimReads.push({ ...site(element), name: key, compared: false });
        }
      }
    }
  };

  const onIf = (node: ts.IfStatement, fn: FunctionFacts): void => {
    onCondition(node.expression, fn);
    const unset = unsetSecretTest(node.expression);
    if (unset !== undefined && allows(node.thenStatement, fn) && !refuses(node.thenStatement)) {
      fn.allowWhenUnset.push(site(node));
      return;
    }
    // `if (SECRET && provided !== SECRET) reject()`: no secret, no check.
    const condition = unwrap(node.expression);
    if (
      ts.isBinaryExpression(condition) &&
      condition.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken &&
      configSecret(unwrap(condition.left)) &&
      refuses(node.thenStatement)
    ) {
      fn.allowWhenUnset.push(site(node));
    }
  };

  /** Truthiness of a marker header as a condition: `if (req.headers['x-internal'])`. */
  const onCondition = (condition: ts.Expression, fn: FunctionFacts): void => {
    const check = (expression: ts.Expression): void => {
      const node = unwrap(expression);
      if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.ExclamationToken) {
        check(node.operand);
        return;
      }
      if (
        ts.isBinaryExpression(node) &&
        (node.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken ||
          node.operatorToken.kind === ts.SyntaxKind.BarBarToken)
      ) {
        check(node.left);
        check(node.right);
        return;
      }
      const header = headerRead(node);
      if (header !== undefined && isHeader(INTERNAL_MARKER_HEADERS, header)) {
        fn.markerChecks.push({ ...site(node), header });
      }
    };
    check(condition);
  };

  const onArray = (node: ts.ArrayLiteralExpression): void => {
    for (const element of node.elements) {
      if (!ts.isStringLiteralLike(element)) continue;
      const header = element.text.toLowerCase();
      if (
        isHeader(INTERNAL_MARKER_HEADERS, header) ||
        isHeader(IDENTITY_HEADERS, header) ||
        isHeader(STATIC_SECRET_HEADERS, header)
      ) {
        listedHeaders.push({ header, site: site(element) });
      }
    }
  };

  const onObject = (node: ts.ObjectLiteralExpression): void => {
    for (const property of node.properties) {
      if (ts.isSpreadAssignment(property)) continue;
      const key = propertyNameText(property.name);
      if (key === undefined) continue;
      const value = ts.isPropertyAssignment(property) ? property.initializer : undefined;
      if (key === 'requestCert') {
        tlsOptions.push({ site: site(property), object: node });
      } else if (
        key === 'rewriteRequestHeaders' ||
        key === 'onProxyReq' ||
        key === 'proxyReqOptDecorator' ||
        key === 'proxyReq' ||
        key === 'proxyReqPathResolver'
      ) {
        proxyRequestRewrites.push(site(property));
      } else if (
        key === 'rewriteHeaders' ||
        key === 'onProxyRes' ||
        key === 'userResHeaderDecorator' ||
        key === 'proxyRes'
      ) {
        proxyResponseRewrites.push(site(property));
      } else if (key === 'xfwd' && booleanValue(value) === true) {
        forwardedFor.push(site(property));
      } else if (['x-forwarded-for', 'x-real-ip', 'forwarded'].includes(key.toLowerCase())) {
        forwardedFor.push(site(property));
      } else if (key === 'crl') {
        revocationChecks.push(site(property));
      } else if (key === 'target' && value !== undefined && ts.isStringLiteralLike(value)) {
        if (
          CENTRAL_LOG_TARGET.test(value.text) &&
          !/pino-pretty|pino\/file|^pino$/.test(value.text) &&
          isLogTransport(node)
        ) {
          centralLogging.push(site(property));
        }
      }
    }
  };

  /** `{ target: 'pino-loki' }` inside a `transport` option (not some other `target`). */
  const isLogTransport = (object: ts.ObjectLiteralExpression): boolean => {
    let current: ts.Node = object;
    for (let i = 0; i < 4; i++) {
      if (ts.isSourceFile(current)) return false;
      const parent = current.parent;
      if (ts.isPropertyAssignment(parent)) {
        const name = propertyNameText(parent.name);
        if (name === 'transport' || name === 'targets') return true;
      }
      current = parent;
    }
    return false;
  };

  /** After a function's body: decide which of its `try`s and `.catch`es let failures through. */
  const finishFunction = (fn: FunctionFacts): void => {
    const checks: Site[] = [
      ...fn.verifications,
      ...fn.decodes,
      ...fn.secretComparisons,
      ...fn.constantTime,
    ];
    if (checks.length === 0) return;
    for (const attempt of fn.tries) {
      const clause = attempt.catchClause;
      if (clause === undefined) continue;
      if (!checks.some((check) => contains(attempt.tryBlock, check.node))) continue;
      const allowed = allows(clause.block, fn);
      const refused = refuses(clause.block);
      if (allowed && !refused) {
        fn.failOpen.push(site(clause));
        continue;
      }
      if (!allowed && !refused && !someNode(clause.block, ts.isReturnStatement)) {
        // The error is swallowed; fail-open unless something after the `try` still refuses.
        if (!refusesAfter(attempt)) fn.failOpen.push(site(clause));
      }
    }
    for (const call of fn.promiseCatches) {
      const handler = call.arguments[0];
      const receiver = calleeReceiver(call);
      if (handler === undefined || receiver === undefined) continue;
      if (!checks.some((check) => contains(receiver, check.node))) continue;
      const body = unwrap(handler);
      if (!ts.isArrowFunction(body) && !ts.isFunctionExpression(body)) continue;
      const fakeFacts = { ...fn, isAsync: true };
      const allowed =
        allows(body.body, fakeFacts) ||
        (ts.isArrowFunction(body) &&
          !ts.isBlock(body.body) &&
          unwrap(body.body).kind === ts.SyntaxKind.TrueKeyword);
      if (allowed && !refuses(body.body)) fn.failOpen.push(site(call));
    }
  };

  const refusesAfter = (attempt: ts.TryStatement): boolean => {
    const block = attempt.parent;
    if (!ts.isBlock(block) && !ts.isSourceFile(block)) return false;
    const statements = block.statements;
    const index = statements.indexOf(attempt);
    return statements.slice(index + 1).some((statement) => refuses(statement));
  };

  try {
    ts.forEachChild(unit.sourceFile, visit);
    finishFunction(root);
  } catch {
    // A construct the walk did not expect: keep what was collected so far.
  }

  return {
    unit,
    test,
    root,
    functions,
    functionOf,
    functionsByName,
    classesByName,
    apiCalls,
    creations,
    jwtConfigs,
    headerStrips,
    listedHeaders,
    tlsOptions,
    certFields,
    secureContextReloads,
    revocationChecks,
    proxies,
    proxyRequestRewrites,
    proxyResponseRewrites,
    forwardedFor,
    responseHeaderFilters,
    centralLogging,
    unmodelled,
    receiverNames,
  };
}

const factoryProjects = new WeakMap<SymbolTable, boolean>();

/** Does any file of the project mention a verifier factory (`createVerifier`, `createDecoder`)? */
function verifierFactories(symbols: SymbolTable): boolean {
  const cached = factoryProjects.get(symbols);
  if (cached !== undefined) return cached;
  const found = symbols.project.units.some((u) => /createVerifier|createDecoder/.test(u.text));
  factoryProjects.set(symbols, found);
  return found;
}

function isNullish(expression: ts.Expression): boolean {
  const node = unwrap(expression);
  return (
    node.kind === ts.SyntaxKind.NullKeyword || (ts.isIdentifier(node) && node.text === 'undefined')
  );
}

/** Does a function take a `next` callback (Koa, Hono and Express middleware)? */
function takesNext(fn: FunctionFacts): boolean {
  if (ts.isSourceFile(fn.node)) return false;
  return fn.node.parameters.some((p) => ts.isIdentifier(p.name) && p.name.text === 'next');
}

/** `401`, `403`, or a named constant such as `StatusCodes.UNAUTHORIZED`. */
function isRejectStatus(expression: ts.Expression): boolean {
  const value = numericValue(expression);
  if (value !== undefined) return REJECT_STATUS.has(value);
  return /^(UNAUTHORI[SZ]ED|FORBIDDEN)$/i.test(lastName(expression) ?? '');
}
