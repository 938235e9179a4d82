import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = new URL('../../../', import.meta.url);
const exampleFile = new URL('examples/quickstart/src/main.ts', root);

it('the README shows the quickstart example exactly as the file that runs', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const marker = '<!-- quickstart: examples/quickstart/src/main.ts -->\n\n```ts\n';
  const start = readme.indexOf(marker);
  assert.notEqual(start, -1, 'README has the quickstart block');
  const body = readme.slice(start + marker.length, readme.indexOf('```\n', start + marker.length));
  assert.equal(body, readFileSync(exampleFile, 'utf8'));
});

it('the quickstart allows the real token and refuses every forgery, as the README says', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--conditions=tessera-source', '--import', 'tsx', fileURLToPath(exampleFile)],
    {
      cwd: fileURLToPath(new URL('examples/quickstart/', root)),
      timeout: 30_000,
    },
  );
  assert.deepEqual(stdout.trim().split('\n'), [
    'real token: allowed as spiffe://tessera.local/event-service',
    'forged (unknown key): refused (ERR_TOKEN_KID_UNKNOWN)',
    'tampered claims: refused (ERR_TOKEN_SIGNATURE)',
    'missing scope: denied (ERR_POLICY_SCOPE) as spiffe://tessera.local/event-service',
  ]);
});
