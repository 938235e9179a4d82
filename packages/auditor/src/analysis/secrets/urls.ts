import ts from 'typescript';
import { accessChain, evidenceAt, propertyNameText } from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { AuditContext } from '../context.ts';
import { optionOf, resolveObject } from '../outbound/expressions.ts';
import { httpModel } from '../outbound/index.ts';
import { productionFacts } from '../outbound/scan.ts';

/** A token or secret carried in a URL (logged by every proxy on the way). */
export interface TokenInUrl {
  readonly evidence: Evidence;
  readonly what: string;
}

/** Query parameters that always carry a credential. */
const STRONG_PARAMETER =
  /^(access[-_]?token|id[-_]?token|refresh[-_]?token|auth[-_]?token|authtoken|api[-_]?key|apikey|client[-_]?secret|jwt|bearer|password|passwd|secret|private[-_]?key|service[-_]?token)$/i;
/** On an outbound call's own URL, `token` and `key` are credentials too. */
const OUTBOUND_PARAMETER = /^(token|key|auth|sig)$/i;
const QUERY = /[?&]([A-Za-z_][\w-]*)=/g;

function parametersIn(text: string, outbound: boolean): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(QUERY)) {
    const name = match[1] ?? '';
    if (
      STRONG_PARAMETER.test(name) ||
      (outbound && OUTBOUND_PARAMETER.test(name) && name !== 'sig')
    ) {
      names.push(name);
    }
  }
  return names;
}

/**
 * Tokens in URLs: outbound URLs with `?token=`/`?api_key=`, `params`/`searchParams` options
 * with credential names, `searchParams.set('access_token', …)`, any URL text with a credential
 * parameter, and inbound handlers that read a credential from the query string.
 */
export function tokensInUrls(ctx: AuditContext): TokenInUrl[] {
  const out: TokenInUrl[] = [];
  const seen = new Set<string>();
  const report = (evidence: Evidence, what: string) => {
    const key = `${evidence.file}:${String(evidence.line)}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ evidence, what });
  };
  const model = httpModel(ctx);
  for (const site of model.sites) {
    if (site.kind !== 'call' && site.kind !== 'client') continue;
    const names = site.url === undefined ? [] : parametersIn(site.url.text, true);
    if (names.length > 0) {
      report(
        evidenceAt(site.urlAt?.unit ?? site.unit, site.urlAt?.node ?? site.node),
        `\`${names.join('`, `')}\` in the URL of an outbound call`,
      );
    }
    if (!ts.isCallExpression(site.node)) continue;
    for (const argument of site.node.arguments) {
      const object = resolveObject(ctx.symbols, site.unit, argument);
      if (object === undefined) continue;
      for (const option of ['params', 'searchParams', 'qs', 'query']) {
        const value = optionOf(ctx.symbols, object, option);
        const params =
          value === undefined ? undefined : resolveObject(ctx.symbols, value.unit, value.node);
        if (params === undefined) continue;
        for (const property of params.node.properties) {
          const name =
            ts.isPropertyAssignment(property) || ts.isShorthandPropertyAssignment(property)
              ? propertyNameText(property.name)
              : undefined;
          if (name !== undefined && (STRONG_PARAMETER.test(name) || /^(token|key)$/i.test(name))) {
            report(evidenceAt(params.unit, property), `\`${name}\` sent as a query parameter`);
          }
        }
      }
    }
  }
  for (const file of productionFacts(ctx)) {
    const { unit } = file;
    const texts: [ts.Node, string][] = [
      ...file.strings.map((s): [ts.Node, string] => [s, s.text]),
      ...file.templates.map((t): [ts.Node, string] => [
        t,
        t.head.text + t.templateSpans.map((s) => `\${…}${s.literal.text}`).join(''),
      ]),
    ];
    for (const [node, text] of texts) {
      if (!text.includes('=')) continue;
      const names = parametersIn(text, false);
      if (names.length > 0) report(evidenceAt(unit, node), `\`${names.join('`, `')}\` in a URL`);
    }
    for (const call of file.calls) {
      const chain = accessChain(call.expression);
      const first = call.arguments[0];
      if (chain === undefined || first === undefined || !ts.isStringLiteralLike(first)) continue;
      const method = chain.at(-1);
      if (
        (method === 'set' || method === 'append') &&
        chain.includes('searchParams') &&
        (STRONG_PARAMETER.test(first.text) || /^token$/i.test(first.text))
      ) {
        report(evidenceAt(unit, call), `\`${first.text}\` added to a URL's query string`);
      } else if (
        method === 'get' &&
        chain.includes('searchParams') &&
        STRONG_PARAMETER.test(first.text)
      ) {
        report(evidenceAt(unit, call), `\`${first.text}\` read from a URL's query string`);
      }
    }
    // Inbound: `req.query.access_token`, `const { api_key } = request.query`.
    for (const read of file.queryReads) {
      if (STRONG_PARAMETER.test(read.name)) {
        report(evidenceAt(unit, read.node), `\`${read.name}\` accepted from the query string`);
      }
    }
  }
  return out;
}
