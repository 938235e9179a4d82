import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';

/**
 * The methods a route may name. Upper-case only: HTTP methods are case-sensitive (RFC 9110
 * §9.1), and Fastify reports them upper-case, so `get` would be a rule that never matches.
 */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** An HTTP method a policy route can name. */
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Which kinds of caller an allow entry admits; see `PolicyAllowEntry`. */
export const DELEGATION_MODES = ['allowed', 'required', 'forbidden'] as const;

/** `allowed`: service and delegated callers; `required`: delegated only; `forbidden`: service only. */
export type DelegationMode = (typeof DELEGATION_MODES)[number];

/**
 * Whether a route needs a user behind the call: `required` admits delegated and user callers
 * only, `forbidden` service callers only, `allowed` (default) any kind its allow list admits.
 */
export const USER_MODES = ['allowed', 'required', 'forbidden'] as const;

/** See {@link USER_MODES}. */
export type UserMode = (typeof USER_MODES)[number];

/**
 * A service name is one SPIFFE ID path segment (SPIFFE ID standard §2.2), never `.` or `..`,
 * so `spiffe://<trust-domain>/<name>` is always a valid workload ID. 255 characters keeps the
 * whole ID far below the standard's 2048-byte cap.
 */
const SERVICE_NAME_PATTERN = '^(?!\\.\\.?$)[A-Za-z0-9._-]{1,255}$';

/** SPIFFE ID standard §2.1: lower-case letters, digits, dot, dash and underscore. */
const TRUST_DOMAIN_PATTERN = '^[a-z0-9._-]+$';

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$';

const STATIC_SEGMENT = '[A-Za-z0-9._~-]+';
const PARAM_SEGMENT = ':[A-Za-z_][A-Za-z0-9_]*';
const SEGMENT = `(?:${STATIC_SEGMENT}|${PARAM_SEGMENT})`;

/**
 * A Fastify route pattern as Fastify reports it in `routeOptions.url`: `/`, or `/`-separated
 * static segments (RFC 3986 unreserved characters) and whole-segment `:param`s, optionally ending
 * in a `*` wildcard segment. Percent-encoding, `?`, `#`, whitespace, empty segments and trailing
 * slashes are excluded so that one route has exactly one spelling; `.`/`..` segments and repeated
 * parameter names are rejected by `compilePolicy`. Segments are separated by `/`, which no segment
 * can contain, so the pattern runs in linear time.
 */
const ROUTE_PATH_PATTERN = `^/(?:${SEGMENT}(?:/${SEGMENT})*(?:/\\*)?|\\*)?$`;

const allowEntrySchema = Type.Object(
  {
    service: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        'A service declared under `services`, by name or by its SPIFFE ID in the policy trust domain',
    }),
    scopes: Type.Optional(
      Type.Array(Type.String({ pattern: SCOPE_PATTERN, maxLength: 256 }), {
        minItems: 1,
        uniqueItems: true,
        description:
          'The caller must hold every one of these scopes; without the key, the caller is admitted on its identity alone (a certificate caller has no scopes)',
      }),
    ),
    delegated: Type.Optional(
      Type.Union(
        DELEGATION_MODES.map((mode) => Type.Literal(mode)),
        { description: 'allowed (default), required or forbidden' },
      ),
    ),
  },
  { additionalProperties: false },
);

/** An allow entry that admits end users calling the edge with the external issuer's tokens. */
const usersEntrySchema = Type.Object(
  {
    users: Type.Literal(true),
    scopes: Type.Optional(
      Type.Array(Type.String({ pattern: SCOPE_PATTERN, maxLength: 256 }), {
        minItems: 1,
        uniqueItems: true,
        description: 'The user token must carry every one of these scopes',
      }),
    ),
  },
  { additionalProperties: false },
);

/** A tenant value as carried in `tenant_id`. */
const TENANT_ID = Type.String({ minLength: 1, maxLength: 256 });

const tenantSchema = Type.Union(
  [
    Type.Object(
      { param: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 128 }) },
      { additionalProperties: false },
    ),
    Type.Object(
      { in: Type.Array(TENANT_ID, { minItems: 1, uniqueItems: true }) },
      { additionalProperties: false },
    ),
  ],
  { description: '{ param: <path parameter> } or { in: [tenant, ...] }' },
);

const routeSchema = Type.Object(
  {
    method: Type.Union(
      HTTP_METHODS.map((method) => Type.Literal(method)),
      { description: `one of ${HTTP_METHODS.join(', ')}` },
    ),
    path: Type.String({ pattern: ROUTE_PATH_PATTERN, maxLength: 1024 }),
    public: Type.Optional(Type.Literal(true)),
    allow: Type.Optional(
      Type.Union(
        [
          Type.Literal('any-authenticated'),
          Type.Array(Type.Union([allowEntrySchema, usersEntrySchema]), { minItems: 1 }),
        ],
        {
          description: '"any-authenticated" or a non-empty list of allow entries',
        },
      ),
    ),
    user: Type.Optional(
      Type.Union(
        USER_MODES.map((mode) => Type.Literal(mode)),
        { description: 'allowed (default), required or forbidden' },
      ),
    ),
    tenant: Type.Optional(tenantSchema),
  },
  {
    additionalProperties: false,
    description: 'Exactly one of `public: true` or `allow` (checked by compilePolicy)',
  },
);

const serviceSchema = Type.Object(
  { routes: Type.Optional(Type.Array(routeSchema)) },
  { additionalProperties: false },
);

/**
 * The TypeBox schema of a policy document (version 1). It is plain JSON Schema, so tools can
 * publish it with `JSON.stringify(policySchema)`.
 *
 * It describes the shape only. `compilePolicy` adds the rules a schema cannot express:
 * every allow entry names a declared service, a route sets exactly one of `public` and `allow`,
 * no route is listed twice, no `.`/`..` path segment, no repeated path parameter, no caller
 * listed twice on a route.
 */
export const policySchema = Type.Object(
  {
    version: Type.Literal(1),
    trustDomain: Type.String({ pattern: TRUST_DOMAIN_PATTERN, maxLength: 255 }),
    services: Type.Record(Type.String({ pattern: SERVICE_NAME_PATTERN }), serviceSchema, {
      minProperties: 1,
      additionalProperties: false,
    }),
  },
  { additionalProperties: false },
);

/** A policy document that passed {@link policySchema}, before `compilePolicy`'s own rules. */
export type PolicyDocument = Static<typeof policySchema>;
