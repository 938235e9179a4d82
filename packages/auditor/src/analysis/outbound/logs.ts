import ts from 'typescript';
import { accessChain } from '../../ast/syntax.ts';

const LOG_METHODS = new Set([
  'info',
  'warn',
  'warning',
  'error',
  'debug',
  'trace',
  'fatal',
  'log',
  'verbose',
  'silly',
  'http',
  'notice',
  'critical',
  'crit',
  'alert',
  'emerg',
]);
const LOGGER_NAMES =
  /^(console|_?logger|log|logging|winston|pino|bunyan|signale|auditlog(ger)?|securitylog(ger)?)$/i;

/**
 * Is this a logging call: `console.log`, `logger.info`, `this.logger.warn`, `req.log.error`,
 * `app.log.info`, `log.debug`? The receiver must be named like a logger, so `promise.error()`
 * or `res.send()` do not count.
 */
export function isLogCall(call: ts.CallExpression): boolean {
  const chain = accessChain(call.expression);
  if (chain === undefined || chain.length < 2) return false;
  const method = chain[chain.length - 1] ?? '';
  if (!LOG_METHODS.has(method)) return false;
  return chain.slice(0, -1).some((name) => LOGGER_NAMES.test(name));
}

/** Log calls whose first token is inside `node` (excluding nested functions when asked). */
export function logCallsWithin(node: ts.Node): ts.CallExpression[] {
  const found: ts.CallExpression[] = [];
  const visit = (child: ts.Node): void => {
    if (ts.isCallExpression(child) && isLogCall(child)) found.push(child);
    ts.forEachChild(child, visit);
  };
  visit(node);
  return found;
}
