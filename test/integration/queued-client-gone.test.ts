import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { createManualClock, type RequestCtx } from '../../src/core/index.js';
import type { Gateway } from '../../src/server/index.js';
import { eventually, startTestGateway } from '../helpers/harness.js';
import { completion, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * A request waiting in the gateway queue (token_aware, every backend saturated) whose client leaves is taken out of the
 * queue at once: it no longer counts in infergate_queue_depth, holds a place of routing.queue.max_size, or waits for
 * its turn (up to max_wait) before its 499 is logged.
 */
let gw: Gateway;
let backend: ScriptedBackend;
const held: ServerResponse[] = [];
const ended: RequestCtx[] = [];

before(async () => {
  backend = await startScriptedBackend((_q, res) => void held.push(res));
  gw = await startTestGateway([{ name: 'q', policy: 'token_aware', backends: [{ url: backend.url, name: 'q0' }] }], {
    // Time stands still for routing: the backend's queued prefill never drains, so it stays saturated.
    clock: createManualClock(),
    onRequestEnd: (ctx) => void ended.push(ctx),
    sections: { routing: { scrape: { interval: 0 }, health: { probe_interval: 0 }, queue: { max_wait: '60s' } } },
  });
});

after(async () => {
  for (const res of held) res.destroy();
  await gw?.close(50);
  await backend?.close();
});

const depth = async (): Promise<number> => Number((await (await fetch(`${gw.url}/metrics`)).text()).match(/^infergate_queue_depth (\d+)/m)?.[1]);

function post(content: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'q', messages: [{ role: 'user', content }] }) });
}

test('a queued request whose client leaves leaves the queue at once', async () => {
  // ~25k prompt tokens in flight: more than two engine steps of prefill, so the only backend is saturated.
  const fill = post('word '.repeat(100_000));
  await eventually(() => held.length === 1);
  const ac = new AbortController();
  const waiting = post('hello', ac.signal).catch((e: unknown) => e);
  await eventually(async () => (await depth()) === 1);
  ac.abort();
  await waiting;
  await eventually(async () => (await depth()) === 0, 2000);
  await eventually(() => ended.some((c) => c.status === 499), 2000);
  assert.equal(backend.hits, 1, 'the abandoned request was never sent');
  held[0]!.writeHead(200, { 'content-type': 'application/json' }).end(completion('done'));
  assert.equal((await fill).status, 200);
});
