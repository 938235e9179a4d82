/**
 * What one Python function does that matters to authentication: the headers and query values it
 * reads, how it compares secrets, the JWTs it decodes, the 401/403 it raises, the settings it
 * lets through when unset, what it logs, and which project functions it calls or depends on.
 */
import { isSecretName, isTokenName } from '../analysis/names.ts';
import type { PyNode } from './parser.ts';
import type { PyFile, PyFunction, PyProject } from './project.ts';
import { annotatedAliases } from './routes.ts';
import {
  ancestor,
  calleeName,
  calleeText,
  descendants,
  isLiteral,
  keywordArg,
  ownDescendants,
  positionalArgs,
  statusCode,
  stringValue,
} from './syntax.ts';

export interface Site {
  readonly file: PyFile;
  readonly line: number;
}

/** A decoded JWT: the call and what it checks. */
export interface JwtDecode {
  readonly site: Site;
  /** `pyjwt`, `jose` (python-jose / joserfc), `authlib`. */
  readonly library: string;
  /** False for `verify_signature: False`, `get_unverified_claims`, `jwt.decode(..., verify=False)`. */
  readonly verified: boolean;
  readonly algorithms: readonly string[];
  /** `audience=` passed and `verify_aud` not switched off. */
  readonly audience: boolean;
  readonly issuer: boolean;
  /** `verify_exp` not switched off. */
  readonly expiry: boolean;
  /** `leeway=` in seconds, when a number literal. */
  readonly leeway: number | undefined;
  /** The key comes from a JWKS (PyJWKClient, a jwks URL) rather than a shared secret. */
  readonly jwks: boolean;
  /** The key argument's text (`settings.jwt_secret`). */
  readonly key: string | undefined;
}

export interface Reject {
  readonly status: number;
  readonly site: Site;
  /** A log call (or a logging helper) runs in the same block before the refusal. */
  readonly logged: boolean;
}

export interface HeaderRead {
  /** Lower-case header name (`authorization` for bearer schemes). */
  readonly name: string;
  readonly site: Site;
  /** The variable the value lands in, when it is assigned or a parameter. */
  readonly variable: string | undefined;
}

export interface FunctionFacts {
  readonly fn: PyFunction;
  readonly headerReads: readonly HeaderRead[];
  /** Credentials read from the query string (`?api_key=`, `Query()` token parameters). */
  readonly queryCredentials: readonly Site[];
  /** `raise HTTPException(401|403)` / `JSONResponse(status_code=401|403)`. */
  readonly rejects: readonly Reject[];
  /** `==` / `!=` on a secret value. */
  readonly plainCompares: readonly Site[];
  /** `hmac.compare_digest` / `secrets.compare_digest`. */
  readonly digestCompares: readonly Site[];
  readonly jwt: readonly JwtDecode[];
  /** `if not settings.token: return` — the check lets everything through when unset. */
  readonly allowsWhenUnset: readonly Site[];
  /** Project functions called directly. */
  readonly calls: readonly PyFunction[];
  /** Project functions named in `Depends()` / `Security()` parameters. */
  readonly depends: readonly PyFunction[];
  /** Security schemes used as dependencies (OAuth2PasswordBearer, HTTPBearer, APIKeyHeader). */
  readonly schemes: readonly HeaderRead[];
  /** Role, scope or permission decisions (`if "admin" not in user.roles`, `is_superuser`). */
  readonly authorization: readonly Site[];
  /** Scope checks specifically (`Security(scopes=)`, `"x:read" in claims["scope"]`). */
  readonly scopeChecks: readonly Site[];
  /** Log calls with their argument text. */
  readonly logs: readonly LogCall[];
  /** `except ...:` blocks that swallow an error and carry on (no raise, no 4xx/5xx return). */
  readonly swallowedErrors: readonly Site[];
}

export interface LogCall {
  readonly site: Site;
  /** `info`, `warning`, `error`, `exception`, `debug`, `critical`, `print`. */
  readonly level: string;
  readonly text: string;
}

const LOG_METHODS = new Set([
  'debug',
  'info',
  'warning',
  'warn',
  'error',
  'exception',
  'critical',
  'log',
]);

/** A logger receiver: `logger`, `log`, `self.logger`, `logging`, `_log`, `structlog` loggers. */
export function isLogCall(call: PyNode): string | undefined {
  const text = calleeText(call);
  if (text === 'print') return 'print';
  const dot = text.lastIndexOf('.');
  if (dot === -1) return undefined;
  const method = text.slice(dot + 1);
  const receiver = text.slice(0, dot).split('.').pop() ?? '';
  if (!LOG_METHODS.has(method)) return undefined;
  return /^(_*log(ger)?|logging|audit(_log(ger)?)?|access_log(ger)?|.*_log(ger)?|log_.*|structlog)$/i.test(
    receiver,
  ) || text.includes('getLogger(')
    ? method
    : undefined;
}

const AUTH_SCHEMES: Readonly<Record<string, string | undefined>> = {
  OAuth2PasswordBearer: 'authorization',
  OAuth2AuthorizationCodeBearer: 'authorization',
  OAuth2: 'authorization',
  HTTPBearer: 'authorization',
  HTTPBasic: 'authorization',
  HTTPDigest: 'authorization',
  OpenIdConnect: 'authorization',
  APIKeyHeader: undefined,
  APIKeyQuery: undefined,
  APIKeyCookie: undefined,
};

/** The header a security-scheme construction reads (`APIKeyHeader(name="X-API-Key")`). */
export function schemeHeader(value: PyNode | undefined): string | undefined {
  if (value?.type !== 'call') return undefined;
  const name = calleeName(value);
  if (!(name in AUTH_SCHEMES)) return undefined;
  if (name === 'APIKeyQuery') return '?query';
  const header = AUTH_SCHEMES[name];
  if (header !== undefined) return header;
  return (
    stringValue(keywordArg(value, 'name')) ??
    stringValue(positionalArgs(value)[0]) ??
    'x-api-key'
  ).toLowerCase();
}

/** The function (or `__call__` of a class instance) a `Depends(x)` argument names. */
export function dependencyTarget(
  py: PyProject,
  file: PyFile,
  arg: PyNode | undefined,
): PyFunction | undefined {
  if (arg === undefined) return undefined;
  if (arg.type === 'identifier' || arg.type === 'attribute') {
    const fn = py.resolveFunction(file, arg.text);
    if (fn !== undefined) return fn;
    const value = py.resolveValue(file, arg.text);
    if (value?.value.type === 'call') return dependencyTarget(py, value.file, value.value);
    return undefined;
  }
  if (arg.type === 'call') {
    // A dependency factory (`require_role("admin")`) or a callable class (`JWTBearer()`).
    const callee = arg.fields.function?.text ?? '';
    const cls = py.resolveClass(file, callee);
    if (cls !== undefined) return cls.methods.get('__call__');
    const factory = py.resolveFunction(file, callee);
    return factory === undefined ? undefined : (returnedClosure(py, factory) ?? factory);
  }
  return undefined;
}

/** The nested function a dependency factory returns (`def require(role): def dep(...): ...; return dep`). */
function returnedClosure(py: PyProject, factory: PyFunction): PyFunction | undefined {
  for (const ret of ownDescendants(factory.node, 'return_statement')) {
    const value = ret.children[0];
    if (value?.type !== 'identifier') continue;
    const nested = py.functions.find(
      (f) =>
        f.name === value.text &&
        f.file === factory.file &&
        f.node.line > factory.node.line &&
        f.node.endLine <= factory.node.endLine,
    );
    if (nested !== undefined) return nested;
  }
  return undefined;
}

/** `Depends(x)` / `Security(x)` calls anywhere under `node`, with their target. */
export function dependsCalls(node: PyNode): PyNode[] {
  return descendants(node, 'call').filter((c) => {
    const name = calleeName(c);
    return name === 'Depends' || name === 'Security';
  });
}

/** The security scheme a `Depends(x)` names (`oauth2_scheme = OAuth2PasswordBearer(...)`). */
export function dependencyScheme(
  py: PyProject,
  file: PyFile,
  arg: PyNode | undefined,
): string | undefined {
  if (arg === undefined) return undefined;
  if (arg.type === 'call') return schemeHeader(arg);
  const value = py.resolveValue(file, arg.text);
  return value === undefined ? undefined : schemeHeader(value.value);
}

const PUBLIC_STATUS = new Set([401, 403]);

/** Reads one function. */
export function functionFacts(py: PyProject, fn: PyFunction): FunctionFacts {
  const file = fn.file;
  const site = (node: PyNode): Site => ({ file, line: node.line });
  const body = fn.node;
  const headerReads: HeaderRead[] = [];
  const queryCredentials: Site[] = [];
  const rejects: Reject[] = [];
  const plainCompares: Site[] = [];
  const digestCompares: Site[] = [];
  const jwt: JwtDecode[] = [];
  const allowsWhenUnset: Site[] = [];
  const calls: PyFunction[] = [];
  const depends: PyFunction[] = [];
  const schemes: HeaderRead[] = [];
  const authorization: Site[] = [];
  const logs: LogCall[] = [];
  const swallowedErrors: Site[] = [];

  // Parameters: Header(...), Query(...), Depends(...), Security(...).
  const parameters = fn.node.fields.parameters?.children ?? [];
  for (const { file: aliasFile, call, param } of annotatedAliases(py, fn)) {
    const arg = positionalArgs(call)[0] ?? keywordArg(call, 'dependency');
    const target = dependencyTarget(py, aliasFile, arg);
    if (target !== undefined) depends.push(target);
    const scheme = dependencyScheme(py, aliasFile, arg);
    const name = (param.fields.name ?? param.children[0])?.text ?? '';
    if (scheme !== undefined && scheme !== '?query')
      schemes.push({ name: scheme, site: site(param), variable: name });
  }
  for (const param of parameters) {
    const name = (param.fields.name ?? param.children[0])?.text ?? '';
    for (const call of descendants(param, 'call')) {
      const callee = calleeName(call);
      if (callee === 'Header') {
        const alias = stringValue(keywordArg(call, 'alias'));
        headerReads.push({
          name: (alias ?? name.replace(/_/g, '-')).toLowerCase(),
          site: site(param),
          variable: name,
        });
      } else if (callee === 'Query' && isTokenName(name)) {
        queryCredentials.push(site(param));
      } else if (callee === 'Depends' || callee === 'Security') {
        const arg = positionalArgs(call)[0] ?? keywordArg(call, 'dependency');
        const target = dependencyTarget(py, file, arg);
        if (target !== undefined) depends.push(target);
        const scheme = dependencyScheme(py, file, arg);
        if (scheme === '?query') queryCredentials.push(site(param));
        else if (scheme !== undefined)
          schemes.push({ name: scheme, site: site(param), variable: name });
        if (callee === 'Security' && keywordArg(call, 'scopes') !== undefined)
          authorization.push(site(call));
      }
    }
  }

  for (const call of ownDescendants(body, 'call')) {
    const text = calleeText(call);
    const name = calleeName(call);
    // request.headers.get("x-api-key") / request.headers["..."] handled below for subscripts.
    if ((name === 'get' || name === 'getlist') && /(^|\.)headers\.(get|getlist)$/.test(text)) {
      const header = stringValue(positionalArgs(call)[0]);
      if (header !== undefined)
        headerReads.push({
          name: header.toLowerCase(),
          site: site(call),
          variable: assignedName(call),
        });
    } else if (name === 'get' && /(^|\.)query_params\.get$/.test(text)) {
      const key = stringValue(positionalArgs(call)[0]);
      if (key !== undefined && isTokenName(key)) queryCredentials.push(site(call));
    } else if (name === 'compare_digest') {
      digestCompares.push(site(call));
    } else if (
      name === 'HTTPException' ||
      name === 'WebSocketException' ||
      name.endsWith('Response') ||
      isHttpExceptionClass(py, file, call)
    ) {
      const positional = name === 'HTTPException' || isHttpExceptionClass(py, file, call);
      const status = statusCode(
        keywordArg(call, 'status_code') ??
          (positional ? positionalArgs(call)[0] : keywordArg(call, 'status')),
      );
      if (status !== undefined && PUBLIC_STATUS.has(status))
        rejects.push({ status, site: site(call), logged: loggedBefore(py, file, call) });
    } else if (
      /^(AuthenticationError|PermissionDenied|NotAuthenticated|Unauthorized|Forbidden)/.test(name)
    ) {
      rejects.push({
        status: /Permission|Forbidden/.test(name) ? 403 : 401,
        site: site(call),
        logged: loggedBefore(py, file, call),
      });
    }
    const decode = jwtDecodeOf(py, file, call);
    if (decode !== undefined) jwt.push(decode);
    const level = isLogCall(call);
    if (level !== undefined)
      logs.push({ site: site(call), level, text: call.fields.arguments?.text ?? '' });
    if (
      /^(has_role|has_scope|has_permission|check_permission|require_role|require_scope|require_permission|check_scope|check_role|authorize)/i.test(
        name,
      )
    ) {
      authorization.push(site(call));
    }
    const target = call.fields.function;
    if (target !== undefined && (target.type === 'identifier' || target.type === 'attribute')) {
      const callee = target.text.startsWith('self.')
        ? fn.className === undefined
          ? undefined
          : (py.classes
              .find((c) => c.name === fn.className && c.file === file)
              ?.methods.get(name) ??
            (target.text.split('.').length > 2 ? py.resolveFunction(file, target.text) : undefined))
        : py.resolveFunction(file, target.text);
      if (callee !== undefined && callee !== fn) calls.push(callee);
    }
  }
  for (const subscript of ownDescendants(body, 'subscript')) {
    const value = subscript.fields.value?.text ?? '';
    const key = stringValue(subscript.fields.subscript);
    if (key === undefined) continue;
    const written =
      subscript.parent?.type === 'assignment' && subscript.parent.fields.left === subscript;
    if (written) continue;
    if (/(^|\.)headers$/.test(value))
      headerReads.push({
        name: key.toLowerCase(),
        site: site(subscript),
        variable: assignedName(subscript),
      });
    if (/(^|\.)query_params$/.test(value) && isTokenName(key))
      queryCredentials.push(site(subscript));
  }
  const locals = new Map<string, PyNode>();
  for (const assignment of ownDescendants(body, 'assignment')) {
    const left = assignment.fields.left;
    const right = assignment.fields.right;
    if (left?.type === 'identifier' && right !== undefined && !locals.has(left.text)) {
      locals.set(left.text, right);
    }
  }
  for (const comparison of ownDescendants(body, 'comparison_operator')) {
    if (isSecretComparison(comparison, locals)) plainCompares.push(site(comparison));
    if (isAuthorizationComparison(comparison)) authorization.push(site(comparison));
  }
  for (const statement of ownDescendants(body, 'if_statement')) {
    const condition = statement.fields.condition?.text ?? '';
    if (
      /\b(is_superuser|is_admin|is_staff|has_role|has_scope|has_permission|roles?|scopes?|permissions?|scp)\b/.test(
        condition,
      ) &&
      /403|FORBIDDEN|Forbidden|PermissionDenied|raise/.test(
        statement.fields.consequence?.text ?? '',
      )
    ) {
      authorization.push(site(statement));
    }
    if (
      allowsWhenSettingUnset(statement, headerReads, locals) ||
      developmentBypass(statement) ||
      checksOnlyWhenConfigured(statement, locals)
    ) {
      allowsWhenUnset.push(site(statement));
    }
  }
  for (const handler of ownDescendants(body, 'except_clause')) {
    if (swallows(handler)) swallowedErrors.push(site(handler));
  }
  return {
    fn,
    headerReads,
    queryCredentials,
    rejects,
    plainCompares,
    digestCompares,
    jwt,
    // Only code that checks a credential can let one through: a client helper returning no
    // header when its token is unset is not an inbound check.
    allowsWhenUnset:
      headerReads.length > 0 ||
      schemes.length > 0 ||
      rejects.length > 0 ||
      plainCompares.length > 0 ||
      digestCompares.length > 0 ||
      jwt.length > 0
        ? allowsWhenUnset
        : [],
    calls,
    depends,
    schemes,
    authorization,
    logs,
    swallowedErrors,
    scopeChecks: authorization.filter((a) => /scope|scp/i.test(file.lines[a.line - 1] ?? '')),
  };
}

/**
 * Is a refusal logged? A log call (or a call to a project helper that logs) in the block that
 * raises or returns it, or in the `except` clause around it.
 */
function loggedBefore(py: PyProject, file: PyFile, call: PyNode): boolean {
  // `credentials_exception = HTTPException(401)` ... `raise credentials_exception`: the raises.
  const assigned = call.parent?.type === 'assignment' ? call.parent.fields.left?.text : undefined;
  const fn = ancestor(call, 'function_definition');
  if (assigned !== undefined && fn !== undefined) {
    return descendants(fn, 'raise_statement')
      .filter((r) => r.children[0]?.text === assigned)
      .some((r) => loggedAt(py, file, r));
  }
  return loggedAt(py, file, call);
}

function loggedAt(py: PyProject, file: PyFile, call: PyNode): boolean {
  const block = ancestor(call, 'block');
  if (block === undefined) return false;
  const logs = (node: PyNode): boolean =>
    descendants(node, 'call').some((c) => {
      if (isLogCall(c) !== undefined && isLogCall(c) !== 'print') return true;
      const target = c.fields.function;
      if (target === undefined || !/^(identifier|attribute)$/.test(target.type)) return false;
      const helper = py.resolveFunction(file, target.text);
      return (
        helper !== undefined &&
        helper.node !== ancestor(call, 'function_definition') &&
        descendants(helper.node, 'call').some((h) => {
          const level = isLogCall(h);
          return level !== undefined && level !== 'print' && level !== 'debug';
        })
      );
    });
  // Simple statements only: a log inside an earlier `if` branch belongs to another refusal.
  return block.children.some(
    (statement) =>
      statement.line <= call.line && statement.type === 'expression_statement' && logs(statement),
  );
}

/** A project exception class derived from HTTPException (`class Refusal(HTTPException)`). */
function isHttpExceptionClass(py: PyProject, file: PyFile, call: PyNode): boolean {
  const callee = call.fields.function?.text ?? '';
  if (!/^[A-Z]/.test(calleeName(call))) return false;
  const cls = py.resolveClass(file, callee) ?? py.classes.find((c) => c.name === calleeName(call));
  return cls?.bases.some((b) => /(^|\.)(HTTPException|StarletteHTTPException)$/.test(b)) ?? false;
}

/** The name a call's value is assigned to (`token = request.headers.get(...)`). */
function assignedName(node: PyNode): string | undefined {
  let current: PyNode | undefined = node.parent;
  while (
    current !== undefined &&
    (current.type === 'boolean_operator' ||
      current.type === 'call' ||
      current.type === 'attribute' ||
      current.type === 'parenthesized_expression')
  ) {
    current = current.parent;
  }
  if (current?.type === 'assignment' && current.fields.left?.type === 'identifier')
    return current.fields.left.text;
  return undefined;
}

/** The last identifier of an expression (`settings.internal_token` → `internal_token`). */
function lastName(node: PyNode | undefined): string {
  if (node === undefined) return '';
  if (node.type === 'call') return lastName(node.fields.function);
  if (node.type === 'subscript')
    return stringValue(node.fields.subscript) ?? lastName(node.fields.value);
  const text = node.text;
  const match = /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(text);
  return match?.[1] ?? '';
}

/** `x_token != settings.token`: an equality test on a secret value (not on None or a word). */
function isSecretComparison(node: PyNode, locals: ReadonlyMap<string, PyNode>): boolean {
  const [left, right] = node.children;
  if (node.children.length !== 2 || left === undefined || right === undefined) return false;
  const operator = node.text.slice(left.text.length, node.text.length - right.text.length).trim();
  if (operator !== '==' && operator !== '!=') return false;
  const trivial = (n: PyNode) =>
    n.type === 'none' ||
    n.type === 'true' ||
    n.type === 'false' ||
    n.type === 'integer' ||
    (isLiteral(n) && (stringValue(n)?.length ?? 0) < 8) ||
    /^len\(|\.(scheme|type|kind|alg|algorithm|status_code|method)$/i.test(n.text);
  if (trivial(left) || trivial(right)) return false;
  const secret = (n: PyNode): boolean => {
    // `expected = settings.service_token` / `presented = request.headers.get("x-api-key")`.
    const local = n.type === 'identifier' ? locals.get(n.text) : undefined;
    if (local !== undefined && local !== n && secret(local)) return true;
    if (n.type === 'call' && calleeText(n).endsWith('headers.get')) {
      const header = stringValue(positionalArgs(n)[0])?.toLowerCase() ?? '';
      return header === 'authorization' || isTokenName(header) || /api-?key|signature/.test(header);
    }
    const name = lastName(n);
    if (
      /(typ|type|kind|alg|algorithms?|prefix|scheme|header|name|url|uri|length|count)$/i.test(name)
    )
      return false;
    return (
      isSecretName(name) ||
      (/(token|signature|digest|hmac|api_?key)/i.test(name) && !/type|_id$|^id$/i.test(name))
    );
  };
  return secret(left) || secret(right);
}

/** `if "admin" not in user.roles` / `if not user.is_superuser` / `scope not in scopes`. */
function isAuthorizationComparison(node: PyNode): boolean {
  return (
    /\b(roles?|scopes?|permissions?|is_superuser|is_admin|groups?)\b/.test(node.text) &&
    /\bin\b|==|!=/.test(node.text)
  );
}

/**
 * `if not settings.internal_token: return` — a configured secret that, when unset, lets the
 * request through (the consequence returns or calls the next handler without raising).
 */
function allowsWhenSettingUnset(
  statement: PyNode,
  headerReads: readonly HeaderRead[],
  locals: ReadonlyMap<string, PyNode>,
): boolean {
  const condition = statement.fields.condition;
  const consequence = statement.fields.consequence;
  if (condition === undefined || consequence === undefined) return false;
  let subject: PyNode | undefined;
  if (condition.type === 'not_operator') subject = condition.fields.argument;
  else if (
    condition.type === 'comparison_operator' &&
    /\bis\s+None$|==\s*(""|'')$/.test(condition.text)
  ) {
    subject = condition.children[0];
  }
  if (subject === undefined) return false;
  // A local copy of a setting (`expected = settings.internal_token`) stands for the setting.
  const source = (subject.type === 'identifier' ? locals.get(subject.text) : undefined) ?? subject;
  const name = lastName(source);
  if (!isSecretName(name) && !/token|secret|key/i.test(name)) return false;
  // A missing header is a refusal, not a setting: only configured values count.
  if (headerReads.some((h) => h.variable === subject.text)) return false;
  if (/headers|query_params|cookies/.test(source.text)) return false;
  const configured =
    /(settings|config|conf|cfg|env|os\.environ|getenv)/i.test(source.text) ||
    /^[A-Z][A-Z0-9_]+$/.test(source.text);
  if (!configured) return false;
  const raises = descendants(consequence, 'raise_statement').length > 0;
  const rejects = descendants(consequence, 'call').some(
    (c) =>
      /Response$|HTTPException/.test(calleeName(c)) &&
      /40[13]|50[03]|HTTP_40[13]|HTTP_50[03]/.test(c.text),
  );
  const returns =
    descendants(consequence, 'return_statement', 'pass_statement').length > 0 ||
    /call_next|await self\.app/.test(consequence.text);
  return returns && !raises && !rejects;
}

/**
 * `if expected and received != expected: return 403`: the refusal runs only when the secret is
 * configured, so an unset secret lets every request through.
 */
function checksOnlyWhenConfigured(statement: PyNode, locals: ReadonlyMap<string, PyNode>): boolean {
  const condition = statement.fields.condition;
  const consequence = statement.fields.consequence;
  if (condition?.type !== 'boolean_operator' || consequence === undefined) return false;
  if (!/\band\b/.test(condition.text.slice(condition.children[0]?.text.length ?? 0))) return false;
  const refuses =
    descendants(consequence, 'raise_statement').length > 0 ||
    /status_code\s*=\s*(status\.)?(HTTP_)?40[13]/.test(consequence.text);
  if (!refuses) return false;
  const first = condition.children[0];
  if (first === undefined || !/^(identifier|attribute)$/.test(first.type)) return false;
  const source = (first.type === 'identifier' ? locals.get(first.text) : undefined) ?? first;
  const name = lastName(source);
  return (
    (isSecretName(name) || /token|secret|key/i.test(name)) &&
    /(settings|config|conf|cfg|env|os\.environ|getenv)/i.test(source.text)
  );
}

/** `if settings.debug: return` / `if not settings.auth_enabled: return await call_next(request)`. */
function developmentBypass(statement: PyNode): boolean {
  const condition = statement.fields.condition;
  const consequence = statement.fields.consequence;
  if (condition === undefined || consequence === undefined) return false;
  if (
    !/\b(debug|DEBUG|environment|ENVIRONMENT|env|ENV|auth_enabled|AUTH_ENABLED|disable_auth|DISABLE_AUTH|skip_auth|SKIP_AUTH|auth_disabled|AUTH_DISABLED|testing|TESTING)\b/.test(
      condition.text,
    )
  ) {
    return false;
  }
  if (/\bpath\b|url/.test(condition.text)) return false;
  const allows =
    /call_next|await\s+self\.app|return\s+(True|None|\{|[a-z_]*user|[a-z_]*principal|[a-z_]*identity)|^\s*return\s*$/m.test(
      consequence.text,
    );
  return allows && descendants(consequence, 'raise_statement').length === 0;
}

/** An `except` that neither raises nor returns an error status: the failure is swallowed. */
function swallows(handler: PyNode): boolean {
  if (descendants(handler, 'raise_statement').length > 0) return false;
  if (/status_code\s*=\s*(4|5)\d\d|HTTP_(4|5)\d\d/.test(handler.text)) return false;
  return true;
}

const JOSE_MODULES = /^(jose|jose\.jwt|python_jose|joserfc|joserfc\.jwt|jwcrypto)$/;

/** A JWT decode/verify call, with the checks its arguments switch on or off. */
export function jwtDecodeOf(py: PyProject, file: PyFile, call: PyNode): JwtDecode | undefined {
  const text = calleeText(call);
  const name = calleeName(call);
  const head = text.split('.')[0] ?? '';
  const imported = file.imports.get(head);
  const module =
    imported === undefined
      ? head
      : imported.name === undefined
        ? imported.module
        : `${imported.module}.${imported.name}`;
  const fromJwt =
    /^jwt$|^jose|^authlib|joserfc/.test(module) ||
    /(^|\.)jwt$/.test(text.slice(0, text.lastIndexOf('.')));
  const unverifiedCall = /^get_unverified_(claims|header)$/.test(name);
  if (!fromJwt || !(name === 'decode' || unverifiedCall || name === 'decode_complete'))
    return undefined;
  const library =
    JOSE_MODULES.test(module) || module.startsWith('jose')
      ? 'jose'
      : module.startsWith('authlib')
        ? 'authlib'
        : 'pyjwt';
  const options = keywordArg(call, 'options');
  const optionsText = options?.text.replace(/\s+/g, '') ?? '';
  const off = (key: string) => new RegExp(`["']${key}["']:False`).test(optionsText);
  const algorithmsNode =
    keywordArg(call, 'algorithms') ?? (library === 'jose' ? positionalArgs(call)[2] : undefined);
  const algorithms =
    algorithmsNode === undefined
      ? []
      : [...algorithmsNode.text.matchAll(/["']([A-Za-z0-9]+)["']/g)].map((m) => m[1] ?? '');
  let algorithmsValue =
    algorithmsNode !== undefined && algorithms.length === 0
      ? resolvedAlgorithms(py, file, algorithmsNode)
      : algorithms;
  // `algorithms=[alg]` from a checked header: the module's own algorithm constants say which.
  if (algorithmsValue.length === 0 && algorithmsNode !== undefined)
    algorithmsValue = moduleAlgorithms(file);
  const keyNode = positionalArgs(call)[1] ?? keywordArg(call, 'key');
  const verifyFalse = keywordArg(call, 'verify')?.type === 'false';
  const leewayNode = keywordArg(call, 'leeway');
  return {
    site: { file, line: call.line },
    library,
    verified: !unverifiedCall && !off('verify_signature') && !verifyFalse,
    algorithms: algorithmsValue,
    audience:
      (keywordArg(call, 'audience') !== undefined && !off('verify_aud')) ||
      (library === 'authlib' && call.text.includes('aud')),
    issuer:
      (keywordArg(call, 'issuer') !== undefined && !off('verify_iss')) ||
      (library === 'authlib' && call.text.includes('iss')),
    expiry: !off('verify_exp') && !unverifiedCall && !off('verify_signature'),
    leeway:
      leewayNode?.type === 'integer' || leewayNode?.type === 'float'
        ? Number(leewayNode.text)
        : undefined,
    jwks: /jwk|signing_key|public_key|\.key\b/i.test(keyNode?.text ?? ''),
    key: keyNode?.text,
  };
}

const ALGORITHM_NAME = /^(HS|RS|ES|PS)(256|384|512)$|^EdDSA$|^ES256K$|^none$/;

/** Algorithm names in module-level constants whose name says algorithm (`ALLOWED_ALGORITHMS`). */
function moduleAlgorithms(file: PyFile): string[] {
  const out: string[] = [];
  for (const [name, value] of file.assignments) {
    if (!/alg/i.test(name)) continue;
    for (const s of descendants(value, 'string')) {
      const v = stringValue(s);
      if (v !== undefined && ALGORITHM_NAME.test(v)) out.push(v);
    }
  }
  return out;
}

/** `algorithms=[settings.jwt_algorithm]` / `ALGORITHM = "HS256"`: the literal behind a name. */
function resolvedAlgorithms(py: PyProject, file: PyFile, node: PyNode): string[] {
  const out: string[] = [];
  for (const ref of descendants(node, 'identifier', 'attribute')) {
    if (ref.parent?.type === 'attribute') continue;
    const name = lastName(ref);
    const value = py.resolveValue(file, ref.text)?.value;
    const literal = stringValue(value);
    if (literal !== undefined) out.push(literal);
    else {
      // A settings field (`jwt_algorithm: str = "HS256"`).
      for (const cls of py.classes) {
        for (const assignment of descendants(cls.node, 'assignment')) {
          if (assignment.fields.left?.text === name) {
            const v = stringValue(assignment.fields.right);
            if (v !== undefined) out.push(v);
          }
        }
      }
    }
  }
  return out;
}
