import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSse, startSims, startTestGateway } from '../helpers/harness.js';

test('lets an in-flight stream finish on shutdown while refusing new connections', async () => {
  const [sim] = await startSims(1);
  const gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }]);
  try {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'drain me' }], stream: true, max_tokens: 20, ignore_eos: true, sim_fault: { token_delay_ms: 15 } }),
    });
    assert.equal(res.status, 200);
    const closing = gw.close(5000);
    const events = await readSse(res);
    assert.equal(events.at(-1), '[DONE]', 'the in-flight stream completed');
    await closing;
    await assert.rejects(fetch(`${gw.url}/healthz`));
  } finally {
    await sim!.close();
  }
});
