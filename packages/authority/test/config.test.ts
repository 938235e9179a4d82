import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TesseraError, type TesseraErrorCode } from '@tessera/core';
import { configDocument, validateConfig } from '../src/config.ts';
import { readKekFile, readSecretFile } from '../src/secret-files.ts';
import { openConfiguredStore } from '../src/start.ts';

type Document = Record<string, unknown>;

/** A complete, valid non-dev config file; each row changes one thing in it. */
const VALID: Document = Object.freeze({
  issuer: 'https://auth.example.com',
  trustDomain: 'example.org',
  listen: { host: '0.0.0.0', port: 8443 },
  tls: { certFile: '/etc/tessera/tls.crt', keyFile: '/etc/tessera/tls.key' },
  store: { kind: 'postgres', connectionStringFile: '/etc/tessera/pg.url' },
  kekFile: '/etc/tessera/kek',
  adminTokenFile: '/etc/tessera/admin.token',
});

const PLAIN_LOOPBACK: Document = {
  ...VALID,
  issuer: 'http://127.0.0.1:7700',
  listen: { host: '127.0.0.1', port: 7700 },
  tls: undefined,
  store: { kind: 'sqlite', path: '/var/lib/tessera/tessera.db' },
};

function without(document: Document, key: string): Document {
  return Object.fromEntries(Object.entries(document).filter(([name]) => name !== key));
}

function defined(document: Document): Document {
  return Object.fromEntries(Object.entries(document).filter(([, value]) => value !== undefined));
}

interface Row {
  readonly name: string;
  readonly document: unknown;
  /** Absent: the document is valid. */
  readonly code?: TesseraErrorCode;
  /** The setting the error detail must name. */
  readonly setting?: string;
}

const ROWS: readonly Row[] = [
  // Valid configurations
  { name: 'TLS on every interface with an https issuer', document: VALID },
  { name: 'plain HTTP on 127.0.0.1 with a loopback issuer', document: defined(PLAIN_LOOPBACK) },
  {
    name: 'plain HTTP on ::1 with a bracketed loopback issuer',
    document: defined({
      ...PLAIN_LOOPBACK,
      issuer: 'http://[::1]:7700',
      listen: { host: '::1', port: 7700 },
    }),
  },
  {
    name: 'plain HTTP on 127.0.0.1 behind a TLS proxy (https issuer)',
    document: defined({
      ...PLAIN_LOOPBACK,
      issuer: 'https://auth.example.com',
      listen: { host: '127.0.0.1', port: 7700 },
    }),
  },
  { name: 'an issuer with a path', document: { ...VALID, issuer: 'https://example.com/tessera' } },
  {
    name: 'every optional block at its bounds',
    document: {
      ...VALID,
      tokens: { lifetimeSeconds: 3600 },
      keys: { alg: 'EdDSA', rotationHours: 24 * 90, jwksMaxAgeSeconds: 3600 },
      bodyLimitBytes: 1024 * 1024,
    },
  },

  // Insecure outside dev mode: ERR_CONFIG_INSECURE naming the setting
  {
    name: 'plain HTTP on 0.0.0.0',
    document: defined({ ...PLAIN_LOOPBACK, listen: { host: '0.0.0.0', port: 7700 } }),
    code: 'ERR_CONFIG_INSECURE',
    setting: 'listen.host',
  },
  {
    name: 'plain HTTP on ::',
    document: defined({ ...PLAIN_LOOPBACK, listen: { host: '::', port: 7700 } }),
    code: 'ERR_CONFIG_INSECURE',
    setting: 'listen.host',
  },
  {
    name: 'plain HTTP on a LAN address',
    document: defined({ ...PLAIN_LOOPBACK, listen: { host: '10.0.0.5', port: 7700 } }),
    code: 'ERR_CONFIG_INSECURE',
    setting: 'listen.host',
  },
  {
    // A name, resolved at listen time: a hosts file or resolver may map it to the network.
    name: 'plain HTTP on localhost',
    document: defined({ ...PLAIN_LOOPBACK, listen: { host: 'localhost', port: 7700 } }),
    code: 'ERR_CONFIG_INSECURE',
    setting: 'listen.host',
  },
  {
    name: 'plain HTTP on an IPv4-compatible address that is not loopback',
    document: defined({ ...PLAIN_LOOPBACK, listen: { host: '::7f00:1', port: 7700 } }),
    code: 'ERR_CONFIG_INSECURE',
    setting: 'listen.host',
  },
  {
    name: 'an http issuer on localhost',
    document: defined({ ...PLAIN_LOOPBACK, issuer: 'http://localhost:7700' }),
    code: 'ERR_CONFIG_INSECURE',
    setting: 'issuer',
  },
  {
    name: 'plain HTTP on a host name that only starts like loopback',
    document: defined({ ...PLAIN_LOOPBACK, listen: { host: '127.0.0.1.nip.io', port: 7700 } }),
    code: 'ERR_CONFIG_INSECURE',
    setting: 'listen.host',
  },
  {
    name: 'an http issuer that is not loopback',
    document: { ...VALID, issuer: 'http://auth.example.com' },
    code: 'ERR_CONFIG_INSECURE',
    setting: 'issuer',
  },
  {
    name: 'an http issuer whose host only starts like loopback',
    document: { ...VALID, issuer: 'http://127.0.0.1.nip.io' },
    code: 'ERR_CONFIG_INSECURE',
    setting: 'issuer',
  },
  {
    name: 'an issuer that is neither https nor http',
    document: { ...VALID, issuer: 'ftp://auth.example.com' },
    code: 'ERR_CONFIG_INSECURE',
    setting: 'issuer',
  },

  // Invalid: ERR_CONFIG_INVALID naming the setting (its JSON pointer)
  {
    name: 'an operator CA and a short CA schedule that fits together',
    document: {
      ...VALID,
      ca: {
        certFile: '/etc/tessera/root.pem',
        keyFile: '/etc/tessera/root.key',
        lifetimeSeconds: 6 * 3600,
        rotateEverySeconds: 4 * 3600,
        prepublishSeconds: 3600,
        svidLifetimeSeconds: 600,
        maxSvidLifetimeSeconds: 3600,
      },
    },
  },
  {
    name: 'audit and client-authentication settings at their bounds',
    document: {
      ...VALID,
      clientAuthFailures: { maxPerWindow: 1, windowSeconds: 86_400, maxSources: 1_000_000 },
      audit: {
        aggregationIntervalSeconds: 3600,
        aggregationMaxKeys: 1,
        retentionDays: 1,
        anchorIntervalSeconds: 1,
        anchorFile: '/var/lib/tessera-anchor/head.jws',
      },
    },
  },
  ...(
    [
      ['clientAuthFailures', { maxPerWindow: 0 }, '/clientAuthFailures/maxPerWindow'],
      ['clientAuthFailures', { windowSeconds: 0.5 }, '/clientAuthFailures/windowSeconds'],
      ['clientAuthFailures', { maxSources: 0 }, '/clientAuthFailures/maxSources'],
      ['clientAuthFailures', { burst: 3 }, '/clientAuthFailures/burst'],
      ['audit', { aggregationIntervalSeconds: 0 }, '/audit/aggregationIntervalSeconds'],
      ['audit', { aggregationMaxKeys: 0 }, '/audit/aggregationMaxKeys'],
      ['audit', { retentionDays: 0 }, '/audit/retentionDays'],
      ['audit', { retentionDays: 1.5 }, '/audit/retentionDays'],
      ['audit', { anchorIntervalSeconds: 0 }, '/audit/anchorIntervalSeconds'],
      ['audit', { anchorFile: '' }, '/audit/anchorFile'],
      ['audit', { retention: 30 }, '/audit/retention'],
      ['ca', { certFile: '/etc/tessera/root.pem' }, '/ca'],
      ['ca', { keyFile: '/etc/tessera/root.key' }, '/ca'],
      ['ca', { prepublishSeconds: 600 }, '/ca/prepublishSeconds'],
      ['ca', { rotateEverySeconds: 30 * 86_400 }, '/ca/rotateEverySeconds'],
      ['ca', { lifetimeSeconds: 86_400 }, '/ca/lifetimeSeconds'],
      [
        'ca',
        { svidLifetimeSeconds: 7200, maxSvidLifetimeSeconds: 3600 },
        '/ca/svidLifetimeSeconds',
      ],
      ['ca', { maxSvidLifetimeSeconds: 86_401 }, '/ca/maxSvidLifetimeSeconds'],
      ['ca', { bundleFile: '/tmp/b.pem' }, '/ca/bundleFile'],
    ] as const
  ).map(([block, value, setting]) => ({
    name: `${block} ${JSON.stringify(value)}`,
    document: { ...VALID, [block]: value },
    code: 'ERR_CONFIG_INVALID' as const,
    setting,
  })),
  { name: 'not an object', document: 'issuer=https://x', code: 'ERR_CONFIG_INVALID', setting: '/' },
  { name: 'null', document: null, code: 'ERR_CONFIG_INVALID', setting: '/' },
  { name: 'an array', document: [VALID], code: 'ERR_CONFIG_INVALID', setting: '/' },
  {
    name: 'an unknown key',
    document: { ...VALID, frobnicate: true },
    code: 'ERR_CONFIG_INVALID',
    setting: '/frobnicate',
  },
  {
    name: 'an inline secret instead of a file',
    document: { ...VALID, adminToken: 'x'.repeat(40) },
    code: 'ERR_CONFIG_INVALID',
    setting: '/adminToken',
  },
  {
    name: 'an unknown key inside listen',
    document: { ...VALID, listen: { host: '0.0.0.0', port: 8443, backlog: 5 } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/listen/backlog',
  },
  {
    name: 'no issuer',
    document: without(VALID, 'issuer'),
    code: 'ERR_CONFIG_INVALID',
    setting: '/issuer',
  },
  {
    name: 'no kekFile',
    document: without(VALID, 'kekFile'),
    code: 'ERR_CONFIG_INVALID',
    setting: '/kekFile',
  },
  {
    name: 'an empty kekFile',
    document: { ...VALID, kekFile: '' },
    code: 'ERR_CONFIG_INVALID',
    setting: '/kekFile',
  },
  {
    name: 'no adminTokenFile',
    document: without(VALID, 'adminTokenFile'),
    code: 'ERR_CONFIG_INVALID',
    setting: '/adminTokenFile',
  },
  {
    name: 'an issuer that is not a URL',
    document: { ...VALID, issuer: 'auth.example.com' },
    code: 'ERR_CONFIG_INVALID',
    setting: '/issuer',
  },
  {
    name: 'an issuer with a trailing slash',
    document: { ...VALID, issuer: 'https://auth.example.com/' },
    code: 'ERR_CONFIG_INVALID',
    setting: '/issuer',
  },
  {
    name: 'an issuer with a query',
    document: { ...VALID, issuer: 'https://auth.example.com?a=1' },
    code: 'ERR_CONFIG_INVALID',
    setting: '/issuer',
  },
  {
    name: 'an issuer with a fragment',
    document: { ...VALID, issuer: 'https://auth.example.com#x' },
    code: 'ERR_CONFIG_INVALID',
    setting: '/issuer',
  },
  {
    name: 'an issuer in non-canonical form',
    document: { ...VALID, issuer: 'HTTPS://Auth.Example.com' },
    code: 'ERR_CONFIG_INVALID',
    setting: '/issuer',
  },
  {
    name: 'an issuer carrying credentials',
    document: { ...VALID, issuer: 'https://admin:hunter2@auth.example.com' },
    code: 'ERR_CONFIG_INVALID',
    setting: '/issuer',
  },
  {
    name: 'an upper-case trust domain',
    document: { ...VALID, trustDomain: 'Example.org' },
    code: 'ERR_CONFIG_INVALID',
    setting: '/trustDomain',
  },
  {
    name: 'a trust domain with a scheme',
    document: { ...VALID, trustDomain: 'spiffe://example.org' },
    code: 'ERR_CONFIG_INVALID',
    setting: '/trustDomain',
  },
  {
    name: 'a port above 65535',
    document: { ...VALID, listen: { host: '0.0.0.0', port: 70000 } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/listen/port',
  },
  {
    name: 'a port that is a string',
    document: { ...VALID, listen: { host: '0.0.0.0', port: '8443' } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/listen/port',
  },
  {
    name: "TLS with the authority's own SVID and extra host names",
    document: { ...VALID, tls: { hosts: ['auth.example.com', '10.0.0.5'] } },
  },
  {
    name: 'admin SPIFFE IDs of the trust domain',
    document: { ...VALID, admin: { spiffeIds: ['spiffe://example.org/ops'] } },
  },
  {
    name: 'tls with an http issuer',
    document: {
      ...VALID,
      issuer: 'http://127.0.0.1:8443',
      listen: { host: '127.0.0.1', port: 8443 },
    },
    code: 'ERR_CONFIG_INVALID',
    setting: '/issuer',
  },
  {
    name: 'tls with a key file and no certificate file',
    document: { ...VALID, tls: { keyFile: '/k' } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/tls/certFile',
  },
  {
    name: 'an admin SPIFFE ID of another trust domain',
    document: {
      ...VALID,
      admin: { spiffeIds: ['spiffe://example.org/ops', 'spiffe://other.org/ops'] },
    },
    code: 'ERR_CONFIG_INVALID',
    setting: '/admin/spiffeIds/1',
  },
  {
    name: 'an admin SPIFFE ID that is the trust domain itself',
    document: { ...VALID, admin: { spiffeIds: ['spiffe://example.org'] } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/admin/spiffeIds/0',
  },
  {
    name: 'tls without a key file',
    document: { ...VALID, tls: { certFile: '/c' } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/tls/keyFile',
  },
  {
    name: 'an unknown store kind',
    document: { ...VALID, store: { kind: 'mysql', path: '/x' } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/store',
  },
  {
    name: 'a token lifetime above the maximum',
    document: { ...VALID, tokens: { lifetimeSeconds: 7200 } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/tokens/lifetimeSeconds',
  },
  {
    name: 'a zero token lifetime',
    document: { ...VALID, tokens: { lifetimeSeconds: 0 } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/tokens/lifetimeSeconds',
  },
  {
    name: 'a key algorithm that is not allowed',
    document: { ...VALID, keys: { alg: 'HS256' } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/keys/alg',
  },
  {
    name: 'a zero rotation interval',
    document: { ...VALID, keys: { rotationHours: 0 } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/keys/rotationHours',
  },
  {
    name: 'a JWKS cache lifetime above an hour',
    document: { ...VALID, keys: { jwksMaxAgeSeconds: 86400 } },
    code: 'ERR_CONFIG_INVALID',
    setting: '/keys/jwksMaxAgeSeconds',
  },
  {
    name: 'a body limit below 1 KiB',
    document: { ...VALID, bodyLimitBytes: 100 },
    code: 'ERR_CONFIG_INVALID',
    setting: '/bodyLimitBytes',
  },
  {
    name: 'zero workers',
    document: { ...VALID, workers: 0 },
    code: 'ERR_CONFIG_INVALID',
    setting: '/workers',
  },
  {
    name: 'a fractional number of workers',
    document: { ...VALID, workers: 1.5 },
    code: 'ERR_CONFIG_INVALID',
    setting: '/workers',
  },
];

function refusal(run: () => unknown): TesseraError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof TesseraError, `expected a TesseraError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the config to be refused');
}

describe('validateConfig', () => {
  for (const row of ROWS) {
    it(`${row.code === undefined ? 'accepts' : 'refuses'} ${row.name}`, () => {
      if (row.code === undefined) {
        const config = validateConfig(row.document, { dev: false });
        assert.ok(Object.isFrozen(config));
        assert.equal(config.dev, false);
        return;
      }
      const error = refusal(() => validateConfig(row.document, { dev: false }));
      assert.equal(error.code, row.code, error.message);
      assert.ok(
        error.detail?.startsWith(`${row.setting ?? '?'}: `),
        `detail "${String(error.detail)}" names ${String(row.setting)}`,
      );
    });
  }

  it('never echoes a credential from the issuer in the error', () => {
    const error = refusal(() =>
      validateConfig(
        { ...VALID, issuer: 'https://admin:hunter2@auth.example.com' },
        { dev: false },
      ),
    );
    assert.doesNotMatch(error.message, /hunter2/);
  });

  it('refuses insecure settings in dev mode as well', () => {
    const error = refusal(() =>
      validateConfig(defined({ ...PLAIN_LOOPBACK, listen: { host: '0.0.0.0', port: 7700 } }), {
        dev: true,
      }),
    );
    assert.equal(error.code, 'ERR_CONFIG_INSECURE');
  });

  it('applies the documented defaults and freezes nested values', () => {
    const config = validateConfig(VALID, { dev: true });
    assert.equal(config.dev, true);
    assert.equal(config.tokenLifetimeSeconds, 300);
    assert.equal(config.keyAlg, 'ES256');
    assert.equal(config.rotationIntervalMs, 24 * 3600 * 1000);
    assert.equal(config.jwksMaxAgeSeconds, 300);
    assert.equal(config.bodyLimitBytes, 64 * 1024);
    assert.equal(config.workers, 1);
    assert.deepEqual(config.clientAuthFailures, {
      maxFailures: 20,
      windowMs: 60_000,
      maxSources: 10_000,
    });
    assert.deepEqual(config.audit, {
      aggregationIntervalMs: 60_000,
      aggregationMaxKeys: 1000,
      anchorIntervalMs: 300_000,
    });
    assert.ok(Object.isFrozen(config.listen));
    assert.ok(Object.isFrozen(config.store));
    assert.ok(config.tls !== undefined && Object.isFrozen(config.tls));
  });

  it('keeps explicit values', () => {
    const config = validateConfig(
      { ...VALID, tokens: { lifetimeSeconds: 60 }, keys: { alg: 'EdDSA', rotationHours: 1.5 } },
      { dev: false },
    );
    assert.equal(config.tokenLifetimeSeconds, 60);
    assert.equal(config.keyAlg, 'EdDSA');
    assert.equal(config.rotationIntervalMs, 1.5 * 3600 * 1000);
  });

  it('survives a round trip through configDocument (how a cluster worker gets its config)', () => {
    const config = validateConfig(
      {
        ...VALID,
        tokens: { lifetimeSeconds: 60 },
        keys: { alg: 'EdDSA' },
        workers: 4,
        clientAuthFailures: { maxPerWindow: 7 },
        audit: { retentionDays: 90, anchorFile: '/var/lib/anchor.jws' },
      },
      { dev: false },
    );
    assert.deepEqual(validateConfig(configDocument(config), { dev: false }), config);
  });
});

describe('secret files', () => {
  let dir: string;
  const secret = randomBytes(32).toString('base64url');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-secrets-'));
    await writeFile(join(dir, 'ok'), `${secret}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'short'), 'sixteen-bytes!!!\n', { mode: 0o600 });
    await writeFile(join(dir, 'spaces'), `${' '.repeat(40)}\n`, { mode: 0o600 });
    for (const mode of [0o640, 0o604, 0o644, 0o660]) {
      const path = join(dir, `mode-${mode.toString(8)}`);
      await writeFile(path, secret, { mode: 0o600 });
      await chmod(path, mode);
    }
    await symlink(join(dir, 'ok'), join(dir, 'link'));
    await mkdir(join(dir, 'directory'));
    await writeFile(join(dir, 'kek-48'), randomBytes(48).toString('base64url'), { mode: 0o600 });
    await writeFile(join(dir, 'kek-padded'), randomBytes(32).toString('base64'), {
      mode: 0o600,
    });
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads an owner-only secret of 32 bytes or more, without the trailing newline', async () => {
    assert.equal((await readSecretFile(join(dir, 'ok'), 'adminTokenFile')).toString(), secret);
  });

  it('reads a KEK of exactly 32 base64url bytes', async () => {
    assert.equal((await readKekFile(join(dir, 'ok'))).length, 32);
  });

  const REFUSED: readonly [string, string, TesseraErrorCode, RegExp][] = [
    ['a missing file', 'missing', 'ERR_CONFIG_INVALID', /cannot read/],
    ['a symlink', 'link', 'ERR_CONFIG_INSECURE', /is a symbolic link/],
    ['a directory', 'directory', 'ERR_CONFIG_INSECURE', /not a regular file/],
    ['mode 0640', 'mode-640', 'ERR_CONFIG_INSECURE', /readable by other users/],
    ['mode 0604', 'mode-604', 'ERR_CONFIG_INSECURE', /readable by other users/],
    ['mode 0644', 'mode-644', 'ERR_CONFIG_INSECURE', /readable by other users/],
    ['mode 0660', 'mode-660', 'ERR_CONFIG_INSECURE', /readable by other users/],
    ['a 16-byte secret', 'short', 'ERR_CONFIG_INSECURE', /shorter than 32 bytes/],
    ['a secret of whitespace only', 'spaces', 'ERR_CONFIG_INSECURE', /shorter than 32 bytes/],
  ];
  for (const [name, file, code, detail] of REFUSED) {
    it(`refuses ${name}, naming the setting`, async () => {
      await assert.rejects(readSecretFile(join(dir, file), 'adminTokenFile'), (error) => {
        assert.ok(error instanceof TesseraError);
        assert.equal(error.code, code);
        assert.match(error.detail ?? '', /^adminTokenFile: /);
        assert.match(error.detail ?? '', detail);
        assert.ok(!error.message.includes(secret), 'the secret is not in the error');
        return true;
      });
    });
  }

  for (const [name, file] of [
    ['48 bytes', 'kek-48'],
    ['padded base64', 'kek-padded'],
  ] as const) {
    it(`refuses a KEK of ${name}`, async () => {
      await assert.rejects(readKekFile(join(dir, file)), (error) => {
        assert.ok(error instanceof TesseraError);
        assert.equal(error.code, 'ERR_CONFIG_INVALID');
        assert.match(error.detail ?? '', /^kekFile: must hold exactly 32 bytes/);
        return true;
      });
    });
  }
});

describe('store.connectionStringFile (it holds the database password)', () => {
  let dir: string;
  // Shorter than the 32 bytes other secrets need: a connection string has no minimum length.
  const url = 'postgres://tessera:canary-pw-7d2e@127.0.0.1:1/x';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-pgurl-'));
    await writeFile(join(dir, 'ok'), `${url}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'empty'), '\n', { mode: 0o600 });
    for (const mode of [0o640, 0o604, 0o644, 0o660, 0o606]) {
      const path = join(dir, `mode-${mode.toString(8)}`);
      await writeFile(path, url, { mode: 0o600 });
      await chmod(path, mode);
    }
    await symlink(join(dir, 'ok'), join(dir, 'link'));
    await mkdir(join(dir, 'directory'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const configWith = (file: string) =>
    validateConfig(
      { ...PLAIN_LOOPBACK, store: { kind: 'postgres', connectionStringFile: join(dir, file) } },
      { dev: false },
    );

  const REFUSED: readonly [string, string, TesseraErrorCode, RegExp][] = [
    ['a symlink to an owner-only file', 'link', 'ERR_CONFIG_INSECURE', /is a symbolic link/],
    ['a directory', 'directory', 'ERR_CONFIG_INSECURE', /not a regular file/],
    ['a group-readable file (0640)', 'mode-640', 'ERR_CONFIG_INSECURE', /readable by other/],
    ['a group-writable file (0660)', 'mode-660', 'ERR_CONFIG_INSECURE', /readable by other/],
    ['a world-readable file (0604)', 'mode-604', 'ERR_CONFIG_INSECURE', /readable by other/],
    ['a world-readable file (0644)', 'mode-644', 'ERR_CONFIG_INSECURE', /readable by other/],
    ['a world-writable file (0606)', 'mode-606', 'ERR_CONFIG_INSECURE', /readable by other/],
    ['a missing file', 'missing', 'ERR_CONFIG_INVALID', /cannot read/],
    ['an empty file', 'empty', 'ERR_CONFIG_INVALID', /is empty/],
  ];
  for (const [name, file, code, detail] of REFUSED) {
    it(`refuses ${name} before connecting, naming the setting`, async () => {
      await assert.rejects(openConfiguredStore(configWith(file)), (error) => {
        assert.ok(error instanceof TesseraError);
        assert.equal(error.code, code);
        assert.match(error.detail ?? '', /^store\.connectionStringFile: /);
        assert.match(error.detail ?? '', detail);
        assert.ok(!JSON.stringify(error).includes('canary-pw'), 'the password is not in the error');
        return true;
      });
    });
  }

  it('reads an owner-only file and goes on to connect (and fails only on the closed port)', async () => {
    await assert.rejects(openConfiguredStore(configWith('ok')), (error) => {
      assert.ok(error instanceof TesseraError);
      assert.equal(error.code, 'ERR_CONFIG_INVALID');
      // Past the file checks: the refusal is the connection's, not the file's.
      assert.doesNotMatch(error.detail ?? '', /connectionStringFile/);
      assert.ok(!JSON.stringify(error).includes('canary-pw'), 'the password is not in the error');
      return true;
    });
  });
});
