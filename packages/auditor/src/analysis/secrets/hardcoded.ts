import ts from 'typescript';
import {
  accessChain,
  evidenceAt,
  evidenceAtLine,
  lineAtOffset,
  propertyNameText,
  unwrap,
} from '../../ast/syntax.ts';
import type { Evidence } from '../../model.ts';
import type { AuditContext } from '../context.ts';
import { infraFiles, isDeploymentKind, type InfraFile } from '../infra/files.ts';
import { forEachMap, get, items, str, type YNode } from '../infra/yaml.ts';
import { isSecretName, isTokenName } from '../names.ts';
import { ancestors, calleeName, resolveFinal } from '../outbound/expressions.ts';
import { envName, productionFacts, type FileFacts } from '../outbound/scan.ts';
import {
  HASH_NAME,
  isPlaceholder,
  knownSecretIn,
  looksLikeSecret,
  urlPassword,
  type SecretContext,
} from './literals.ts';

/**
 * Where a hard-coded secret sits:
 * - `source`: JavaScript/TypeScript code;
 * - `config`: committed application configuration (`.env`, `config/*.json`);
 * - `ci`: CI/CD pipelines (GitHub Actions, GitLab CI, Jenkinsfile …);
 * - `deployment`: compose files, Dockerfiles, manifests, Helm values, Terraform.
 */
export type SecretLocation = 'source' | 'config' | 'ci' | 'deployment';

export interface SecretFinding {
  readonly evidence: Evidence;
  /** What was found, for sentences: "a private key (PEM)", "a hard-coded value for `apiKey`". */
  readonly what: string;
  readonly location: SecretLocation;
  /** Only in development-named files (`docker-compose.dev.yml`, `.env.local`). */
  readonly development: boolean;
}

/** Signing and MAC functions whose key argument must never be a literal. */
const KEY_ARGUMENT = new Map<string, ReadonlyMap<string, number>>([
  [
    'jsonwebtoken',
    new Map([
      ['sign', 1],
      ['verify', 1],
    ]),
  ],
  ['crypto', new Map([['createHmac', 1]])],
  ['node:crypto', new Map([['createHmac', 1]])],
]);

/** Names of things that point at a secret (`secretProviderClass`, `secretKeyRef`). */
const REFERENCE_NAME =
  /(class|ref|refs|name|names|provider|providers|store|stores|mount|mounts|volume|manager|arn|ids?|paths?|files?|selector|type|kind|version|template|annotation|labels?|policy|role|prefix|suffix|header|field|env|var|variable|url|uri|endpoint)$/i;

function secretContext(name: string): SecretContext | undefined {
  if (HASH_NAME.test(name) || REFERENCE_NAME.test(name)) return undefined;
  if (isSecretName(name)) return 'named';
  if (isTokenName(name)) return 'token-named';
  return undefined;
}

/** A literal (or an env fallback literal: `process.env.X ?? 'literal'`) an expression is. */
function literalOf(expression: ts.Expression): ts.StringLiteralLike | undefined {
  const node = unwrap(expression);
  if (ts.isStringLiteralLike(node)) return node;
  if (
    ts.isBinaryExpression(node) &&
    (node.operatorToken.kind === ts.SyntaxKind.BarBarToken ||
      node.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken)
  ) {
    return literalOf(node.right);
  }
  return undefined;
}

const EXAMPLE_CONTAINER =
  /^(examples?|samples?|placeholder|mocks?|fixtures?|demo|swagger|openapi)$/i;

/** Inside `example: { password: '…' }` (API docs, schemas), not configuration. */
function insideExample(node: ts.Node): boolean {
  let depth = 0;
  for (const current of ancestors(node)) {
    if (++depth > 8 || ts.isFunctionLike(current)) return false;
    if (ts.isPropertyAssignment(current)) {
      const name = propertyNameText(current.name);
      if (name !== undefined && EXAMPLE_CONTAINER.test(name)) return true;
    }
  }
  return false;
}

/** Strips an HTTP auth scheme so `'Bearer abc…'` is judged on `abc…`. */
function credentialPart(name: string, value: string): string {
  if (name.toLowerCase() === 'authorization') return value.replace(/^(bearer|basic|token)\s+/i, '');
  return value;
}

/** Hard-coded secrets in the project's non-test source code. */
export function sourceSecrets(ctx: AuditContext): SecretFinding[] {
  const findings: SecretFinding[] = [];
  for (const file of productionFacts(ctx)) findings.push(...scanSource(ctx, file));
  return findings;
}

function scanSource(ctx: AuditContext, file: FileFacts): SecretFinding[] {
  const { unit } = file;
  const out: SecretFinding[] = [];
  const seen = new Set<number>();
  const report = (node: ts.Node, what: string) => {
    const evidence = evidenceAt(unit, node);
    if (seen.has(evidence.line)) return;
    seen.add(evidence.line);
    out.push({ evidence, what, location: 'source', development: false });
  };
  const judge = (name: string, value: ts.Expression | undefined, at: ts.Node) => {
    if (value === undefined) return;
    const context = secretContext(name);
    if (context === undefined) return;
    const literal = literalOf(value);
    if (literal === undefined || insideExample(at)) return;
    if (looksLikeSecret(credentialPart(name, literal.text), context)) {
      report(at, `a hard-coded value for \`${name}\``);
    }
  };

  for (const literal of file.strings) {
    const known = knownSecretIn(literal.text);
    if (known !== undefined) {
      report(literal, known.what);
      continue;
    }
    const password = urlPassword(literal.text);
    if (password !== undefined && looksLikeSecret(decode(password), 'named')) {
      report(literal, 'a password inside a connection URL');
    }
  }
  for (const template of file.templates) {
    const known = knownSecretIn(template.head.text);
    if (known !== undefined) report(template, known.what);
  }
  for (const declaration of file.variables) {
    if (ts.isIdentifier(declaration.name))
      judge(declaration.name.text, declaration.initializer, declaration);
  }
  for (const property of file.properties) {
    if (!ts.isPropertyAssignment(property)) continue;
    const name = propertyNameText(property.name);
    if (name !== undefined) judge(name, property.initializer, property);
  }
  for (const assignment of file.assignments) {
    const chain = accessChain(assignment.left);
    const name = envName(assignment.left) ?? chain?.at(-1);
    if (name !== undefined) judge(name, assignment.right, assignment);
  }
  for (const declaration of file.initialized) {
    const name = ts.isIdentifier(declaration.name)
      ? declaration.name.text
      : ts.isObjectBindingPattern(declaration.name) || ts.isArrayBindingPattern(declaration.name)
        ? undefined
        : propertyNameText(declaration.name);
    if (name !== undefined) judge(name, declaration.initializer, declaration);
  }
  for (const comparison of file.comparisons) {
    // `if (token === 'abc…')`: the expected credential is in the code.
    for (const [side, other] of [
      [comparison.left, comparison.right],
      [comparison.right, comparison.left],
    ] as const) {
      const chain = accessChain(side);
      const name = chain?.at(-1);
      if (name !== undefined && ts.isStringLiteralLike(unwrap(other)))
        judge(name, other, comparison);
    }
  }
  for (const call of file.calls) {
    const reference = ctx.symbols.moduleReference(unit, call.expression);
    const position =
      reference === undefined
        ? undefined
        : KEY_ARGUMENT.get(reference.module)?.get(reference.path.at(-1) ?? '');
    const argument = position === undefined ? undefined : call.arguments[position];
    if (argument === undefined) continue;
    const final = resolveFinal(ctx.symbols, unit, argument);
    const literal = literalOf(final.expression);
    if (literal !== undefined && looksLikeSecret(literal.text, 'positional')) {
      const where = final.unit === unit ? literal : argument;
      report(where, `a hard-coded key passed to \`${calleeName(call) ?? 'sign'}\``);
    }
  }
  return out;
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Hard-coded secrets in configuration, CI and deployment files. */
export function textSecrets(ctx: AuditContext): SecretFinding[] {
  const out: SecretFinding[] = [];
  for (const infra of infraFiles(ctx)) {
    if (infra.isTest || infra.kind === 'env-example' || infra.ignored) continue;
    if (infra.kind === 'package') out.push(...scanPackageFile(infra));
    else out.push(...scanText(infra));
  }
  return out;
}

/**
 * Package manifests and `.npmrc`: only well-known credential formats and registry auth tokens
 * (`//registry/:_authToken=…`); lock files are left alone (hashes, not secrets).
 */
function scanPackageFile(infra: InfraFile): SecretFinding[] {
  const { file } = infra;
  if (
    /(^|\/)(package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml)$/.test(file.path)
  ) {
    return [];
  }
  const out: SecretFinding[] = [];
  const known = knownSecretIn(file.text);
  if (known !== undefined) {
    out.push({
      evidence: evidenceAtLine(file.path, file.text, lineAtOffset(file.text, known.index)),
      what: known.what,
      location: 'config',
      development: false,
    });
  }
  eachLine(file.text, /_(authToken|auth|password)\s*=\s*(\S+)/, (match, line) => {
    if (
      looksLikeSecret(unquote(match[2] ?? ''), 'positional') &&
      !/\$\{?[A-Z_]/.test(match[2] ?? '')
    ) {
      out.push({
        evidence: evidenceAtLine(file.path, file.text, line),
        what: 'a registry auth token',
        location: 'config',
        development: false,
      });
    }
  });
  return out;
}

function locationOf(infra: InfraFile): SecretLocation {
  if (infra.kind === 'ci') return 'ci';
  return isDeploymentKind(infra.kind) ? 'deployment' : 'config';
}

function scanText(infra: InfraFile): SecretFinding[] {
  const { file } = infra;
  const out: SecretFinding[] = [];
  const seen = new Set<number>();
  const location = locationOf(infra);
  const report = (line: number, what: string) => {
    if (seen.has(line)) return;
    seen.add(line);
    out.push({
      evidence: evidenceAtLine(file.path, file.text, line),
      what,
      location,
      development: infra.isDevelopment,
    });
  };
  const judge = (name: string, value: string | undefined, line: number) => {
    if (value === undefined) return;
    const context = secretContext(name);
    if (context === undefined) return;
    if (looksLikeSecret(credentialPart(name, unquote(value)), context)) {
      report(line, `a hard-coded value for \`${name}\``);
    }
  };

  const known = knownSecretIn(file.text);
  if (known !== undefined) report(lineAtOffset(file.text, known.index), known.what);

  if (infra.documents.length > 0) {
    for (const document of infra.documents) scanYaml(document, judge, report);
  } else if (
    infra.kind === 'env' ||
    infra.kind === 'config' ||
    infra.kind === 'kafka' ||
    infra.kind === 'rabbitmq'
  ) {
    eachLine(
      file.text,
      /^\s*(?:export\s+)?([A-Za-z_][\w.-]*)\s*[=:]\s*(.*?)\s*$/,
      (match, line) => {
        judge(match[1] ?? '', stripComment(match[2] ?? ''), line);
      },
    );
  } else if (infra.kind === 'dockerfile') {
    eachLine(file.text, /^\s*(?:ENV|ARG)\s+(.*)$/i, (match, line) => {
      for (const [name, value] of dockerPairs(match[1] ?? '')) judge(name, value, line);
    });
  } else if (infra.kind === 'ci' || infra.kind === 'terraform') {
    // Jenkinsfile `environment { API_KEY = 'abc' }`, Terraform `password = "abc"`.
    eachLine(file.text, /^\s*([A-Za-z_][\w-]*)\s*=\s*(['"])(.*?)\2/, (match, line) => {
      judge(match[1] ?? '', match[3] ?? '', line);
    });
  }
  return out;
}

function scanYaml(
  document: YNode,
  judge: (name: string, value: string | undefined, line: number) => void,
  report: (line: number, what: string) => void,
): void {
  // A committed Kubernetes Secret: every value under data/stringData is a secret.
  if (str(get(document, 'kind')) === 'Secret') {
    for (const key of ['data', 'stringData']) {
      const data = get(document, key);
      if (data?.kind !== 'map') continue;
      for (const entry of data.entries) {
        const value = str(entry.value);
        if (value !== undefined && !isPlaceholder(value) && value.length >= 4) {
          report(entry.line, `a committed Kubernetes Secret value \`${entry.key}\``);
        }
      }
    }
  }
  forEachMap(document, (map) => {
    // Kubernetes env lists: `- name: DB_PASSWORD\n  value: "…"`.
    const name = str(get(map, 'name'));
    const value = get(map, 'value');
    if (name !== undefined && value !== undefined) judge(name, str(value), value.line);
    for (const entry of map.entries) {
      if (entry.value?.kind === 'scalar') judge(entry.key, str(entry.value), entry.line);
      // Compose `environment: ["DB_PASSWORD=…"]`.
      if (entry.key === 'environment' || entry.key === 'env' || entry.key === 'variables') {
        for (const item of items(entry.value)) {
          const text = str(item);
          const match = text === undefined ? null : /^([A-Za-z_][\w.-]*)=(.*)$/.exec(text);
          if (match !== null && item.kind === 'scalar') judge(match[1] ?? '', match[2], item.line);
        }
      }
    }
  });
}

function eachLine(
  text: string,
  pattern: RegExp,
  visit: (match: RegExpExecArray, line: number) => void,
): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (/^\s*(#|\/\/|;)/.test(line)) continue;
    const match = pattern.exec(line);
    if (match !== null) visit(match, i + 1);
  }
}

function stripComment(value: string): string {
  const quoted = /^(['"])(.*)\1/.exec(value);
  if (quoted !== null) return quoted[2] ?? '';
  return value.replace(/\s+#.*$/, '');
}

function unquote(value: string): string {
  const quoted = /^(['"])(.*)\1$/.exec(value.trim());
  return quoted === null ? value.trim() : (quoted[2] ?? '');
}

/** `ENV A=1 B="two"` or the legacy `ENV A 1`. */
function dockerPairs(rest: string): [string, string][] {
  const pairs: [string, string][] = [];
  const assignment = /([A-Za-z_][\w.-]*)=("[^"]*"|'[^']*'|\S*)/g;
  let match: RegExpExecArray | null;
  while ((match = assignment.exec(rest)) !== null)
    pairs.push([match[1] ?? '', unquote(match[2] ?? '')]);
  if (pairs.length === 0) {
    const legacy = /^([A-Za-z_][\w.-]*)\s+(.+)$/.exec(rest.trim());
    if (legacy !== null) pairs.push([legacy[1] ?? '', unquote(legacy[2] ?? '')]);
  }
  return pairs;
}
