import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually } from '@tessera/core/testing';

describe('eventually (@tessera/core/testing)', () => {
  it('resolves once the check returns true, without calling it again', async () => {
    let calls = 0;
    await eventually(() => ++calls === 3, 5000, { intervalMs: 1 });
    assert.equal(calls, 3);
  });

  it('rejects when the check never holds, after a bounded number of calls', async () => {
    let calls = 0;
    await assert.rejects(
      eventually(
        () => {
          calls++;
          return false;
        },
        30,
        { intervalMs: 10 },
      ),
      { message: 'not within 30 ms' },
    );
    assert.ok(calls >= 1 && calls <= 4, `${calls} calls`);
  });

  it("rejects with the check's own error", async () => {
    const failure = new Error('the server exited');
    await assert.rejects(
      eventually(() => Promise.reject(failure), 1000),
      (error) => error === failure,
    );
  });
});
