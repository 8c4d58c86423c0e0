import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimServer } from '../../src/sim/index.js';
import { startSims } from '../helpers/harness.js';
import { startGovernedGateway, type GovernedGateway } from '../endpoints/helpers.js';

/**
 * A request without `max_tokens` is reserved the model's observed output length. Without a cap the backend generates
 * as long as it likes (`min_tokens`, `ignore_eos` pass through), so concurrent requests overran a quota many times
 * over; and callers sending `max_tokens: 1` taught everyone's reservation to shrink.
 */
describe('requests without an output cap under token limits', () => {
  let sim: SimServer;
  let short: SimServer;
  let g: GovernedGateway;
  let limited: string;
  /** Under a token limit too, with room for every test below the first. */
  let roomy: string;
  let free: string;
  let nearlySpent: string;

  before(async () => {
    sim = (await startSims(1))[0]!;
    short = (await startSims(1, { maxModelLen: 2048 }))[0]!;
    g = await startGovernedGateway([
      // A reserve under a third of the quota: the three concurrent requests below are all admitted.
      { name: 'llama', output_reserve: 1024, backends: [{ url: sim.url, model: 'sim-llama-8b' }] },
      { name: 'plain', backends: [{ url: sim.url, model: 'sim-llama-8b' }] },
      { name: 'reasoner', output_reserve: 20_000, backends: [{ url: sim.url, model: 'sim-llama-8b' }] },
      { name: 'short', backends: [{ url: short.url, model: 'sim-llama-8b' }] },
    ], {
      limits: [{ match: { subject: 'dana' }, tpm: 1_000_000 }, { match: { subject: 'ed' }, tpm: 100_000_000 }, { match: { subject: 'rpm-only' }, rpm: 1000 }],
      quotas: [{ match: { subject: 'dana' }, tokens_per_day: 5000 }, { match: { subject: 'fay' }, tokens_per_day: 6000 }],
    });
    limited = await g.token('models:*', 'dana');
    roomy = await g.token('models:*', 'ed');
    free = await g.token('models:*', 'rpm-only');
    nearlySpent = await g.token('models:*', 'fay');
  });
  after(async () => {
    await g.close();
    await Promise.all([sim.close(), short.close()]);
  });

  const post = (token: string, body: Record<string, unknown>) =>
    fetch(`${g.gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'write at length' }], ...body }),
    });
  // The last chat request the backend got (health probes and metric scrapes are logged too).
  const lastBackendBody = () => JSON.parse(sim.log.entries.filter((e) => e.path === '/v1/chat/completions').at(-1)!.rawBody) as Record<string, unknown>;

  test('concurrent long generations stay within the quota: each is stopped at what it reserved', async () => {
    // ignore_eos: each would generate to the end of the context without a cap.
    const results = await Promise.all(Array.from({ length: 3 }, () => post(limited, { stream: true, ignore_eos: true })));
    await Promise.all(results.map((r) => r.text()));
    assert.ok(results.every((r) => r.status === 200), results.map((r) => r.status).join());
    const spent = g.ended
      .filter((c) => c.principal.subject === 'dana' && c.status === 200)
      .reduce((sum, c) => sum + (c.usage ? c.usage.promptTokens + c.usage.completionTokens : 0), 0);
    assert.ok(spent <= 5000, `spent ${spent} tokens against a quota of 5000`);
    assert.equal(typeof lastBackendBody().max_tokens, 'number');
  });

  test('the end of a quota serves uncapped requests capped to what is left, then refuses', async () => {
    const spentBy = () =>
      g.ended.filter((c) => c.principal.subject === 'fay').reduce((sum, c) => sum + (c.usage ? c.usage.promptTokens + c.usage.completionTokens : 0), 0);
    // Reserved the default 4096 and generating all of it: about 1,900 of the 6,000 are left.
    const first = await post(nearlySpent, { model: 'plain', ignore_eos: true });
    assert.equal(first.status, 200, await first.clone().text());
    await first.text();
    assert.equal(lastBackendBody().max_tokens, 4096);
    // Less left than the reserve: admitted with its output capped to the rest of the quota, not refused.
    const second = await post(nearlySpent, { model: 'plain', ignore_eos: true });
    assert.equal(second.status, 200, await second.clone().text());
    const answer = (await second.json()) as { choices: Array<{ finish_reason: string }> };
    const cap = lastBackendBody().max_tokens as number;
    assert.ok(cap > 1000 && cap < 4096, `capped at ${cap}`);
    assert.equal(answer.choices[0]!.finish_reason, 'length');
    assert.ok(spentBy() <= 6000, `spent ${spentBy()} of a 6000-token quota`);
    // Nothing left for any output: the quota's refusal, as before.
    const third = await post(nearlySpent, { model: 'plain' });
    assert.equal(third.status, 429);
    assert.equal(((await third.json()) as { error: { code: string } }).error.code, 'insufficient_quota');
    // A client's own cap is the client's: over what is left, it is refused rather than cut short.
    assert.ok(spentBy() <= 6000);
  });

  test('a Responses request without max_output_tokens is capped the same way', async () => {
    const res = await fetch(`${g.gw.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${roomy}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', input: 'write at length' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.text();
    const sent = JSON.parse(sim.log.entries.filter((e) => e.path === '/v1/responses').at(-1)!.rawBody) as Record<string, unknown>;
    assert.equal(typeof sent.max_output_tokens, 'number');
  });

  test("a client's own cap is sent as it is, and requests outside token limits are not capped", async () => {
    const capped = await post(roomy, { max_tokens: 7 });
    await capped.text();
    assert.equal(lastBackendBody().max_tokens, 7);
    const other = await post(free, {});
    await other.text();
    assert.equal(lastBackendBody().max_tokens, undefined);
  });

  test('callers sending tiny caps do not shrink the cap of requests without one', async () => {
    await post(free, {}).then((r) => r.text());
    for (let i = 0; i < 40; i++) await post(free, { max_tokens: 1 }).then((r) => r.text());
    await post(roomy, { messages: [{ role: 'user', content: 'hi' }] }).then((r) => r.text());
    const cap = lastBackendBody().max_tokens as number;
    assert.ok(cap >= 1024, `capped at ${cap} after callers sent max_tokens: 1`);
  });

  test('the reserve is the model\'s output_reserve, 4096 by default: long answers are not cut at a small figure', async () => {
    await post(roomy, { model: 'plain' }).then((r) => r.text());
    assert.equal(lastBackendBody().max_tokens, 4096);
    await post(roomy, { model: 'reasoner' }).then((r) => r.text());
    assert.equal(lastBackendBody().max_tokens, 20_000);
  });

  test("min_tokens above the cap raises it (vLLM refuses min_tokens over max_tokens); completions keep the API's 16", async () => {
    await post(roomy, { min_tokens: 2000, max_tokens: undefined }).then((r) => r.text());
    assert.ok((lastBackendBody().max_tokens as number) >= 2000);
    const res = await fetch(`${g.gw.url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${roomy}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', prompt: 'once upon a time' }),
    });
    await res.text();
    const sent = JSON.parse(sim.log.entries.filter((e) => e.path === '/v1/completions').at(-1)!.rawBody) as Record<string, unknown>;
    assert.equal(sent.max_tokens, 16);
  });

  test('a prompt near the context length is served: the cap that would pass the context is dropped, not refused', async () => {
    const long = 'word '.repeat(700);
    const res = await fetch(`${g.gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${roomy}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'short', messages: [{ role: 'user', content: long }] }),
    });
    const body = await res.text();
    assert.equal(res.status, 200, body.slice(0, 300));
    const sent = short.log.entries.filter((e) => e.path === '/v1/chat/completions').map((e) => JSON.parse(e.rawBody) as Record<string, unknown>);
    assert.equal(sent.length, 2, 'capped, refused for the context, then asked again without the cap');
    assert.equal(typeof sent[0]!.max_tokens, 'number');
    assert.equal(sent[1]!.max_tokens, undefined);
  });
});

describe('the output reserve under limits smaller than it', () => {
  let sim: SimServer;
  let g: GovernedGateway;
  before(async () => {
    sim = (await startSims(1))[0]!;
    g = await startGovernedGateway([{ name: 'llama', backends: [{ url: sim.url, model: 'sim-llama-8b' }] }], {
      limits: [{ match: { subject: 'tight' }, tpm: 4000 }],
      quotas: [{ match: { subject: 'small-quota' }, tokens_per_day: 3000 }],
    });
  });
  after(async () => {
    await g.close();
    await sim.close();
  });

  // With the default reserve (4096) above a 4000 tpm, every request without max_tokens was refused for good as too
  // large ("Lower max_tokens"), though the caller sent none; the reserve now shrinks to what the limit can admit.
  for (const [subject, ceiling] of [['tight', 4000], ['small-quota', 3000]] as const) {
    test(`an uncapped request under a ${ceiling}-token ${subject === 'tight' ? 'tpm' : 'quota'} is served, capped within it`, async () => {
      const token = await g.token('models:*', subject);
      const res = await fetch(`${g.gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      await res.text();
      const sent = JSON.parse(sim.log.entries.filter((e) => e.path === '/v1/chat/completions').at(-1)!.rawBody) as { max_tokens: number };
      assert.ok(sent.max_tokens > ceiling / 2 && sent.max_tokens < ceiling, `capped at ${sent.max_tokens}`);
    });
  }
});
