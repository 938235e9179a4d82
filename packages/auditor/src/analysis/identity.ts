import ts from 'typescript';
import { unwrap } from '../ast/syntax.ts';
import type { SourceUnit } from '../project/load.ts';
import type { AuditContext } from '../rules/rule.ts';
import { resolveFinal, type Located } from './outbound/expressions.ts';
import { productionFacts } from './outbound/scan.ts';

/** The package that exports Tessera's workload identity. */
const IDENTITY_MODULE = '@tessera/client';
/** Its factory, and the type a service passes it around as. */
const IDENTITY_BINDINGS = new Set(['createWorkloadIdentity', 'WorkloadIdentity']);
/** Methods that put the SVID on a server: TLS options that require a client certificate. */
const SERVER_METHODS = new Set(['tlsServerOptions', 'attachServer']);
/** Methods that return an undici dispatcher presenting the SVID (mutual TLS on outbound calls). */
const DISPATCHER_METHODS = new Set(['dispatcher', 'createDispatcher', 'agent']);

/**
 * Tessera's workload identity (`createWorkloadIdentity` from `@tessera/client`) as a service
 * uses it. The identity holds the service's X.509-SVID and renews it in process:
 * - `tlsServerOptions()` / `attachServer(server)` make a server require a client certificate
 *   that chains to the trust domain's bundle, and swap in the renewed certificate
 *   (`setSecureContext`);
 * - its dispatcher presents the SVID on every outbound connection (mutual TLS) and checks the
 *   server's SPIFFE ID.
 * The library's own code is not in the audited project, so these calls are the evidence.
 */
export interface WorkloadIdentityFacts {
  readonly creations: readonly Located<ts.CallExpression>[];
  readonly servers: readonly Located<ts.CallExpression>[];
  readonly dispatchers: readonly Located<ts.CallExpression>[];
}

/** Does the file import the identity's factory or type from Tessera's client? */
function importsIdentity(ctx: AuditContext, unit: SourceUnit): boolean {
  for (const binding of ctx.symbols.importsOf(unit).values()) {
    if (binding.module === IDENTITY_MODULE && IDENTITY_BINDINGS.has(binding.imported)) return true;
  }
  return false;
}

function isCreation(ctx: AuditContext, unit: SourceUnit, call: ts.CallExpression): boolean {
  const reference = ctx.symbols.moduleReference(unit, call.expression);
  return (
    reference?.module === IDENTITY_MODULE && reference.path.at(-1) === 'createWorkloadIdentity'
  );
}

/**
 * Is `receiver` a workload identity? Either its value is a `createWorkloadIdentity(…)` call, or
 * the file works with the identity's type (a parameter or property typed `WorkloadIdentity`),
 * whose methods carry these distinctive names.
 */
function isIdentity(ctx: AuditContext, unit: SourceUnit, receiver: ts.Expression): boolean {
  const final = resolveFinal(ctx.symbols, unit, receiver);
  const value = unwrap(final.expression);
  if (ts.isAwaitExpression(value)) {
    const awaited = unwrap(value.expression);
    if (ts.isCallExpression(awaited) && isCreation(ctx, final.unit, awaited)) return true;
  }
  if (ts.isCallExpression(value) && isCreation(ctx, final.unit, value)) return true;
  return importsIdentity(ctx, unit);
}

/** Finds (once per audit) every use of a workload identity in the service's own code. */
export function workloadIdentityFacts(ctx: AuditContext): WorkloadIdentityFacts {
  return ctx.memo('tessera.identity', () => {
    const creations: Located<ts.CallExpression>[] = [];
    const servers: Located<ts.CallExpression>[] = [];
    const dispatchers: Located<ts.CallExpression>[] = [];
    for (const file of productionFacts(ctx)) {
      const { unit } = file;
      for (const call of file.calls) {
        if (isCreation(ctx, unit, call)) {
          creations.push({ unit, node: call });
          continue;
        }
        const callee = unwrap(call.expression);
        if (!ts.isPropertyAccessExpression(callee)) continue;
        const method = callee.name.text;
        const server = SERVER_METHODS.has(method);
        if (!server && !DISPATCHER_METHODS.has(method)) continue;
        if (!isIdentity(ctx, unit, callee.expression)) continue;
        (server ? servers : dispatchers).push({ unit, node: call });
      }
    }
    return { creations, servers, dispatchers };
  });
}
