// With server.workers, a reload that a worker failed to compile (a secret_file that cannot be read, ...) was logged
// by the supervisor only: the workers, which serve /metrics and the console, were sent a bare abort, so
// infergate_config_reloads_total{result="failure"} did not move and the console's last reload error stayed null.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { createReloadFanout } from '../../src/server/supervisor-reload.js';

function fakeWorker(id: number) {
  const sent: unknown[] = [];
  return { sent, worker: { id, send: (m: unknown) => (sent.push(m), true), isDead: () => false } as unknown as Worker };
}

test('an aborted reload tells every worker why, so each counts and shows the failure', async () => {
  const a = fakeWorker(1);
  const b = fakeWorker(2);
  const logger = { info() {}, error() {}, warn() {} } as never;
  const fanout = createReloadFanout({ logger, workers: () => [a.worker, b.worker] });
  const result = fanout.run('auth: none\n');
  await new Promise((r) => setImmediate(r));
  const id = (a.sent[0] as { id: number }).id;
  fanout.onMessage(a.worker, { ig: 'reload-prepared', id, ok: true });
  fanout.onMessage(b.worker, { ig: 'reload-prepared', id, ok: false, error: 'cannot read secret_file /x (ENOENT)' });
  assert.equal(await result, false);
  for (const w of [a, b]) {
    const abort = w.sent.find((m) => (m as { ig: string }).ig === 'reload-abort') as { problems?: string[] } | undefined;
    assert.ok(abort, 'the worker is told to drop the prepared config');
    assert.deepEqual(abort.problems, ['worker 2: cannot read secret_file /x (ENOENT)']);
  }
});
