import ts from 'typescript';
import type { SymbolTable } from '../../../ast/symbols.ts';
import { unwrap } from '../../../ast/syntax.ts';
import type { Evidence } from '../../../model.ts';
import type { SourceUnit } from '../../../project/load.ts';
import type { AuditContext } from '../../context.ts';
import {
  functionDeclarationFor,
  OriginAnalysis,
  resolveFinal,
  resolveObject,
  type Located,
} from '../expressions.ts';
import type { HeaderFact, HttpLibrary, HttpSite, ResilienceWrapper } from '../model.ts';
import type { FileFacts } from '../scan.ts';

/** A module reference with its first path element dropped when it names the module itself. */
export interface Reference {
  readonly module: string;
  readonly path: readonly string[];
}

/** What a cockatiel policy (or a `wrap` of several) does. */
export interface PolicyFlags {
  breaker: boolean;
  timeout: boolean;
  retry: boolean;
}

/** `node:http` and `http` are the same module. */
function normalise(module: string): string {
  return module.startsWith('node:') ? module.slice(5) : module;
}

export function containsNode(outer: ts.Node, inner: ts.Node): boolean {
  return (
    outer.getSourceFile() === inner.getSourceFile() &&
    outer.pos <= inner.pos &&
    inner.end <= outer.end
  );
}

/** `false`, or `!1`. */
export function isFalse(node: ts.Expression): boolean {
  const value = unwrap(node);
  return (
    value.kind === ts.SyntaxKind.FalseKeyword ||
    (ts.isPrefixUnaryExpression(value) &&
      value.operator === ts.SyntaxKind.ExclamationToken &&
      ts.isNumericLiteral(value.operand) &&
      value.operand.text !== '0')
  );
}

/**
 * The outbound HTTP model while it is being built: the sites found so far, how to find the
 * site an expression stands for, and the project-wide facts each step adds to. Every step of
 * {@link analyseHttp} reads and writes this one object.
 */
export class HttpBuild {
  readonly origins: OriginAnalysis;
  readonly factsByUnit: ReadonlyMap<SourceUnit, FileFacts>;
  readonly sites: HttpSite[] = [];
  readonly wrappers: ResilienceWrapper[] = [];
  readonly policies = new Map<ts.Node, PolicyFlags>();
  /** Opossum breakers and cockatiel `execute` calls on a breaker policy. */
  readonly breakerNodes = new Map<ts.Node, SourceUnit>();
  readonly retries: Located<ts.Node>[] = [];
  readonly deprecated: Located<ts.Node>[] = [];
  readonly guards: Located<ts.Node>[] = [];
  readonly insecureMaps: Located<ts.Node>[] = [];
  readonly tokenSources: Located<ts.Node>[] = [];
  readonly scopes: Located<ts.Node>[] = [];
  readonly propagation: Evidence[] = [];
  readonly insecureTls: Located<ts.Node>[] = [];
  readonly tlsInCode: Located<ts.Node>[] = [];
  readonly failureLogging: { at: Located<ts.Node>; auth: boolean }[] = [];
  readonly globalDispatchers: HttpSite[] = [];
  /** Reverse-proxy hooks on the upstream's answer (`answer`) or on a failed proxy request. */
  readonly proxyHooks: (Located & { readonly answer: boolean })[] = [];
  /** The value expression of every header recorded, to follow where it comes from later. */
  readonly headerValues = new Map<HeaderFact, Located>();
  /** Pseudo-sites for the default axios instance's `defaults` and `interceptors`. */
  axiosDefaults: HttpSite | undefined;
  axiosInterceptors: HttpSite | undefined;
  /** `HttpModule.register(…)` of `@nestjs/axios`: the instance injected `HttpService`s call through. */
  readonly nestHttpModules: HttpSite[] = [];
  /** Whether any client or dispatcher exists (else no call can go through one). */
  hasInstances = false;
  private readonly byNode = new Map<ts.Node, HttpSite>();
  private readonly references = new WeakMap<ts.Node, Reference | null>();

  constructor(
    readonly symbols: SymbolTable,
    readonly facts: readonly FileFacts[],
    readonly ctx: AuditContext,
  ) {
    this.origins = ctx.memo('s2s.origins', () => new OriginAnalysis(symbols));
    this.factsByUnit = new Map(facts.map((f) => [f.unit, f]));
  }

  /** The imported module (and export path) an expression refers to. */
  reference(unit: SourceUnit, expression: ts.Expression): Reference | undefined {
    const cached = this.references.get(expression);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.symbols.moduleReference(unit, expression);
    let result: Reference | undefined;
    if (found !== undefined) {
      const module = normalise(found.module);
      // `import { got } from 'got'`, `import { fetch } from 'undici'` name the module's own export.
      const path =
        found.path[0] === module || (module === 'got' && found.path[0] === 'default')
          ? found.path.slice(1)
          : found.path;
      result = { module, path };
    }
    this.references.set(expression, result ?? null);
    return result;
  }

  isSite(node: ts.Node): boolean {
    return this.byNode.has(node);
  }

  newSite(kind: HttpSite['kind'], library: HttpLibrary, unit: SourceUnit, node: ts.Node): HttpSite {
    const site: HttpSite = {
      id: this.sites.length,
      kind,
      library,
      unit,
      node,
      url: undefined,
      urlAt: undefined,
      headers: [],
      timeouts: [],
      timeoutsDisabled: [],
      retries: [],
      clientCerts: [],
      tessera: undefined,
      via: [],
      calls: [],
      client: undefined,
      proxy: false,
      tokenRequest: undefined,
    };
    this.sites.push(site);
    this.byNode.set(node, site);
    return site;
  }

  /** The site an expression evaluates to (`this.client`, an imported instance …). */
  siteOf(unit: SourceUnit, expression: ts.Expression, depth = 0): HttpSite | undefined {
    const direct = this.byNode.get(unwrap(expression));
    if (direct !== undefined) return direct;
    const final = resolveFinal(this.symbols, unit, expression);
    const node = unwrap(final.expression);
    const found = this.byNode.get(node);
    if (found !== undefined || depth > 2) return found;
    // `secure ? new Agent({ connect: { cert, key } }) : undefined`: the one site a branch holds.
    const branches = ts.isConditionalExpression(node)
      ? [node.whenTrue, node.whenFalse]
      : ts.isBinaryExpression(node) &&
          (node.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken ||
            node.operatorToken.kind === ts.SyntaxKind.BarBarToken ||
            node.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken)
        ? [node.left, node.right]
        : [];
    const sites = branches
      .map((branch) => this.siteOf(final.unit, branch, depth + 1))
      .filter((site): site is HttpSite => site !== undefined);
    return sites.length === 1 ? sites[0] : undefined;
  }

  /** An options argument written as (or resolving to) an object literal. */
  objectArgument(
    unit: SourceUnit,
    argument: ts.Expression | undefined,
  ): Located<ts.ObjectLiteralExpression> | undefined {
    if (argument === undefined) return undefined;
    const node = unwrap(argument);
    if (ts.isNewExpression(node)) return undefined;
    return resolveObject(this.symbols, unit, node);
  }

  /** Functions a wrapper protects: `new CircuitBreaker(fn)`, `policy.execute(() => …)`. */
  functionsOf(unit: SourceUnit, argument: ts.Expression | undefined): ts.Node[] {
    if (argument === undefined) return [];
    let node = unwrap(argument);
    // `this.call.bind(this)`
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === 'bind'
    ) {
      node = unwrap(node.expression.expression);
    }
    if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) return [node];
    const declaration = functionDeclarationFor(this.symbols, unit, node);
    return declaration === undefined ? [] : [declaration.node];
  }
}
