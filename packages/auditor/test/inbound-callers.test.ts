/**
 * Who calls the service: a browser-facing edge whose callers are end users has no calling
 * service to identify (SE8, SE10, SE13, SE23 N/A); one that also accepts a service credential
 * does.
 */
import { after, describe, test } from 'node:test';
import { check, cleanUp, type Case } from './inbound-harness.ts';

after(cleanUp);

const edge = (extra: string, cors: string): string => `import express from 'express';
import cors from 'cors';
import session from 'express-session';
import jwt from 'jsonwebtoken';
const app = express();
app.use(cors(${cors}));
app.use(session({ secret: process.env.SESSION_SECRET, resave: false, saveUninitialized: false }));
${extra}
app.use((req, res, next) => {
  try {
    req.member = jwt.verify(req.session.idToken, process.env.IDP_PUBLIC_KEY, { algorithms: ['RS256'], issuer: 'https://idp.example', audience: 'portal' });
    next();
  } catch {
    res.status(401).end();
  }
});
app.get('/library/loans', (req, res) => res.json({ member: req.member.sub, loans: [] }));
app.listen(3000);
`;

const cases: Case[] = [
  {
    name: 'a browser-facing portal with a session cookie has end users as callers',
    files: { 'src/portal.js': edge('', "{ origin: 'https://portal.example', credentials: true }") },
    expect: { SE8: 'N/A', SE10: 'N/A', SE13: 'N/A', SE23: 'N/A', SE1: 'PASS' },
    at: { SE8: { file: 'src/portal.js', line: 'app.use(cors(' } },
  },
  {
    name: 'the same portal also taking a service API key has calling services',
    files: {
      'src/portal.js': edge(
        `app.post('/internal/loans/sync', (req, res) => {
  if (req.headers['x-api-key'] !== process.env.SYNC_API_KEY) return res.status(403).end();
  res.status(202).end();
});`,
        "{ origin: 'https://portal.example', credentials: true }",
      ),
    },
    expect: { SE8: 'FAIL', SE10: 'FAIL' },
  },
];

describe('end users or services as callers', () => {
  for (const c of cases) test(c.name, () => check(c));
});
