/**
 * Rate limiters in front of the service's routes, and whether they count per calling service
 * (seed audit 000, IA7: "Rate limiting per service — Global only" was a finding).
 */
import ts from 'typescript';
import { objectProperty, unwrap } from '../../ast/syntax.ts';
import type { AuditContext } from '../context.ts';
import type { Site } from './facts.ts';
import type { InboundModel } from './model.ts';

/** Fastify plugins and Express/Koa middleware factories that limit request rates. */
const FASTIFY_LIMITERS = new Set(['@fastify/rate-limit', 'fastify-rate-limit']);
const MIDDLEWARE_LIMITERS = new Set([
  'express-rate-limit',
  'express-slow-down',
  'koa-ratelimit',
  'koa2-ratelimit',
  'hono-rate-limiter',
]);

/** A key built from the verified caller, not from the network address. */
const IDENTITY_KEY =
  /\b(caller|user|userId|sub|client_?id|clientId|spiffe\w*|service\w*|principal|jwt|auth\w*|apiKey|tenant\w*|identity)\b/i;

export interface RateLimiter {
  readonly site: Site;
  /** The key generator's source names the verified caller. */
  readonly perCaller: boolean;
}

/** Every rate limiter the code installs; the Tessera plugin's own limiter is judged separately. */
export function rateLimiters(ctx: AuditContext, model: InboundModel): RateLimiter[] {
  const { symbols } = ctx;
  const keyedByCaller = (
    unit: Site['unit'],
    options: ts.ObjectLiteralExpression | undefined,
  ): boolean => {
    // koa-ratelimit names its key function `id`.
    const key =
      options === undefined
        ? undefined
        : (objectProperty(options, 'keyGenerator') ?? objectProperty(options, 'id'));
    if (key === undefined) return false;
    const value = symbols.finalValue(unit, key);
    return IDENTITY_KEY.test(value.expression.getText(value.unit.sourceFile));
  };
  const found: RateLimiter[] = model.graph.registrations
    .filter((r) => FASTIFY_LIMITERS.has(r.module))
    .map((r) => ({ site: r.site, perCaller: keyedByCaller(r.optionsUnit, r.options) }));
  // The calls the inbound scan already collected, per function: no second walk of every file.
  for (const fn of model.functions) {
    const unit = fn.unit;
    for (const node of fn.calls) {
      const reference = symbols.moduleReference(unit, node.expression);
      if (reference === undefined || !MIDDLEWARE_LIMITERS.has(reference.module)) continue;
      const first = node.arguments[0];
      const options =
        first === undefined ? undefined : unwrap(symbols.finalValue(unit, first).expression);
      found.push({
        site: { unit, node },
        perCaller: keyedByCaller(
          unit,
          options !== undefined && ts.isObjectLiteralExpression(options) ? options : undefined,
        ),
      });
    }
  }
  return found;
}
