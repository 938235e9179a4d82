/** What protects each route: the hooks that run before it, and how strong they are. */
import type { Site } from './facts.ts';
import type { FunctionIndex, Summary, Target } from './functions.ts';
import { exempts } from './adapters/index.ts';
import type { ChildLink, Framework, HookUse, Route, Scope, ScopeEvent } from './scopes.ts';
import { AUTH_FUNCTION_NAME } from './vocabulary.ts';

/**
 * How well a hook authenticates, strongest first: a cryptographic check (JWT signature, HMAC,
 * client certificate, Tessera), an authentication library, a shared secret compared, an
 * auth-named function whose code is not in the project, a token decoded without verification,
 * a spoofable marker header, nothing.
 */
export type AuthLevel =
  'crypto' | 'library' | 'shared-secret' | 'unresolved' | 'decode-only' | 'marker' | 'none';

const RANK: Readonly<Record<AuthLevel, number>> = {
  crypto: 6,
  library: 5,
  'shared-secret': 4,
  unresolved: 3,
  'decode-only': 2,
  marker: 1,
  none: 0,
};

/** Levels that count as "the route requires authentication". */
export function authenticates(level: AuthLevel): boolean {
  return RANK[level] >= RANK.unresolved;
}

export interface Verdict {
  readonly level: AuthLevel;
  /** The lines that decided the level (the verify call, the marker comparison…). */
  readonly evidence: readonly Site[];
}

export interface Protection {
  readonly level: AuthLevel;
  /** Where the deciding check sits: a scope-wide hook, a route option, the handler itself. */
  readonly via: 'global' | 'route' | 'handler' | 'none';
  /** The hooks (or handler) that decided, with their verdicts. */
  readonly deciding: readonly { readonly site: Site; readonly verdict: Verdict }[];
  /** Relies on a plugin registration the code does not show (assumed onto the only app). */
  readonly assumed: boolean;
}

type Flat =
  | { readonly kind: 'hook'; readonly hook: HookUse }
  | { readonly kind: 'route'; readonly route: Route }
  | { readonly kind: 'child'; readonly link: ChildLink }
  | { readonly kind: 'flush' };

const CRYPTO_KINDS = new Set([
  'jsonwebtoken',
  'jose',
  'fast-jwt',
  'fastify-jwt',
  'express-jwt',
  'koa-jwt',
  'hono-jwt',
  'tessera',
  'jwt',
  'peer-cert',
]);

/** Verdicts for hooks and protections for routes, cached. */
export class Coverage {
  private readonly flats = new Map<Scope, Flat[]>();
  private readonly verdicts = new Map<readonly Target[], Verdict>();
  private readonly protections = new Map<Route, Protection>();

  constructor(private readonly index: FunctionIndex) {}

  /** How strongly the code behind these targets authenticates. */
  verdict(targets: readonly Target[]): Verdict {
    const cached = this.verdicts.get(targets);
    if (cached !== undefined) return cached;
    let best: Verdict = { level: 'none', evidence: [] };
    for (const target of targets) {
      const verdict = this.targetVerdict(target);
      if (RANK[verdict.level] > RANK[best.level]) best = verdict;
    }
    this.verdicts.set(targets, best);
    return best;
  }

  private targetVerdict(target: Target): Verdict {
    if (target.kind === 'library') {
      const level: AuthLevel =
        target.library === 'bearer-auth' || target.library === 'basic-auth'
          ? 'shared-secret'
          : target.library === 'passport'
            ? 'library'
            : 'crypto';
      return { level, evidence: [target.site] };
    }
    if (target.kind === 'unresolved') {
      return AUTH_FUNCTION_NAME.test(target.name)
        ? { level: 'unresolved', evidence: [target.site] }
        : { level: 'none', evidence: [] };
    }
    return summaryVerdict(this.index.summary(target.facts));
  }

  /** What protects a route, in the worst of the contexts it is registered in. */
  protection(route: Route): Protection {
    const cached = this.protections.get(route);
    if (cached !== undefined) return cached;
    const handler = this.verdict(route.handler);
    let worst: Protection | undefined;
    for (const context of this.contexts(route)) {
      let best: Protection = {
        level: 'none',
        via: 'none',
        deciding: [],
        assumed: context.assumed,
      };
      const consider = (
        level: AuthLevel,
        via: Protection['via'],
        site: Site,
        verdict: Verdict,
      ): void => {
        if (RANK[level] > RANK[best.level]) {
          best = { level, via, deciding: [{ site, verdict }], assumed: context.assumed };
        } else if (level !== 'none' && RANK[level] === RANK[best.level]) {
          best = { ...best, deciding: [...best.deciding, { site, verdict }] };
        }
      };
      for (const hook of context.hooks) {
        const verdict = this.verdict(hook.targets);
        consider(verdict.level, 'global', hook.site, verdict);
      }
      for (const hook of route.routeHooks) {
        const verdict = this.verdict(hook.targets);
        consider(verdict.level, 'route', hook.site, verdict);
      }
      consider(handler.level, 'handler', route.site, handler);
      if (worst === undefined || RANK[best.level] < RANK[worst.level]) worst = best;
    }
    const result = worst ?? { level: 'none', via: 'none', deciding: [], assumed: false };
    this.protections.set(route, result);
    return result;
  }

  /** Scope-level hooks that run before a route, once per registration path of its scope. */
  contexts(route: Route): { hooks: HookUse[]; assumed: boolean }[] {
    const results: { hooks: HookUse[]; assumed: boolean }[] = [];
    for (const host of this.hostsOf(route.scope, new Set())) {
      const flat = this.flatten(host);
      const local =
        host.framework === 'fastify'
          ? this.ownHooks(host, new Set())
          : this.middlewareBefore(
              flat,
              flat.findIndex((e) => e.kind === 'route' && e.route === route),
              { path: route.path, method: route.method, framework: host.framework },
            );
      for (const up of this.upward(host, route.path, route.method, 0)) {
        results.push({ hooks: [...local, ...up.hooks], assumed: up.assumed });
        if (results.length >= 16) return results;
      }
    }
    return results.length > 0 ? results : [{ hooks: [], assumed: false }];
  }

  /** The full path of a route with the prefixes of the first registration path. */
  fullPath(route: Route): string | undefined {
    if (route.path === undefined) return undefined;
    let path = route.path;
    let scope: Scope = route.scope;
    for (let i = 0; i < 12; i++) {
      const host: Scope | undefined = this.hostsOf(scope, new Set())[0];
      const link: ChildLink | undefined = host?.parents[0];
      if (link === undefined) break;
      path = joinPath(link.prefix, path);
      scope = link.parent;
    }
    return path;
  }

  private upward(
    scope: Scope,
    path: string | undefined,
    method: string,
    depth: number,
  ): { hooks: HookUse[]; assumed: boolean }[] {
    if (depth > 12 || scope.parents.length === 0) return [{ hooks: [], assumed: false }];
    const out: { hooks: HookUse[]; assumed: boolean }[] = [];
    for (const link of scope.parents) {
      for (const host of this.hostsOf(link.parent, new Set())) {
        const flat = this.flatten(host);
        const at = flat.findIndex((e) => e.kind === 'child' && e.link === link);
        if (at < 0) continue;
        const childPath = path === undefined ? undefined : joinPath(link.prefix, path);
        const visible =
          host.framework === 'fastify'
            ? this.visibleToChild(flat, at, link)
            : this.middlewareBefore(flat, at, {
                path: childPath,
                method,
                framework: host.framework,
              });
        for (const up of this.upward(host, childPath, method, depth + 1)) {
          out.push({ hooks: [...visible, ...up.hooks], assumed: up.assumed || link.assumed });
          if (out.length >= 16) return out;
        }
      }
    }
    return out.length > 0 ? out : [{ hooks: [], assumed: false }];
  }

  /** The scopes whose instance a scope really is: itself, or those it was inlined into. */
  private hostsOf(scope: Scope, seen: Set<Scope>): Scope[] {
    if (seen.has(scope)) return [];
    seen.add(scope);
    const hosts: Scope[] = [];
    if (scope.parents.length > 0 || scope.inlinedInto.length === 0) hosts.push(scope);
    for (const into of scope.inlinedInto) hosts.push(...this.hostsOf(into, seen));
    return hosts;
  }

  /** A scope's events in order, with functions called on the same instance expanded in place. */
  flatten(scope: Scope, seen = new Set<Scope>()): Flat[] {
    const cached = this.flats.get(scope);
    if (cached !== undefined) return cached;
    if (seen.has(scope)) return [];
    seen.add(scope);
    const flat: Flat[] = [];
    for (const event of scope.events as readonly ScopeEvent[]) {
      switch (event.kind) {
        case 'inline':
          flat.push(...this.flatten(event.child, seen));
          break;
        case 'hook':
          flat.push({ kind: 'hook', hook: event.hook });
          break;
        case 'route':
          flat.push({ kind: 'route', route: event.route });
          break;
        case 'child':
          flat.push({ kind: 'child', link: event.link });
          break;
        case 'flush':
          flat.push({ kind: 'flush' });
          break;
      }
    }
    if (seen.size === 1) this.flats.set(scope, flat);
    return flat;
  }

  /** Fastify: every hook of the instance, including those of `fastify-plugin` children. */
  private ownHooks(scope: Scope, seen: Set<Scope>): HookUse[] {
    if (seen.has(scope)) return [];
    seen.add(scope);
    const hooks: HookUse[] = [];
    for (const event of this.flatten(scope)) {
      if (event.kind === 'hook') hooks.push(event.hook);
      else if (event.kind === 'child' && event.link.escape) {
        hooks.push(...this.ownHooks(event.link.child, seen));
      }
    }
    return hooks;
  }

  /**
   * Fastify: the parent's hooks a child plugin inherits. A child loads after the parent's
   * synchronous code (or at the next `await`), so it sees hooks added before it, and hooks added
   * after it unless an `await` came in between; plugins (including `fastify-plugin` ones such as
   * Tessera) load in registration order, so only those registered before it reach it.
   */
  private visibleToChild(flat: readonly Flat[], at: number, link: ChildLink): HookUse[] {
    const visible: HookUse[] = [];
    let flushedAfter = link.awaited;
    for (const [i, event] of flat.entries()) {
      if (i > at && event.kind === 'flush') flushedAfter = true;
      if (event.kind === 'hook') {
        const registered = isRegisteredPlugin(event.hook);
        if (i < at || (!registered && !flushedAfter)) visible.push(event.hook);
      } else if (event.kind === 'child' && event.link.escape && i < at) {
        visible.push(...this.ownHooks(event.link.child, new Set()));
      }
    }
    return visible;
  }

  /**
   * Express, Koa, Hono: middleware registered before position `at` whose path matches the route
   * and that does not skip it (`unless`).
   */
  private middlewareBefore(
    flat: readonly Flat[],
    at: number,
    route: { path: string | undefined; method: string; framework: Framework },
  ): HookUse[] {
    const hooks: HookUse[] = [];
    const end = at < 0 ? flat.length : at;
    const { path } = route;
    for (let i = 0; i < end; i++) {
      const event = flat[i];
      if (event?.kind !== 'hook') continue;
      const { prefix, unless } = event.hook;
      if (unless !== undefined && exempts(unless, path, route.method)) continue;
      if (
        prefix === undefined ||
        path === undefined ||
        (route.framework === 'hono' && !prefix.endsWith('*')
          ? samePath(path, prefix)
          : pathUnder(path, prefix))
      ) {
        hooks.push(event.hook);
      }
    }
    return hooks;
  }
}

/** The verdict for what one function (with its callees) does. */
export function summaryVerdict(summary: Summary): Verdict {
  if (summary.markerChecks.length > 0) return { level: 'marker', evidence: summary.markerChecks };
  const crypto = summary.verifications.filter((v) => CRYPTO_KINDS.has(v.kind));
  if (crypto.length > 0) return { level: 'crypto', evidence: crypto };
  if (summary.verifications.some((v) => v.kind === 'passport')) {
    return { level: 'library', evidence: summary.verifications };
  }
  const compared = [...summary.constantTime, ...summary.secretComparisons];
  if (summary.hmacs.length > 0 && compared.length > 0) {
    return { level: 'crypto', evidence: summary.hmacs };
  }
  if (compared.length > 0) return { level: 'shared-secret', evidence: compared };
  if (summary.decodes.length > 0) return { level: 'decode-only', evidence: summary.decodes };
  return { level: 'none', evidence: [] };
}

function isRegisteredPlugin(hook: HookUse): boolean {
  return hook.hook === 'tessera' || hook.hook.startsWith('plugin:');
}

function joinPath(prefix: string, path: string): string {
  if (prefix === '' || prefix === '/') return path;
  const left = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (path === '/' || path === '') return left;
  return path.startsWith('/') ? left + path : `${left}/${path}`;
}

/** Is `path` at or below `prefix` (`/api`, `/api/`, or Hono's and Express's `/api/*`)? */
function pathUnder(path: string, prefix: string): boolean {
  const clean = prefix.replace(/\*$/, '').replace(/\/$/, '');
  if (clean === '') return true;
  return path === clean || path.startsWith(`${clean}/`);
}

/** Hono: a middleware path without `*` matches that path only. */
function samePath(path: string, pattern: string): boolean {
  const trim = (p: string): string => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p);
  return trim(path) === trim(pattern);
}
