import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createManualClock } from '../../src/core/index.js';
import { createLimiter } from '../../src/limits/index.js';
import { closeAll, startSims, startTestGateway } from '../helpers/harness.js';
import { rules } from './helpers.js';

describe('limits snapshot without a filter', () => {
  it('lists every live bucket and the quotas of the subjects seen, paged', () => {
    const clock = createManualClock();
    const limiter = createLimiter(
      rules([{ match: { subject: '*' }, rpm: 60 }, { match: { team: 'research' }, concurrency: 4 }], [{ match: { subject: '*' }, tokens_per_day: 10_000 }, { tokens_per_month: 1_000_000 }]),
      { clock },
    );
    for (const subject of ['a', 'b', 'c', 'd', 'e']) limiter.reserve({ subject, team: 'research', model: 'llama', key: null, estimatedTokens: 100 }).settle(100);
    const all = limiter.snapshot({});
    assert.equal(all.buckets.filter((b) => b.requests).length, 5, 'one rpm bucket per subject');
    assert.equal(all.buckets.filter((b) => b.concurrency).length, 1, 'the team bucket');
    const daily = all.quotas.filter((q) => q.period === 'day');
    assert.deepEqual(daily.map((q) => q.subject).sort(), ['a', 'b', 'c', 'd', 'e']);
    assert.ok(daily.every((q) => q.used === 100));
    assert.equal(all.quotas.find((q) => q.period === 'month')?.used, 500);
    assert.deepEqual(all.page, { offset: 0, limit: 100, totalBuckets: 6, totalQuotas: 6, hasMore: false });

    const first = limiter.snapshot({ limit: 4 });
    const second = limiter.snapshot({ limit: 4, offset: 4 });
    assert.equal(first.buckets.length, 4);
    assert.equal(first.page?.hasMore, true);
    assert.equal(second.buckets.length, 2);
    assert.equal(second.page?.hasMore, false);
    const seen = [...first.buckets, ...second.buckets].map((b) => `${b.rule}/${b.subject}/${b.team}`);
    assert.equal(new Set(seen).size, 6, 'pages do not overlap');
  });
});

describe('GET /admin/limits', () => {
  it('lists live buckets and quotas with no filter, pages them, and refuses a bad page size', async () => {
    const [sim] = await startSims(1);
    const gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }], {
      sections: { limits: [{ match: { subject: '*' }, rpm: 100 }], quotas: [{ match: { subject: '*' }, tokens_per_day: 100_000 }] },
    });
    try {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
      });
      assert.equal(res.status, 200);
      await res.text();
      const snap = (await (await fetch(`${gw.url}/admin/limits`)).json()) as { buckets: Array<{ subject: string }>; quotas: Array<{ subject: string; used: number }>; has_more: boolean; total_buckets: number };
      assert.equal(snap.buckets.length, 1);
      assert.equal(snap.buckets[0]!.subject, 'anonymous');
      assert.equal(snap.quotas[0]?.subject, 'anonymous');
      assert.ok(snap.quotas[0]!.used > 0);
      assert.equal(snap.total_buckets, 1);
      assert.equal(snap.has_more, false);
      const paged = (await (await fetch(`${gw.url}/admin/limits?limit=1&offset=1`)).json()) as { buckets: unknown[] };
      assert.equal(paged.buckets.length, 0);
      const bad = await fetch(`${gw.url}/admin/limits?limit=0`);
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: { param: string } }).error.param, 'limit');
    } finally {
      await closeAll(gw, sim);
    }
  });
});
