import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertSecureUrl, isLoopbackHost, TesseraError } from '@tessera/core';

/**
 * Review finding 3: "https, or plain http only to loopback" was decided by three copies that
 * disagreed (one took `localhost`, one `[::1]` but not `::1`, the plugin had none). These tables
 * are the one rule, run against the one function in core.
 */

/** Host strings as a listen address or `URL.hostname` gives them. */
const HOSTS: readonly [host: string, loopback: boolean, why: string][] = [
  ['127.0.0.1', true, 'IPv4 loopback'],
  ['127.1.2.3', true, 'anywhere in 127.0.0.0/8'],
  ['127.255.255.255', true, 'the top of 127.0.0.0/8'],
  ['::1', true, 'IPv6 loopback'],
  ['[::1]', true, 'IPv6 loopback as URL.hostname writes it'],
  ['0:0:0:0:0:0:0:1', true, 'IPv6 loopback, uncompressed'],
  ['::ffff:127.0.0.1', true, 'IPv4-mapped loopback'],
  ['[::ffff:7f00:1]', true, 'IPv4-mapped loopback as URL.hostname writes it'],
  ['localhost', false, 'a name: /etc/hosts or DNS may send it anywhere'],
  ['LOCALHOST', false, 'a name'],
  ['localhost.', false, 'a fully qualified name, looked up in DNS'],
  ['api.localhost', false, 'a name under localhost'],
  ['127.0.0.1.nip.io', false, 'a name that starts like loopback'],
  ['localhost.example.com', false, 'a name that starts like localhost'],
  ['0.0.0.0', false, 'the unspecified address'],
  ['::', false, 'the IPv6 unspecified address'],
  ['[::]', false, 'the IPv6 unspecified address, bracketed'],
  ['::7f00:1', false, 'IPv4-compatible (deprecated), routed as IPv6'],
  ['::ffff:10.0.0.1', false, 'IPv4-mapped, not loopback'],
  ['10.0.0.1', false, 'private, not loopback'],
  ['128.0.0.1', false, 'just outside 127.0.0.0/8'],
  ['126.255.255.255', false, 'just below 127.0.0.0/8'],
  ['127.1', false, 'not a canonical address: a listen host must be written out'],
  ['127.0.0.01', false, 'a leading zero (octal to some parsers)'],
  ['[::1', false, 'an unclosed bracket'],
  ['::1]', false, 'an unopened bracket'],
  ['[127.0.0.1]', false, 'IPv4 in brackets'],
  ['', false, 'empty'],
];

/** URLs as an option gives them: [url, accepted, why]. */
const URLS: readonly [url: string, accepted: boolean, why: string][] = [
  ['https://authority.example.com', true, 'https'],
  ['https://authority.example.com:8443/tessera', true, 'https with a port and a path'],
  ['HTTPS://Authority.Example.COM', true, 'scheme and host are case-insensitive'],
  ['https://localhost:7700', true, 'https to a name is https'],
  ['http://127.0.0.1:7700', true, 'http to IPv4 loopback'],
  ['http://127.9.9.9', true, 'http to 127.0.0.0/8'],
  ['http://[::1]:7700', true, 'http to IPv6 loopback'],
  ['http://[0:0:0:0:0:0:0:1]:7700', true, 'the parser compresses it to [::1]'],
  ['http://[::ffff:127.0.0.1]:7700', true, 'IPv4-mapped loopback'],
  ['http://2130706433/', true, 'decimal: the URL parser makes it 127.0.0.1'],
  ['http://0x7f000001/', true, 'hex: the URL parser makes it 127.0.0.1'],
  ['http://0x7f.1/', true, 'mixed hex: the URL parser makes it 127.0.0.1'],
  ['http://0177.0.0.1/', true, 'octal: the URL parser makes it 127.0.0.1'],
  ['http://127.1/', true, 'short form: the URL parser makes it 127.0.0.1'],
  ['http://127.0.0.1./', true, 'a trailing dot on an IPv4 address is dropped by the parser'],
  ['http://１２７.0.0.1/', true, 'full-width digits: IDNA maps them to 127.0.0.1'],
  ['http://localhost:7700', false, 'plain http to a name that may resolve anywhere'],
  ['http://localhost.:7700', false, 'trailing dot: a DNS lookup'],
  ['http://api.localhost', false, 'a name under localhost'],
  ['http://127.0.0.1.nip.io', false, 'a public name that starts like loopback'],
  ['http://127.0.0.1%2eevil.example/', false, 'percent-encoded dot: the host is a public name'],
  ['http://0.0.0.0:7700', false, 'the unspecified address'],
  ['http://[::]:7700', false, 'the IPv6 unspecified address'],
  ['http://[::127.0.0.1]/', false, 'IPv4-compatible, not loopback'],
  ['http://[::ffff:10.0.0.1]/', false, 'IPv4-mapped, not loopback'],
  ['http://10.0.0.1:7700', false, 'plain http on the network'],
  ['http://authority.internal', false, 'plain http to an internal name'],
  ['ws://127.0.0.1:7700', false, 'not http(s)'],
  ['ftp://127.0.0.1/', false, 'not http(s)'],
  ['file:///etc/passwd', false, 'not http(s)'],
  ['javascript:alert(1)', false, 'not http(s)'],
];

/** Refused as malformed (ERR_CONFIG_INVALID) rather than insecure. */
const MALFORMED: readonly [value: unknown, why: string][] = [
  ['', 'empty'],
  ['authority.example.com', 'no scheme'],
  ['http://[::1', 'an unclosed bracket'],
  ['https://user:secret@authority.example.com', 'credentials in the URL'],
  ['http://evil.example@127.0.0.1:7700', 'userinfo before a loopback host'],
  ['http://127.0.0.1@evil.example/', 'userinfo trick: the host is evil.example'],
  ['http://127.0.0.1:7700@evil.example/', 'userinfo trick with a "port"'],
  ['https://token@authority.example.com', 'a user name alone'],
  [undefined, 'not a string'],
  [42, 'not a string'],
];

describe('isLoopbackHost', () => {
  for (const [host, loopback, why] of HOSTS) {
    it(`${JSON.stringify(host)} is ${loopback ? '' : 'not '}loopback (${why})`, () => {
      assert.equal(isLoopbackHost(host), loopback);
    });
  }
});

describe('assertSecureUrl', () => {
  for (const [url, accepted, why] of URLS) {
    it(`${accepted ? 'accepts' : 'refuses'} ${url} (${why})`, () => {
      if (accepted) {
        assert.equal(assertSecureUrl(url, 'authority.url').href, new URL(url).href);
        return;
      }
      assert.throws(
        () => assertSecureUrl(url, 'authority.url'),
        (error: unknown) =>
          error instanceof TesseraError &&
          error.code === 'ERR_CONFIG_INSECURE' &&
          error.detail?.startsWith('authority.url: ') === true &&
          !error.message.includes('evil'),
      );
    });
  }
  for (const [value, why] of MALFORMED) {
    it(`refuses ${JSON.stringify(value)} as invalid (${why})`, () => {
      assert.throws(
        () => assertSecureUrl(value, 'services.billing.url'),
        (error: unknown) =>
          error instanceof TesseraError &&
          error.code === 'ERR_CONFIG_INVALID' &&
          error.detail?.startsWith('services.billing.url: ') === true &&
          !error.message.includes('secret'),
      );
    });
  }
});
