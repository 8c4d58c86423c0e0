// Durations past Node's timer limit (2^31 - 1 ms, about 24.8 days) must not become 1 ms timers: Node fires such a
// timer after 1 ms, so `routing.health.probe_interval: 30d` probed each backend hundreds of times a second,
// `probe_timeout: 30d` aborted every probe at once, and `server.stream_heartbeat: 30d` wrote a keep-alive every ms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { startPoller } from '../../src/routing/poller.js';
import { Heartbeat } from '../../src/upstream/heartbeat.js';
import { MAX_TIMER_MS, timerDelay } from '../../src/core/index.js';

const DAYS_30 = 30 * 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('timerDelay caps a delay at what Node timers accept', () => {
  assert.equal(timerDelay(DAYS_30), MAX_TIMER_MS);
  assert.equal(timerDelay(5000), 5000);
});

test('a poller with a 30-day interval and timeout neither spins nor aborts its runs at once', async (t) => {
  t.mock.method(Math, 'random', () => 0); // first run at once, as the random first delay may pick
  let runs = 0;
  let aborted = 0;
  const poller = startPoller({
    intervalMs: DAYS_30,
    timeoutMs: DAYS_30,
    run: async (signal) => {
      runs++;
      await sleep(20);
      if (signal.aborted) aborted++;
    },
  });
  await sleep(150);
  poller.stop();
  assert.equal(runs, 1, 'one run, the next in 30 days');
  assert.equal(aborted, 0, 'the run was not timed out at once');
});

test('a heartbeat every 30 days writes nothing in the first 100 ms', async () => {
  let writes = 0;
  const out = { destroyed: false, writableEnded: false, write: () => (writes++, true) } as unknown as ServerResponse;
  const hb = new Heartbeat(out, DAYS_30);
  hb.start();
  await sleep(100);
  hb.stop();
  assert.equal(writes, 0);
});
