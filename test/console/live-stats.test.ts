import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLiveStats, maskSecrets } from '../../src/console/index.js';
import { redactUrl } from '../../src/core/index.js';
import { bucketOf, bucketValue, quantile, BUCKETS } from '../../src/console/histogram.js';
import { createRequestCtx, type Outcome } from '../../src/core/index.js';

function ended(model: string, e2eMs: number, outcome: Outcome = 'success', tokens = 10) {
  const ctx = createRequestCtx('r', 1000, 0);
  ctx.requestedModel = model;
  ctx.upstreamModel = model;
  ctx.stream = true;
  ctx.firstByteMs = 1000 + e2eMs / 2;
  ctx.endMs = 1000 + e2eMs;
  ctx.outcome = outcome;
  ctx.usage = { promptTokens: tokens, completionTokens: tokens * 2, cachedTokens: 0, source: 'backend' };
  return ctx;
}

describe('live stats for the console', () => {
  test('histogram quantiles are within the bucket growth (16%) of the truth', () => {
    const h = new Uint32Array(BUCKETS);
    const values = Array.from({ length: 1000 }, (_, i) => 1 + i * 3);
    for (const v of values) h[bucketOf(v)]!++;
    for (const q of [0.5, 0.9, 0.99]) {
      const truth = values[Math.ceil(q * values.length) - 1]!;
      const est = quantile([h], q)!;
      assert.ok(est >= truth && est <= truth * 1.16 + 1, `q${q}: ${est} vs ${truth}`);
    }
    assert.equal(quantile([new Uint32Array(BUCKETS)], 0.5), null);
    assert.ok(bucketValue(BUCKETS - 1) > 1e6);
  });

  test('aggregates per 10 s slot: rates, tokens, merged percentiles and error classes per model', () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const live = createLiveStats(() => now);
    for (let i = 0; i < 90; i++) live.record(ended('a', 100));
    for (let i = 0; i < 10; i++) live.record(ended('a', 1000, i < 5 ? 'upstream_error' : 'rate_limited'));
    live.record(ended('b', 50));
    now += 10_000; // the next slot: the first one is complete
    const snap = live.snapshot();
    assert.equal(snap.series.t.length, 360);
    assert.equal(snap.series.rps.at(-2), 10.1);
    assert.equal(snap.series.tokensOutPerS.at(-2), (101 * 20) / 10);
    assert.equal(snap.series.errorsPerS.upstream_error.at(-2), 0.5);
    const a = snap.models.find((m) => m.model === 'a')!;
    assert.equal(a.requests, 100);
    assert.equal(a.errorRate.upstream_error, 0.05);
    assert.equal(a.errorRate.rate_limited, 0.05);
    assert.ok(a.e2e.p50! >= 100 && a.e2e.p50! < 116);
    assert.ok(a.e2e.p99! >= 1000 && a.e2e.p99! < 1160);
    assert.equal(snap.current.requests, 101);
    // An hour later the slot has been reused: nothing of it is left.
    now += 3_600_000;
    assert.equal(live.snapshot().current.requests, 0);
  });

  test('caps the distinct model names one slot keeps (they come from callers)', () => {
    const live = createLiveStats(() => 5_000);
    for (let i = 0; i < 500; i++) live.record(ended(`m${i}`, 10));
    const models = live.snapshot().models;
    assert.ok(models.length <= 65);
    assert.equal(models.reduce((n, m) => n + m.requests, 0), 500);
  });

  test('masks secrets wherever they sit in the config, and keeps file paths', () => {
    const masked = maskSecrets({
      auth: { issuers: [{ secret: 'abc', secret_file: './data/dev-secret' }], max_token_bytes: 16384 },
      keys: { pepper: 'p'.repeat(40) },
      models: [{ backends: [{ url: 'http://x', api_key: 'k' }] }],
      state: { redis: 'redis://:hunter2@redis:6379/0' },
    }) as any;
    assert.equal(masked.state.redis, 'redis://:••••••@redis:6379/0');
    assert.equal(masked.auth.issuers[0].secret, '••••••');
    assert.equal(masked.auth.issuers[0].secret_file, './data/dev-secret');
    assert.equal(masked.auth.max_token_bytes, 16384);
    assert.equal(masked.keys.pepper, '••••••');
    assert.equal(masked.models[0].backends[0].api_key, '••••••');
    assert.equal(masked.models[0].backends[0].url, 'http://x');
    // ioredis reads a password from the query too: masked there as well, the rest kept as written.
    const query = maskSecrets({ state: { redis: 'redis://redis:6379/0?password=hunter2&db=1&tls=true' }, url: 'rediss://u:pw@h:1/2?authToken=t#frag' }) as any;
    assert.equal(query.state.redis, 'redis://redis:6379/0?password=••••••&db=1&tls=true');
    assert.equal(query.url, 'rediss://u:••••••@h:1/2?authToken=••••••#frag');
  });

  test('a connection URL in a log line keeps no credential', () => {
    assert.equal(redactUrl('redis://:s3cret@h:6379/0?password=s3cret&db=2'), 'redis://:***@h:6379/0?password=***&db=2');
    assert.equal(redactUrl('redis://h:6379'), 'redis://h:6379');
    // A raw @ in the password: the userinfo ends at the last @ of the authority, as URL parsers (and ioredis) read it.
    assert.equal(redactUrl('redis://:p@ssw0rd@redis:6379/0'), 'redis://:***@redis:6379/0');
    assert.equal(redactUrl('redis://user:a@b@c@host:6379?db=1'), 'redis://user:***@host:6379?db=1');
    // A user name without a password is a token written there (https://TOKEN@host): masked whole.
    assert.equal(redactUrl('redis://user@host:6379/0'), 'redis://***@host:6379/0');
    assert.equal(redactUrl('http://ghp_abc123@vllm:8000/v1'), 'http://***@vllm:8000/v1');
    assert.doesNotMatch(redactUrl('redis://user:p%40ss@h:6379/0?sentinelPassword=x&name=m'), /p%40ss|=x\b/);
  });
});
