import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createAuthorityLogger } from '../src/logger.ts';

it('redacts tokens, assertions, keys and credentials from log lines (canary)', () => {
  const canary = 'eyJ-CANARY-7f3a9c';
  const lines: string[] = [];
  const logger = createAuthorityLogger({
    destination: { write: (line: string) => void lines.push(line) },
  });
  logger.info(
    {
      req: { headers: { authorization: `Bearer ${canary}`, cookie: canary } },
      access_token: canary,
      token: canary,
      client_assertion: canary,
      body: { token: canary, client_assertion: canary },
      privateKey: canary,
      kek: canary,
      adminToken: canary,
    },
    'request',
  );
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes('CANARY'), lines[0]);
  assert.match(lines[0]!, /\[redacted\]/);
});
