import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimServer } from '../../src/sim/index.js';
import { startSims } from '../helpers/harness.js';
import { startGovernedGateway, type GovernedGateway } from '../endpoints/helpers.js';

/**
 * `n` (and `best_of`) choices each generate up to the output cap: a reservation for one choice let concurrent
 * requests for many choices spend far past a tokens-per-minute limit before any of them settled.
 */
describe('token reservations count every choice', () => {
  let sim: SimServer;
  let g: GovernedGateway;
  let token: string;

  before(async () => {
    sim = (await startSims(1))[0]!;
    g = await startGovernedGateway([{ name: 'llama', backends: [{ url: sim.url, model: 'sim-llama-8b' }] }], {
      limits: [{ match: { subject: 'carol' }, tpm: 1000 }],
    });
    token = await g.token('models:*', 'carol');
  });
  after(async () => {
    await g.close();
    await sim.close();
  });

  const post = (body: Record<string, unknown>) =>
    fetch(`${g.gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], ignore_eos: true, ...body }),
    });

  test('a request whose choices together exceed the whole limit is refused before it runs', async () => {
    const res = await post({ max_tokens: 100, n: 16 });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('x-should-retry'), 'false');
    const legacy = await fetch(`${g.gw.url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', prompt: 'hi', max_tokens: 100, best_of: 12, n: 1 }),
    });
    assert.equal(legacy.status, 429, 'best_of counts as the choices generated');
  });

  test('a legacy completion with a list of prompts reserves every prompt\'s choices', async () => {
    const legacy = (prompt: unknown, extra: Record<string, unknown> = {}) =>
      fetch(`${g.gw.url}/v1/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama', prompt, max_tokens: 100, ignore_eos: true, ...extra }),
      });
    // 200 prompts × 100 tokens: twenty times the limit, refused before it runs (it was admitted for one prompt's 100).
    const many = await legacy(Array(200).fill('hi'));
    assert.equal(many.status, 429, await many.text());
    assert.equal(many.headers.get('x-should-retry'), 'false');
    // Lists of token-id lists are prompts too; one list of token ids is one prompt.
    const ids = await legacy(Array.from({ length: 12 }, () => [1, 2, 3]));
    assert.equal(ids.status, 429, await ids.text());
    const one = await legacy([1, 2, 3], { max_tokens: 5 });
    assert.equal(one.status, 200, await one.text());
    const two = await legacy(['a', 'b'], { max_tokens: 5, n: 2 });
    assert.equal(two.status, 200, await two.text());
  });

  test('concurrent many-choice requests never spend past the limit', async () => {
    // 8 requests of 4 choices × 50 tokens (+ the prompt): at most four fit in 1,000 tokens.
    const results = await Promise.all(Array.from({ length: 8 }, () => post({ max_tokens: 50, n: 4 })));
    const admitted = results.filter((r) => r.status === 200);
    await Promise.all(results.map((r) => r.text()));
    assert.ok(admitted.length >= 1 && admitted.length <= 4, `admitted ${admitted.length}`);
    const spent = g.ended
      .filter((c) => c.principal.subject === 'carol' && c.status === 200)
      .reduce((sum, c) => sum + (c.usage ? c.usage.promptTokens + c.usage.completionTokens : 0), 0);
    assert.ok(spent <= 1000, `spent ${spent} tokens against a limit of 1000`);
  });

  test('n and best_of must be positive integers', async () => {
    for (const n of [0, -1, 1.5, '4', true]) {
      const res = await post({ n });
      assert.equal(res.status, 400, `n: ${JSON.stringify(n)}`);
      const body = (await res.json()) as { error: { param: string } };
      assert.equal(body.error.param, 'n');
    }
  });
});
