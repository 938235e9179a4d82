/**
 * Service Identity Verification checks (SV1–SV19): mTLS, JWT service tokens and HMAC request
 * signatures, each with a vulnerable and a fixed project.
 */
import { after, describe, test } from 'node:test';
import { check, cleanUp, type Case } from './inbound-harness.ts';

after(cleanUp);

const jwtApp = (verifyCall: string, header = ''): Record<string, string> => ({
  'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
${header}
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  const token = String(request.headers.authorization).slice(7);
  try {
    const claims = ${verifyCall};
    request.log.info({ caller: (claims as { sub: string }).sub }, 'caller');
  } catch {
    return reply.code(401).send();
  }
});
app.get('/x', async () => ({}));
`,
});

const jwtCases: Case[] = [
  {
    name: 'HS256 with a secret from the environment (ESM)',
    files: jwtApp(`jwt.verify(token, process.env.JWT_SECRET ?? '', {
      algorithms: ['HS256'],
      issuer: 'auth',
      audience: 'x',
    })`),
    expect: { SV7: 'FAIL', SV8: 'FAIL', SE19: 'FAIL', SV9: 'PASS', SV10: 'PASS', SV11: 'PASS' },
    at: {
      SV7: { file: 'src/app.ts', line: "algorithms: ['HS256']" },
      SE19: { file: 'src/app.ts', line: 'process.env.JWT_SECRET' },
    },
  },
  {
    name: 'HS256 by default: a string secret and no algorithms (CommonJS)',
    files: {
      'src/app.js': `const express = require('express');
const jwt = require('jsonwebtoken');
const SECRET = 'super-secret-signing-key';
const app = express();
app.use((req, res, next) => {
  try {
    req.caller = jwt.verify(req.headers.authorization.slice(7), SECRET, { issuer: 'a', audience: 'b' });
    next();
  } catch (e) {
    res.status(401).end();
  }
});
app.get('/x', (req, res) => res.json({}));
`,
    },
    expect: { SV7: 'FAIL', SE19: 'FAIL' },
    at: {
      SV7: { file: 'src/app.js', line: "const SECRET = 'super-secret-signing-key'" },
      SE19: { file: 'src/app.js', line: "const SECRET = 'super-secret-signing-key'" },
    },
  },
  {
    name: 'RS256 with a public key file (ESM)',
    files: jwtApp(
      `jwt.verify(token, PUBLIC_KEY, {
      algorithms: ['RS256'],
      issuer: 'https://authority.internal',
      audience: 'orders',
      maxAge: '10m',
    })`,
      `import { readFileSync } from 'node:fs';
const PUBLIC_KEY = readFileSync('/etc/keys/authority.pub.pem', 'utf8');`,
    ),
    expect: {
      SV7: 'PASS',
      SV8: 'PASS',
      SV9: 'PASS',
      SV10: 'PASS',
      SV11: 'PASS',
      SV12: 'PASS',
      SV13: 'PASS',
      SE19: 'PASS',
    },
  },
  {
    name: 'jsonwebtoken callback that ignores the error',
    files: {
      'src/app.js': `const express = require('express');
const jwt = require('jsonwebtoken');
const app = express();
app.use((req, res, next) => {
  jwt.verify(req.headers.authorization, process.env.PUB, { algorithms: ['RS256'], issuer: 'a', audience: 'b' }, (err, decoded) => {
    req.caller = decoded;
    next();
  });
});
app.get('/x', (req, res) => res.json({}));
`,
    },
    expect: { SV13: 'FAIL', FS2: 'FAIL', FS1: 'FAIL' },
    at: { SV13: { file: 'src/app.js', line: '(err, decoded) => {' } },
  },
  {
    name: 'a generous clock tolerance',
    files: jwtApp(`jwt.verify(token, process.env.PUB ?? '', {
      algorithms: ['ES256'],
      issuer: 'a',
      audience: 'b',
      clockTolerance: 3600,
    })`),
    expect: { SV13: 'PARTIAL', SV12: 'PASS' },
  },
  {
    name: 'JWKS fetched over plain http',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import { createRemoteJWKSet, jwtVerify } from 'jose';
const JWKS = createRemoteJWKSet(new URL('http://auth.prod.example.com/jwks.json'));
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  try {
    await jwtVerify(String(request.headers.authorization), JWKS, { issuer: 'a', audience: 'b' });
  } catch {
    return reply.code(401).send();
  }
});
app.get('/x', async () => ({}));
`,
    },
    expect: { SV7: 'PASS', SV8: 'PARTIAL', SV9: 'FAIL' },
    at: { SV8: { file: 'src/app.ts', line: 'const JWKS =' } },
  },
  {
    name: 'no JWT at all: the JWT rows are N/A',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
const app = Fastify();
app.get('/x', async () => ({}));
`,
    },
    expect: { SV7: 'N/A', SV10: 'N/A', SV13: 'N/A', SE19: 'N/A', SE1: 'FAIL', SE6: 'FAIL' },
  },
];

const comparison: Case[] = [
  {
    name: 'static token compared with !=',
    files: {
      'src/auth.js': `function requireToken(req, res, next) {
  const token = req.headers['x-internal-token'];
  if (token != process.env.INTERNAL_TOKEN) {
    return res.status(403).json({ error: 'Forbidden' });
  }
  next();
}
module.exports = requireToken;
`,
      'src/app.js': `const express = require('express');
const requireToken = require('./auth');
const app = express();
app.use(requireToken);
app.post('/deduct', (req, res) => res.json({ ok: true }));
`,
    },
    expect: { SV18: 'FAIL', SE1: 'PASS', SE3: 'FAIL', SE4: 'FAIL', SE5: 'FAIL', SV7: 'N/A' },
    at: { SV18: { file: 'src/auth.js', line: 'token != process.env.INTERNAL_TOKEN' } },
  },
  {
    name: 'static token compared with timingSafeEqual',
    files: {
      'src/auth.ts': `import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
const expected = Buffer.from(process.env.INTERNAL_TOKEN ?? '');
export async function requireToken(request: FastifyRequest, reply: FastifyReply) {
  const given = Buffer.from(String(request.headers['x-internal-token'] ?? ''));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    request.log.warn('bad internal token');
    return reply.code(403).send();
  }
}
`,
      'src/app.ts': `import Fastify from 'fastify';
import { requireToken } from './auth.ts';
const app = Fastify();
app.addHook('onRequest', requireToken);
app.post('/deduct', async () => ({ ok: true }));
`,
    },
    expect: { SV18: 'PASS', SE1: 'PASS', SE11: 'PASS', FS1: 'PASS' },
    at: { SV18: { file: 'src/auth.ts', line: 'timingSafeEqual(given, expected)' } },
  },
  {
    // Found auditing this repository's authority: `grantType !== CLIENT_CREDENTIALS` compares a
    // parameter with a protocol constant, not a secret.
    name: 'a protocol constant with a secret-sounding name compared with !==',
    files: {
      'src/token.ts': `import { timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
const CLIENT_CREDENTIALS = 'client_credentials';
const expected = Buffer.from(process.env.INTERNAL_TOKEN ?? '');
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  const given = Buffer.from(String(request.headers['x-internal-token'] ?? ''));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return reply.code(403).send();
  }
});
app.post('/token', async (request) => {
  const { grant_type: grantType } = request.body as { grant_type: string };
  if (grantType !== CLIENT_CREDENTIALS) return { error: 'unsupported_grant_type' };
  return { ok: true };
});
`,
    },
    expect: { SV18: 'PASS' },
    at: {},
  },
];

const HMAC_GOOD = `import { createHmac, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
const secrets: Record<string, string> = JSON.parse(process.env.CALLER_SECRETS ?? '{}');
const app = Fastify();
app.addHook('preHandler', async (request, reply) => {
  const caller = String(request.headers['x-caller-id']);
  const timestamp = Number(request.headers['x-timestamp']);
  const signature = Buffer.from(String(request.headers['x-signature']), 'hex');
  if (Math.abs(Date.now() - timestamp) > 30_000) return reply.code(401).send();
  const expected = createHmac('sha256', secrets[caller] ?? '')
    .update(\`\${request.method}\\n\${request.url}\\n\${timestamp}\\n\${JSON.stringify(request.body)}\`)
    .digest();
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
    return reply.code(401).send();
  }
});
app.post('/x', async () => ({}));
`;

const HMAC_BAD = `const crypto = require('crypto');
const express = require('express');
const app = express();
app.use((req, res, next) => {
  const sig = req.get('x-signature');
  const digest = crypto.createHmac('sha1', process.env.SHARED_SECRET).update(req.originalUrl).digest('hex');
  if (sig !== digest) return res.status(401).end();
  next();
});
app.post('/x', (req, res) => res.json({}));
`;

const hmac: Case[] = [
  {
    name: 'HMAC with SHA-1, no timestamp, no body, one shared secret, compared with !==',
    files: { 'src/app.js': HMAC_BAD },
    expect: {
      SV14: 'FAIL',
      SV15: 'FAIL',
      SV16: 'FAIL',
      SV17: 'FAIL',
      SV18: 'FAIL',
      SV19: 'FAIL',
      SE3: 'PASS',
    },
    at: {
      SV14: { file: 'src/app.js', line: "createHmac('sha1'" },
      SV18: { file: 'src/app.js', line: 'sig !== digest' },
    },
  },
  {
    name: 'HMAC with SHA-256, a 30 s window, the body signed, per-caller secrets',
    files: { 'src/app.ts': HMAC_GOOD },
    expect: {
      SV14: 'PASS',
      SV15: 'PASS',
      SV16: 'PASS',
      SV17: 'PASS',
      SV18: 'PASS',
      SV19: 'PASS',
    },
  },
  {
    name: 'a five-minute skew window',
    files: { 'src/app.ts': HMAC_GOOD.replace('30_000', '5 * 60 * 1000') },
    expect: { SV16: 'FAIL', SV15: 'PASS' },
    at: { SV16: { file: 'src/app.ts', line: 'Math.abs(Date.now() - timestamp)' } },
  },
  {
    name: 'no HMAC at all: HMAC rows N/A',
    files: jwtApp(
      `jwt.verify(token, process.env.PUB ?? '', { algorithms: ['ES256'], issuer: 'a', audience: 'b' })`,
    ),
    expect: { SV14: 'N/A', SV15: 'N/A', SV16: 'N/A', SV17: 'N/A', SV19: 'N/A' },
  },
];

const mtls: Case[] = [
  {
    name: 'no client certificates, but signed service tokens name the caller',
    files: jwtApp(
      `jwt.verify(token, process.env.PUB ?? '', { algorithms: ['ES256'], issuer: 'a', audience: 'b' })`,
    ),
    expect: { SV1: 'N/A', SV2: 'N/A', SV3: 'N/A', SV4: 'N/A', SV5: 'N/A', SV6: 'N/A', SE8: 'PASS' },
  },
  {
    name: 'no client certificates and only end-user tokens',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  try {
    const claims = jwt.verify(String(request.headers.authorization).slice(7), process.env.PUB ?? '', {
      algorithms: ['RS256'], issuer: 'a', audience: 'b',
    }) as { sub: string };
    request.user = { userId: claims.sub };
  } catch {
    return reply.code(401).send();
  }
});
app.get('/x', async () => ({}));
`,
    },
    expect: { SV1: 'FAIL', SE8: 'FAIL', SV9: 'FAIL' },
    at: {
      SV1: { file: 'src/app.ts', line: 'const app = Fastify()' },
      SE8: { file: 'src/app.ts', line: 'userId: claims.sub' },
    },
  },
  {
    name: 'mTLS with the default CA store and no subject check',
    files: {
      'src/server.ts': `import { readFileSync } from 'node:fs';
import https from 'node:https';
const server = https.createServer(
  {
    key: readFileSync('/etc/tls/key.pem'),
    cert: readFileSync('/etc/tls/cert.pem'),
    requestCert: true,
  },
  (req, res) => {
    res.end('ok');
  },
);
server.listen(8443);
`,
    },
    expect: { SV1: 'PASS', SV2: 'FAIL', SV3: 'FAIL', SV4: 'FAIL', SV5: 'PARTIAL', SV6: 'FAIL' },
    at: { SV1: { file: 'src/server.ts', line: 'requestCert: true' } },
  },
  {
    name: 'mTLS with an internal CA, SAN check, CRL and hot reload',
    files: {
      'src/server.ts': `import { readFileSync, watch } from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
const ALLOWED = new Set(['URI:spiffe://corp.local/billing']);
const tlsOptions = () => ({
  key: readFileSync('/etc/tls/key.pem'),
  cert: readFileSync('/etc/tls/cert.pem'),
  ca: readFileSync('/etc/tls/internal-ca.pem'),
  crl: readFileSync('/etc/tls/ca.crl'),
});
const server = https.createServer({ ...tlsOptions(), requestCert: true, rejectUnauthorized: true }, (req, res) => {
  const cert = (req.socket as TLSSocket).getPeerCertificate();
  if (!ALLOWED.has(cert.subjectaltname ?? '')) {
    res.statusCode = 403;
    res.end();
    return;
  }
  res.end('ok');
});
watch('/etc/tls/cert.pem', () => server.setSecureContext(tlsOptions()));
server.listen(8443);
`,
    },
    expect: {
      SV1: 'PASS',
      SV3: 'PASS',
      SV4: 'PASS',
      SV5: 'PASS',
      SV6: 'PASS',
      SE1: 'PASS',
      SE8: 'PASS',
    },
  },
  {
    name: 'client certificates made optional',
    files: {
      'src/server.js': `const fastify = require('fastify')({
  https: { key: 'k', cert: 'c', ca: 'ca', requestCert: true, rejectUnauthorized: false },
});
fastify.get('/x', async () => ({}));
`,
    },
    expect: { SV1: 'PARTIAL' },
    at: { SV1: { file: 'src/server.js', line: 'rejectUnauthorized: false' } },
  },
  {
    name: 'mTLS enforced by an Istio STRICT policy',
    files: {
      'deploy/mtls.yaml': `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
spec:
  mtls:
    mode: STRICT
`,
      'src/app.ts': `import Fastify from 'fastify';
const app = Fastify();
app.get('/x', async () => ({}));
`,
    },
    expect: { SV1: 'PASS', SV2: 'N/A' },
    at: { SV1: { file: 'deploy/mtls.yaml', line: 'mode: STRICT' } },
  },
];

describe('SV7–SV13: JWT service tokens', () => {
  for (const c of jwtCases) test(c.name, () => check(c));
});
describe('SV18: constant-time comparison', () => {
  for (const c of comparison) test(c.name, () => check(c));
});
describe('SV14–SV19: HMAC request signatures', () => {
  for (const c of hmac) test(c.name, () => check(c));
});
describe('SV1–SV6: mutual TLS', () => {
  for (const c of mtls) test(c.name, () => check(c));
});
