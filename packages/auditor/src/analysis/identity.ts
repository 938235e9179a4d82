import ts from 'typescript';
import { unwrap } from '../ast/syntax.ts';
import type { SourceUnit } from '../project/load.ts';
import type { AuditContext } from './context.ts';
import { optionOf, resolveFinal, resolveObject, type Located } from './outbound/expressions.ts';
import { productionFacts } from './outbound/scan.ts';

/** The package that exports Tessera's workload identity. */
const IDENTITY_MODULE = '@tessera/client';
/** Its factory, and the type a service passes it around as. */
const IDENTITY_BINDINGS = new Set(['createWorkloadIdentity', 'WorkloadIdentity']);
/** Methods that put the SVID on a server: TLS options that require a client certificate. */
const SERVER_METHODS = new Set(['tlsServerOptions', 'attachServer']);
/** Methods that return an undici dispatcher presenting the SVID (mutual TLS on outbound calls). */
const DISPATCHER_METHODS = new Set(['dispatcher', 'createDispatcher', 'agent']);
/** The identity's access-token source (`private_key_jwt` with the workload's key). */
const TOKEN_SOURCE_METHODS = new Set(['tokenSource']);
/** `@tessera/fastify`'s HTTPS options for a Fastify server, from an identity or its material. */
const PLUGIN_MODULE = '@tessera/fastify';
const PLUGIN_HTTPS_OPTIONS = 'tesseraHttpsOptions';

/** A server given the workload's certificate with client certificates requested. */
export interface IdentityServer {
  readonly site: Located<ts.CallExpression>;
  /** `attachServer`: the server follows renewals (`setSecureContext`). */
  readonly attached: boolean;
  /** `clientCertificate: 'optional'`: a missing certificate is left to the plugin. */
  readonly optional: Located | undefined;
}

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
  readonly servers: readonly IdentityServer[];
  readonly dispatchers: readonly Located<ts.CallExpression>[];
  readonly tokenSources: readonly Located<ts.CallExpression>[];
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

/** `tesseraHttpsOptions(identity, { clientCertificate: 'optional' })`. */
function optional(
  ctx: AuditContext,
  unit: SourceUnit,
  call: ts.CallExpression,
): Located | undefined {
  const argument = call.arguments[1];
  const options = argument === undefined ? undefined : resolveObject(ctx.symbols, unit, argument);
  const mode =
    options === undefined ? undefined : optionOf(ctx.symbols, options, 'clientCertificate');
  if (mode === undefined) return undefined;
  const text = ctx.symbols.staticString(mode.unit, mode.node);
  return text?.text === 'optional' ? mode : undefined;
}

/** Finds (once per audit) every use of a workload identity in the service's own code. */
export function workloadIdentityFacts(ctx: AuditContext): WorkloadIdentityFacts {
  return ctx.memo('tessera.identity', () => {
    const creations: Located<ts.CallExpression>[] = [];
    const servers: IdentityServer[] = [];
    const dispatchers: Located<ts.CallExpression>[] = [];
    const tokenSources: Located<ts.CallExpression>[] = [];
    for (const file of productionFacts(ctx)) {
      const { unit } = file;
      for (const call of file.calls) {
        if (isCreation(ctx, unit, call)) {
          creations.push({ unit, node: call });
          continue;
        }
        const reference = ctx.symbols.moduleReference(unit, call.expression);
        if (reference?.module === PLUGIN_MODULE && reference.path.at(-1) === PLUGIN_HTTPS_OPTIONS) {
          servers.push({
            site: { unit, node: call },
            attached: false,
            optional: optional(ctx, unit, call),
          });
          continue;
        }
        const callee = unwrap(call.expression);
        if (!ts.isPropertyAccessExpression(callee)) continue;
        const method = callee.name.text;
        const kind = SERVER_METHODS.has(method)
          ? 'server'
          : DISPATCHER_METHODS.has(method)
            ? 'dispatcher'
            : TOKEN_SOURCE_METHODS.has(method)
              ? 'tokens'
              : undefined;
        if (kind === undefined || !isIdentity(ctx, unit, callee.expression)) continue;
        const site = { unit, node: call };
        if (kind === 'server') {
          servers.push({ site, attached: method === 'attachServer', optional: undefined });
        } else (kind === 'dispatcher' ? dispatchers : tokenSources).push(site);
      }
    }
    return { creations, servers, dispatchers, tokenSources };
  });
}
