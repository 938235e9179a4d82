import assert from 'node:assert/strict';
import { createHmac, createPublicKey, createSecretKey, randomBytes, sign } from 'node:crypto';
import { describe, it } from 'node:test';

import {
  createSignatureBase,
  serializeSignatureParameters,
  type SignatureParameterName,
} from '../src/http-signature/base.ts';
import {
  componentValue,
  parseTargetUri,
  type SignableRequest,
} from '../src/http-signature/components.ts';
import {
  createContentDigest,
  createRequestSignatureVerifier,
  MemoryReplayCache,
  signRequest,
  verifyContentDigest,
  verifyRequestSignature,
  type VerifyRequestSignatureOptions,
} from '../src/http-signature/index.ts';
import {
  assertRejectsWith,
  CLIENT_COMPONENTS,
  generateKeys,
  invoiceRequest,
  keyResolver,
  newClock,
  NOW_S,
  RFC_CREATED,
  rfc9421,
  rfcKeys,
  rfcRequest,
} from './support/http-signature-fixture.ts';

const RFC_KEYS = { 'hmac-sha256': rfcKeys.sharedSecret, ed25519: rfcKeys.ed25519 } as const;

/** The covered components of an RFC case, read from its Signature-Input. */
function coveredComponents(signatureInput: string): string[] {
  const list = /\(([^)]*)\)/.exec(signatureInput)?.[1] ?? '';
  return [...list.matchAll(/"([^"]+)"/g)].map((match) => match[1]!);
}

void describe('RFC 9421 Appendix B.2 vectors', () => {
  for (const vector of rfc9421.cases) {
    const key = RFC_KEYS[vector.alg];
    const components = coveredComponents(vector.signature_input);

    void it(`${vector.id} (${vector.alg}): reproduces the signature base byte for byte`, () => {
      const params = new Map<SignatureParameterName, number | string>([
        ['created', RFC_CREATED],
        ['keyid', vector.keyid],
      ]);
      const base = createSignatureBase(
        rfcRequest,
        { components, params },
        'ERR_SIG_MALFORMED',
        'ERR_SIG_INVALID',
      );
      assert.equal(base.toString('ascii'), vector.signature_base);
    });

    void it(`${vector.id} (${vector.alg}): reproduces Signature-Input and Signature byte for byte`, () => {
      const fields = signRequest(rfcRequest, {
        label: vector.label,
        key,
        components,
        clock: newClock(RFC_CREATED),
      });
      assert.equal(fields['signature-input'], vector.signature_input);
      assert.equal(fields.signature, vector.signature);
    });

    void it(`${vector.id} (${vector.alg}): verifies`, async () => {
      const request: SignableRequest = {
        ...rfcRequest,
        headers: {
          ...rfcRequest.headers,
          'signature-input': vector.signature_input,
          signature: vector.signature,
        },
      };
      const verified = await verifyRequestSignature(request, {
        keys: keyResolver(key),
        clock: newClock(RFC_CREATED),
        requiredComponents: components,
      });
      assert.deepEqual(
        { ...verified },
        {
          label: vector.label,
          keyid: vector.keyid,
          alg: vector.alg,
          components,
          created: RFC_CREATED,
        },
      );
    });

    void it(`${vector.id} (${vector.alg}): is refused under the default policy, which wants @path/@query/content-digest`, async () => {
      const request: SignableRequest = {
        ...rfcRequest,
        headers: {
          ...rfcRequest.headers,
          'signature-input': vector.signature_input,
          signature: vector.signature,
        },
      };
      await assertRejectsWith(
        () =>
          verifyRequestSignature(request, { keys: keyResolver(key), clock: newClock(RFC_CREATED) }),
        'ERR_SIG_COMPONENTS',
      );
    });
  }

  void it('RFC 9530: the content digest of the B.2 body matches', () => {
    const { body } = rfc9421.content_digest;
    const expected = `sha-512=:${rfc9421.content_digest['sha-512']}:`;
    assert.equal(createContentDigest(body, 'sha-512'), expected);
    assert.equal(rfc9421.test_request.headers['content-digest'], expected);
    verifyContentDigest(expected, body);
  });
});

void describe('signRequest and verifyRequestSignature round trip', () => {
  const keys = generateKeys();
  for (const key of Object.values(keys)) {
    void it(`${key.alg}: signs and verifies with created, expires, nonce and a replay cache`, async () => {
      const clock = newClock();
      const fields = signRequest(invoiceRequest(), {
        key,
        components: CLIENT_COMPONENTS,
        clock,
        expiresIn: 30,
        nonce: 'n-0001',
      });
      const request = invoiceRequest(fields);
      const replayCache = new MemoryReplayCache({ clock });
      const verify = createRequestSignatureVerifier({ keys: keyResolver(key), clock, replayCache });
      const verified = await verify(request);
      assert.deepEqual(
        { ...verified },
        {
          label: 'sig1',
          keyid: key.keyid,
          alg: key.alg,
          components: CLIENT_COMPONENTS,
          created: NOW_S,
          expires: NOW_S + 30,
          nonce: 'n-0001',
        },
      );
      await assertRejectsWith(() => verify(request), 'ERR_SIG_REPLAY');
    });

    void it(`${key.alg}: includes alg on request, and the verifier accepts the matching one`, async () => {
      const clock = newClock();
      const fields = signRequest(invoiceRequest(), {
        key,
        components: CLIENT_COMPONENTS,
        clock,
        includeAlg: true,
      });
      assert.match(fields['signature-input'], new RegExp(`;alg="${key.alg}"$`));
      await verifyRequestSignature(invoiceRequest(fields), { keys: keyResolver(key), clock });
    });
  }

  void it('ecdsa-p256-sha256 signatures are raw r||s of 64 bytes (§3.3.4), not DER', () => {
    const fields = signRequest(invoiceRequest(), {
      key: keys.ecdsa,
      components: CLIENT_COMPONENTS,
      clock: newClock(),
    });
    const encoded = /^sig1=:([^:]*):$/.exec(fields.signature)?.[1] ?? '';
    assert.equal(Buffer.from(encoded, 'base64').length, 64);
  });

  void it('the RFC P-256 test key signs and verifies', async () => {
    const clock = newClock();
    const fields = signRequest(invoiceRequest(), {
      key: rfcKeys.eccP256,
      components: CLIENT_COMPONENTS,
      clock,
    });
    await verifyRequestSignature(invoiceRequest(fields), {
      keys: keyResolver(rfcKeys.eccP256),
      clock,
    });
  });

  void it('a request without a body needs no content-digest by default', async () => {
    const clock = newClock();
    const request: SignableRequest = {
      method: 'GET',
      url: 'https://billing.tessera.local/invoices',
      headers: {},
    };
    const fields = signRequest(request, {
      key: keys.ed25519,
      components: ['@method', '@authority', '@path', '@query'],
      clock,
    });
    await verifyRequestSignature(
      { ...request, headers: fields },
      { keys: keyResolver(keys.ed25519), clock },
    );
  });

  void it('verifies the labelled signature among several when a label is configured', async () => {
    const clock = newClock();
    const one = signRequest(invoiceRequest(), {
      key: keys.ed25519,
      components: CLIENT_COMPONENTS,
      clock,
      label: 'one',
    });
    const two = signRequest(invoiceRequest(), {
      key: keys.hmac,
      components: CLIENT_COMPONENTS,
      clock,
      label: 'two',
    });
    const request = invoiceRequest({
      'signature-input': [one['signature-input'], two['signature-input']],
      signature: `${one.signature}, ${two.signature}`,
    });
    const options = { keys: keyResolver(keys.ed25519, keys.hmac), clock };
    assert.equal(
      (await verifyRequestSignature(request, { ...options, label: 'two' })).keyid,
      keys.hmac.keyid,
    );
    assert.equal(
      (await verifyRequestSignature(request, { ...options, label: 'one' })).keyid,
      keys.ed25519.keyid,
    );
    await assertRejectsWith(() => verifyRequestSignature(request, options), 'ERR_SIG_MALFORMED');
    await assertRejectsWith(
      () => verifyRequestSignature(request, { ...options, label: 'three' }),
      'ERR_SIG_MISSING',
    );
  });

  void it('a replayed nonce is refused, the same nonce under another key is not', async () => {
    const clock = newClock();
    const replayCache = new MemoryReplayCache({ clock });
    const options = { keys: keyResolver(keys.ed25519, keys.hmac), clock, replayCache };
    for (const key of [keys.ed25519, keys.hmac]) {
      const fields = signRequest(invoiceRequest(), {
        key,
        components: CLIENT_COMPONENTS,
        clock,
        nonce: 'same',
      });
      await verifyRequestSignature(invoiceRequest(fields), options);
    }
    const again = signRequest(invoiceRequest(), {
      key: keys.hmac,
      components: CLIENT_COMPONENTS,
      clock,
      nonce: 'same',
    });
    await assertRejectsWith(
      () => verifyRequestSignature(invoiceRequest(again), options),
      'ERR_SIG_REPLAY',
    );
  });

  void it('a nonce is remembered exactly as long as its signature is acceptable', async () => {
    const clock = newClock();
    const replayCache = new MemoryReplayCache({ clock });
    const options = { keys: keyResolver(keys.ed25519), clock, replayCache, maxSkewSeconds: 10 };
    const fields = signRequest(invoiceRequest(), {
      key: keys.ed25519,
      components: CLIENT_COMPONENTS,
      clock,
      nonce: 'n',
    });
    await verifyRequestSignature(invoiceRequest(fields), options);
    clock.set(NOW_S * 1000 + 10_000);
    await assertRejectsWith(
      () => verifyRequestSignature(invoiceRequest(fields), options),
      'ERR_SIG_REPLAY',
    );
    clock.advance(1);
    await assertRejectsWith(
      () => verifyRequestSignature(invoiceRequest(fields), options),
      'ERR_SIG_EXPIRED',
    );
  });
});

void describe('clock-skew window and expiry', () => {
  const key = generateKeys().ed25519;
  interface Row {
    readonly name: string;
    /** Seconds from the signer's clock to the verifier's. */
    readonly verifierAhead: number;
    readonly expiresIn?: number;
    readonly maxSkewSeconds?: number;
    readonly maxAgeSeconds?: number;
    readonly expect: 'ok' | 'ERR_SIG_EXPIRED' | 'ERR_SIG_CREATED_IN_FUTURE';
  }
  const rows: readonly Row[] = [
    { name: 'same clock', verifierAhead: 0, expect: 'ok' },
    { name: 'verifier 10 s ahead (default skew)', verifierAhead: 10, expect: 'ok' },
    { name: 'verifier 10.001 s ahead', verifierAhead: 10.001, expect: 'ERR_SIG_EXPIRED' },
    { name: 'verifier 10 s behind', verifierAhead: -10, expect: 'ok' },
    {
      name: 'verifier 10.001 s behind: created in the future',
      verifierAhead: -10.001,
      expect: 'ERR_SIG_CREATED_IN_FUTURE',
    },
    {
      name: 'skew 0, same second',
      verifierAhead: 0.999,
      maxSkewSeconds: 0,
      expect: 'ERR_SIG_EXPIRED',
    },
    { name: 'skew 0, exact', verifierAhead: 0, maxSkewSeconds: 0, expect: 'ok' },
    { name: 'skew 30, 30 s behind', verifierAhead: -30, maxSkewSeconds: 30, expect: 'ok' },
    {
      name: 'skew 30, 31 s behind',
      verifierAhead: -31,
      maxSkewSeconds: 30,
      expect: 'ERR_SIG_CREATED_IN_FUTURE',
    },
    { name: 'max age 60, 70 s later', verifierAhead: 70, maxAgeSeconds: 60, expect: 'ok' },
    {
      name: 'max age 60, 71 s later',
      verifierAhead: 71,
      maxAgeSeconds: 60,
      expect: 'ERR_SIG_EXPIRED',
    },
    {
      name: 'expires in 5 s, 15 s later (5 + skew)',
      verifierAhead: 15,
      expiresIn: 5,
      maxAgeSeconds: 60,
      expect: 'ok',
    },
    {
      name: 'expires in 5 s, 16 s later',
      verifierAhead: 16,
      expiresIn: 5,
      maxAgeSeconds: 60,
      expect: 'ERR_SIG_EXPIRED',
    },
    {
      name: 'expires in 5 s, skew 0, 6 s later',
      verifierAhead: 6,
      expiresIn: 5,
      maxSkewSeconds: 0,
      maxAgeSeconds: 60,
      expect: 'ERR_SIG_EXPIRED',
    },
  ];
  for (const row of rows) {
    void it(`${row.name}: ${row.expect}`, async () => {
      const signerClock = newClock();
      const fields = signRequest(invoiceRequest(), {
        key,
        components: CLIENT_COMPONENTS,
        clock: signerClock,
        ...(row.expiresIn === undefined ? {} : { expiresIn: row.expiresIn }),
      });
      const options: VerifyRequestSignatureOptions = {
        keys: keyResolver(key),
        clock: newClock(NOW_S + row.verifierAhead),
        ...(row.maxSkewSeconds === undefined ? {} : { maxSkewSeconds: row.maxSkewSeconds }),
        ...(row.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: row.maxAgeSeconds }),
      };
      const verifying = verifyRequestSignature(invoiceRequest(fields), options);
      if (row.expect === 'ok') await verifying;
      else await assertRejectsWith(() => verifying, row.expect);
    });
  }

  void it('without created (requireCreated: false) only expires bounds the signature', async () => {
    const params = new Map<SignatureParameterName, number | string>([
      ['expires', NOW_S + 5],
      ['keyid', key.keyid],
    ]);
    const request = invoiceRequest();
    const parameters = { components: CLIENT_COMPONENTS, params };
    const base = createSignatureBase(request, parameters, 'ERR_SIG_MALFORMED', 'ERR_SIG_INVALID');
    const signature = sign(null, base, key.key).toString('base64');
    const input = `sig1=${serializeSignatureParameters(parameters)}`;
    const signed = invoiceRequest({ 'signature-input': input, signature: `sig1=:${signature}:` });
    const options = { keys: keyResolver(key), clock: newClock(), requireCreated: false };
    assert.equal((await verifyRequestSignature(signed, options)).created, undefined);
    await assertRejectsWith(
      () => verifyRequestSignature(signed, { keys: keyResolver(key), clock: newClock() }),
      'ERR_SIG_MALFORMED',
    );
    await assertRejectsWith(
      () => verifyRequestSignature(signed, { ...options, clock: newClock(NOW_S + 16) }),
      'ERR_SIG_EXPIRED',
    );
  });
});

void describe('what the verifier refuses about keys, algorithms and coverage', () => {
  const keys = generateKeys();

  void it('alg that differs from the key is refused, even when the signature would verify under it', async () => {
    // Algorithm confusion: HMAC keyed with the Ed25519 public key, which the attacker knows.
    const publicKey = createPublicKey(keys.ed25519.key).export({ format: 'der', type: 'spki' });
    const clock = newClock();
    const request = invoiceRequest();
    const options = { keys: keyResolver(keys.ed25519), clock };
    for (const alg of ['hmac-sha256', undefined]) {
      const params = new Map<SignatureParameterName, number | string>([
        ['created', NOW_S],
        ['keyid', keys.ed25519.keyid],
      ]);
      if (alg !== undefined) params.set('alg', alg);
      const parameters = { components: CLIENT_COMPONENTS, params };
      const base = createSignatureBase(request, parameters, 'ERR_SIG_MALFORMED', 'ERR_SIG_INVALID');
      const tag = createHmac('sha256', publicKey).update(base).digest('base64');
      const forged = invoiceRequest({
        'signature-input': `sig1=${serializeSignatureParameters(parameters)}`,
        signature: `sig1=:${tag}:`,
      });
      // With alg the mismatch is caught; without it the key's Ed25519 wants 64 bytes, not 32.
      await assertRejectsWith(
        () => verifyRequestSignature(forged, options),
        alg === undefined ? 'ERR_SIG_MALFORMED' : 'ERR_SIG_ALG',
      );
    }
  });

  void it('a key whose algorithm is not allowed is refused', async () => {
    const clock = newClock();
    const fields = signRequest(invoiceRequest(), {
      key: keys.hmac,
      components: CLIENT_COMPONENTS,
      clock,
    });
    await assertRejectsWith(
      () =>
        verifyRequestSignature(invoiceRequest(fields), {
          keys: keyResolver(keys.hmac),
          clock,
          allowedAlgorithms: ['ed25519', 'ecdsa-p256-sha256'],
        }),
      'ERR_SIG_ALG',
    );
  });

  void it('an unknown keyid, a failing resolver and a resolver returning another key', async () => {
    const clock = newClock();
    const fields = signRequest(invoiceRequest(), {
      key: keys.ed25519,
      components: CLIENT_COMPONENTS,
      clock,
    });
    const request = invoiceRequest(fields);
    await assertRejectsWith(
      () => verifyRequestSignature(request, { keys: keyResolver(keys.hmac), clock }),
      'ERR_SIG_KEY_UNKNOWN',
    );
    const failing = (): never => {
      throw new Error('key store down');
    };
    await assertRejectsWith(
      () => verifyRequestSignature(request, { keys: failing, clock }),
      'ERR_SIG_KEY_UNKNOWN',
    );
    await assertRejectsWith(
      () => verifyRequestSignature(request, { keys: () => keys.hmac, clock }),
      'ERR_CONFIG_INVALID',
    );
    const wrongType = { ...keys.ed25519, key: createPublicKey(keys.ecdsa.key) };
    await assertRejectsWith(
      () => verifyRequestSignature(request, { keys: () => wrongType, clock }),
      'ERR_CONFIG_INVALID',
    );
  });

  void it('by default a request with a body must cover content-digest, and every request @method/@authority/@path/@query', async () => {
    const clock = newClock();
    const options = { keys: keyResolver(keys.ed25519), clock };
    for (const missing of ['@method', '@authority', '@path', '@query', 'content-digest']) {
      const components = CLIENT_COMPONENTS.filter((c) => c !== missing);
      const fields = signRequest(invoiceRequest(), { key: keys.ed25519, components, clock });
      await assertRejectsWith(
        () => verifyRequestSignature(invoiceRequest(fields), options),
        'ERR_SIG_COMPONENTS',
        missing,
      );
    }
  });

  void it('requireNonce refuses a signature without nonce', async () => {
    const clock = newClock();
    const fields = signRequest(invoiceRequest(), {
      key: keys.ed25519,
      components: CLIENT_COMPONENTS,
      clock,
    });
    const replayCache = new MemoryReplayCache({ clock });
    await assertRejectsWith(
      () =>
        verifyRequestSignature(invoiceRequest(fields), {
          keys: keyResolver(keys.ed25519),
          clock,
          replayCache,
        }),
      'ERR_SIG_NONCE_MISSING',
    );
    await verifyRequestSignature(invoiceRequest(fields), {
      keys: keyResolver(keys.ed25519),
      clock,
      replayCache,
      requireNonce: false,
    });
  });

  void it('a forged signature is refused and its nonce is not burnt', async () => {
    const clock = newClock();
    const replayCache = new MemoryReplayCache({ clock });
    const options = { keys: keyResolver(keys.ed25519), clock, replayCache };
    const fields = signRequest(invoiceRequest(), {
      key: keys.ed25519,
      components: CLIENT_COMPONENTS,
      clock,
      nonce: 'n1',
    });
    const forged = signRequest(invoiceRequest(), {
      key: { ...generateKeys().ed25519, keyid: keys.ed25519.keyid },
      components: CLIENT_COMPONENTS,
      clock,
      nonce: 'n1',
    });
    await assertRejectsWith(
      () => verifyRequestSignature(invoiceRequest(forged), options),
      'ERR_SIG_INVALID',
    );
    await verifyRequestSignature(invoiceRequest(fields), options);
  });
});

function componentOf(request: SignableRequest, name: string): string {
  return (
    componentValue(
      request,
      parseTargetUri(request.url, 'ERR_SIG_MALFORMED'),
      name,
      'ERR_SIG_MALFORMED',
    ) ?? ''
  );
}

void describe('a signed request changed in transit', () => {
  const key = generateKeys().ed25519;
  const clock = newClock();
  const tenant = { 'x-tenant': 'acme' };
  const components = [...CLIENT_COMPONENTS, '@scheme', 'x-tenant'];
  const signed = invoiceRequest({
    ...tenant,
    ...signRequest(invoiceRequest(tenant), { key, components, clock }),
  });
  const rows: readonly {
    readonly name: string;
    readonly change: (r: SignableRequest) => SignableRequest;
  }[] = [
    { name: 'method', change: (r) => ({ ...r, method: 'PUT' }) },
    { name: 'method case', change: (r) => ({ ...r, method: 'post' }) },
    { name: 'scheme', change: (r) => ({ ...r, url: r.url.replace('https:', 'http:') }) },
    { name: 'host', change: (r) => ({ ...r, url: r.url.replace('billing.', 'payroll.') }) },
    { name: 'port', change: (r) => ({ ...r, url: r.url.replace(':8443', ':8444') }) },
    { name: 'path', change: (r) => ({ ...r, url: r.url.replace('/invoices', '/invoices/') }) },
    {
      name: 'path dot segment',
      change: (r) => ({ ...r, url: r.url.replace('/invoices', '/x/../invoices') }),
    },
    {
      name: 'path percent-encoding',
      change: (r) => ({ ...r, url: r.url.replace('/invoices', '/%69nvoices') }),
    },
    { name: 'query value', change: (r) => ({ ...r, url: r.url.replace('42', '43') }) },
    {
      name: 'query order',
      change: (r) => ({
        ...r,
        url: r.url.replace('customer=42&draft=true', 'draft=true&customer=42'),
      }),
    },
    { name: 'query removed', change: (r) => ({ ...r, url: r.url.replace(/\?.*$/, '') }) },
    { name: 'empty query added', change: (r) => ({ ...r, url: r.url.replace(/\?.*$/, '?') }) },
    {
      name: 'content-digest',
      change: (r) => ({
        ...r,
        headers: { ...r.headers, 'content-digest': createContentDigest('{}') },
      }),
    },
    {
      name: 'content-type',
      change: (r) => ({ ...r, headers: { ...r.headers, 'content-type': 'text/plain' } }),
    },
    {
      name: 'signed header value',
      change: (r) => ({ ...r, headers: { ...r.headers, 'x-tenant': 'evil' } }),
    },
    {
      name: 'signed header extra line',
      change: (r) => ({ ...r, headers: { ...r.headers, 'x-tenant': ['acme', 'evil'] } }),
    },
    {
      name: 'signed header removed',
      change: (r) => ({ ...r, headers: { ...r.headers, 'x-tenant': undefined } }),
    },
  ];
  for (const row of rows) {
    void it(`${row.name} → ERR_SIG_INVALID`, async () => {
      const options = { keys: keyResolver(key), clock };
      await verifyRequestSignature(signed, options);
      await assertRejectsWith(
        () => verifyRequestSignature(row.change(signed), options),
        'ERR_SIG_INVALID',
      );
    });
  }

  void it('unsigned changes and RFC 9421 §2.1 canonicalisation keep the signature valid', async () => {
    const options = { keys: keyResolver(key), clock };
    const same: readonly SignableRequest[] = [
      { ...signed, headers: { ...signed.headers, 'x-unsigned': 'anything' } },
      { ...signed, headers: { ...signed.headers, 'x-tenant': '  acme\t' } },
      { ...signed, headers: { ...signed.headers, 'x-tenant': ['acme'] } },
      { ...signed, url: signed.url.replace('billing.tessera.local', 'BILLING.Tessera.Local') },
      {
        ...signed,
        headers: Object.fromEntries(
          Object.entries(signed.headers).map(([k, v]) => [k.toUpperCase(), v]),
        ),
      },
    ];
    for (const request of same) await verifyRequestSignature(request, options);
  });
});

void describe('component values (RFC 9421 §2.1, §2.2)', () => {
  const rows: readonly { readonly url: string; readonly expect: Record<string, string> }[] = [
    {
      url: 'https://www.example.com/path?param=value',
      expect: {
        '@target-uri': 'https://www.example.com/path?param=value',
        '@authority': 'www.example.com',
        '@scheme': 'https',
        '@request-target': '/path?param=value',
        '@path': '/path',
        '@query': '?param=value',
      },
    },
    {
      url: 'HTTP://Example.COM:80',
      expect: {
        '@target-uri': 'http://example.com/',
        '@authority': 'example.com',
        '@path': '/',
        '@query': '?',
      },
    },
    {
      url: 'https://example.com:8443?',
      expect: {
        '@authority': 'example.com:8443',
        '@path': '/',
        '@query': '?',
        '@request-target': '/?',
      },
    },
    {
      url: 'https://[::1]:8443/a/../b?x=%20y&z',
      expect: { '@authority': '[::1]:8443', '@path': '/a/../b', '@query': '?x=%20y&z' },
    },
    { url: 'https://example.com/a?b?c', expect: { '@path': '/a', '@query': '?b?c' } },
  ];
  for (const row of rows) {
    void it(row.url, () => {
      const request: SignableRequest = { method: 'GET', url: row.url, headers: {} };
      for (const [name, value] of Object.entries(row.expect))
        assert.equal(componentOf(request, name), value, name);
    });
  }

  void it('field values: trimmed per line, lines joined with ", ", names case-insensitive', () => {
    const request: SignableRequest = {
      method: 'GET',
      url: 'https://example.com/',
      headers: {
        'Cache-Control': ['  max-age=60 ', '\tmust-revalidate'],
        'x-empty': '',
        'x-none': [],
      },
    };
    assert.equal(componentOf(request, 'cache-control'), 'max-age=60, must-revalidate');
    assert.equal(componentOf(request, 'x-empty'), '');
    assert.equal(
      componentValue(
        request,
        parseTargetUri(request.url, 'ERR_SIG_MALFORMED'),
        'x-none',
        'ERR_SIG_MALFORMED',
      ),
      undefined,
    );
  });
});

void describe('signer and verifier options are validated up front', () => {
  const keys = generateKeys();
  const clock = newClock();
  const base = { keys: keyResolver(keys.ed25519), clock };
  const verifierRows: readonly {
    readonly name: string;
    readonly options: Record<string, unknown>;
  }[] = [
    { name: 'maxSkewSeconds -1', options: { maxSkewSeconds: -1 } },
    { name: 'maxSkewSeconds 31', options: { maxSkewSeconds: 31 } },
    { name: 'maxSkewSeconds NaN', options: { maxSkewSeconds: Number.NaN } },
    { name: 'maxSkewSeconds string', options: { maxSkewSeconds: '10' } },
    { name: 'maxAgeSeconds -1', options: { maxAgeSeconds: -1 } },
    { name: 'maxAgeSeconds Infinity', options: { maxAgeSeconds: Infinity } },
    { name: 'empty requiredComponents', options: { requiredComponents: [] } },
    { name: 'unknown derived component', options: { requiredComponents: ['@method', '@status'] } },
    { name: '@signature-params required', options: { requiredComponents: ['@signature-params'] } },
    { name: 'upper-case field', options: { requiredComponents: ['Content-Digest'] } },
    { name: 'requireNonce without replayCache', options: { requireNonce: true } },
    { name: 'replayCache without useOnce', options: { replayCache: {} } },
    { name: 'empty allowedAlgorithms', options: { allowedAlgorithms: [] } },
    { name: 'unknown algorithm', options: { allowedAlgorithms: ['rsa-v1_5-sha256'] } },
    { name: 'label not a key', options: { label: 'Sig1' } },
    { name: 'keys not a function', options: { keys: new Map() } },
    { name: 'no clock', options: { clock: undefined } },
  ];
  for (const row of verifierRows) {
    void it(`verifier: ${row.name} → ERR_CONFIG_INVALID`, () => {
      assert.throws(
        () =>
          createRequestSignatureVerifier({
            ...base,
            ...row.options,
          }),
        (error: unknown) =>
          error instanceof Error && 'code' in error && error.code === 'ERR_CONFIG_INVALID',
      );
    });
  }

  const signerRows: readonly {
    readonly name: string;
    readonly options: Record<string, unknown>;
  }[] = [
    { name: 'label not a key', options: { label: 'Sig 1' } },
    { name: 'repeated component', options: { components: ['@method', '@method'] } },
    { name: 'unknown derived component', options: { components: ['@query-param'] } },
    { name: '@signature-params', options: { components: ['@signature-params'] } },
    { name: 'field the request lacks', options: { components: ['@method', 'x-missing'] } },
    { name: 'expiresIn 0', options: { expiresIn: 0 } },
    { name: 'expiresIn 1.5', options: { expiresIn: 1.5 } },
    { name: 'nonce with a newline', options: { nonce: 'a\nb' } },
    { name: 'empty nonce', options: { nonce: '' } },
    {
      name: 'keyid with a quote-breaking newline',
      options: { key: { ...keys.ed25519, keyid: 'k\n' } },
    },
    {
      name: 'public key to sign',
      options: { key: { ...keys.ed25519, key: createPublicKey(keys.ed25519.key) } },
    },
    { name: 'P-256 key for ed25519', options: { key: { ...keys.ed25519, key: keys.ecdsa.key } } },
    { name: 'Ed25519 key for ecdsa', options: { key: { ...keys.ecdsa, key: keys.ed25519.key } } },
    { name: 'asymmetric key for hmac', options: { key: { ...keys.hmac, key: keys.ed25519.key } } },
    { name: 'secret key for ed25519', options: { key: { ...keys.ed25519, key: keys.hmac.key } } },
    {
      name: '16-byte hmac key',
      options: { key: { ...keys.hmac, key: createSecretKey(randomBytes(16)) } },
    },
    { name: 'unknown algorithm', options: { key: { ...keys.ed25519, alg: 'rsa-pss-sha512' } } },
    { name: 'key material not a KeyObject', options: { key: { ...keys.ed25519, key: null } } },
    {
      name: 'PEM string instead of a KeyObject',
      options: { key: { ...keys.hmac, key: 'secret'.repeat(8) } },
    },
  ];
  for (const row of signerRows) {
    void it(`signer: ${row.name} → ERR_CONFIG_INVALID`, () => {
      const options = { key: keys.ed25519, components: ['@method'], clock, ...row.options };
      assert.throws(
        () => signRequest(invoiceRequest(), options),
        (error: unknown) =>
          error instanceof Error && 'code' in error && error.code === 'ERR_CONFIG_INVALID',
      );
    });
  }

  void it('signer: a field value with CR/LF → ERR_SIG_MALFORMED', () => {
    assert.throws(
      () =>
        signRequest(invoiceRequest({ 'x-a': 'a\r\nx-b: b' }), {
          key: keys.ed25519,
          components: ['x-a'],
          clock,
        }),
      (error: unknown) =>
        error instanceof Error && 'code' in error && error.code === 'ERR_SIG_MALFORMED',
    );
  });
});
