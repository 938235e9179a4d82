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

/** Log calls in non-test code that write a token or secret (by name or by origin). */
export function sensitiveLogs(ctx: AuditContext): LoggedSecret[] {
  const redacted = redactsAuthorization(ctx);
  const out: LoggedSecret[] = [];
  for (const file of productionFacts(ctx)) {
    for (const call of file.calls) {
      if (!isLogCall(call)) continue;
      const found = new Map<string, 'token' | 'secret'>();
      for (const argument of call.arguments) inspect(ctx, file.unit, argument, found, redacted, 0);
      for (const [what, kind] of found) {
        out.push({ evidence: evidenceAt(file.unit, call), kind, what });
      }
    }
  }
  return out;
}

function inspect(
  ctx: AuditContext,
  unit: SourceUnit,
  expression: ts.Expression,
  found: Map<string, 'token' | 'secret'>,
  redacted: boolean,
  depth: number,
): void {
  if (depth > 5) return;
  const node = unwrap(expression);
  const recurse = (child: ts.Expression) => {
    inspect(ctx, unit, child, found, redacted, depth + 1);
  };
  if (ts.isIdentifier(node)) {
    const kind = sensitivity(node.text);
    if (kind !== undefined) {
      found.set(`\`${node.text}\``, kind);
      return;
    }
    const value = resolveValue(ctx.symbols, unit, node);
    if (value !== undefined && inboundReference(value.expression) === 'header') {
      const header = accessChain(value.expression)?.at(-1) ?? '';
      if (sensitivity(header) !== undefined) found.set(`the inbound \`${header}\` header`, 'token');
    }
    return;
  }
  if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
    const env = envName(node);
    if (env !== undefined) {
      const kind = sensitivity(env);
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
