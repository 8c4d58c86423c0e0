import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { eventually } from '../helpers/harness.js';
import { startGatewayProc, tempConfig } from '../scale/proc.js';

const ask = (url: string, body: Record<string, unknown>) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim-llama-8b', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });

test('a second SIGTERM (not a relayed copy of the first) exits at once but keeps the usage rows of the requests that ended', async () => {
  const { dir, file } = await tempConfig((d) => ({
    server: { listen: '127.0.0.1:0', drain: '30s' },
    auth: 'none',
    sim: { replicas: 1 },
    // Rows wait in the queue: nothing is written before the exit but what the exit writes.
    usage: { sqlite: join(d, 'usage.db'), flush_interval: '10m', batch_size: 10_000, writer_thread: false },
  }));
  const gw = await startGatewayProc(dir, file);
  try {
    for (let i = 0; i < 5; i++) assert.equal((await ask(gw.url, { max_tokens: 4 })).status, 200);
    // A long stream keeps the drain waiting, so only the second signal ends the process.
    const stream = await ask(gw.url, { stream: true, max_tokens: 5000, min_tokens: 5000, ignore_eos: true });
    assert.equal(stream.status, 200);
    const reader = stream.body!.getReader();
    await reader.read();
    process.kill(gw.child.pid!, 'SIGTERM');
    await eventually(() => gw.output().includes('shutdown_started'), 5000);
    // A copy of the same signal at once (a wrapper relaying the terminal's Ctrl-C) is not a second request to stop.
    process.kill(gw.child.pid!, 'SIGINT');
    await new Promise((r) => setTimeout(r, 1200));
    assert.ok(!gw.output().includes('shutdown_forced'), 'a relayed copy does not force the exit');
    process.kill(gw.child.pid!, 'SIGTERM');
    assert.equal(await gw.exited, 1);
    assert.match(gw.output(), /"event":"shutdown_forced"/);
    await reader.cancel().catch(() => {});
    const db = new Database(join(dir, 'usage.db'), { readonly: true });
    try {
      const { n } = db.prepare("SELECT count(*) AS n FROM usage WHERE status = 200 AND stream = 0").get() as { n: number };
      assert.equal(n, 5, 'every request that ended before the forced exit has its row');
    } finally {
      db.close();
    }
  } finally {
    await gw.cleanup();
  }
});
