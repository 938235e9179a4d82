import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { TesseraError, type TesseraErrorCode } from '../src/errors.ts';
import { KeySet } from '../src/keys/jwks.ts';
import { USER_TOKEN_ALGORITHMS, type UserTokenAlgorithm } from '../src/keys/user-algorithms.ts';
import { parseUserJwks, type UserVerificationKey } from '../src/keys/user-jwks.ts';
import { checkUserSignature, prepareUserJws } from '../src/token/user-jws.ts';
import { createUserTokenVerifier } from '../src/token/user-token.ts';
import { b64, es256, newClock, NOW_S } from './support/token-fixture.ts';

/**
 * User tokens signed with RSA (RS256 and PS256 above all: what Keycloak, Auth0 and Entra ID sign
 * with) and the other algorithms of external OpenID providers: checked against tokens made by
 * others (Wycheproof's JWS vectors, jose, the openssl CLI), and an attack table.
 */

const IDP = 'https://idp.example';

function isCode(code: TesseraErrorCode) {
  return (error: unknown) => error instanceof TesseraError && error.code === code;
}

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: IDP,
    sub: 'alice',
    aud: 'api-gateway',
    iat: NOW_S,
    exp: NOW_S + 600,
    tenant_id: 'acme',
    ...overrides,
  };
}

function rsaPair(modulusLength = 2048): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength });
}

/** A JWK of `publicKey` as an IdP would publish it. */
function jwkOf(publicKey: KeyObject, extra: Record<string, unknown>): Record<string, unknown> {
  return { ...publicKey.export({ format: 'jwk' }), use: 'sig', ...extra };
}

/** Signs with node:crypto directly: the tool for forging RSA tokens in tests. */
function forgeRsa(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  privateKey: KeyObject,
  pss = false,
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = sign('sha256', Buffer.from(input), {
    key: privateKey,
    ...(pss
      ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : {}),
  });
  return `${input}.${signature.toString('base64url')}`;
}

const rsa = rsaPair();
const otherRsa = rsaPair();
const shortRsa = rsaPair(1024);
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const jwks = parseUserJwks({
  keys: [
    jwkOf(rsa.publicKey, { kid: 'rsa-any' }),
    jwkOf(rsa.publicKey, { kid: 'rsa-rs256', alg: 'RS256' }),
    jwkOf(shortRsa.publicKey, { kid: 'rsa-1024' }),
    jwkOf(ec.publicKey, { kid: 'ec-any' }),
    { ...es256.publicJwk },
  ],
});

function verifier(
  options: { algorithms?: readonly UserTokenAlgorithm[]; keys?: KeySet<UserVerificationKey> } = {},
) {
  return createUserTokenVerifier({
    issuer: IDP,
    audience: 'api-gateway',
    keys: options.keys ?? jwks,
    clock: newClock(),
    algorithms: options.algorithms ?? USER_TOKEN_ALGORITHMS,
    cache: false,
  });
}

const rs256 = forgeRsa({ alg: 'RS256', typ: 'JWT', kid: 'rsa-any' }, claims(), rsa.privateKey);
const [rsHeader, rsPayload, rsSignature] = rs256.split('.') as [string, string, string];

function hs256(secret: string | Buffer, kid: string): string {
  const input = `${b64({ alg: 'HS256', typ: 'JWT', kid })}.${b64(claims())}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// prettier-ignore
const ATTACKS: readonly (readonly [name: string, token: () => string, code: TesseraErrorCode])[] = [
  ['alg none, no signature', () => `${b64({ alg: 'none', typ: 'JWT' })}.${rsPayload}.`, 'ERR_TOKEN_ALG'],
  ['alg none with an RSA signature', () => `${b64({ alg: 'none', kid: 'rsa-any' })}.${rsPayload}.${rsSignature}`, 'ERR_TOKEN_ALG'],
  ['alg "None"', () => `${b64({ alg: 'None', kid: 'rsa-any' })}.${rsPayload}.`, 'ERR_TOKEN_ALG'],
  ['HS256 keyed with the RSA public key (PEM)', () => hs256(rsa.publicKey.export({ type: 'spki', format: 'pem' }), 'rsa-any'), 'ERR_TOKEN_ALG'],
  ['HS256 keyed with the RSA public key (JWK)', () => hs256(JSON.stringify(jwkOf(rsa.publicKey, { kid: 'rsa-any' })), 'rsa-any'), 'ERR_TOKEN_ALG'],
  ['RS256 naming an EC key', () => forgeRsa({ alg: 'RS256', kid: 'ec-any' }, claims(), rsa.privateKey), 'ERR_TOKEN_ALG'],
  ['RS256 naming a key published as ES256', () => forgeRsa({ alg: 'RS256', kid: es256.kid }, claims(), rsa.privateKey), 'ERR_TOKEN_ALG'],
  ['ES256 naming an RSA key', () => `${b64({ alg: 'ES256', kid: 'rsa-any' })}.${rsPayload}.${rsSignature}`, 'ERR_TOKEN_ALG'],
  ['EdDSA naming an RSA key', () => `${b64({ alg: 'EdDSA', kid: 'rsa-any' })}.${rsPayload}.${rsSignature}`, 'ERR_TOKEN_ALG'],
  ['PS256 naming a key published as RS256', () => forgeRsa({ alg: 'PS256', kid: 'rsa-rs256' }, claims(), rsa.privateKey, true), 'ERR_TOKEN_ALG'],
  ['a PKCS#1 v1.5 signature labelled PS256', () => `${b64({ alg: 'PS256', kid: 'rsa-any' })}.${rsPayload}.${forgeRsa({ alg: 'PS256', kid: 'rsa-any' }, claims(), rsa.privateKey).split('.')[2]}`, 'ERR_TOKEN_SIGNATURE'],
  ['a PSS signature labelled RS256', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any' }, claims(), rsa.privateKey, true), 'ERR_TOKEN_SIGNATURE'],
  ['RS384 over a SHA-256 signature', () => forgeRsa({ alg: 'RS384', kid: 'rsa-any' }, claims(), rsa.privateKey), 'ERR_TOKEN_SIGNATURE'],
  ['a 1024-bit RSA key (not loaded from the JWKS)', () => forgeRsa({ alg: 'RS256', kid: 'rsa-1024' }, claims(), shortRsa.privateKey), 'ERR_TOKEN_KID_UNKNOWN'],
  ['a kid the IdP does not publish', () => forgeRsa({ alg: 'RS256', kid: 'rsa-other' }, claims(), rsa.privateKey), 'ERR_TOKEN_KID_UNKNOWN'],
  ['no kid', () => forgeRsa({ alg: 'RS256' }, claims(), rsa.privateKey), 'ERR_TOKEN_KID_MISSING'],
  ['another RSA key under a published kid', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any' }, claims(), otherRsa.privateKey), 'ERR_TOKEN_SIGNATURE'],
  ['a tampered payload', () => `${rsHeader}.${b64(claims({ sub: 'mallory' }))}.${rsSignature}`, 'ERR_TOKEN_SIGNATURE'],
  ['a tampered header', () => `${b64({ alg: 'RS256', typ: 'at+jwt', kid: 'rsa-any' })}.${rsPayload}.${rsSignature}`, 'ERR_TOKEN_SIGNATURE'],
  ['a truncated signature', () => rs256.slice(0, -8), 'ERR_TOKEN_SIGNATURE'],
  ['a signature one byte longer', () => `${rsHeader}.${rsPayload}.${Buffer.concat([Buffer.from(rsSignature, 'base64url'), Buffer.from([0])]).toString('base64url')}`, 'ERR_TOKEN_SIGNATURE'],
  ['an empty signature', () => `${rsHeader}.${rsPayload}.`, 'ERR_TOKEN_SIGNATURE'],
  ['a crit header', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any', crit: ['exp'], exp: NOW_S + 600 }, claims(), rsa.privateKey), 'ERR_TOKEN_HEADER'],
  ['an embedded jwk', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any', jwk: jwkOf(otherRsa.publicKey, {}) }, claims(), otherRsa.privateKey), 'ERR_TOKEN_HEADER'],
  ['a jku', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any', jku: 'https://attacker.example/jwks' }, claims(), rsa.privateKey), 'ERR_TOKEN_HEADER'],
  ['an x5c chain', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any', x5c: ['MIIB'] }, claims(), rsa.privateKey), 'ERR_TOKEN_HEADER'],
  ['b64: false', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any', b64: false }, claims(), rsa.privateKey), 'ERR_TOKEN_HEADER'],
  ['a JWE (five segments)', () => `${rs256}.x.y`, 'ERR_TOKEN_MALFORMED'],
  ['a payload that is not JSON', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any' }, 'not json' as never, rsa.privateKey), 'ERR_TOKEN_MALFORMED'],
  ['the wrong issuer', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any' }, claims({ iss: 'https://idp.example/' }), rsa.privateKey), 'ERR_TOKEN_ISSUER'],
  ['the wrong audience', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any' }, claims({ aud: 'billing' }), rsa.privateKey), 'ERR_TOKEN_AUDIENCE'],
  ['expired', () => forgeRsa({ alg: 'RS256', kid: 'rsa-any' }, claims({ exp: NOW_S - 60 }), rsa.privateKey), 'ERR_TOKEN_EXPIRED'],
];

describe('user tokens signed with RSA: attacks', () => {
  for (const [name, token, code] of ATTACKS) {
    it(`refuses ${name} with ${code}`, () => {
      assert.throws(() => verifier().verify(token()), isCode(code));
    });
  }

  it('refuses RSA when algorithms leaves it out (the allowlist comes before the key)', () => {
    assert.throws(
      () => verifier({ algorithms: ['ES256', 'EdDSA'] }).verify(rs256),
      isCode('ERR_TOKEN_ALG'),
    );
    assert.throws(() => verifier({ algorithms: ['PS256'] }).verify(rs256), isCode('ERR_TOKEN_ALG'));
  });

  it('refuses a short RSA key even when a key resolver hands it over', () => {
    const keys = new KeySet<UserVerificationKey>([{ kid: 'rsa-1024', key: shortRsa.publicKey }]);
    const token = forgeRsa({ alg: 'RS256', kid: 'rsa-1024' }, claims(), shortRsa.privateKey);
    assert.throws(() => verifier({ keys }).verify(token), isCode('ERR_TOKEN_ALG'));
  });

  it('refuses a private key handed over as a verification key', () => {
    const keys = new KeySet<UserVerificationKey>([{ kid: 'rsa-any', key: rsa.privateKey }]);
    assert.throws(() => verifier({ keys }).verify(rs256), isCode('ERR_TOKEN_ALG'));
  });
});

describe('user tokens signed with RSA: accepted', () => {
  it('verifies RS256 and PS256 with one RSA key that declares no alg, and ignores x5t', () => {
    const ps256 = forgeRsa(
      { alg: 'PS256', kid: 'rsa-any', x5t: 'abc', typ: 'at+jwt' },
      claims({ sub: 'bob' }),
      rsa.privateKey,
      true,
    );
    assert.equal(verifier().verify(rs256).user, 'alice');
    assert.equal(verifier().verify(ps256).user, 'bob');
    assert.equal(verifier({ algorithms: ['RS256'] }).verify(rs256).tenant, 'acme');
  });

  it('verifies RS256 by default, and a 4096-bit key', () => {
    const big = rsaPair(4096);
    const keys = parseUserJwks({ keys: [jwkOf(big.publicKey, { kid: 'big', alg: 'RS256' })] });
    const token = forgeRsa({ alg: 'RS256', kid: 'big' }, claims(), big.privateKey);
    const byDefault = createUserTokenVerifier({
      issuer: IDP,
      audience: 'api-gateway',
      keys,
      clock: newClock(),
    });
    assert.equal(byDefault.verify(token).user, 'alice');
    // PS256 is not in the default list, and this key's JWK binds it to RS256 anyway.
    const keysWithoutAlg = parseUserJwks({ keys: [jwkOf(big.publicKey, { kid: 'big' })] });
    const ps256 = forgeRsa({ alg: 'PS256', kid: 'big' }, claims(), big.privateKey, true);
    assert.throws(
      () =>
        createUserTokenVerifier({
          issuer: IDP,
          audience: 'api-gateway',
          keys: keysWithoutAlg,
          clock: newClock(),
        }).verify(ps256),
      isCode('ERR_TOKEN_ALG'),
    );
  });

  it('verifyClaims returns the verified claims without reading sub or the tenant', () => {
    const token = forgeRsa(
      { alg: 'RS256', kid: 'rsa-any' },
      claims({ sub: '', tenant_id: 7 }),
      rsa.privateKey,
    );
    const verified = verifier().verifyClaims(token);
    assert.equal(verified.sub, '');
    assert.ok(Object.isFrozen(verified));
    assert.throws(() => verifier().verify(token), isCode('ERR_TOKEN_CLAIMS'));
  });
});

describe('user tokens made by jose (every user token algorithm)', () => {
  for (const alg of USER_TOKEN_ALGORITHMS) {
    it(`verifies ${alg}, with and without alg in the JWK, and refuses a flipped signature`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const jwk = await exportJWK(publicKey);
      const keys = parseUserJwks({
        keys: [
          { ...jwk, kid: 'declared', alg, use: 'sig' },
          { ...jwk, kid: 'bare' },
        ],
      });
      for (const kid of ['declared', 'bare']) {
        const token = await new SignJWT(claims({ scope: 'openid invoices:read' }))
          .setProtectedHeader({ alg, kid, typ: 'JWT' })
          .sign(privateKey);
        const caller = verifier({ keys, algorithms: [alg] }).verify(token);
        assert.deepEqual(caller.scopes, ['openid', 'invoices:read']);
        const [h, p, s] = token.split('.') as [string, string, string];
        const bytes = Buffer.from(s, 'base64url');
        bytes[10] = (bytes[10] ?? 0) ^ 1;
        assert.throws(
          () => verifier({ keys }).verify(`${h}.${p}.${bytes.toString('base64url')}`),
          isCode('ERR_TOKEN_SIGNATURE'),
        );
      }
    });
  }
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('user tokens signed by the openssl CLI', { skip: !hasOpenssl() && 'no openssl' }, () => {
  /** Signs `header.payload` with `openssl dgst`, returning the compact JWS. */
  function opensslToken(
    dir: string,
    keyFile: string,
    header: Record<string, unknown>,
    sigopts: readonly string[],
  ): string {
    const input = `${b64(header)}.${b64(claims())}`;
    writeFileSync(join(dir, 'input'), input);
    const sigopt = sigopts.flatMap((option) => ['-sigopt', option]);
    execFileSync('openssl', [
      'dgst',
      '-sha256',
      ...sigopt,
      '-sign',
      keyFile,
      '-out',
      join(dir, 'sig'),
      join(dir, 'input'),
    ]);
    return `${input}.${readFileSync(join(dir, 'sig')).toString('base64url')}`;
  }

  it('verifies RS256 and PS256 from an openssl RSA key; refuses its 1024-bit key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-rsa-'));
    try {
      const keyFile = join(dir, 'key.pem');
      const shortFile = join(dir, 'short.pem');
      execFileSync(
        'openssl',
        ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyFile],
        { stdio: 'ignore' },
      );
      execFileSync(
        'openssl',
        ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', shortFile],
        { stdio: 'ignore' },
      );
      const publicOf = (file: string) => createPublicKey(createPrivateKey(readFileSync(file)));
      const keys = parseUserJwks({
        keys: [
          jwkOf(publicOf(keyFile), { kid: 'openssl' }),
          jwkOf(publicOf(shortFile), { kid: 'short' }),
        ],
      });
      assert.equal(keys.size, 1);
      const rs = opensslToken(dir, keyFile, { alg: 'RS256', kid: 'openssl' }, []);
      const ps = opensslToken(dir, keyFile, { alg: 'PS256', kid: 'openssl' }, [
        'rsa_padding_mode:pss',
        'rsa_pss_saltlen:digest',
      ]);
      // A PSS signature with a 20-byte salt: valid PSS, but not RFC 7518's (salt = hash length).
      const shortSalt = opensslToken(dir, keyFile, { alg: 'PS256', kid: 'openssl' }, [
        'rsa_padding_mode:pss',
        'rsa_pss_saltlen:20',
      ]);
      const short = opensslToken(dir, shortFile, { alg: 'RS256', kid: 'short' }, []);
      assert.equal(verifier({ keys }).verify(rs).user, 'alice');
      assert.equal(verifier({ keys }).verify(ps).user, 'alice');
      assert.throws(() => verifier({ keys }).verify(shortSalt), isCode('ERR_TOKEN_SIGNATURE'));
      assert.throws(() => verifier({ keys }).verify(short), isCode('ERR_TOKEN_KID_UNKNOWN'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface JwsGroup {
  comment: string;
  public?: Record<string, unknown>;
  tests: { tcId: number; comment: string; jws: unknown; result: string }[];
}

function headerOf(jws: string): { kid?: unknown; alg?: unknown } {
  try {
    return JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8')) as {
      kid?: unknown;
      alg?: unknown;
    };
  } catch {
    return {};
  }
}

describe('Wycheproof JSON Web Signature vectors on the user token path', () => {
  it('never accepts an invalid JWS, and accepts every valid one that names its key', () => {
    const data = JSON.parse(
      readFileSync(
        new URL('fixtures/vectors/wycheproof/json_web_signature_test.json', import.meta.url),
        'utf8',
      ),
    ) as { testGroups: JwsGroup[] };
    const accepted = new Map<string, number>();
    let invalid = 0;
    for (const group of data.testGroups) {
      if (group.public === undefined) continue;
      const kid = typeof group.public.kid === 'string' ? group.public.kid : 'wycheproof';
      // Private members make the whole set refused: such a group verifies nothing.
      let keys: KeySet<UserVerificationKey>;
      try {
        keys = parseUserJwks({ keys: [{ ...group.public, kid }] });
      } catch (error) {
        assert.ok(error instanceof TesseraError, `${group.comment}: ${String(error)}`);
        continue;
      }
      for (const test of group.tests) {
        if (typeof test.jws !== 'string') continue;
        let ok = false;
        try {
          const prepared = prepareUserJws(test.jws, keys, {
            maxTokenBytes: 65536,
            algorithms: new Set(USER_TOKEN_ALGORITHMS),
          });
          checkUserSignature(prepared);
          ok = true;
          accepted.set(prepared.header.alg, (accepted.get(prepared.header.alg) ?? 0) + 1);
        } catch (error) {
          assert.ok(error instanceof TesseraError, `tcId ${test.tcId} threw ${String(error)}`);
        }
        if (test.result === 'invalid') {
          invalid++;
          assert.equal(
            ok,
            false,
            `tcId ${test.tcId} (${test.comment}) is invalid but was accepted`,
          );
        }
        // A JWT is never empty: an empty payload is refused as malformed before the signature.
        // RFC 7520's Figure 20 signs PS384 with a key whose JWK says PS256: refused, as jose does.
        const header = headerOf(test.jws);
        const named =
          header.kid === kid &&
          (group.public.alg === undefined || group.public.alg === header.alg) &&
          test.jws.split('.')[1] !== '';
        if (test.result === 'valid' && named && keys.size === 1) {
          assert.equal(ok, true, `tcId ${test.tcId} (${test.comment}) is valid but was refused`);
        }
      }
    }
    // The RSA groups are what this path adds: they must have been exercised.
    for (const alg of ['RS256', 'PS256', 'ES256']) {
      assert.ok((accepted.get(alg) ?? 0) > 0, `no valid ${alg} vector verified`);
    }
    assert.ok(invalid > 200, `only ${invalid} invalid vectors checked`);
  });
});

describe("parseUserJwks: an external provider's key set", () => {
  const sig = jwkOf(rsa.publicKey, { kid: 'sig', alg: 'RS256' });
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
  const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey;
  const x25519 = generateKeyPairSync('x25519').publicKey;

  // prettier-ignore
  const SKIPPED: readonly (readonly [name: string, jwk: Record<string, unknown>])[] = [
    ['an encryption key (use: enc)', jwkOf(otherRsa.publicKey, { kid: 'enc', use: 'enc', alg: 'RSA-OAEP' })],
    ['key_ops without verify', jwkOf(otherRsa.publicKey, { kid: 'ops', key_ops: ['encrypt', 'wrapKey'] })],
    ['key_ops that is not a list', jwkOf(otherRsa.publicKey, { kid: 'ops2', key_ops: 'verify' })],
    ['an alg that is not a user token algorithm', jwkOf(otherRsa.publicKey, { kid: 'oaep', alg: 'RSA-OAEP-256' })],
    ['an HMAC alg on an RSA key', jwkOf(otherRsa.publicKey, { kid: 'hs', alg: 'HS256' })],
    ['an alg that does not fit the key type', jwkOf(otherRsa.publicKey, { kid: 'mismatch', alg: 'ES256' })],
    ['a 1024-bit RSA key', jwkOf(shortRsa.publicKey, { kid: 'short' })],
    ['no kid', jwkOf(otherRsa.publicKey, {})],
    ['secp256k1', jwkOf(k256, { kid: 'k1' })],
    ['an X25519 key', jwkOf(x25519, { kid: 'x25519' })],
    ['an EC point off the curve', { ...jwkOf(p384, { kid: 'off' }), y: Buffer.alloc(48, 1).toString('base64url') }],
    ['an RSA key without e', { kty: 'RSA', kid: 'no-e', n: jwkOf(otherRsa.publicKey, {}).n }],
    ['a string', 'not a key' as never],
  ];

  for (const [name, jwk] of SKIPPED) {
    it(`skips ${name} and keeps the signing key`, () => {
      const keys = parseUserJwks({ keys: [jwk, sig] });
      assert.deepEqual(keys.kids(), ['sig']);
    });
  }

  it('keeps P-384 keys, RSA keys without alg, and Ed25519 keys', () => {
    const keys = parseUserJwks(
      JSON.stringify({
        keys: [
          jwkOf(p384, { kid: 'p384' }),
          jwkOf(rsa.publicKey, { kid: 'bare' }),
          es256.publicJwk,
        ],
      }),
    );
    assert.deepEqual(keys.kids(), ['p384', 'bare', es256.kid]);
    assert.equal(keys.get('bare')?.alg, undefined);
  });

  // prettier-ignore
  const REFUSED: readonly (readonly [name: string, input: unknown, code: TesseraErrorCode])[] = [
    ['private RSA material', { keys: [{ ...jwkOf(rsa.publicKey, { kid: 'p' }), d: 'AQAB' }, sig] }, 'ERR_JWK_PRIVATE'],
    ['private material on an encryption key', { keys: [{ ...jwkOf(rsa.publicKey, { kid: 'p', use: 'enc' }), p: 'AQAB' }, sig] }, 'ERR_JWK_PRIVATE'],
    ['a symmetric key', { keys: [{ kty: 'oct', kid: 'hmac', k: 'c2VjcmV0' }, sig] }, 'ERR_JWK_PRIVATE'],
    ['two usable keys under one kid', { keys: [sig, jwkOf(otherRsa.publicKey, { kid: 'sig' })] }, 'ERR_JWKS_DUPLICATE_KID'],
    ['not JSON', '{', 'ERR_JWKS_INVALID'],
    ['no keys list', { keys: {} }, 'ERR_JWKS_INVALID'],
    ['more than 100 keys', { keys: Array.from({ length: 101 }, () => sig) }, 'ERR_JWKS_INVALID'],
  ];
  for (const [name, input, code] of REFUSED) {
    it(`refuses the whole set for ${name} with ${code}`, () => {
      assert.throws(() => parseUserJwks(input), isCode(code));
    });
  }
});
