/**
 * Where a Python service's secrets come from (environment, pydantic settings with defaults,
 * literals, a secrets manager or mounted files) and where they are logged.
 */
import { isSecretName, isTokenName } from '../analysis/names.ts';
import type { PyNode } from './parser.ts';
import type { PyProject } from './project.ts';
import { isLogCall, type Site } from './facts.ts';
import {
  ancestor,
  calleeName,
  calleeText,
  descendants,
  keywordArg,
  positionalArgs,
  stringValue,
} from './syntax.ts';

export type SecretKind =
  | 'env'
  | 'env-default'
  | 'settings'
  | 'settings-default'
  | 'literal'
  | 'url-password'
  | 'manager'
  | 'file'
  | 'generated';

export interface SecretSource {
  readonly site: Site;
  /** The variable, field or environment variable name. */
  readonly name: string;
  readonly kind: SecretKind;
  /** The environment variable read, when there is one. */
  readonly envName: string | undefined;
}

export interface SecretLog {
  readonly site: Site;
  /** The secret-bearing names the log call carries. */
  readonly names: readonly string[];
}

export interface Secrets {
  readonly sources: readonly SecretSource[];
  readonly logs: readonly SecretLog[];
  /** Settings classes (`class Settings(BaseSettings)`). */
  readonly settingsClasses: readonly Site[];
}

const SETTINGS_BASE = /(^|\.)(BaseSettings|Settings|BaseConfig)$/;
const MANAGER_MODULE =
  /^(hvac|boto3|botocore|google\.cloud\.secretmanager|google\.cloud|azure\.keyvault\.secrets|azure\.keyvault|infisical|doppler_sdk|akeyless|onepasswordconnectsdk)/;
const PLACEHOLDER =
  /^(|changeme|change-me|change_me|replace-me|xxx+|todo|none|null|\*+|<.*>|\$\{.*\}|your[-_].*)$/i;

const secretish = (name: string): boolean =>
  isSecretName(name) ||
  (isTokenName(name) &&
    !/type|_id$|url|header|name|expire|ttl|lifetime|minutes|seconds/i.test(name));

export function analyseSecrets(py: PyProject): Secrets {
  const sources: SecretSource[] = [];
  const logs: SecretLog[] = [];
  const settingsClasses: Site[] = [];
  const settingsSecrets = py.classes
    .filter((c) => c.bases.some((b) => SETTINGS_BASE.test(b)))
    .flatMap((c) => descendants(c.node, 'assignment').map((a) => a.fields.left?.text ?? ''))
    .filter((name) => secretish(name));
  for (const file of py.files) {
    const usesManager =
      [...file.imports.values()].some((i) => MANAGER_MODULE.test(i.module)) &&
      /secretsmanager|get_secret|secret_version|kv\.v2|read_secret|SecretClient|get_parameter/.test(
        file.text,
      );
    for (const call of descendants(file.root, 'call')) {
      const text = calleeText(call);
      const env = envRead(call);
      if (env !== undefined && secretish(env.name)) {
        sources.push({
          site: { file, line: call.line },
          name: assignedTo(call) ?? env.name,
          kind: env.literalDefault ? 'env-default' : 'env',
          envName: env.name,
        });
      }
      if (
        usesManager &&
        /get_secret_value|access_secret_version|read_secret_version|get_secret|get_parameter/.test(
          text,
        )
      ) {
        sources.push({
          site: { file, line: call.line },
          name: assignedTo(call) ?? text,
          kind: 'manager',
          envName: undefined,
        });
      }
      if (
        /^(open|Path|read_text)$/.test(calleeName(call)) &&
        /\/run\/secrets\/|\/var\/run\/secrets|\/secrets\//.test(call.text)
      ) {
        sources.push({
          site: { file, line: call.line },
          name: assignedTo(call) ?? 'file',
          kind: 'file',
          envName: undefined,
        });
      }
      const level = isLogCall(call);
      if (level !== undefined) {
        const names = loggedSecrets(call, settingsSecrets);
        if (names.length > 0) logs.push({ site: { file, line: call.line }, names });
      }
    }
    for (const subscript of descendants(file.root, 'subscript')) {
      if (!/^(os\.)?environ$/.test(subscript.fields.value?.text ?? '')) continue;
      const name = stringValue(subscript.fields.subscript);
      if (name !== undefined && secretish(name)) {
        sources.push({
          site: { file, line: subscript.line },
          name: assignedTo(subscript) ?? name,
          kind: 'env',
          envName: name,
        });
      }
    }
    // Settings classes: every secret-named field is read from the environment; a literal default
    // is a hard-coded secret whenever the variable is unset.
    for (const cls of py.classes.filter(
      (c) => c.file === file && c.bases.some((b) => SETTINGS_BASE.test(b)),
    )) {
      settingsClasses.push({ file, line: cls.node.line });
      const body = cls.node.fields.body;
      for (const statement of body?.children ?? []) {
        const assignment =
          statement.type === 'expression_statement' ? statement.children[0] : undefined;
        if (assignment?.type !== 'assignment') continue;
        const name = assignment.fields.left?.text ?? '';
        if (!secretish(name) || /^model_config$|^Config$/.test(name)) continue;
        const value = assignment.fields.right;
        const literal = literalDefault(value);
        const generated =
          value !== undefined &&
          /token_urlsafe|token_hex|uuid4|urandom|default_factory/.test(value.text);
        sources.push({
          site: { file, line: assignment.line },
          name,
          kind: generated ? 'generated' : literal ? 'settings-default' : 'settings',
          envName: aliasOf(value) ?? name.toUpperCase(),
        });
      }
    }
    // Connection strings with a password (`postgresql://user:pass@db/app`) written in the code.
    for (const string of descendants(file.root, 'string')) {
      const value = stringValue(string);
      const password =
        value === undefined
          ? undefined
          : /^[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:([^@/\s{}]+)@/i.exec(value)?.[1];
      if (
        password !== undefined &&
        !PLACEHOLDER.test(password) &&
        !/^\$|^%|^<|^\*+$/.test(password)
      ) {
        sources.push({
          site: { file, line: string.line },
          name: 'connection string',
          kind: 'url-password',
          envName: undefined,
        });
      }
    }
    // Module-level and class-level literals assigned to secret names.
    for (const assignment of descendants(file.root, 'assignment')) {
      const left = assignment.fields.left;
      const right = assignment.fields.right;
      if (left === undefined || right === undefined) continue;
      const cls = ancestor(assignment, 'class_definition');
      if (
        cls !== undefined &&
        py.classes.some((c) => c.node === cls && c.bases.some((b) => SETTINGS_BASE.test(b)))
      )
        continue;
      const name = /([A-Za-z_][A-Za-z0-9_]*)$/.exec(left.text)?.[1] ?? '';
      if (!secretish(name)) continue;
      const value = stringValue(right);
      if (
        value !== undefined &&
        value.length >= 8 &&
        !PLACEHOLDER.test(value) &&
        !/\s/.test(value) &&
        !/^https?:|^\//.test(value)
      ) {
        sources.push({
          site: { file, line: assignment.line },
          name,
          kind: 'literal',
          envName: undefined,
        });
      }
    }
  }
  return { sources, logs, settingsClasses };
}

/** `os.environ["X"]`, `os.environ.get("X", d)`, `os.getenv("X", d)`, `environ.get`, `config("X")`. */
export function envRead(call: PyNode): { name: string; literalDefault: boolean } | undefined {
  const text = calleeText(call);
  if (
    !/^(os\.)?(getenv|environ\.get|environ\.setdefault)$|^(decouple\.)?config$|^env(\.str)?$/.test(
      text,
    )
  )
    return undefined;
  const name = stringValue(positionalArgs(call)[0]);
  if (name === undefined) return undefined;
  const fallback = positionalArgs(call)[1] ?? keywordArg(call, 'default');
  return { name, literalDefault: literalDefault(fallback) };
}

/** A non-empty, non-placeholder string default. */
function literalDefault(node: PyNode | undefined): boolean {
  if (node === undefined) return false;
  if (node.type === 'call' && /^(Field|SecretStr)$/.test(calleeName(node))) {
    return literalDefault(keywordArg(node, 'default') ?? positionalArgs(node)[0]);
  }
  const value = stringValue(node);
  return value !== undefined && value.length > 0 && !PLACEHOLDER.test(value);
}

function aliasOf(node: PyNode | undefined): string | undefined {
  if (node?.type !== 'call') return undefined;
  return stringValue(
    keywordArg(node, 'alias') ?? keywordArg(node, 'validation_alias') ?? keywordArg(node, 'env'),
  );
}

function assignedTo(call: PyNode): string | undefined {
  let p = call.parent;
  while (
    p !== undefined &&
    (p.type === 'boolean_operator' ||
      p.type === 'parenthesized_expression' ||
      p.type === 'argument_list' ||
      p.type === 'call' ||
      p.type === 'keyword_argument')
  ) {
    if (p.type === 'keyword_argument') return p.fields.name?.text;
    p = p.parent;
  }
  if (p?.type === 'assignment')
    return /([A-Za-z_][A-Za-z0-9_]*)$/.exec(p.fields.left?.text ?? '')?.[1];
  return undefined;
}

/**
 * The secret values a log call carries: identifiers (outside string text) naming tokens, keys or
 * whole header maps — not the word "token" in a message.
 */
function loggedSecrets(call: PyNode, settingsSecrets: readonly string[]): string[] {
  const args = call.fields.arguments;
  if (args === undefined) return [];
  const out = new Set<string>();
  for (const node of descendants(args, 'identifier', 'attribute', 'subscript', 'call')) {
    // Inside a string only interpolations count.
    const inString = ancestor(node, 'string');
    if (inString !== undefined && ancestor(node, 'interpolation') === undefined) continue;
    if (node.type === 'identifier' && node.parent?.type === 'attribute') continue;
    // Only whole chains count: `request.headers` inside `request.headers.get(...)` is not logged.
    if (node.parent?.type === 'attribute' && node.parent.fields.object === node) continue;
    if (node.parent?.type === 'call' && node.parent.fields.function === node) continue;
    if (node.parent?.type === 'keyword_argument' && node.parent.fields.name === node) continue;
    if (node.type === 'call' && /(^|\.)headers\.get$/.test(node.fields.function?.text ?? '')) {
      const header = stringValue(positionalArgs(node)[0])?.toLowerCase() ?? '';
      if (/authorization|token|api-?key|secret|cookie/.test(header)) out.add(node.text);
      continue;
    }
    if (node.type === 'call') {
      // A whole settings dump (`settings.model_dump()`, `settings.dict()`) carries every secret;
      // len(token), mask(token), hash(...) reveal nothing.
      if (
        /^(settings|config|get_settings\(\))\.(model_dump|dict|json|model_dump_json)$/.test(
          node.fields.function?.text ?? '',
        )
      ) {
        const exclude = keywordArg(node, 'exclude')?.text ?? '';
        const left = settingsSecrets.filter((name) => !exclude.includes(name));
        if (left.length > 0)
          out.add(`${node.fields.function?.text ?? 'settings'} (${left.join(', ')})`);
      }
      continue;
    }
    if (ancestor(node, 'call') !== call && ancestor(node, 'call') !== undefined) {
      const inner = ancestor(node, 'call');
      if (
        inner !== undefined &&
        /^(len|mask|redact|hash|sha256|hashlib|type|bool|_mask|fingerprint)/.test(calleeName(inner))
      )
        continue;
    }
    const text = node.text.replace(/\s+/g, '');
    if (node.type === 'subscript') {
      const key = stringValue(node.fields.subscript);
      if (key !== undefined && /authorization|token|api-?key|secret/i.test(key)) out.add(text);
      continue;
    }
    const last = /([A-Za-z_][A-Za-z0-9_]*)$/.exec(text)?.[1] ?? '';
    if (/^(headers|request\.headers)$/.test(text) || /(^|\.)headers$/.test(text)) out.add(text);
    else if (/^(settings|config)$/.test(text) && settingsSecrets.length > 0) out.add(text);
    else if (
      secretish(last) &&
      !/(expires|expiry|type|_id|length|len|count|name|header|url|prefix|valid|invalid|error)$/i.test(
        last,
      )
    )
      out.add(text);
  }
  return [...out];
}
