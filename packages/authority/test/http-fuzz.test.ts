import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  createVerifier,
  generateSigningKey,
  JWT_BEARER_ASSERTION_TYPE,
  parseJwks,
  systemClock,
  type SigningKey,
} from '@tessera/core';
import { fuzzSeed, mulberry32, mutate } from '@tessera/core/testing';
import { verifyStoreAuditChain } from '../src/audit/chain.ts';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';

/**
 * Bad-input fuzz over every route of a real authority: malformed bodies, content types, fields,
 * parameters, client assertions, JSON, queries, headers and methods. Nothing may answer 5xx,
 * hang, echo a stack, the admin token or a credential it was sent, and afterwards the authority
 * must still be healthy, still issue tokens and still have an intact audit chain.
 *
 * Replay a failure with `FUZZ_SEED=<printed seed>`. The request sequence is a function of the
 * seed; timestamps, `jti`s of freshly signed assertions and the interleaving of concurrent
 * requests are not.
 */

const REQUESTS = 6000;
const CONCURRENCY = 16;
const REQUEST_TIMEOUT_MS = 10_000;
const FUZZ_DEADLINE_MS = 55_000;
const BODY_LIMIT = 64 * 1024;
/** Credentials shorter than this are too likely to occur in a response by chance to be checked. */
const MIN_SECRET_LENGTH = 16;

const TRUST_DOMAIN = 'tessera.local';
const FUZZ_CLIENT = 'fuzz-client';
const FUZZ_TARGET = 'fuzz-target';
/** Registered before the fuzz under names the generators never produce, and checked after it. */
const LEGIT_CLIENT = 'legit-client';
const LEGIT_TARGET = 'legit-target';
/** Names the service-name generator picks from: pattern-valid oddities, near-misses and real names. */
const SERVICE_NAMES = [
  FUZZ_TARGET,
  'fuzz-victim',
  'nobody',
  '.',
  '..',
  '...',
  '-',
  '_',
  'a'.repeat(255),
  'a'.repeat(256),
  '',
  'A',
  'a/b',
  'a b',
  'é',
  '%2e%2e',
  'spiffe://tessera.local/fuzz-target',
  '\u0000',
] as const;
/**
 * Service names a join token is asked for before the fuzz (the admin API refuses `.` and `..`),
 * so that some joins redeem a real token and reach the registration path.
 */
const JOIN_TOKEN_SERVICES = ['fuzz-joiner', '.', '..', '...', '-', 'a'.repeat(255)] as const;

class Rng {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  get source(): () => number {
    return this.#next;
  }
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }
  between(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
  text(n: number, alphabet: string): string {
    let out = '';
    for (let i = 0; i < n; i++) out += alphabet[this.int(alphabet.length)]!;
    return out;
  }
}

const VISIBLE_ASCII = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~';
const NASTY = [
  '',
  ' ',
  '\u0000',
  '\r\n',
  '\ud800',
  '\udfff',
  '\u202e',
  '\ufeff',
  '😀',
  '%',
  '%ZZ',
  '%00',
  '%ED%A0%80',
  '+',
  '&',
  '=',
  '"',
  "'",
  '\\',
  '{}',
  '[]',
  'null',
  '__proto__',
  'constructor',
  'spiffe://',
  'spiffe://tessera.local/',
  'spiffe://TESSERA.local/fuzz-target',
  'spiffe://tessera.local/fuzz-target/',
  'spiffe://tessera.local/a/../fuzz-target',
  'spiffe://other.domain/fuzz-target',
  'http://127.0.0.1:1/oauth2/token',
  '-1',
  '1e309',
  'NaN',
  '0x10',
  '9'.repeat(40),
] as const;

/** A short string of some awkward kind. */
function junk(rng: Rng): string {
  switch (rng.int(5)) {
    case 0:
      return rng.pick(NASTY);
    case 1:
      return rng.text(rng.between(1, 40), VISIBLE_ASCII);
    case 2:
      return rng.text(rng.between(1, 40), URL_SAFE);
    case 3:
      return rng.pick(NASTY) + rng.text(rng.between(0, 8), URL_SAFE) + rng.pick(NASTY);
    default:
      return String.fromCharCode(
        ...Array.from({ length: rng.between(1, 12) }, () => rng.int(0x3000)),
      );
  }
}

/** A length for an oversized field: mostly around the body limit, on both sides of it. */
function hugeLength(rng: Rng): number {
  return rng.chance(0.5)
    ? rng.between(BODY_LIMIT - 2048, BODY_LIMIT + 1024)
    : rng.between(8 * 1024, BODY_LIMIT - 2048);
}

/** Percent-encodes any string, lone surrogates included (encodeURIComponent throws on those). */
const percentEncode = (value: string): string =>
  new URLSearchParams([['', value]]).toString().slice(1);

const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64url');

/** A compact JWS over arbitrary header and payload text, signed with `key`. */
function signRaw(key: SigningKey, header: string, payload: string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = sign(key.alg === 'ES256' ? 'sha256' : null, Buffer.from(input), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

interface Material {
  readonly issuer: string;
  readonly adminToken: string;
  readonly client: { readonly key: SigningKey; readonly clientId: string };
  /** Not registered anywhere; signs with the registered kid to reach the signature check. */
  readonly strangerKey: SigningKey;
  readonly accessTokens: readonly string[];
  readonly joinTokens: readonly string[];
  validAssertion(): string;
}

const CLAIM_VALUES: readonly unknown[] = [
  null,
  '',
  0,
  -1,
  1.5,
  1e308,
  '1700000000',
  true,
  [],
  {},
  ['x'],
  'x'.repeat(300),
];

/** Claims of an assertion with one to three of them replaced by something wrong. */
function assertionClaims(rng: Rng, m: Material): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const id = m.client.clientId;
  const claims: Record<string, unknown> = {
    iss: id,
    sub: id,
    aud: m.issuer,
    iat: now,
    exp: now + 60,
    // A small jti space, so some assertions are replays of earlier ones.
    jti: `fuzz-${rng.int(64)}`,
  };
  for (let n = rng.between(1, 3); n > 0; n--) {
    const claim = rng.pick(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'extra']);
    const specific: Record<string, readonly unknown[]> = {
      iss: [
        `spiffe://${TRUST_DOMAIN}/${FUZZ_TARGET}`,
        `spiffe://${TRUST_DOMAIN}/nobody`,
        junk(rng),
      ],
      sub: [`spiffe://${TRUST_DOMAIN}/${FUZZ_TARGET}`, junk(rng)],
      aud: [`${m.issuer}/oauth2/token`, [m.issuer], ['x', m.issuer], [1, 2], `${m.issuer}/`],
      exp: [now - 3600, now + 3601, now + 299, now + 400, Number.MAX_SAFE_INTEGER],
      nbf: [now + 3600, now - 10],
      iat: [now + 3600, now - 3600, now - 10],
      jti: [undefined, 'x'.repeat(257), `fuzz-${rng.int(4)}`],
      extra: [{ deep: { deeper: [1, 2, 3] } }],
    };
    const value = rng.chance(0.6) ? rng.pick(specific[claim] ?? []) : rng.pick(CLAIM_VALUES);
    // An undefined claim is left out of the JSON: that is how claims go missing.
    claims[claim] = value;
  }
  return claims;
}

function assertionHeader(rng: Rng, key: SigningKey): Record<string, unknown> {
  const header: Record<string, unknown> = { alg: key.alg, kid: key.kid, typ: 'JWT' };
  switch (rng.int(6)) {
    case 0:
      header.alg = rng.pick(['none', 'HS256', 'RS256', 'Ed25519', 'es256', '', null, 5]);
      break;
    case 1:
      header.kid = rng.pick(['unknown', '', 5, null, 'k'.repeat(300), key.kid.toUpperCase()]);
      break;
    case 2:
      header.typ = rng.pick(['at+jwt', 'application/jwt', 'client-authentication+jwt', 5, '']);
      break;
    case 3:
      header[rng.pick(['jwk', 'jku', 'x5c', 'crit', 'b64', 'zzz'])] = rng.pick([
        key.publicJwk,
        'http://127.0.0.1:1/jwks',
        ['exp'],
        false,
        1,
      ]);
      break;
    case 4:
      delete header.kid;
      break;
    default:
      delete header.typ;
  }
  return header;
}

/** A client assertion that is wrong in one of many ways; some are valid, to reach later checks. */
function fuzzAssertion(rng: Rng, m: Material): string {
  const { key } = m.client;
  switch (rng.int(12)) {
    case 0:
      return m.validAssertion();
    case 1:
    case 2: {
      // Byte-level mutations of a valid assertion: most reach parsing, some the signature check.
      let value = m.validAssertion();
      for (let n = rng.between(1, 3); n > 0; n--) value = mutate(value, rng.source, '.');
      return value;
    }
    case 3: {
      // Only the signature changes: the claims and key lookup pass, the signature must not.
      const [h, p, s = ''] = m.validAssertion().split('.');
      const i = rng.int(s.length);
      const flipped = s[i] === 'A' ? 'B' : 'A';
      return `${h}.${p}.${s.slice(0, i)}${flipped}${s.slice(i + 1)}`;
    }
    case 4:
    case 5:
      // Correctly signed, wrong claims: reaches every claim check after the signature.
      return signRaw(
        key,
        JSON.stringify(assertionHeader(rng, key)),
        JSON.stringify(assertionClaims(rng, m)),
      );
    case 6:
      return signRaw(
        key,
        JSON.stringify({ alg: key.alg, kid: key.kid }),
        JSON.stringify(assertionClaims(rng, m)),
      );
    case 7:
      // A valid-looking assertion signed by a key nobody registered, under the registered kid.
      return signRaw(
        m.strangerKey,
        JSON.stringify({ alg: key.alg, kid: key.kid, typ: 'JWT' }),
        JSON.stringify(assertionClaims(rng, m)),
      );
    case 8: {
      // Header or payload text that is not a JSON object.
      const texts = [
        '',
        '[]',
        'null',
        '"x"',
        '{',
        '{"alg":"ES256","alg":"EdDSA"}',
        '\ufeff{}',
        `${'['.repeat(2500)}${']'.repeat(2500)}`,
        junk(rng),
      ];
      const header = rng.chance(0.5)
        ? rng.pick(texts)
        : JSON.stringify({ alg: key.alg, kid: key.kid });
      return signRaw(key, header, rng.chance(0.5) ? rng.pick(texts) : JSON.stringify({ iss: 1 }));
    }
    case 9: {
      // Framing: segment counts, padding, the standard alphabet, whitespace.
      const [h = '', p = '', s = ''] = m.validAssertion().split('.');
      return rng.pick([
        `${h}.${p}`,
        `${h}.${p}.${s}.${s}`,
        `${h}.${p}.${s}.${s}.${s}`,
        `${h}.${p}.`,
        `..`,
        `${h}=.${p}.${s}`,
        `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}`,
        ` ${h}.${p}.${s} `,
        `${h}.${p}.${s}\n`,
        `${h}.${p}.${s}==`,
      ]);
    }
    case 10:
      // Too large (> 8 KB) or enormous.
      return `${m.validAssertion()}${'A'.repeat(rng.chance(0.5) ? 9000 : hugeLength(rng))}`;
    default:
      return junk(rng);
  }
}

/** An access token to introspect or revoke: valid, mutated, the wrong kind of JWT or junk. */
function fuzzToken(rng: Rng, m: Material): string {
  const token = rng.pick(m.accessTokens);
  switch (rng.int(5)) {
    case 0:
      return token;
    case 1:
    case 2: {
      let value = token;
      for (let n = rng.between(1, 3); n > 0; n--) value = mutate(value, rng.source, '.');
      return value;
    }
    case 3:
      return rng.chance(0.5) ? m.validAssertion() : fuzzAssertion(rng, m);
    default:
      return rng.chance(0.1) ? 'x'.repeat(hugeLength(rng)) : junk(rng);
  }
}

interface FuzzRequest {
  /** Which generator made it, for the failure report. */
  readonly kind: string;
  readonly method: string;
  /** Path and query. */
  readonly target: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: Buffer | string;
  /**
   * The request line and header block, written byte for byte to a socket instead of going
   * through fetch: duplicated header lines, methods and header bytes fetch refuses, GET bodies.
   */
  readonly rawHead?: string;
  /** Credentials this request carries: none of them may come back in the response. */
  readonly secrets: readonly string[];
}

const OAUTH_PATHS = ['/oauth2/token', '/oauth2/revoke', '/oauth2/introspect'] as const;
const FORM = 'application/x-www-form-urlencoded';
const CONTENT_TYPES = [
  FORM,
  `${FORM}; charset=utf-8`,
  `${FORM};charset=UTF-8`,
  'APPLICATION/X-WWW-FORM-URLENCODED',
  `${FORM}; charset=iso-8859-1`,
  `${FORM}; charset=utf-16`,
  `${FORM};`,
  `${FORM}, application/json`,
  `${FORM}; boundary=x; boundary=y`,
  'application/json',
  'application/json; charset=utf-8',
  'application/jwt',
  'text/plain',
  'text/plain; charset=utf-8',
  'multipart/form-data; boundary=----x',
  'application/octet-stream',
  'application/xml',
  '*/*',
  'application/*',
  '',
  ';',
  'application/',
  '/json',
  'x'.repeat(300),
] as const;

function contentTypeHeader(rng: Rng, usual: string): (readonly [string, string])[] {
  if (rng.chance(0.6)) return [['content-type', usual]];
  if (rng.chance(0.15)) return [];
  if (rng.chance(0.1))
    return [['content-type', rng.text(rng.between(1, 60), VISIBLE_ASCII).trim() || 'x']];
  return [['content-type', rng.pick(CONTENT_TYPES)]];
}

/** Percent-encodes one form component, sometimes badly. */
function encodeComponent(rng: Rng, value: string): string {
  if (rng.chance(0.9)) return percentEncode(value);
  return rng.pick([value, percentEncode(value).replace(/%/g, '%%'), `${value}%`, `%${value}`]);
}

/** Form fields of an OAuth request, then broken: dropped, repeated, oversized, mangled. */
function oauthForm(rng: Rng, m: Material, path: string): { body: string; secrets: string[] } {
  const secrets: string[] = [];
  const fields: [string, string][] = [];
  const assertion = fuzzAssertion(rng, m);
  secrets.push(assertion);
  if (path === '/oauth2/token') {
    fields.push([
      'grant_type',
      rng.chance(0.8)
        ? 'client_credentials'
        : rng.pick([
            'urn:ietf:params:oauth:grant-type:token-exchange',
            'password',
            'CLIENT_CREDENTIALS',
            '',
            junk(rng),
          ]),
    ]);
    fields.push([
      'audience',
      rng.chance(0.7)
        ? rng.pick([FUZZ_TARGET, `spiffe://${TRUST_DOMAIN}/${FUZZ_TARGET}`, FUZZ_CLIENT, 'nobody'])
        : junk(rng),
    ]);
    if (rng.chance(0.7)) {
      fields.push([
        'scope',
        rng.chance(0.6)
          ? rng.pick([
              'a:read',
              'a:write',
              'a:read a:write',
              'a:read a:read',
              'a:read  a:write',
              ' ',
              'admin',
            ])
          : junk(rng),
      ]);
    }
  } else {
    const token = fuzzToken(rng, m);
    secrets.push(token);
    fields.push(['token', token]);
    if (rng.chance(0.3)) {
      fields.push(['token_type_hint', rng.pick(['access_token', 'refresh_token', junk(rng)])]);
    }
  }
  fields.push(['client_assertion_type', rng.chance(0.85) ? JWT_BEARER_ASSERTION_TYPE : junk(rng)]);
  fields.push(['client_assertion', assertion]);
  if (rng.chance(0.25)) {
    fields.push([
      'client_id',
      rng.pick([m.client.clientId, `spiffe://${TRUST_DOMAIN}/${FUZZ_TARGET}`, junk(rng)]),
    ]);
  }

  for (let n = rng.int(3); n > 0; n--) {
    switch (rng.int(6)) {
      case 0:
        fields.splice(rng.int(fields.length), 1);
        break;
      case 1: {
        // RFC 6749 §3.2: repeated parameters, with the same or a different value.
        const [name, value] = rng.pick(fields);
        fields.splice(rng.int(fields.length + 1), 0, [name, rng.chance(0.5) ? value : junk(rng)]);
        break;
      }
      case 2: {
        const i = rng.int(fields.length);
        const field = fields[i];
        if (field !== undefined) fields[i] = [field[0], 'v'.repeat(hugeLength(rng))];
        break;
      }
      case 3:
        fields.push([junk(rng), junk(rng)]);
        break;
      case 4: {
        const i = rng.int(fields.length);
        const field = fields[i];
        if (field !== undefined) fields[i] = [field[0].toUpperCase(), field[1]];
        break;
      }
      default:
        fields.push(['pad', 'p'.repeat(hugeLength(rng))]);
    }
  }
  let body = fields
    .map(([k, v]) => `${encodeComponent(rng, k)}=${encodeComponent(rng, v)}`)
    .join('&');
  if (rng.chance(0.1)) {
    body = rng.pick([
      `&${body}`,
      `${body}&`,
      `${body}&&=&`,
      body.replace(/=/g, '=='),
      `${body}&novalue`,
    ]);
  }
  return { body, secrets };
}

/** A public JWK set, or something that looks like one and is wrong. */
function fuzzJwks(rng: Rng): unknown {
  const good = generateSigningKey(rng.chance(0.5) ? 'ES256' : 'EdDSA').publicJwk;
  const { kty, crv, x } = good;
  switch (rng.int(12)) {
    case 0:
      return { keys: [good] };
    case 1:
      return { keys: [{ ...good, d: x }] };
    case 2:
      return { keys: [good, good] };
    case 3:
      return { keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB', kid: 'rsa' }] };
    case 4:
      return { keys: [{ kty, crv, x: x.slice(1), kid: 'short' }] };
    case 5:
      return { keys: Array.from({ length: 101 }, (_, i) => ({ ...good, kid: `k${i}` })) };
    case 6:
      return { keys: [{ kty: 'oct', k: 'AAAA', kid: 'oct' }] };
    case 7:
      return { keys: [{ ...good, kid: undefined }] };
    case 8:
      return { keys: good };
    case 9:
      return { keys: [{ ...good, junk: 'j'.repeat(rng.between(0, 40_000)) }] };
    case 10:
      return {
        keys: [
          {
            kty: 'EC',
            crv: 'P-256',
            x: b64(Buffer.alloc(32, 1)),
            y: b64(Buffer.alloc(32, 2)),
            kid: 'off-curve',
          },
        ],
      };
    default:
      return randomJson(rng, 3);
  }
}

/** Arbitrary JSON, sometimes deeply nested. */
function randomJson(rng: Rng, depth: number): unknown {
  if (depth <= 0 || rng.chance(0.3)) {
    return rng.pick<unknown>([
      null,
      true,
      false,
      0,
      -1,
      1.5,
      1e308,
      junk(rng),
      'x'.repeat(rng.int(300)),
    ]);
  }
  if (rng.chance(0.5)) {
    return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth - 1));
  }
  const keys = [
    'name',
    'audiences',
    'scopes',
    'jwks',
    'enabled',
    'service',
    'ttlSeconds',
    'jti',
    'exp',
    'token',
    'revokePrevious',
    '__proto__',
    'constructor',
    junk(rng),
  ];
  const out: Record<string, unknown> = {};
  for (let n = rng.int(5); n > 0; n--) out[rng.pick(keys)] = randomJson(rng, depth - 1);
  return out;
}

/** JSON nested this deep as text: parsers and stringifiers that recurse are what it tests. */
function deepJsonText(rng: Rng, wrapper: (inner: string) => string): string {
  const depth = rng.between(1000, 20_000);
  return wrapper(`${'['.repeat(depth)}${']'.repeat(depth)}`);
}

function serviceName(rng: Rng): string {
  return rng.chance(0.75) ? rng.pick(SERVICE_NAMES) : junk(rng);
}

/** A body for one admin route: near-valid with one field wrong, or arbitrary JSON. */
function adminBody(rng: Rng, route: string): string {
  if (rng.chance(0.08))
    return deepJsonText(
      rng,
      (inner) => `{"name":"${FUZZ_TARGET}","jwks":{"keys":[],"x":${inner}}}`,
    );
  if (rng.chance(0.15)) return JSON.stringify(randomJson(rng, 4));
  if (rng.chance(0.05)) return rng.text(rng.between(0, 100), VISIBLE_ASCII);
  const pickOr = (valid: unknown): unknown => (rng.chance(0.7) ? valid : randomJson(rng, 2));
  switch (route) {
    case '/v1/admin/services':
      return JSON.stringify({
        name: pickOr(serviceName(rng)),
        ...(rng.chance(0.7) ? { audiences: pickOr([serviceName(rng), junk(rng)]) } : {}),
        ...(rng.chance(0.7)
          ? { scopes: pickOr([rng.pick(['a:read', 'a b', '', junk(rng)])]) }
          : {}),
        ...(rng.chance(0.8) ? { jwks: fuzzJwks(rng) } : {}),
        ...(rng.chance(0.2) ? { enabled: pickOr(rng.chance(0.5)) } : {}),
        ...(rng.chance(0.1) ? { extra: 1 } : {}),
      });
    case '/v1/admin/join-tokens':
      return JSON.stringify({
        service: pickOr(serviceName(rng)),
        ...(rng.chance(0.6)
          ? { ttlSeconds: pickOr(rng.pick([0, 1, 3600, 3601, -1, 1.5, 1e20])) }
          : {}),
      });
    case '/v1/admin/keys/rotate':
      // Mostly invalid: a valid body rotates the signing key, which is fine but slow to do often.
      return JSON.stringify(
        rng.chance(0.1)
          ? { revokePrevious: rng.chance(0.3) }
          : { revokePrevious: randomJson(rng, 1), x: 1 },
      );
    case '/v1/admin/revocations':
      return JSON.stringify({
        ...(rng.chance(0.6) ? { jti: pickOr(junk(rng)) } : {}),
        ...(rng.chance(0.4)
          ? { exp: pickOr(rng.pick([0, 1, Number.MAX_SAFE_INTEGER, 1e300, -1])) }
          : {}),
        ...(rng.chance(0.5) ? { service: pickOr(serviceName(rng)) } : {}),
      });
    default:
      return JSON.stringify(randomJson(rng, 3));
  }
}

function adminAuthorization(rng: Rng, m: Material): (readonly [string, string])[] {
  if (rng.chance(0.85)) return [['authorization', `Bearer ${m.adminToken}`]];
  return rng.pick<(readonly [string, string])[]>([
    [],
    [['authorization', 'Bearer wrong']],
    [['authorization', `bearer ${m.adminToken}`]],
    [['authorization', `Basic ${b64(`admin:${m.adminToken}`)}`]],
    [['authorization', `Bearer ${m.adminToken}x`]],
    [['authorization', `Bearer  ${m.adminToken}`]],
    [['authorization', `Bearer ${'x'.repeat(600)}`]],
    [['authorization', 'Bearer']],
  ]);
}

const ADMIN_ROUTES = [
  ['POST', '/v1/admin/services'],
  ['GET', '/v1/admin/services'],
  ['GET', '/v1/admin/services/:name'],
  ['DELETE', '/v1/admin/services/:name'],
  ['POST', '/v1/admin/join-tokens'],
  ['POST', '/v1/admin/keys/rotate'],
  ['POST', '/v1/admin/revocations'],
  ['GET', '/v1/admin/audit'],
] as const;

/** A path segment standing for a service name, sometimes not one. */
function nameSegment(rng: Rng): string {
  if (rng.chance(0.2))
    return rng.pick(['..', '%2e%2e', '%00', '%', '%ZZ', 'a%2Fb', '', 'x'.repeat(3000)]);
  return percentEncode(serviceName(rng));
}

function randomQuery(rng: Rng): string {
  const parts: string[] = [];
  for (let n = rng.int(4); n > 0; n--) {
    const name = rng.pick(['since', 'after', 'limit', 'since', junk(rng)]);
    const value = rng.pick([
      '0',
      '1',
      '-1',
      '1.5',
      '9'.repeat(16),
      '99999999999999',
      '',
      'abc',
      junk(rng),
    ]);
    parts.push(
      `${percentEncode(name)}=${rng.chance(0.9) ? percentEncode(value) : value.replace(/[\s#]/g, '')}`,
    );
  }
  if (rng.chance(0.1))
    parts.push(
      rng.pick(['since', 'since=1&since=2', '&&', '=', '%', '%ZZ=1', 'a[b]=1', 'since[]=1']),
    );
  return parts.length === 0 && rng.chance(0.5) ? '' : `?${parts.join('&')}`;
}

const GET_ROUTES = [
  '/.well-known/oauth-authorization-server',
  '/.well-known/jwks.json',
  '/v1/revocations',
  '/v1/revocations/stream',
  '/healthz',
  '/readyz',
  '/metrics',
] as const;
const UNKNOWN_PATHS = [
  '/',
  '/.well-known/',
  '/.well-known/openid-configuration',
  '/.well-known/jwks.json/',
  '/oauth2',
  '/oauth2/token/',
  '/OAUTH2/TOKEN',
  '//oauth2/token',
  '/oauth2/./token',
  '/oauth2/%74oken',
  '/v1',
  '/v1/admin',
  '/v1/admin/',
  '/v1/admin/services/a/b',
  '/v1/admin/../healthz',
  '/v1/svid/x509',
  '/v1/bundle',
  '/%',
  '/%ZZ',
  '/%00',
  '/%C0%AE%C0%AE/',
  '/index.html',
  '/healthz/',
  '/metrics.json',
] as const;
const ALL_PATHS: readonly string[] = [
  ...GET_ROUTES,
  ...OAUTH_PATHS,
  ...ADMIN_ROUTES.map(([, path]) => path.replace(':name', FUZZ_TARGET)),
  '/v1/attest/join',
  ...UNKNOWN_PATHS,
];
/**
 * Methods fetch sends. TRACE and invalid method tokens go over raw sockets only; CONNECT is left
 * out, because Node's HTTP server closes such connections itself before the authority sees them.
 */
const FETCH_METHODS = [
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'HEAD',
  'PROPFIND',
  'SEARCH',
  'PURGE',
] as const;
const RAW_METHODS = [
  ...FETCH_METHODS,
  'TRACE',
  'FOO',
  'get',
  'M-SEARCH',
  'LINK',
  'QUERY',
  'PRI',
  'post',
  'G\u00c9T',
] as const;

/** Any path, for the generators that do not care which route they hit. */
function anyPath(rng: Rng): string {
  if (rng.chance(0.1))
    return `/${rng.text(rng.between(1, rng.chance(0.1) ? 20_000 : 60), URL_SAFE + '/%')}`;
  return rng.pick(ALL_PATHS);
}

function generateOAuth(rng: Rng, m: Material): FuzzRequest {
  const path = rng.pick(OAUTH_PATHS);
  const { body, secrets } = oauthForm(rng, m, path);
  return {
    kind: 'oauth-form',
    method: 'POST',
    target: rng.chance(0.05) ? `${path}${randomQuery(rng)}` : path,
    headers: contentTypeHeader(rng, FORM),
    body,
    secrets,
  };
}

function generateAdmin(rng: Rng, m: Material): FuzzRequest {
  const [method, route] = rng.pick(ADMIN_ROUTES);
  const target =
    route === '/v1/admin/services/:name'
      ? `/v1/admin/services/${nameSegment(rng)}`
      : route === '/v1/admin/audit'
        ? `${route}${randomQuery(rng)}`
        : route;
  const hasBody = method === 'POST' || (method === 'DELETE' && rng.chance(0.1));
  return {
    kind: `admin ${method} ${route}`,
    method,
    target,
    headers: [
      ...adminAuthorization(rng, m),
      ...(hasBody ? contentTypeHeader(rng, 'application/json') : []),
    ],
    ...(hasBody ? { body: adminBody(rng, route) } : {}),
    secrets: [],
  };
}

function generateJoin(rng: Rng, m: Material): FuzzRequest {
  const token = rng.chance(0.3) ? rng.pick(m.joinTokens) : junk(rng);
  const body = rng.chance(0.1)
    ? JSON.stringify(randomJson(rng, 3))
    : rng.chance(0.05)
      ? deepJsonText(rng, (inner) => `{"token":"x","jwks":{"keys":[],"x":${inner}}}`)
      : JSON.stringify({
          ...(rng.chance(0.9) ? { token: rng.chance(0.8) ? token : randomJson(rng, 1) } : {}),
          ...(rng.chance(0.9) ? { jwks: fuzzJwks(rng) } : {}),
          ...(rng.chance(0.05) ? { extra: true } : {}),
        });
  return {
    kind: 'attest-join',
    method: 'POST',
    target: '/v1/attest/join',
    headers: contentTypeHeader(rng, 'application/json'),
    body,
    secrets: [token],
  };
}

function generateQuery(rng: Rng): FuzzRequest {
  const path = rng.chance(0.5) ? '/v1/revocations' : rng.pick(GET_ROUTES);
  return {
    kind: `query ${path}`,
    method: rng.chance(0.9) ? 'GET' : 'HEAD',
    target: `${path}${randomQuery(rng)}`,
    headers: [],
    secrets: [],
  };
}

function generateBodyJunk(rng: Rng, m: Material): FuzzRequest {
  const method = rng.pick(['POST', 'PUT', 'PATCH', 'DELETE', 'POST', 'POST'] as const);
  const size = rng.chance(0.1) ? hugeLength(rng) : rng.int(512);
  const body = rng.chance(0.7) ? rng.bytes(size) : rng.text(size, VISIBLE_ASCII);
  return {
    kind: 'body-junk',
    method,
    target: anyPath(rng),
    headers: [
      ...contentTypeHeader(rng, rng.pick([FORM, 'application/json', 'text/plain'])),
      ...(rng.chance(0.3) ? [['authorization', `Bearer ${m.adminToken}`] as const] : []),
    ],
    body,
    secrets: [],
  };
}

/** Headers that are legal on the wire but unusual: fetch sends these. */
function generateHeaderJunk(rng: Rng, m: Material): FuzzRequest {
  const headers: [string, string][] = [];
  for (let n = rng.between(1, 6); n > 0; n--) {
    const name = rng.pick([
      'authorization',
      'accept',
      'accept-encoding',
      'content-encoding',
      'x-forwarded-for',
      'x-forwarded-proto',
      'forwarded',
      'x-correlation-id',
      'traceparent',
      'cookie',
      'origin',
      'x-request-id',
      `x-${rng.text(rng.between(1, 20), 'abcdefghijklmnopqrstuvwxyz-')}`,
    ]);
    const value = rng.chance(0.1)
      ? rng.text(rng.between(4000, 12_000), URL_SAFE)
      : rng.pick([
          `Bearer ${m.adminToken}`,
          'Bearer',
          'gzip',
          'br',
          '*/*;q=abc',
          '00-00000000000000000000000000000000-0000000000000000-00',
          rng.text(rng.between(0, 80), VISIBLE_ASCII).trim(),
        ]);
    headers.push([name, value]);
  }
  const method = rng.pick(FETCH_METHODS);
  const hasBody = method !== 'GET' && method !== 'HEAD' && rng.chance(0.5);
  return {
    kind: 'header-junk',
    method,
    target: anyPath(rng),
    headers,
    ...(hasBody ? { body: rng.text(rng.int(200), VISIBLE_ASCII) } : {}),
    secrets: [],
  };
}

/**
 * A request written byte for byte: odd methods and versions, duplicated header lines (two
 * content types, two authorizations, two hosts), invalid header bytes, bodies on GET, chunked
 * bodies. Always complete, so the server never waits for more.
 */
function generateRaw(rng: Rng, m: Material): FuzzRequest {
  const method = rng.pick(RAW_METHODS);
  const path = rng.chance(0.15)
    ? rng.pick([
        '*',
        'http://127.0.0.1/oauth2/token',
        '/oauth2/token#x',
        '/oauth2/token?a=1#b',
        'oauth2/token',
        '/\u00e9',
      ])
    : anyPath(rng);
  const version = rng.chance(0.9)
    ? 'HTTP/1.1'
    : rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/9.9', 'HTTP/1', '']);
  let body: Buffer = Buffer.alloc(0);
  const secrets: string[] = [];
  if (rng.chance(0.6)) {
    if (rng.chance(0.4)) {
      const form = oauthForm(rng, m, rng.pick(OAUTH_PATHS));
      body = Buffer.from(form.body);
      secrets.push(...form.secrets);
    } else {
      body = rng.chance(0.5)
        ? rng.bytes(rng.int(400))
        : Buffer.from(adminBody(rng, '/v1/admin/services'));
    }
  }
  const lines: string[] = [];
  if (rng.chance(0.95)) lines.push('Host: 127.0.0.1');
  if (rng.chance(0.05)) lines.push('Host: example.com');
  for (let n = rng.int(3); n > 0; n--) {
    lines.push(`Content-Type: ${rng.pick(CONTENT_TYPES)}`);
  }
  for (let n = rng.int(3); n > 0; n--) {
    lines.push(`Authorization: ${rng.chance(0.6) ? `Bearer ${m.adminToken}` : junk(rng)}`);
  }
  if (rng.chance(0.2)) {
    lines.push(
      rng.pick([
        'X-Junk: a\u0000b',
        'X-Junk:\ta\tb',
        'X Junk: a',
        ': empty-name',
        'X-Junk',
        'X-Junk: first\r\n continued',
        `X-Junk: ${'h'.repeat(rng.between(8000, 20_000))}`,
        'X-Junk: \u00ff\u00fe',
        'Content-Length: abc',
        'Content-Length: -1',
      ]),
    );
  }
  const chunked = body.length > 0 && rng.chance(0.2);
  if (chunked) {
    lines.push('Transfer-Encoding: chunked');
    body = Buffer.concat([
      Buffer.from(`${body.length.toString(16)}\r\n`),
      body,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
  } else if (body.length > 0 || rng.chance(0.3)) {
    lines.push(`Content-Length: ${body.length}`);
    if (rng.chance(0.05)) lines.push(`Content-Length: ${body.length}`);
  }
  lines.push('Connection: close');
  const head = `${method} ${path} ${version}\r\n${lines.join('\r\n')}\r\n\r\n`;
  return {
    kind: `raw ${method}`,
    method,
    target: path,
    headers: [],
    body,
    rawHead: head,
    secrets,
  };
}

function* generateRequests(rng: Rng, m: Material, count: number): Generator<FuzzRequest> {
  for (let i = 0; i < count; i++) {
    const roll = rng.int(100);
    if (roll < 30) yield generateOAuth(rng, m);
    else if (roll < 48) yield generateAdmin(rng, m);
    else if (roll < 53) yield generateJoin(rng, m);
    else if (roll < 62) yield generateQuery(rng);
    else if (roll < 74) yield generateBodyJunk(rng, m);
    else if (roll < 80) yield generateHeaderJunk(rng, m);
    else yield generateRaw(rng, m);
  }
}

type Outcome =
  | { readonly status: number; readonly body: string }
  | { readonly status: 'timeout' | 'no-response' | 'client-refused'; readonly detail: string };

async function sendWithFetch(base: string, request: FuzzRequest): Promise<Outcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
  }, REQUEST_TIMEOUT_MS);
  let headers: Headers;
  try {
    headers = new Headers();
    for (const [name, value] of request.headers) headers.append(name, value);
  } catch (error) {
    clearTimeout(timer);
    return { status: 'client-refused', detail: String(error) };
  }
  try {
    const response = await fetch(`${base}${request.target}`, {
      method: request.method,
      headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      redirect: 'manual',
      signal: controller.signal,
    });
    // Never hold a revocation stream open: close it as soon as it answers.
    if ((response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      controller.abort();
      return { status: response.status, body: '' };
    }
    return { status: response.status, body: await response.text() };
  } catch (error) {
    if (controller.signal.aborted) return { status: 'timeout', detail: 'no answer in time' };
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if (error instanceof TypeError && cause === undefined) {
      return { status: 'client-refused', detail: error.message };
    }
    return {
      status: 'no-response',
      detail: `${String(error)} ${cause?.code ?? cause?.message ?? ''}`,
    };
  } finally {
    clearTimeout(timer);
  }
}

function decodeChunked(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (let guard = 0; guard < 10_000 && offset < body.length; guard++) {
    const lineEnd = body.indexOf('\r\n', offset);
    if (lineEnd === -1) break;
    const size = parseInt(body.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Parses the (last, after any 1xx) response on a connection the server closes. */
function parseRawResponse(data: Buffer): Outcome {
  let rest = data;
  for (let guard = 0; guard < 10; guard++) {
    const headEnd = rest.indexOf('\r\n\r\n');
    const head = rest.subarray(0, headEnd === -1 ? rest.length : headEnd).toString('latin1');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (status === null)
      return { status: 'no-response', detail: JSON.stringify(head.slice(0, 80)) };
    const code = Number(status[1]);
    const body = headEnd === -1 ? Buffer.alloc(0) : rest.subarray(headEnd + 4);
    if (code >= 100 && code < 200) {
      rest = body;
      continue;
    }
    const chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
    return { status: code, body: (chunked ? decodeChunked(body) : body).toString('utf8') };
  }
  return { status: 'no-response', detail: 'too many interim responses' };
}

function sendRaw(port: number, request: FuzzRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (outcome?: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(
        outcome ??
          (chunks.length === 0
            ? { status: 'no-response', detail: 'closed without an answer' }
            : parseRawResponse(Buffer.concat(chunks))),
      );
    };
    const timer = setTimeout(() => {
      finish({ status: 'timeout', detail: 'no answer in time' });
    }, REQUEST_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // An event stream never ends: its head is all there is to check.
      if (/\r\ncontent-type: text\/event-stream/i.test(Buffer.concat(chunks).toString('latin1')))
        finish();
    });
    socket.on('end', () => {
      finish();
    });
    socket.on('close', () => {
      finish();
    });
    // The server may answer (413, 401) and close before it has read the whole body.
    socket.on('error', () => {
      finish();
    });
    socket.write(
      Buffer.concat([
        Buffer.from(request.rawHead ?? '', 'latin1'),
        Buffer.from(request.body ?? ''),
      ]),
    );
  });
}

/** What may not appear in any response: the admin token and the credentials the request sent. */
function leaks(request: FuzzRequest, body: string, adminToken: string): string | undefined {
  if (/\n\s+at \S/.test(body) || body.includes('    at ')) return 'a stack trace';
  if (body.includes(adminToken)) return 'the admin token';
  for (const secret of request.secrets) {
    const signature = secret.split('.')[2] ?? '';
    if (secret.length >= MIN_SECRET_LENGTH && body.includes(secret))
      return 'a credential it was sent';
    if (signature.length >= MIN_SECRET_LENGTH && body.includes(signature))
      return 'a credential signature it was sent';
  }
  return undefined;
}

function describeRequest(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : Buffer.from(request.body).toString('latin1');
  return JSON.stringify({
    kind: request.kind,
    method: request.method,
    target: request.target.slice(0, 200),
    headers: request.headers.map(([n, v]) => [n, v.slice(0, 80)]),
    ...(request.rawHead !== undefined ? { rawHead: request.rawHead.slice(0, 400) } : {}),
    body: body.length > 300 ? `${body.slice(0, 300)}… (${body.length} bytes)` : body,
  });
}

/** Client-authentication refusals the fuzz must reach, whatever the seed. */
const SIGNATURE_PATH_REASONS = [
  'malformed',
  'too_large',
  'header_not_allowed',
  'alg_not_allowed',
  'kid_unknown',
  'bad_signature',
  'client_id_mismatch',
] as const;

/** Client-authentication refusals on the OAuth endpoints, summed by reason, from /metrics. */
async function clientAuthFailureReasons(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const reasons: Record<string, number> = {};
  const line =
    /^tessera_authority_failures_total\{endpoint="(?:token|introspect|revoke)",reason="([a-z_]+)"\} (\d+)$/gm;
  for (const [, reason = '', count = '0'] of text.matchAll(line)) {
    reasons[reason] = (reasons[reason] ?? 0) + Number(count);
  }
  return reasons;
}

/** JSON nested this deep overflowed `JSON.stringify` when a JWKS was stored as sent. */
const DEEP_JSON = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;

/**
 * Requests that broke the authority, and a few cheap guards for ones that easily could. Each row
 * is sent once with the status it must get. Adding a case is one row.
 */
const KNOWN_BAD: readonly {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly admin: boolean;
  readonly contentType?: string;
  readonly body?: string;
  readonly status: number;
}[] = [
  {
    // Was 500: the name passed the schema pattern and serviceSpiffeId threw on the relative segment.
    name: 'a service named ".."',
    method: 'POST',
    path: '/v1/admin/services',
    admin: true,
    contentType: 'application/json',
    body: '{"name":".."}',
    status: 400,
  },
  {
    name: 'a service named "."',
    method: 'POST',
    path: '/v1/admin/services',
    admin: true,
    contentType: 'application/json',
    body: '{"name":"."}',
    status: 400,
  },
  {
    // Was 201, and the join that redeemed the token then failed with a 500 after burning it.
    name: 'a join token for a service named ".."',
    method: 'POST',
    path: '/v1/admin/join-tokens',
    admin: true,
    contentType: 'application/json',
    body: '{"service":".."}',
    status: 400,
  },
  {
    // Was 500: the JWKS was stored as sent and JSON.stringify overflowed the stack on it.
    name: 'a JWKS with a deeply nested extra member',
    method: 'POST',
    path: '/v1/admin/services',
    admin: true,
    contentType: 'application/json',
    body: `{"name":"${FUZZ_TARGET}","jwks":{"keys":[],"x":${DEEP_JSON}}}`,
    status: 200,
  },
  {
    // Was a hang: the automatic HEAD route of the event stream never flushed its headers.
    name: 'HEAD on the revocation stream',
    method: 'HEAD',
    path: '/v1/revocations/stream',
    admin: false,
    status: 404,
  },
  {
    name: 'a JSON body on the token endpoint',
    method: 'POST',
    path: '/oauth2/token',
    admin: false,
    contentType: 'application/json',
    body: '{"grant_type":"client_credentials"}',
    status: 400,
  },
  {
    name: 'an empty JSON body on an admin route',
    method: 'POST',
    path: '/v1/admin/services',
    admin: true,
    contentType: 'application/json',
    body: '',
    status: 400,
  },
];

describe('HTTP fuzz: malformed requests over every route', () => {
  let authority: TestAuthority;
  let material: Material;
  let port: number;
  let legit: { key: SigningKey; clientId: string };

  before(async () => {
    // Thousands of failed client authentications from one address: without a higher budget the
    // per-source limit would answer 429 before the corpus reaches the signature checks.
    authority = await startTestAuthority({
      config: { clientAuthFailures: { maxPerWindow: 100_000 } },
    });
    port = Number(new URL(authority.url).port);
    await authority.register(FUZZ_TARGET, [], []);
    await authority.register('fuzz-victim', [], []);
    await authority.register(LEGIT_TARGET, [], []);
    legit = await authority.register(LEGIT_CLIENT, [LEGIT_TARGET], ['legit:read']);
    const client = await authority.register(FUZZ_CLIENT, [FUZZ_TARGET], ['a:read', 'a:write']);
    const accessTokens: string[] = [];
    for (const scope of ['a:read', 'a:write', '']) {
      const response = await authority.tokenRequest(client.key, client.clientId, {
        audience: FUZZ_TARGET,
        ...(scope === '' ? {} : { scope }),
      });
      assert.equal(response.status, 200);
      accessTokens.push(((await response.json()) as { access_token: string }).access_token);
    }
    const joinTokens: string[] = [];
    for (const service of JOIN_TOKEN_SERVICES) {
      const response = await authority.admin('POST', '/v1/admin/join-tokens', {
        service,
        ttlSeconds: 3600,
      });
      if (response.status === 201)
        joinTokens.push(((await response.json()) as { token: string }).token);
      else
        assert.ok(
          response.status >= 400 && response.status < 500,
          `join token for ${JSON.stringify(service)}: ${response.status}`,
        );
    }
    const stranger = generateSigningKey();
    material = {
      issuer: authority.url,
      adminToken: authority.adminToken,
      client,
      strangerKey: stranger,
      accessTokens,
      joinTokens,
      validAssertion: () => authority.assertion(client.key, client.clientId),
    };
  });
  after(async () => {
    await authority.close();
  });

  for (const row of KNOWN_BAD) {
    it(`answers ${row.name} with ${row.status}`, async () => {
      const response = await fetch(`${authority.url}${row.path}`, {
        method: row.method,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        headers: {
          ...(row.admin ? { authorization: `Bearer ${authority.adminToken}` } : {}),
          ...(row.contentType !== undefined ? { 'content-type': row.contentType } : {}),
        },
        ...(row.body !== undefined ? { body: row.body } : {}),
      });
      const text = await response.text();
      assert.equal(response.status, row.status, text);
      assert.ok(!text.includes('    at '), 'no stack trace');
    });
  }

  it(`answers ${REQUESTS} malformed requests without a 5xx, a hang or a leak`, async () => {
    const seed = fuzzSeed(0x4f7a2e11, process.env.FUZZ_SEED);
    console.log(`http fuzz seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const rng = new Rng(seed);
    const requests = generateRequests(rng, material, REQUESTS);
    const byStatus = new Map<string, number>();
    const failures: string[] = [];
    let sent = 0;
    const deadline = Date.now() + FUZZ_DEADLINE_MS;

    const worker = async () => {
      for (let guard = 0; guard < REQUESTS && Date.now() < deadline; guard++) {
        const next = requests.next();
        if (next.done === true) return;
        const request = next.value;
        sent++;
        const outcome =
          request.rawHead !== undefined
            ? await sendRaw(port, request)
            : await sendWithFetch(authority.url, request);
        const key = String(outcome.status);
        byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
        let problem: string | undefined;
        if (typeof outcome.status !== 'number')
          problem = `${outcome.status}: ${'detail' in outcome ? outcome.detail : ''}`;
        else if (outcome.status >= 500) problem = `status ${outcome.status}`;
        else if ('body' in outcome) {
          const leak = leaks(request, outcome.body, authority.adminToken);
          if (leak !== undefined) problem = `response contains ${leak}`;
        }
        if (problem !== undefined && failures.length < 20) {
          const body = 'body' in outcome ? outcome.body.slice(0, 300) : '';
          failures.push(`${problem}\n  request: ${describeRequest(request)}\n  response: ${body}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    const counts = Object.fromEntries([...byStatus].sort(([a], [b]) => a.localeCompare(b)));
    console.log(`http fuzz: ${sent} requests, by status ${JSON.stringify(counts)}`);
    const reasons = await clientAuthFailureReasons(authority.url);
    console.log(`http fuzz: OAuth endpoint refusals by reason ${JSON.stringify(reasons)}`);
    assert.deepEqual(failures, [], `seed ${seed}: ${failures.length} failing requests`);
    assert.ok(
      sent >= REQUESTS,
      `only ${sent} of ${REQUESTS} requests were sent before the deadline`,
    );
    // The assertion corpus must get past parsing: these refusals come after the header checks,
    // the client lookup and the signature.
    for (const reason of SIGNATURE_PATH_REASONS) {
      assert.ok((reasons[reason] ?? 0) > 0, `no client assertion was refused as ${reason}`);
    }
    const serverErrors = authority.logLines.filter(
      (line) => (JSON.parse(line) as { level: number }).level >= 50,
    );
    assert.deepEqual(serverErrors, [], 'no error was logged');
  });

  it('is still healthy, still issues tokens and keeps an intact audit chain', async () => {
    assert.equal((await fetch(`${authority.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${authority.url}/readyz`)).status, 200);
    assert.equal((await fetch(`${authority.url}/metrics`)).status, 200);
    const response = await authority.tokenRequest(legit.key, legit.clientId, {
      audience: LEGIT_TARGET,
      scope: 'legit:read',
    });
    assert.equal(response.status, 200);
    const { access_token: token } = (await response.json()) as { access_token: string };
    const jwks = await (await fetch(`${authority.url}/.well-known/jwks.json`)).json();
    const caller = createVerifier({
      issuer: authority.url,
      audience: `spiffe://${TRUST_DOMAIN}/${LEGIT_TARGET}`,
      keys: parseJwks(jwks),
      clock: systemClock,
      cache: false,
    }).verify(token);
    assert.equal(caller.spiffeId, legit.clientId);
    const verdict = await verifyStoreAuditChain(authority.running.context.store);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
  });
});
