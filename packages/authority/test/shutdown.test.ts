import assert from 'node:assert/strict';
import { it } from 'node:test';
import { startTestAuthority } from '../src/testing/test-authority.ts';

it('close() does not wait for revocation stream subscribers to hang up', async () => {
  const authority = await startTestAuthority();
  const subscriber = new AbortController();
  try {
    const reader = await authority.register('reader', [], []);
    const response = await fetch(`${authority.url}/v1/revocations/stream`, {
      headers: { authorization: `Bearer ${authority.assertion(reader.key, reader.clientId)}` },
      signal: subscriber.signal,
    });
    assert.equal(response.status, 200);
    await response.body?.getReader().read(); // connected: the `retry:` line has arrived
    const started = Date.now();
    const took = await Promise.race([
      authority.close().then(() => Date.now() - started),
      new Promise<number>((resolve) => {
        setTimeout(() => {
          resolve(Infinity);
        }, 5000).unref();
      }),
    ]);
    assert.ok(took < 1000, `close() took ${took} ms with a subscriber attached`);
  } finally {
    subscriber.abort(); // lets a close() that did wait finish, so the test never leaves it open
  }
});
