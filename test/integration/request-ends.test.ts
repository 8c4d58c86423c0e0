import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimServer } from '../../src/sim/index.js';
import { eventually, startSims } from '../helpers/harness.js';
import { startGovernedGateway, type GovernedGateway } from '../endpoints/helpers.js';

/** How requests that end badly are accounted for: what they are charged, and whom they are held against. */
describe('requests that end early', () => {
  let sim: SimServer;
  let g: GovernedGateway;
  let token: string;

  before(async () => {
    sim = (await startSims(1))[0]!;
    g = await startGovernedGateway([{ name: 'llama', backends: [{ url: sim.url, model: 'sim-llama-8b' }], retries: 0 }], {}, { timeouts: { request: '300ms', total: '300ms' } });
    token = await g.token('models:*', 'frank');
  });
  after(async () => {
    await g.close();
    await sim.close();
  });

  const post = (body: Record<string, unknown>, signal?: AbortSignal) =>
    fetch(`${g.gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'a long prompt '.repeat(50) }], max_tokens: 200, ignore_eos: true, ...body }),
      signal,
    });

  test('a non-streamed request whose client leaves after the backend had its prompt is charged the prompt', async () => {
    // Health probes are logged too: wait for the chat request itself.
    const chats = () => sim.log.entries.filter((e) => e.path === '/v1/chat/completions').length;
    const sent = chats();
    const abort = new AbortController();
    const pending = post({ sim_fault: { token_delay_ms: 20 } }, abort.signal).catch(() => null);
    await eventually(() => chats() > sent, 5000, 5);
    abort.abort();
    await pending;
    const ctx = (await eventually(() => g.ended.find((c) => c.outcome === 'client_abort'), 5000))!;
    assert.equal(ctx.status, 499);
    assert.equal(ctx.usage?.source, 'estimated');
    assert.ok((ctx.usage?.promptTokens ?? 0) > 50, `charged ${ctx.usage?.promptTokens} prompt tokens`);
  });

  test("a stream that runs into server.timeouts.request is the request's length, not a broken backend", async () => {
    for (let i = 0; i < 4; i++) {
      const res = await post({ stream: true, sim_fault: { token_delay_ms: 20 } });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /upstream_timeout/);
    }
    const ready = (await (await fetch(`${g.gw.url}/readyz?model=llama`)).json()) as { healthy_backends: number; backends: number };
    assert.equal(ready.healthy_backends, ready.backends, 'the backend stays in the pool');
    const ok = await post({ max_tokens: 4 });
    assert.equal(ok.status, 200);
  });

  test('a backend that sends nothing before the request deadline is held against, and ejected', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await post({ max_tokens: 4, sim_fault: { stall_before_first_ms: 2000 } });
      await res.text();
      if (res.status !== 504) assert.equal(res.status, 503, 'refused once ejected');
    }
    const ready = (await (await fetch(`${g.gw.url}/readyz?model=llama`)).json()) as { healthy_backends: number };
    assert.equal(ready.healthy_backends, 0, 'a hung backend leaves the pool');
  });
});
