/**
 * Framework adapters beyond Fastify, Express and node:http: what creates an instance, and the
 * framework-specific shapes the scope graph and the per-function facts need.
 */
import type { ModuleReference } from '../../../ast/symbols.ts';
import { honoCreation } from './hono.ts';
import { koaCreation } from './koa.ts';

export type AdapterCreationKind = 'koa' | 'koa-router' | 'hono';

/** `new Koa()`, `new Router()` (Koa), `new Hono()`: the instance a constructor call creates. */
export function adapterCreation(ref: ModuleReference): AdapterCreationKind | undefined {
  return koaCreation(ref) ?? honoCreation(ref);
}

export { honoAllowsAnonymous, honoBasePath, honoServeTls } from './hono.ts';
export {
  catchesDownstream,
  koaJwtPassthrough,
  koaMount,
  koaRoute,
  koaRouterPrefix,
} from './koa.ts';
export { exempts, unlessExemption, type Exemption } from './unless.ts';
