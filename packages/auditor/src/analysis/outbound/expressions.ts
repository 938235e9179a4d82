import ts from 'typescript';
import type { StaticString, SymbolTable } from '../../ast/symbols.ts';
import { accessChain, calleeName, propertyNameText, unwrap } from '../../ast/syntax.ts';
import { isProjectImport, type SourceUnit } from '../../project/load.ts';
import { envName } from './scan.ts';

/** An expression together with the file it is in (values can come from other files). */
export interface Located<T extends ts.Node = ts.Expression> {
  readonly unit: SourceUnit;
  readonly node: T;
}

/**
 * Where a value comes from, as far as the code shows:
 * - `literal`: written in the source;
 * - `env`: an environment variable;
 * - `inbound`: the request being served (its headers, or a helper given that request);
 * - `user-param`: a parameter named like a user's credential (`authToken`, `userToken`);
 * - `param`: any other parameter;
 * - `minted`: made at run time by signing or fetching a token (`jwt.sign`, `tokens.getToken()`);
 * - `secret-manager`: fetched from a secrets manager;
 * - `random`: freshly generated (`randomUUID()`), i.e. not propagated from anywhere;
 * - `dynamic`: computed at run time otherwise (a call, context lookup);
 * - `unknown`: not traceable.
 */
export type Origin =
  | 'literal'
  | 'env'
  | 'inbound'
  | 'user-param'
  | 'param'
  | 'minted'
  | 'secret-manager'
  | 'random'
  | 'dynamic'
  | 'unknown';

const INBOUND_ROOTS = new Set([
  'req',
  'request',
  'ctx',
  'context',
  'c',
  'incoming',
  'inbound',
  'incomingRequest',
  'httpRequest',
  'originalRequest',
  'event',
]);

const USER_CREDENTIAL_PARAM =
  /^(auth(orization)?(header)?|auth[-_]?token|user[-_]?(token|jwt|auth(orization)?|access[-_]?token|credentials?)|bearer[-_]?token|incoming[-_]?(token|auth(orization)?)|caller[-_]?token|id[-_]?token|original[-_]?(token|auth(orization)?)|client[-_]?token)$/i;

const TOKEN_GETTER =
  /^(get|fetch|mint|generate|create|issue|acquire|obtain|request|sign|refresh|load|build|make)\w*(token|jwt|assertion|signature)s?$/i;
const SECRET_GETTER =
  /^(get|fetch|read|load|retrieve|access)\w*(secret|secretvalue|secretversion|parameter|credentials?)s?$/i;
/** Objects that are secret stores by name: `secrets.json(…)`, `vault.read(…)`, `ssm.get(…)`. */
export const SECRET_STORE_RECEIVER =
  /^(secrets?|secretsmanager|secretmanager|secretstore|secretsclient|vault|vaultclient|keyvault|ssm|parameterstore|sm)$/i;
const RANDOM_CALLS = new Set([
  'randomUUID',
  'randomBytes',
  'uuid',
  'uuidv4',
  'v4',
  'v1',
  'v7',
  'nanoid',
  'random',
  'cuid',
  'ulid',
  'createId',
]);
const STRING_METHODS = new Set([
  'split',
  'replace',
  'replaceAll',
  'trim',
  'slice',
  'substring',
  'substr',
  'toString',
  'at',
  'toLowerCase',
  'concat',
]);
const SIGNING_MODULES = new Map<string, readonly string[]>([
  ['jsonwebtoken', ['sign']],
  ['jose', ['SignJWT', 'CompactSign', 'FlattenedSign', 'GeneralSign']],
  ['@tessera/core', ['mintAccessToken', 'mintClientAssertion', 'signRequest']],
  ['crypto', ['createHmac', 'sign', 'createSign']],
  ['node:crypto', ['createHmac', 'sign', 'createSign']],
  ['fast-jwt', ['createSigner']],
]);
export const SECRET_MANAGER_MODULES: readonly string[] = [
  '@aws-sdk/client-secrets-manager',
  '@aws-sdk/client-ssm',
  'aws-sdk',
  'aws-sdk/clients/secretsmanager',
  'node-vault',
  'hashi-vault-js',
  '@google-cloud/secret-manager',
  '@azure/keyvault-secrets',
  '@infisical/sdk',
  '@dopplerhq/node-sdk',
  '@aws-lambda-powertools/parameters',
  'aws-secrets-manager-cache',
  '@aws-crypto/secrets-manager-caching',
];

/** The ancestors of a node, nearest first (a source file's parent is undefined at run time). */
export function* ancestors(node: ts.Node): Generator<ts.Node> {
  let current = node.parent as ts.Node | undefined;
  while (current !== undefined) {
    yield current;
    current = current.parent;
  }
}

/**
 * What a name is bound to in the nearest enclosing scope: a block-scoped `const` (its
 * initializer, or for `const { a } = obj` the object it is taken from), a parameter default, or
 * a parameter without one. The shared symbol table resolves names file-wide, which gives up
 * when two functions each declare `const headers = {…}`; scoping first keeps those.
 */
function scopedBinding(
  identifier: ts.Identifier,
): { kind: 'const'; value: ts.Expression; property?: string } | { kind: 'parameter' } | undefined {
  const name = identifier.text;
  for (const current of ancestors(identifier)) {
    if (ts.isFunctionLike(current)) {
      for (const parameter of current.parameters) {
        if (!ts.isIdentifier(parameter.name) || parameter.name.text !== name) continue;
        // A default is what the value is when callers pass nothing (`new Client()`).
        return parameter.initializer === undefined
          ? { kind: 'parameter' }
          : { kind: 'const', value: parameter.initializer };
      }
    }
    const statements =
      ts.isBlock(current) ||
      ts.isSourceFile(current) ||
      ts.isModuleBlock(current) ||
      ts.isCaseClause(current) ||
      ts.isDefaultClause(current)
        ? current.statements
        : undefined;
    if (statements === undefined) continue;
    for (const statement of statements) {
      if (!ts.isVariableStatement(statement)) continue;
      const list = statement.declarationList;
      for (const declaration of list.declarations) {
        const bound = boundName(declaration.name, name);
        if (bound === undefined) continue;
        if ((list.flags & ts.NodeFlags.Const) === 0 || declaration.initializer === undefined) {
          return undefined;
        }
        return bound === true
          ? { kind: 'const', value: declaration.initializer }
          : { kind: 'const', value: declaration.initializer, property: bound };
      }
    }
  }
  return undefined;
}

/** `true` when a declaration binds `name` directly, the property name for `{ prop: name }`. */
function boundName(binding: ts.BindingName, name: string): true | string | undefined {
  if (ts.isIdentifier(binding)) return binding.text === name ? true : undefined;
  if (!ts.isObjectBindingPattern(binding)) return undefined;
  for (const element of binding.elements) {
    if (!ts.isIdentifier(element.name) || element.name.text !== name) continue;
    return element.propertyName === undefined
      ? name
      : (propertyNameText(element.propertyName) ?? name);
  }
  return undefined;
}

/** `constructor(private readonly token = config.serviceToken)`: the default of `this.token`. */
function parameterPropertyDefault(access: ts.PropertyAccessExpression): ts.Expression | undefined {
  for (const current of ancestors(access)) {
    if (!ts.isClassLike(current)) continue;
    for (const member of current.members) {
      if (!ts.isConstructorDeclaration(member)) continue;
      for (const parameter of member.parameters) {
        if (
          ts.isIdentifier(parameter.name) &&
          parameter.name.text === access.name.text &&
          ts.getModifiers(parameter) !== undefined
        ) {
          return parameter.initializer;
        }
      }
    }
    return undefined;
  }
  return undefined;
}

/** `SymbolTable.valueOf` with block scoping first (see {@link scopedBinding}). */
export function resolveValue(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): { unit: SourceUnit; expression: ts.Expression } | undefined {
  const node = unwrap(expression);
  if (ts.isIdentifier(node)) {
    const binding = scopedBinding(node);
    if (binding?.kind === 'parameter') return undefined;
    if (binding?.kind === 'const') {
      if (binding.property === undefined) return { unit, expression: binding.value };
      const object = resolveObject(symbols, unit, binding.value);
      const property =
        object === undefined ? undefined : optionOf(symbols, object, binding.property);
      return property === undefined
        ? { unit, expression: binding.value }
        : { unit: property.unit, expression: property.node };
    }
  }
  const found = symbols.valueOf(unit, node);
  if (found !== undefined) return found;
  if (ts.isPropertyAccessExpression(node) && node.expression.kind === ts.SyntaxKind.ThisKeyword) {
    const fallback = parameterPropertyDefault(node);
    if (fallback !== undefined) return { unit, expression: fallback };
  }
  return undefined;
}

/** Follows {@link resolveValue} until it stops; the last expression reached. */
export function resolveFinal(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): { unit: SourceUnit; expression: ts.Expression } {
  let current = { unit, expression: unwrap(expression) };
  for (let i = 0; i < 8; i++) {
    const next = resolveValue(symbols, current.unit, current.expression);
    if (next === undefined || next.expression === current.expression) return current;
    current = { unit: next.unit, expression: unwrap(next.expression) };
  }
  return current;
}

/**
 * Where a value is written: follows names, `this.x`, parameter defaults and properties of
 * config objects (`config.services.auth`) to the expression that holds the literal or the env
 * read, so evidence can point at the line that decides (`process.env.AUTH_URL || 'http://…'`).
 */
export function definitionOf(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): Located {
  let current: Located = { unit, node: unwrap(expression) };
  for (let i = 0; i < 10; i++) {
    const node = current.node;
    if (ts.isTemplateExpression(node) && node.templateSpans[0] !== undefined) {
      current = { unit: current.unit, node: unwrap(node.templateSpans[0].expression) };
      continue;
    }
    let next: Located | undefined;
    const value = resolveValue(symbols, current.unit, node);
    if (value !== undefined && value.expression !== node) {
      next = { unit: value.unit, node: unwrap(value.expression) };
    } else if (
      ts.isPropertyAccessExpression(node) &&
      node.expression.kind !== ts.SyntaxKind.ThisKeyword
    ) {
      const base = resolveObject(symbols, current.unit, node.expression);
      const property = base === undefined ? undefined : optionOf(symbols, base, node.name.text);
      if (property !== undefined) next = { unit: property.unit, node: unwrap(property.node) };
    } else if (ts.isCallExpression(node) && node.arguments.length === 0) {
      // `const internalToken = () => process.env.INTERNAL_SERVICE_TOKEN`: what the getter returns.
      const target = functionDeclarationFor(symbols, current.unit, node.expression);
      const returned = target === undefined ? undefined : singleReturn(target.node);
      if (target !== undefined && returned !== undefined) {
        next = { unit: target.unit, node: unwrap(returned) };
      }
    }
    if (next === undefined || next.node === node) return current;
    current = next;
  }
  return current;
}

/** The one expression a function returns (expression body or a single return). */
function singleReturn(fn: { body?: ts.ConciseBody | undefined }): ts.Expression | undefined {
  const body = fn.body;
  if (body === undefined) return undefined;
  if (!ts.isBlock(body)) return body;
  const returns: ts.Expression[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node)) return;
    if (ts.isReturnStatement(node) && node.expression !== undefined) returns.push(node.expression);
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(body, visit);
  return returns.length === 1 ? returns[0] : undefined;
}

/** `SymbolTable.staticString` with block-scoped consts resolved first. */
export function staticText(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
  depth = 0,
): StaticString | undefined {
  const node = unwrap(expression);
  if (depth > 6) return undefined;
  if (ts.isIdentifier(node)) {
    const value = resolveValue(symbols, unit, node);
    return value === undefined
      ? undefined
      : staticText(symbols, value.unit, value.expression, depth + 1);
  }
  if (ts.isTemplateExpression(node)) {
    let text = node.head.text;
    let complete = true;
    for (const span of node.templateSpans) {
      const part = staticText(symbols, unit, span.expression, depth + 1);
      text += (part?.text ?? '${…}') + span.literal.text;
      complete &&= part?.complete ?? false;
    }
    return { text, complete };
  }
  if (ts.isBinaryExpression(node)) {
    const operator = node.operatorToken.kind;
    if (operator === ts.SyntaxKind.PlusToken) {
      const left = staticText(symbols, unit, node.left, depth + 1);
      const right = staticText(symbols, unit, node.right, depth + 1);
      if (left === undefined && right === undefined) return undefined;
      return {
        text: (left?.text ?? '${…}') + (right?.text ?? '${…}'),
        complete: (left?.complete ?? false) && (right?.complete ?? false),
      };
    }
    if (
      operator === ts.SyntaxKind.BarBarToken ||
      operator === ts.SyntaxKind.QuestionQuestionToken
    ) {
      // `process.env.URL || 'http://billing:3000'`: the fallback is what runs when unset.
      return staticText(symbols, unit, node.right, depth + 1);
    }
  }
  if (ts.isPropertyAccessExpression(node) && node.expression.kind !== ts.SyntaxKind.ThisKeyword) {
    // `config.services.auth` where `config` is an object literal (a config module).
    const object = resolveObject(symbols, unit, node.expression);
    const property = object === undefined ? undefined : optionOf(symbols, object, node.name.text);
    if (property !== undefined) return staticText(symbols, property.unit, property.node, depth + 1);
  }
  if (ts.isPropertyAccessExpression(node)) {
    const value = resolveValue(symbols, unit, node);
    if (value !== undefined && value.expression !== node) {
      return staticText(symbols, value.unit, value.expression, depth + 1);
    }
  }
  return symbols.staticString(unit, node, depth);
}

/**
 * Is a module reference a secrets-manager API? The aggregated `aws-sdk` v2 package counts only
 * for its SecretsManager and SSM clients (it is mostly imported for S3 or DynamoDB).
 */
export function isSecretManagerReference(module: string, path: readonly string[]): boolean {
  if (!SECRET_MANAGER_MODULES.includes(module)) return false;
  if (module !== 'aws-sdk') return true;
  return path.some((name) => name === 'SecretsManager' || name === 'SSM');
}

/** The last name of a call's receiver: `this.secrets.json()` → `secrets`. */
export function receiverName(call: ts.CallExpression | ts.NewExpression): string | undefined {
  const callee = unwrap(call.expression);
  if (!ts.isPropertyAccessExpression(callee)) return undefined;
  return accessChain(callee.expression)?.at(-1);
}

// One implementation for every analysis (the inbound and outbound copies had drifted apart).
export { calleeName };

/** The parameter of an enclosing function that declares `name`, if the name is a parameter. */
function parameterNamed(node: ts.Node, name: string): ts.ParameterDeclaration | undefined {
  for (const current of ancestors(node)) {
    if (!ts.isFunctionLike(current)) continue;
    for (const parameter of current.parameters) {
      if (ts.isIdentifier(parameter.name) && parameter.name.text === name) return parameter;
      if (ts.isObjectBindingPattern(parameter.name) || ts.isArrayBindingPattern(parameter.name)) {
        for (const element of parameter.name.elements) {
          if (
            ts.isBindingElement(element) &&
            ts.isIdentifier(element.name) &&
            element.name.text === name
          ) {
            return parameter;
          }
        }
      }
    }
  }
  return undefined;
}

/** Does `name` (as used at `node`) refer to an inbound request object? */
function isInboundRoot(node: ts.Node, chain: readonly string[]): boolean {
  const [root, second] = chain;
  if (root === undefined) return false;
  if (root === 'this') return second === 'req' || second === 'request';
  if (!INBOUND_ROOTS.has(root)) return false;
  // `request` imported from undici is a function, not the request being served.
  return (
    parameterNamed(node, root) !== undefined ||
    second === 'req' ||
    second === 'request' ||
    servedRequestVariable(node, root)
  );
}

/**
 * `const req = context.switchToHttp().getRequest()`: the request a NestJS guard, interceptor or
 * filter is handling, read from its ExecutionContext.
 */
function servedRequestVariable(node: ts.Node, name: string): boolean {
  for (const current of ancestors(node)) {
    if (!ts.isFunctionLike(current) || !('body' in current) || current.body === undefined) continue;
    if (declaresServedRequest(current.body, name)) return true;
  }
  return false;
}

function declaresServedRequest(node: ts.Node, name: string): boolean {
  if (
    ts.isVariableDeclaration(node) &&
    ts.isIdentifier(node.name) &&
    node.name.text === name &&
    node.initializer !== undefined
  ) {
    const value = unwrap(node.initializer);
    return (
      ts.isCallExpression(value) &&
      ts.isPropertyAccessExpression(value.expression) &&
      value.expression.name.text === 'getRequest'
    );
  }
  if (ts.isFunctionLike(node)) return false;
  return ts.forEachChild(node, (child) => declaresServedRequest(child, name) || undefined) === true;
}

/**
 * Is this expression read from the request being served: `req.headers.authorization`,
 * `request.headers['x-correlation-id']`, `req.get('authorization')`, `c.req.header('…')`?
 * Returns `headers` for the whole header object (`{ ...req.headers }` forwards everything).
 */
export function inboundReference(expression: ts.Expression): 'header' | 'headers' | undefined {
  const node = unwrap(expression);
  const chain = accessChain(node);
  if (chain !== undefined) {
    const at = chain.indexOf('headers');
    if (at >= 1 && isInboundRoot(node, chain))
      return at === chain.length - 1 ? 'headers' : 'header';
    return undefined;
  }
  if (ts.isCallExpression(node)) {
    const callee = accessChain(node.expression);
    const method = callee?.at(-1);
    if (
      callee !== undefined &&
      callee.length >= 2 &&
      (method === 'get' || method === 'header' || method === 'getHeader') &&
      (callee.includes('headers') || isInboundRoot(node, callee))
    ) {
      const argument = node.arguments[0];
      if (argument !== undefined && ts.isStringLiteralLike(argument)) return 'header';
    }
  }
  return undefined;
}

/** Is this identifier the request being served, passed along (`extractToken(req)`)? */
function isInboundObject(expression: ts.Expression): boolean {
  const node = unwrap(expression);
  const chain = accessChain(node);
  if (chain === undefined) return false;
  return (
    (chain.length === 1 || (chain.length === 2 && chain[0] === 'c')) && isInboundRoot(node, chain)
  );
}

/** Cached origin analysis; one instance per audit (keyed by node). */
export class OriginAnalysis {
  private readonly cache = new WeakMap<ts.Node, ReadonlySet<Origin>>();

  constructor(private readonly symbols: SymbolTable) {}

  /** The origins of a value (a union: `a ?? b` has both). */
  of(unit: SourceUnit, expression: ts.Expression, depth = 0): ReadonlySet<Origin> {
    const cached = this.cache.get(expression);
    if (cached !== undefined) return cached;
    const result = depth > 8 ? new Set<Origin>(['unknown']) : this.compute(unit, expression, depth);
    this.cache.set(expression, result);
    return result;
  }

  private compute(unit: SourceUnit, expression: ts.Expression, depth: number): Set<Origin> {
    const node = unwrap(expression);
    const out = new Set<Origin>();
    const add = (origins: ReadonlySet<Origin>) => {
      for (const origin of origins) out.add(origin);
    };
    if (ts.isStringLiteralLike(node) || ts.isNumericLiteral(node)) {
      out.add('literal');
      return out;
    }
    if (
      node.kind === ts.SyntaxKind.TrueKeyword ||
      node.kind === ts.SyntaxKind.FalseKeyword ||
      node.kind === ts.SyntaxKind.NullKeyword
    ) {
      out.add('literal');
      return out;
    }
    if (ts.isTemplateExpression(node)) {
      for (const span of node.templateSpans) add(this.of(unit, span.expression, depth + 1));
      if (out.size === 0) out.add('literal');
      return out;
    }
    if (ts.isBinaryExpression(node)) {
      const operator = node.operatorToken.kind;
      if (
        operator === ts.SyntaxKind.PlusToken ||
        operator === ts.SyntaxKind.BarBarToken ||
        operator === ts.SyntaxKind.QuestionQuestionToken
      ) {
        add(this.of(unit, node.left, depth + 1));
        add(this.of(unit, node.right, depth + 1));
        return out;
      }
      out.add('dynamic');
      return out;
    }
    if (ts.isConditionalExpression(node)) {
      add(this.of(unit, node.whenTrue, depth + 1));
      add(this.of(unit, node.whenFalse, depth + 1));
      return out;
    }
    if (envName(node) !== undefined) {
      out.add('env');
      return out;
    }
    if (inboundReference(node) !== undefined) {
      out.add('inbound');
      return out;
    }
    if (ts.isIdentifier(node)) {
      const parameter = parameterNamed(node, node.text);
      if (parameter !== undefined) {
        if (parameter.initializer !== undefined)
          add(this.of(unit, parameter.initializer, depth + 1));
        out.add(USER_CREDENTIAL_PARAM.test(node.text) ? 'user-param' : 'param');
        return out;
      }
    }
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
      add(this.callOrigin(unit, node, depth));
      return out;
    }
    if (ts.isElementAccessExpression(node)) {
      // `header.split(' ')[1]` keeps the origin of what was split.
      add(this.of(unit, node.expression, depth + 1));
      return out;
    }
    const value = resolveValue(this.symbols, unit, node);
    if (value !== undefined && value.expression !== node) {
      add(this.of(value.unit, value.expression, depth + 1));
      return out;
    }
    if (ts.isPropertyAccessExpression(node)) {
      const object = resolveObject(this.symbols, unit, node.expression);
      const property =
        object === undefined ? undefined : optionOf(this.symbols, object, node.name.text);
      if (property !== undefined) {
        add(this.of(property.unit, property.node, depth + 1));
        return out;
      }
      // `config.serviceToken`, `secrets.apiKey`: an object whose shape is not followed.
      const base = this.of(unit, node.expression, depth + 1);
      if (base.has('secret-manager') || base.has('env') || base.has('inbound')) add(base);
      else out.add('unknown');
      return out;
    }
    out.add('unknown');
    return out;
  }

  private callOrigin(
    unit: SourceUnit,
    call: ts.CallExpression | ts.NewExpression,
    depth: number,
  ): ReadonlySet<Origin> {
    const name = calleeName(call) ?? '';
    const args = call.arguments ?? [];
    const reference = this.symbols.moduleReference(unit, call.expression);
    if (reference !== undefined) {
      const signing = SIGNING_MODULES.get(reference.module);
      if (signing?.some((exported) => reference.path.includes(exported)) === true) {
        return new Set(['minted']);
      }
      if (isSecretManagerReference(reference.module, reference.path)) {
        return new Set(['secret-manager']);
      }
      if (RANDOM_CALLS.has(name) || RANDOM_CALLS.has(reference.path.at(-1) ?? '')) {
        return new Set(['random']);
      }
    }
    if (RANDOM_CALLS.has(name) && (reference !== undefined || name !== 'random')) {
      return new Set(['random']);
    }
    if (name === 'random' && accessChain(call.expression)?.[0] === 'Math') {
      return new Set(['random']);
    }
    // `header.split(' ')`, `auth.replace('Bearer ', '')`: the origin of the string itself.
    const callee = unwrap(call.expression);
    if (STRING_METHODS.has(name) && ts.isPropertyAccessExpression(callee)) {
      return this.of(unit, callee.expression, depth + 1);
    }
    // `String(token)`, `JSON.stringify(x)`, `encodeURIComponent(x)` pass their argument through.
    if (
      (name === 'String' || name === 'stringify' || name === 'encodeURIComponent') &&
      args[0] !== undefined
    ) {
      return this.of(unit, args[0], depth + 1);
    }
    // A helper handed the request being served (`extractToken(req)`) reads from it.
    if (args.some((argument) => isInboundObject(argument) || inboundReference(argument))) {
      return new Set(['inbound']);
    }
    if (/user/i.test(name) && TOKEN_GETTER.test(name)) return new Set(['inbound']);
    if (TOKEN_GETTER.test(name) || /^(sign|mint)$/i.test(name)) return new Set(['minted']);
    // A helper of the project (`serviceToken()`): what it returns.
    const returned = this.returnedOrigins(unit, call, depth);
    if (returned !== undefined) return returned;
    if (/(token|jwt|assertion)$/i.test(name) && !/user|caller|incoming/i.test(name)) {
      return new Set(['minted']);
    }
    if (SECRET_GETTER.test(name) || SECRET_STORE_RECEIVER.test(receiverName(call) ?? '')) {
      return new Set(['secret-manager']);
    }
    if (name === 'digest' && ts.isPropertyAccessExpression(callee)) {
      // `crypto.createHmac(...).update(...).digest('hex')`.
      const inner = this.of(unit, callee.expression, depth + 1);
      if (inner.has('minted')) return new Set(['minted']);
    }
    if (name === 'update' && ts.isPropertyAccessExpression(callee)) {
      return this.of(unit, callee.expression, depth + 1);
    }
    return new Set(['dynamic']);
  }

  private returnedOrigins(
    unit: SourceUnit,
    call: ts.CallExpression | ts.NewExpression,
    depth: number,
  ): ReadonlySet<Origin> | undefined {
    if (!ts.isCallExpression(call) || depth > 4) return undefined;
    const target = functionDeclarationFor(this.symbols, unit, call.expression);
    const body = target?.node.body;
    if (target === undefined || body === undefined) return undefined;
    if (!ts.isBlock(body)) return this.of(target.unit, body, depth + 1);
    const out = new Set<Origin>();
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node)) return;
      if (ts.isReturnStatement(node) && node.expression !== undefined) {
        for (const origin of this.of(target.unit, node.expression, depth + 1)) out.add(origin);
      }
      ts.forEachChild(node, visit);
    };
    ts.forEachChild(body, visit);
    return out.size === 0 ? undefined : out;
  }
}

/**
 * An object literal an expression evaluates to, following consts, `this.x`, relative imports
 * and `new Headers({...})`.
 */
export function resolveObject(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
  depth = 0,
): Located<ts.ObjectLiteralExpression> | undefined {
  if (depth > 8) return undefined;
  const final = resolveFinal(symbols, unit, expression);
  const node = unwrap(final.expression);
  if (ts.isObjectLiteralExpression(node)) return { unit: final.unit, node };
  if (ts.isPropertyAccessExpression(node) && node.expression.kind !== ts.SyntaxKind.ThisKeyword) {
    // `config.services`: a nested object of a config object.
    const base = resolveObject(symbols, final.unit, node.expression, depth + 1);
    const value = base === undefined ? undefined : optionOf(symbols, base, node.name.text);
    if (value !== undefined && value.node !== node) {
      return resolveObject(symbols, value.unit, value.node, depth + 1);
    }
  }
  if (ts.isNewExpression(node) && node.arguments?.[0] !== undefined) {
    return resolveObject(symbols, final.unit, node.arguments[0], depth + 1);
  }
  return undefined;
}

/**
 * A property of an options object, looking into spreads (`{ ...defaults, timeout }`); the last
 * one written wins, as at run time.
 */
export function optionOf(
  symbols: SymbolTable,
  located: Located<ts.ObjectLiteralExpression>,
  name: string,
  depth = 0,
): Located | undefined {
  if (depth > 4) return undefined;
  let found: Located | undefined;
  for (const property of located.node.properties) {
    if (ts.isPropertyAssignment(property) && propertyNameText(property.name) === name) {
      found = { unit: located.unit, node: property.initializer };
    } else if (ts.isShorthandPropertyAssignment(property) && property.name.text === name) {
      found = { unit: located.unit, node: property.name };
    } else if (ts.isSpreadAssignment(property)) {
      const inner = spreadObjects(symbols, located.unit, property.expression);
      for (const object of inner) {
        const value = optionOf(symbols, object, name, depth + 1);
        if (value !== undefined) found = value;
      }
    }
  }
  return found;
}

/** The object literals a spread can contribute: `...obj`, `...(cond ? {a} : {})`. */
function spreadObjects(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): Located<ts.ObjectLiteralExpression>[] {
  const node = unwrap(expression);
  if (ts.isConditionalExpression(node)) {
    return [
      ...spreadObjects(symbols, unit, node.whenTrue),
      ...spreadObjects(symbols, unit, node.whenFalse),
    ];
  }
  if (ts.isBinaryExpression(node)) {
    return [
      ...spreadObjects(symbols, unit, node.left),
      ...spreadObjects(symbols, unit, node.right),
    ];
  }
  const object = resolveObject(symbols, unit, node);
  return object === undefined ? [] : [object];
}

/** A static number (`5000`, `5_000`, `5 * 1000`, a const holding one). */
export function staticNumber(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
  depth = 0,
): number | undefined {
  if (depth > 6) return undefined;
  const node = unwrap(expression);
  if (ts.isNumericLiteral(node)) return Number(node.text);
  if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.MinusToken) {
    const inner = staticNumber(symbols, unit, node.operand, depth + 1);
    return inner === undefined ? undefined : -inner;
  }
  if (ts.isBinaryExpression(node)) {
    const left = staticNumber(symbols, unit, node.left, depth + 1);
    const right = staticNumber(symbols, unit, node.right, depth + 1);
    const operator = node.operatorToken.kind;
    if (
      operator === ts.SyntaxKind.BarBarToken ||
      operator === ts.SyntaxKind.QuestionQuestionToken
    ) {
      return right;
    }
    if (left === undefined || right === undefined) return undefined;
    if (operator === ts.SyntaxKind.AsteriskToken) return left * right;
    if (operator === ts.SyntaxKind.PlusToken) return left + right;
    if (operator === ts.SyntaxKind.MinusToken) return left - right;
    if (operator === ts.SyntaxKind.SlashToken && right !== 0) return left / right;
    return undefined;
  }
  if (ts.isIdentifier(node) || ts.isPropertyAccessExpression(node)) {
    const value = resolveValue(symbols, unit, node);
    if (value !== undefined && value.expression !== node) {
      return staticNumber(symbols, value.unit, value.expression, depth + 1);
    }
  }
  return undefined;
}

/**
 * The object literals a function returns, for header helpers such as
 * `function internalHeaders() { return { 'X-INTERNAL-TOKEN': token }; }` (seed review 004).
 */
export function returnedObjects(
  symbols: SymbolTable,
  unit: SourceUnit,
  call: ts.CallExpression,
): Located<ts.ObjectLiteralExpression>[] {
  const target = functionDeclarationFor(symbols, unit, call.expression);
  if (target === undefined) return [];
  const body = target.node.body;
  if (body === undefined) return [];
  const found: Located<ts.ObjectLiteralExpression>[] = [];
  // `return ctx ? { 'x-correlation-id': ctx.id } : {}`: the objects of either branch.
  const add = (expression: ts.Expression): void => {
    const value = unwrap(expression);
    if (ts.isConditionalExpression(value)) {
      add(value.whenTrue);
      add(value.whenFalse);
      return;
    }
    const object = resolveObject(symbols, target.unit, value);
    if (object !== undefined) found.push(object);
  };
  if (!ts.isBlock(body)) {
    add(body);
    return found;
  }
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node)) return;
    if (ts.isReturnStatement(node) && node.expression !== undefined) add(node.expression);
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(body, visit);
  return found;
}

/**
 * The function a handler or hook option is: written inline (an arrow or function expression), or
 * the declaration it names (`functionDeclarationFor`).
 */
export function functionAt(
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): Located<ts.SignatureDeclaration & { body?: ts.ConciseBody | undefined }> | undefined {
  const node = unwrap(expression);
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) return { unit, node };
  return functionDeclarationFor(symbols, unit, node);
}

/** The function a callee names: a local declaration, a const arrow, or a relative import. */
export function functionDeclarationFor(
  symbols: SymbolTable,
  unit: SourceUnit,
  callee: ts.Expression,
): Located<ts.SignatureDeclaration & { body?: ts.ConciseBody | undefined }> | undefined {
  const node = unwrap(callee);
  if (ts.isIdentifier(node)) {
    for (const statement of unit.sourceFile.statements) {
      if (ts.isFunctionDeclaration(statement) && statement.name?.text === node.text) {
        return { unit, node: statement };
      }
    }
    const binding = symbols.importsOf(unit).get(node.text);
    if (binding !== undefined && isProjectImport(symbols.project, unit, binding.module)) {
      const target = symbols.project.resolveImport(unit, binding.module);
      if (target !== undefined) {
        for (const statement of target.sourceFile.statements) {
          if (
            ts.isFunctionDeclaration(statement) &&
            statement.name?.text === binding.imported &&
            statement.body !== undefined
          ) {
            return { unit: target, node: statement };
          }
        }
      }
    }
  }
  if (ts.isPropertyAccessExpression(node) && node.expression.kind === ts.SyntaxKind.ThisKeyword) {
    for (const current of ancestors(node)) {
      if (!ts.isClassLike(current)) continue;
      for (const member of current.members) {
        if (
          ts.isMethodDeclaration(member) &&
          propertyNameText(member.name) === node.name.text &&
          member.body !== undefined
        ) {
          return { unit, node: member };
        }
      }
      break;
    }
  }
  const value = resolveFinal(symbols, unit, node);
  const expression = unwrap(value.expression);
  if (ts.isArrowFunction(expression) || ts.isFunctionExpression(expression)) {
    return { unit: value.unit, node: expression };
  }
  return undefined;
}
