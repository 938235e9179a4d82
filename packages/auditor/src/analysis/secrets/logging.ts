import ts from 'typescript';
import { accessChain, evidenceAt, propertyNameText, unwrap } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { SourceUnit } from '../../project/load.ts';
import type { AuditContext } from '../context.ts';
import { isSecretName, isTokenName } from '../names.ts';
import { calleeName, inboundReference, resolveValue } from '../outbound/expressions.ts';
import { isLogCall } from '../outbound/logs.ts';
import { envName, isProcessEnv, productionFacts } from '../outbound/scan.ts';
import { HASH_NAME } from './literals.ts';
import { secretSourceModel } from './provenance.ts';

/** A secret or token written to a log. */
export interface LoggedSecret {
  readonly evidence: Evidence;
  /** `token` for bearer credentials (TM4), `secret` for passwords, keys and the like (SM5). */
  readonly kind: 'token' | 'secret';
  readonly what: string;
}

const TOKEN_WORD = /(token|jwt|bearer|authorization|assertion|session|cookie)/i;
/** Names of facts about a secret (flags, metadata) rather than the secret. */
const ABOUT_A_SECRET =
  /(^(has|is|should|can|did|was|needs?|no|with|without|use|enable|disable|valid)[A-Z_-])|(valid|invalid|expired|present|missing|exists|error|errors|status|required|ok|verified|refreshed|issued|issuedat|source|kind|format|scheme|prefix|claims|payload|count|length|size|ttl|age|lifetime|expiry|expires|expiresin|expiresat|type|id|name|names|path|url|uri)$/i;
/** Calls that pass their argument through unchanged into the log line. */
const PASS_THROUGH = new Set(['stringify', 'String', 'inspect', 'format', 'toString', 'toJSON']);

/** `{ secret: name }`, `{ token: tokenId }`: the value says which secret, not what it is. */
function namesTheSecret(value: ts.Expression): boolean {
  const name = accessChain(value)?.at(-1);
  return (
    name !== undefined && /(^|[a-z_])(name|names|id|ids|path|arn|label|kind|type)$/i.test(name)
  );
}

function sensitivity(name: string): 'token' | 'secret' | undefined {
  if (HASH_NAME.test(name) || ABOUT_A_SECRET.test(name)) return undefined;
  if (!isTokenName(name) && !isSecretName(name)) return undefined;
  return TOKEN_WORD.test(name) ? 'token' : 'secret';
}

/** pino/fastify `redact` configured for the authorization header. */
function redactsAuthorization(ctx: AuditContext): boolean {
  for (const file of productionFacts(ctx)) {
    for (const property of file.properties) {
      if (!ts.isPropertyAssignment(property) || propertyNameText(property.name) !== 'redact')
        continue;
      if (/authorization/i.test(property.initializer.getText(file.unit.sourceFile))) return true;
    }
  }
  return false;
}

/**
 * Log calls in non-test code that write a token or secret (by name, by origin, or because the
 * service's secret model says the variable holds one), and request loggers that write URLs
 * carrying a credential the service accepts in the query string.
 */
export function sensitiveLogs(ctx: AuditContext): LoggedSecret[] {
  const redacted = redactsAuthorization(ctx);
  const secretVariables = new Set(secretSourceModel(ctx).environment.map((e) => e.name));
  const out: LoggedSecret[] = [];
  for (const file of productionFacts(ctx)) {
    for (const call of file.calls) {
      if (!isLogCall(call)) continue;
      const found = new Map<string, 'token' | 'secret'>();
      const scope = { ctx, unit: file.unit, found, redacted, secretVariables };
      for (const argument of call.arguments) inspect(scope, argument, 0);
      for (const [what, kind] of found) {
        out.push({ evidence: evidenceAt(file.unit, call), kind, what });
      }
    }
  }
  out.push(...urlsLogged(ctx));
  return out;
}

/** Request loggers that write each request's URL, query string included, by default. */
const URL_LOGGERS = new Set([
  'pino-http',
  'express-pino-logger',
  'koa-pino-logger',
  'morgan',
  'express-winston',
  'koa-logger',
]);

/**
 * A credential accepted in the query string (`?access_token=` for EventSource, `?api_key=`)
 * ends up in every access log line a request logger writes, unless the logger drops the URL
 * (a `req.url` redact path, its own `req` serializer, a morgan format without `:url`).
 */
function urlsLogged(ctx: AuditContext): LoggedSecret[] {
  const accepted: { evidence: Evidence; name: string }[] = [];
  const loggers: { evidence: Evidence; module: string }[] = [];
  let urlDropped = false;
  for (const file of productionFacts(ctx)) {
    for (const read of file.queryReads) {
      if (CREDENTIAL_PARAMETER.test(read.name))
        accepted.push({ evidence: evidenceAt(file.unit, read.node), name: read.name });
    }
    for (const call of file.calls) {
      const reference = ctx.symbols.moduleReference(file.unit, call.expression);
      if (reference === undefined) continue;
      if (URL_LOGGERS.has(reference.module) && reference.path.length <= 1) {
        const format = call.arguments[0];
        if (
          reference.module === 'morgan' &&
          format !== undefined &&
          ts.isStringLiteralLike(format) &&
          !MORGAN_URL_FORMATS.has(format.text) &&
          !format.text.includes(':url')
        ) {
          continue;
        }
        loggers.push({ evidence: evidenceAt(file.unit, call), module: reference.module });
      } else if (reference.module === 'fastify' && reference.path.length === 0) {
        const options = call.arguments[0];
        if (
          options !== undefined &&
          /\blogger\s*:\s*(true|\{)/.test(options.getText(file.unit.sourceFile))
        ) {
          loggers.push({ evidence: evidenceAt(file.unit, call), module: 'fastify' });
        }
      }
    }
    for (const property of file.properties) {
      if (!ts.isPropertyAssignment(property)) continue;
      const name = propertyNameText(property.name);
      const text = property.initializer.getText(file.unit.sourceFile);
      if (
        (name === 'redact' && /['"`](\*|req)\.url['"`]/.test(text)) ||
        (name === 'serializers' && /\breq\b/.test(text))
      ) {
        urlDropped = true;
      }
    }
  }
  const logger = loggers[0];
  const parameter = accepted[0];
  if (logger === undefined || parameter === undefined || urlDropped) return [];
  const what = `request URLs carrying \`${parameter.name}\` (${logger.module} logs each request's URL with its query string)`;
  return [
    { evidence: logger.evidence, kind: 'token', what },
    ...accepted.map((a) => ({ evidence: a.evidence, kind: 'token' as const, what })),
  ];
}

/** Query parameters that carry a credential. */
const CREDENTIAL_PARAMETER =
  /^(access[-_]?token|id[-_]?token|refresh[-_]?token|auth[-_]?token|authtoken|api[-_]?key|apikey|token|jwt|client[-_]?secret|password|secret)$/i;
const MORGAN_URL_FORMATS = new Set(['combined', 'common', 'dev', 'short', 'tiny']);

/** What one log call's arguments are inspected with. */
interface LogScope {
  readonly ctx: AuditContext;
  readonly unit: SourceUnit;
  readonly found: Map<string, 'token' | 'secret'>;
  readonly redacted: boolean;
  /** Environment variables the secret model says hold secrets (`RABBITMQ_URL` from a Secret). */
  readonly secretVariables: ReadonlySet<string>;
}

/**
 * A request header by name, however the request object was obtained (a handler parameter,
 * NestJS `context.switchToHttp().getRequest()`): `req.headers['x-internal-token']`.
 */
function headerName(expression: ts.Expression): string | undefined {
  if (inboundReference(expression) === 'header') return accessChain(expression)?.at(-1);
  const chain = accessChain(unwrap(expression));
  if (chain === undefined || chain.length < 3 || chain.at(-2) !== 'headers') return undefined;
  return chain.at(-1);
}

function inspect(scope: LogScope, expression: ts.Expression, depth: number): void {
  if (depth > 5) return;
  const { ctx, unit, found, redacted, secretVariables } = scope;
  const node = unwrap(expression);
  const recurse = (child: ts.Expression) => {
    inspect(scope, child, depth + 1);
  };
  if (ts.isIdentifier(node)) {
    const kind = sensitivity(node.text);
    if (kind !== undefined) {
      found.set(`\`${node.text}\``, kind);
      return;
    }
    const value = resolveValue(ctx.symbols, unit, node);
    const header = value === undefined ? undefined : headerName(value.expression);
    if (header !== undefined && sensitivity(header) !== undefined) {
      found.set(`the inbound \`${header}\` header`, 'token');
    }
    return;
  }
  if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
    const env = envName(node);
    if (env !== undefined) {
      const kind = sensitivity(env) ?? (secretVariables.has(env) ? 'secret' : undefined);
      if (kind !== undefined) found.set(`\`process.env.${env}\``, kind);
      return;
    }
    if (isProcessEnv(node)) return;
    if (inboundReference(node) === 'headers' && !redacted) {
      found.set('every inbound header (including `authorization`)', 'token');
      return;
    }
    const name = accessChain(node)?.at(-1);
    const kind = name === undefined ? undefined : sensitivity(name);
    if (kind !== undefined && name !== undefined) found.set(`\`${name}\``, kind);
    else if (name !== undefined && secretVariables.has(name)) {
      found.set(`\`${name}\`, which the deployment treats as a secret`, 'secret');
    }
    return;
  }
  if (ts.isTemplateExpression(node)) {
    for (const span of node.templateSpans) recurse(span.expression);
    return;
  }
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    recurse(node.left);
    recurse(node.right);
    return;
  }
  if (ts.isConditionalExpression(node)) {
    recurse(node.whenTrue);
    recurse(node.whenFalse);
    return;
  }
  if (ts.isArrayLiteralExpression(node)) {
    for (const element of node.elements) recurse(element);
    return;
  }
  if (ts.isObjectLiteralExpression(node)) {
    for (const property of node.properties) {
      if (ts.isShorthandPropertyAssignment(property)) {
        recurse(property.name);
      } else if (ts.isPropertyAssignment(property)) {
        const name = propertyNameText(property.name);
        const kind = name === undefined ? undefined : sensitivity(name);
        const value = unwrap(property.initializer);
        const carriesValue =
          !ts.isLiteralExpression(value) &&
          !ts.isNoSubstitutionTemplateLiteral(value) &&
          value.kind !== ts.SyntaxKind.TrueKeyword &&
          value.kind !== ts.SyntaxKind.FalseKeyword &&
          !ts.isPrefixUnaryExpression(value) &&
          !ts.isTypeOfExpression(value) &&
          !ts.isCallExpression(value) &&
          !(ts.isPropertyAccessExpression(value) && value.name.text === 'length') &&
          !namesTheSecret(value);
        if (kind !== undefined && name !== undefined && carriesValue)
          found.set(`\`${name}\``, kind);
        else recurse(property.initializer);
      } else if (ts.isSpreadAssignment(property)) {
        recurse(property.expression);
      }
    }
    return;
  }
  if (ts.isCallExpression(node) && PASS_THROUGH.has(calleeName(node) ?? '')) {
    for (const argument of node.arguments) recurse(argument);
    const callee = unwrap(node.expression);
    if (calleeName(node) === 'toString' && ts.isPropertyAccessExpression(callee)) {
      recurse(callee.expression);
    }
  }
}
