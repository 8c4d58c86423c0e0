/**
 * The gateway's own in-flight count (what a drain waits for, and `infergate_in_flight_requests`): every request
 * that enters the pipeline is counted until it ends, whichever way it ends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { eventually, startSims, startTestGateway } from '../helpers/harness.js';

const CHAT = '/v1/chat/completions';

async function inFlight(gw: Gateway): Promise<number> {
  const body = (await gw.telemetry.renderMetrics()).body;
  const line = body.split('\n').find((l) => l.startsWith('infergate_in_flight_requests '));
  assert.ok(line, 'infergate_in_flight_requests is exported');
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

const post = (gw: Gateway, body: string, signal?: AbortSignal) =>
  fetch(`${gw.url}${CHAT}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, ...(signal ? { signal } : {}) });

describe('in-flight requests', () => {
  let sims: SimServer[];
  let gw: Gateway;
  before(async () => {
    sims = await startSims(1);
    gw = await startTestGateway([{ name: 'm', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }]);
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  test('are counted while they run and released when they answer, fail or are abandoned', async () => {
    assert.equal(await inFlight(gw), 0);
    sims[0]!.setFault({ token_delay_ms: 200 });
    const controller = new AbortController();
    try {
      const streamed = await post(gw, JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'slow' }], max_tokens: 50, stream: true }), controller.signal);
      const reader = streamed.body!.getReader();
      await reader.read();
      assert.equal(await inFlight(gw), 1);
      controller.abort();
      await eventually(async () => (await inFlight(gw)) === 0);
    } finally {
      sims[0]!.setFault(null);
      controller.abort();
    }
    const answered = await post(gw, JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }));
    assert.equal(answered.status, 200);
    await answered.text();
    const refused = await post(gw, JSON.stringify({ model: 'm', messages: 'not a list' }));
    assert.equal(refused.status, 400);
    await refused.text();
    const unknown = await post(gw, JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(unknown.status, 404);
    await unknown.text();
    await eventually(async () => (await inFlight(gw)) === 0);
  });
});
