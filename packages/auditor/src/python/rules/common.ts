/** Helpers the Python rules share: evidence from sites, the model's authentication facts. */
import type { Evidence } from '../../model.ts';
import type { FunctionFacts, JwtDecode, Site } from '../facts.ts';
import type { PythonModel } from '../model.ts';

/** Evidence for sites, deduplicated, at most `limit`. */
export function evidenceOf(m: PythonModel, sites: readonly Site[], limit = 8): Evidence[] {
  const seen = new Set<string>();
  const out: Evidence[] = [];
  for (const site of sites) {
    const key = `${site.file.path}:${String(site.line)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(m.py.evidence(site.file, site.line));
    if (out.length >= limit) break;
  }
  return out;
}

/** Every function's facts (handlers, dependencies, helpers). */
export const allFacts = (m: PythonModel): FunctionFacts[] =>
  m.py.functions.map((fn) => m.inbound.factsOf(fn));

/** Functions that take part in authentication: they reject, compare secrets or verify tokens. */
export function authFacts(m: PythonModel): FunctionFacts[] {
  const set = new Set<FunctionFacts>(m.inbound.authFunctions);
  for (const f of allFacts(m)) {
    if (f.jwt.length > 0 || f.digestCompares.length > 0 || f.plainCompares.length > 0) set.add(f);
    if (f.rejects.length > 0 && (f.headerReads.length > 0 || f.schemes.length > 0)) set.add(f);
  }
  return [...set];
}

/** Every JWT decode of the service's own code. */
export const jwtDecodes = (m: PythonModel): JwtDecode[] => allFacts(m).flatMap((f) => f.jwt);

/** Static shared tokens compared by the service (`x_token != settings.token`, compare_digest). */
export const staticTokenChecks = (m: PythonModel): Site[] =>
  authFacts(m).flatMap((f) => [...f.plainCompares, ...f.digestCompares]);

export const plural = (n: number, word: string): string =>
  `${String(n)} ${word}${n === 1 ? '' : 's'}`;

/**
 * Does any other service call this one? Yes when it checks a service credential (a shared
 * token, a service JWT claim) or serves internal routes; a service only end users reach has no
 * service caller to identify, allowlist or log (SE8, SE10, SE13 are then N/A).
 */
export function serviceFacing(m: PythonModel): boolean {
  if (staticTokenChecks(m).length > 0) return true;
  if (
    m.surface.routes.some((r) =>
      /(^|\/)(internal|service|services|svc|s2s|private)(\/|$)/i.test(r.path),
    )
  ) {
    return true;
  }
  return m.py.files.some((f) =>
    /spiffe|client_credentials|["']azp["']|["']client_id["']/.test(f.text),
  );
}

/** Functions reached from authentication (middleware and route dependencies) that call out. */
export function introspection(m: PythonModel): Site[] {
  const reached = new Set(m.inbound.authFunctions.map((f) => f.fn));
  return m.outbound.calls.filter((c) => c.fn !== undefined && reached.has(c.fn)).map((c) => c.site);
}
