import { randomBytes } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  issueCertificate,
  KeySet,
  parseCertificationRequest,
  parsePayloadObject,
  parseX509Svid,
  pemEncode,
  verifyCompactJws,
  type SigningKey,
} from '@tessera/core';
import { createTestCa, type TestCa } from '@tessera/core/testing';

/** How a request to the stub authenticated. */
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

export type StubAuth = 'assertion' | 'svid' | 'join_token';

export interface StubRequest {
  readonly path: string;
  readonly auth?: StubAuth;
  readonly atMs: number;
}

/**
 * A small stand-in for the authority's `POST /v1/svid/x509` and `GET /v1/bundle`, on 127.0.0.1,
 * until the real endpoint is on main: it checks the CSR with core `parseCertificationRequest`,
 * the client assertion's signature against the registered key (or the SVID over mTLS, or a join
 * token) and signs with core `issueCertificate` under a test CA. Knobs make the failures tests
 * need: `down` (connections dropped), `lifetimeSeconds`, `issueFor` (a certificate for another
 * SPIFFE ID), `rotateCa()`.
 */
export interface StubSvidAuthority {
  readonly url: string;
  /** The CA that signs now, and the PEM of every trusted CA (the bundle). */
  ca: TestCa;
  readonly bundlePem: () => string;
  readonly requests: StubRequest[];
  readonly issuedSerials: string[];
  down: boolean;
  lifetimeSeconds: number;
  /** notBefore this far before now, as an authority does for clock skew. Default 0. */
  backdateSeconds: number;
  refreshHintSeconds: number;
  issueFor: string | undefined;
  /** Adds a new CA (or `next`) to the bundle and signs with it from now on; the old one stays trusted. */
  rotateCa(next?: TestCa): TestCa;
  close(): Promise<void>;
}

export async function startStubSvidAuthority(options: {
  readonly trustDomain?: string;
  readonly services: ReadonlyMap<string, SigningKey>;
  readonly joinTokens?: ReadonlyMap<string, string>;
  /** Serve https with its own SVID (`spiffe://<td>/tessera-authority` unless `serverId`). */
  readonly tls?: boolean;
  readonly serverId?: string;
  readonly lifetimeSeconds?: number;
}): Promise<StubSvidAuthority> {
  const trustDomain = options.trustDomain ?? 'tessera.local';
  const cas: TestCa[] = [createTestCa(trustDomain)];
  const bundlePem = () => cas.map((ca) => ca.certPem).join('');
  const requests: StubRequest[] = [];
  const issuedSerials: string[] = [];
  const usedJoinTokens = new Set<string>();

  const authenticate = (request: IncomingMessage, form: URLSearchParams) => {
    const socket = request.socket as Partial<TLSSocket>;
    const peer = socket.getPeerCertificate?.();
    if (socket.authorized === true && peer?.raw !== undefined) {
      return { auth: 'svid' as const, id: parseX509Svid(new Uint8Array(peer.raw)).spiffeId.uri };
    }
    const assertion = form.get('client_assertion');
    if (assertion !== null) {
      const keys = new KeySet([...options.services.values()]);
      const claims = parsePayloadObject(verifyCompactJws(assertion, keys).payload);
      const id = String(claims.sub);
      if (options.services.get(id) === undefined || claims.iss !== id) return undefined;
      return { auth: 'assertion' as const, id };
    }
    const joinToken = form.get('join_token');
    const joined = joinToken === null ? undefined : options.joinTokens?.get(joinToken);
    if (joinToken !== null && joined !== undefined && !usedJoinTokens.has(joinToken)) {
      usedJoinTokens.add(joinToken);
      return { auth: 'join_token' as const, id: joined };
    }
    return undefined;
  };

  let onBundleChange: () => void = () => undefined;
  const state: StubSvidAuthority = {
    url: '',
    ca: cas[0]!,
    bundlePem,
    requests,
    issuedSerials,
    down: false,
    lifetimeSeconds: options.lifetimeSeconds ?? 3600,
    backdateSeconds: 0,
    refreshHintSeconds: 300,
    issueFor: undefined,
    rotateCa(next = createTestCa(trustDomain)) {
      cas.push(next);
      state.ca = next;
      onBundleChange();
      return next;
    },
    close: () => Promise.resolve(),
  };

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://stub').pathname;
    if (state.down) {
      requests.push({ path, atMs: Date.now() });
      request.socket.destroy();
      return;
    }
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.method === 'GET' && path === '/v1/bundle') {
      requests.push({ path, atMs: Date.now() });
      json(200, {
        keys: cas.map((ca) => ({
          kty: 'EC',
          use: 'x509-svid',
          x5c: [Buffer.from(ca.der).toString('base64')],
        })),
        spiffe_sequence: cas.length,
        spiffe_refresh_hint: state.refreshHintSeconds,
      });
      return;
    }
    if (request.method === 'GET' && path === '/.well-known/oauth-authorization-server') {
      json(200, { issuer: state.url, token_endpoint: `${state.url}/oauth2/token` });
      return;
    }
    if (request.method !== 'POST' || (path !== '/v1/svid/x509' && path !== '/oauth2/token')) {
      json(404, { error: 'not_found' });
      return;
    }
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const form = new URLSearchParams(body);
      let caller;
      try {
        caller = authenticate(request, form);
      } catch {
        caller = undefined;
      }
      requests.push({ path, atMs: Date.now(), ...(caller ? { auth: caller.auth } : {}) });
      if (caller === undefined) {
        json(401, { error: 'invalid_client' });
        return;
      }
      if (path === '/oauth2/token' && form.get('grant_type') === TOKEN_EXCHANGE) {
        // RFC 8693 §2.2.1: which subject it exchanged, for whom, and how the client proved itself.
        json(200, {
          access_token: `exchanged-${form.get('subject_token') ?? ''}-${form.get('audience') ?? ''}-${caller.auth}`,
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          token_type: 'Bearer',
          expires_in: 120,
          scope: form.get('scope') ?? '',
        });
        return;
      }
      if (path === '/oauth2/token') {
        json(200, {
          access_token: `token-${String(requests.length)}-${caller.auth}`,
          token_type: 'Bearer',
          expires_in: 300,
        });
        return;
      }
      let publicKey;
      try {
        publicKey = parseCertificationRequest(form.get('csr') ?? '').publicKey;
      } catch {
        json(400, { error: 'invalid_request' });
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const serial = randomBytes(16);
      serial[0] = serial[0]! & 0x7f;
      const der = issueCertificate({
        serialNumber: new Uint8Array(serial),
        subject: {},
        publicKey,
        notBefore: now - state.backdateSeconds,
        notAfter: now + state.lifetimeSeconds,
        profile: { kind: 'leaf', uris: [state.issueFor ?? caller.id], dnsNames: ['localhost'] },
        issuer: { privateKey: state.ca.privateKey, certificate: state.ca.der },
      });
      issuedSerials.push(parseX509Svid(der).serialNumber);
      json(200, {
        svid: pemEncode('CERTIFICATE', der),
        bundle: bundlePem(),
        expires_at: now + state.lifetimeSeconds,
      });
    });
  };

  let server;
  if (options.tls === true) {
    const own = state.ca.issueLeaf(
      [options.serverId ?? `spiffe://${trustDomain}/tessera-authority`],
      { notAfter: Math.floor(Date.now() / 1000) + 3600 },
    );
    server = createHttpsServer(
      {
        key: own.keyPem,
        cert: own.certPem,
        ca: bundlePem(),
        requestCert: true,
        rejectUnauthorized: false,
      },
      handle,
    );
    const https = server;
    onBundleChange = () => {
      https.setSecureContext({ key: own.keyPem, cert: own.certPem, ca: bundlePem() });
    };
  } else {
    server = createHttpServer(handle);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const running = server;
  return Object.assign(state, {
    url: `${options.tls === true ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        running.closeAllConnections();
        running.close(() => {
          resolve();
        });
      }),
  });
}
