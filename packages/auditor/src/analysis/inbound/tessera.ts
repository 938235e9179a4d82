/**
 * Tessera's Fastify plugin as the audited service uses it: its options and the policy it
 * enforces (read from the policy file in the repository or an inline policy literal).
 */
import ts from 'typescript';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import type { SymbolTable } from '../../ast/symbols.ts';
import { evidenceAt, evidenceAtLine, objectProperty, unwrap } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { Project, SourceUnit } from '../../project/load.ts';
import type { Site } from './facts.ts';
import type { Registration } from './scopes.ts';

/** One route rule of a Tessera policy. */
export interface PolicyRoute {
  readonly service: string;
  readonly method: string;
  readonly path: string;
  readonly access: 'public' | 'any-authenticated' | 'allow';
  /** Allowed callers (service names or SPIFFE IDs) for `allow` rules. */
  readonly callers: readonly string[];
  readonly evidence: Evidence;
}

export interface Policy {
  readonly evidence: Evidence;
  readonly routes: readonly PolicyRoute[];
}

export interface TesseraUse {
  readonly site: Site;
  /** The `service` option when it is a literal. */
  readonly service: string | undefined;
  readonly policy: Policy | undefined;
  /** A `spoofableHeaders` override (lower-cased), when the option is a literal list. */
  readonly spoofableHeaders: readonly string[] | undefined;
  readonly serveStale: Site | undefined;
  /** `rateLimit: false`: the plugin's per-caller limiter switched off. */
  readonly rateLimitOff: Site | undefined;
  /**
   * `mtls: { mode }`: the caller comes from the client certificate's single SPIFFE URI SAN,
   * parsed strictly and checked against the trust domain, and the policy applies to it.
   */
  readonly mtls: { readonly site: Site; readonly required: boolean } | undefined;
  /** An `authority` option: keys, and the revocation feed (tokens, services, SVID serials). */
  readonly authority: Site | undefined;
}

/** Reads each Tessera registration's options and its policy. */
export function readTesseraUses(
  registrations: readonly Registration[],
  project: Project,
  symbols: SymbolTable,
): TesseraUse[] {
  const uses: TesseraUse[] = [];
  for (const registration of registrations) {
    if (registration.module !== '@tessera/fastify') continue;
    const options = registration.options;
    const unit = registration.optionsUnit;
    const option = (name: string): ts.Expression | undefined =>
      options === undefined ? undefined : objectProperty(options, name);
    const serviceValue = option('service');
    const service =
      serviceValue === undefined ? undefined : symbols.staticString(unit, serviceValue);
    const policyExpression = option('policy');
    let policy: Policy | undefined;
    try {
      policy =
        policyExpression === undefined
          ? findPolicyFile(project, undefined)
          : readPolicy(project, symbols, unit, policyExpression);
    } catch {
      policy = undefined;
    }
    const headers = option('spoofableHeaders');
    let spoofableHeaders: string[] | undefined;
    if (headers !== undefined) {
      const value = unwrap(symbols.finalValue(unit, headers).expression);
      if (ts.isArrayLiteralExpression(value)) {
        spoofableHeaders = value.elements
          .filter(ts.isStringLiteralLike)
          .map((e) => e.text.toLowerCase());
      }
    }
    const mtls = options === undefined ? undefined : optionalProperty(options, 'mtls');
    const mtlsObject =
      mtls === undefined ? undefined : unwrap(symbols.finalValue(unit, mtls).expression);
    const mode =
      mtlsObject !== undefined && ts.isObjectLiteralExpression(mtlsObject)
        ? objectProperty(mtlsObject, 'mode')
        : undefined;
    const authority = option('authority');
    const limit = option('rateLimit');
    const stale = option('staleRevocations');
    const staleText = stale === undefined ? undefined : symbols.staticString(unit, stale);
    uses.push({
      site: registration.site,
      service: service?.complete === true ? service.text : undefined,
      policy: policy === undefined ? undefined : onlyService(policy, service?.text),
      spoofableHeaders,
      serveStale:
        staleText?.text === 'serve-stale' && stale !== undefined
          ? { unit, node: stale }
          : undefined,
      rateLimitOff:
        limit !== undefined && unwrap(limit).kind === ts.SyntaxKind.FalseKeyword
          ? { unit, node: limit }
          : undefined,
      mtls:
        mtls === undefined
          ? undefined
          : {
              site: { unit, node: mtls },
              required: mode === undefined || symbols.staticString(unit, mode)?.text !== 'optional',
            },
      authority: authority === undefined ? undefined : { unit, node: authority },
    });
  }
  return uses;
}

/**
 * An option set directly or through a conditional spread (`...(secure ? { mtls } : {})`), the
 * usual way to pass an option only in some configurations.
 */
function optionalProperty(
  options: ts.ObjectLiteralExpression,
  name: string,
): ts.Expression | undefined {
  const direct = objectProperty(options, name);
  if (direct !== undefined) return direct;
  for (const property of options.properties) {
    if (!ts.isSpreadAssignment(property)) continue;
    const spread = unwrap(property.expression);
    const branches = ts.isConditionalExpression(spread)
      ? [spread.whenTrue, spread.whenFalse]
      : [spread];
    for (const branch of branches) {
      const object = unwrap(branch);
      if (!ts.isObjectLiteralExpression(object)) continue;
      const found = objectProperty(object, name);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function onlyService(policy: Policy, service: string | undefined): Policy {
  if (service === undefined) return policy;
  const mine = policy.routes.filter((r) => r.service === service);
  return mine.length === 0 ? policy : { ...policy, routes: mine };
}

/** Follows the `policy` option to a file name or an inline policy text. */
function readPolicy(
  project: Project,
  symbols: SymbolTable,
  unit: SourceUnit,
  expression: ts.Expression,
): Policy | undefined {
  const literals: { unit: SourceUnit; node: ts.StringLiteralLike }[] = [];
  const objects: { unit: SourceUnit; node: ts.ObjectLiteralExpression }[] = [];
  const seen = new Set<ts.Node>();
  const collect = (u: SourceUnit, node: ts.Node, depth: number): void => {
    if (depth > 4 || seen.has(node) || literals.length > 20) return;
    seen.add(node);
    if (ts.isStringLiteralLike(node)) {
      literals.push({ unit: u, node });
      return;
    }
    if (ts.isObjectLiteralExpression(node) && objectProperty(node, 'trustDomain') !== undefined) {
      objects.push({ unit: u, node });
      return;
    }
    if (ts.isIdentifier(node)) {
      const value = symbols.valueOf(u, node);
      if (value !== undefined && value.expression !== node) {
        collect(value.unit, value.expression, depth + 1);
      }
      return;
    }
    ts.forEachChild(node, (child) => {
      collect(u, child, depth);
    });
  };
  collect(unit, expression, 0);
  for (const literal of literals) {
    if (literal.node.text.includes('trustDomain')) {
      const start = literal.unit.sourceFile.getLineAndCharacterOfPosition(
        literal.node.getStart(literal.unit.sourceFile) + 1,
      ).line;
      return (
        parsePolicyText(literal.node.text, (line) =>
          evidenceAtLine(literal.unit.path, literal.unit.text, start + line),
        ) ?? { evidence: evidenceAt(literal.unit, literal.node), routes: [] }
      );
    }
  }
  // `compilePolicy({ ... })`: a JavaScript object literal is usually valid YAML flow syntax.
  for (const object of objects) {
    const start = object.unit.sourceFile.getLineAndCharacterOfPosition(
      object.node.getStart(object.unit.sourceFile),
    ).line;
    try {
      const policy = parsePolicyText(object.node.getText(object.unit.sourceFile), (line) =>
        evidenceAtLine(object.unit.path, object.unit.text, start + line),
      );
      if (policy !== undefined) return policy;
    } catch {
      return { evidence: evidenceAt(object.unit, object.node), routes: [] };
    }
  }
  for (const literal of literals) {
    if (/\.(ya?ml|json)$/i.test(literal.node.text)) {
      const found = findPolicyFile(project, literal.node.text);
      if (found !== undefined) return found;
    }
  }
  return findPolicyFile(project, undefined);
}

/** A policy file by name, or any file that looks like a Tessera policy. */
function findPolicyFile(project: Project, name: string | undefined): Policy | undefined {
  const base = name?.split(/[\\/]/).pop();
  const candidates = project.textFiles.filter((f) =>
    base === undefined
      ? /policy[^/]*\.(ya?ml|json)$/i.test(f.path) && f.text.includes('trustDomain')
      : f.path === base || f.path.endsWith(`/${base}`),
  );
  for (const file of candidates) {
    const policy = parsePolicyText(file.text, (line) => evidenceAtLine(file.path, file.text, line));
    if (policy !== undefined) return policy;
  }
  return undefined;
}

/** Parses policy text (YAML or JSON); `at(line)` turns a 1-based line of the text into evidence. */
function parsePolicyText(text: string, at: (line: number) => Evidence): Policy | undefined {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, uniqueKeys: false });
  const root = document.contents;
  if (!isMap(root)) return undefined;
  const lineOf = (node: YamlNode | null | undefined): number =>
    node?.range === undefined || node.range === null ? 1 : lineCounter.linePos(node.range[0]).line;
  const routes: PolicyRoute[] = [];
  const services = root.get('services', true);
  if (!isMap(services)) return { evidence: at(1), routes };
  for (const pair of services.items) {
    const service = isScalar(pair.key) ? String(pair.key.value) : undefined;
    if (service === undefined || !isMap(pair.value)) continue;
    const list = pair.value.get('routes', true);
    if (!isSeq(list)) continue;
    for (const item of list.items) {
      if (!isMap(item)) continue;
      const method = item.get('method');
      const path = item.get('path');
      const isPublic = item.get('public') === true;
      const allow = item.get('allow', true);
      // Point at the decisive key (`allow:` or `public:`), not the start of the rule.
      const decisive = (isPublic ? item.get('public', true) : allow) as YamlNode | undefined;
      let access: PolicyRoute['access'] = 'allow';
      const callers: string[] = [];
      if (isPublic) access = 'public';
      else if (isScalar(allow) && allow.value === 'any-authenticated') access = 'any-authenticated';
      else if (isSeq(allow)) {
        for (const entry of allow.items) {
          if (isMap(entry)) callers.push(String(entry.get('service')));
        }
      }
      routes.push({
        service,
        method: typeof method === 'string' ? method : '?',
        path: typeof path === 'string' ? path : '?',
        access,
        callers,
        evidence: at(lineOf(decisive ?? item)),
      });
    }
  }
  return { evidence: at(lineOf(services)), routes };
}
