import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../src/core/index.js';
import { createLeasedLimiter, type Limiter } from '../../src/limits/index.js';
import { createLeaseClient, createRedisTransport, type LeaseMode } from '../../src/state/index.js';
import { eventually } from '../helpers/harness.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { rules } from '../limits/helpers.js';

const who = { subject: 'alice', team: null, model: 'llama' };

async function admitted(limiter: Limiter, n: number): Promise<{ ok: number; errors: GatewayError[] }> {
  let ok = 0;
  const errors: GatewayError[] = [];
  for (let i = 0; i < n; i++) {
    try {
      (await limiter.reserve({ ...who, estimatedTokens: 1 })).settle(1);
      ok++;
    } catch (err) {
      assert.ok(err instanceof GatewayError, String(err));
      errors.push(err);
    }
  }
  return { ok, errors };
}

describe('Redis unreachable', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.close());

  test('share: each replica uses its share of what was left, reports the transitions, and rejoins when Redis is back', async () => {
    const transport = createRedisTransport({ url: redis.url, leaseTtlMs: 2000, prefix: 'share:' });
    assert.ok(await transport.ready(5000));
    const modes: LeaseMode[] = [];
    const leases = createLeaseClient({ transport, holder: 'r1', syncMs: 20, fallback: { mode: 'share', share: 0.5 }, onMode: (m) => modes.push(m) });
    try {
      const limiter = createLeasedLimiter(rules([{ match: { subject: '*' }, rpm: 100 }]), { leases });
      assert.equal((await admitted(limiter, 20)).ok, 20);
      await redis.stop();
      // About 80 were left: this replica (one of two) may now admit about 40 more, never the whole limit again.
      const during = await admitted(limiter, 100);
      assert.deepEqual(modes, ['fallback']);
      assert.ok(during.ok >= 30 && during.ok <= 45, `admitted ${during.ok} while Redis was away`);
      // Share mode never answers 503: a request past this replica's share is rate limited, and told why.
      assert.ok(during.errors.every((e) => e.status === 429 && e.message.includes('serves its share of the limit')), during.errors[0]?.message);
      await redis.start();
      await eventually(() => modes.at(-1) === 'shared', 10_000, 50);
      assert.deepEqual(modes, ['fallback', 'shared']);
    } finally {
      await leases.close();
    }
  });

  test('an idle process rejoins when Redis is back, without waiting for a request', async () => {
    // Only a concurrency limit: once its slot is back the counter holds nothing and is forgotten, so no timer
    // exchange runs. Such a replica stayed on the fallback (infergate_state_shared 0, no state_reconnected) until its
    // next request, however long Redis had been back.
    const transport = createRedisTransport({ url: redis.url, leaseTtlMs: 2000, prefix: 'idle:' });
    assert.ok(await transport.ready(5000));
    const modes: LeaseMode[] = [];
    const leases = createLeaseClient({ transport, holder: 'r3', syncMs: 20, leaseTtlMs: 2000, fallback: { mode: 'share', share: 0.5 }, onMode: (m) => modes.push(m) });
    try {
      const limiter = createLeasedLimiter(rules([{ match: { subject: '*' }, concurrency: 4 }]), { leases });
      assert.equal((await admitted(limiter, 3)).ok, 3);
      await redis.stop();
      await admitted(limiter, 3);
      // The lease's background exchange (its spare slots go back) finds Redis gone.
      await eventually(() => modes.length > 0, 5_000, 20);
      assert.deepEqual(modes, ['fallback']);
      // Idle: every counter is forgotten (ten sync intervals), then Redis comes back.
      await eventually(() => [...leases.counters()].length === 0, 5_000, 20);
      await redis.start();
      await eventually(() => leases.mode === 'shared', 5_000, 50);
      assert.deepEqual(modes, ['fallback', 'shared']);
    } finally {
      await leases.close();
    }
  });

  test('refuse: serves what the leases hold, then answers 503 state_unavailable', async () => {
    const transport = createRedisTransport({ url: redis.url, leaseTtlMs: 2000, prefix: 'refuse:' });
    assert.ok(await transport.ready(5000));
    const leases = createLeaseClient({ transport, holder: 'r2', syncMs: 20, fallback: { mode: 'refuse' } });
    try {
      const limiter = createLeasedLimiter(rules([{ match: { subject: '*' }, rpm: 1000 }]), { leases });
      assert.equal((await admitted(limiter, 5)).ok, 5);
      await redis.stop();
      const during = await admitted(limiter, 200);
      assert.ok(during.errors.length > 0);
      const last = during.errors.at(-1)!;
      assert.equal(last.status, 503);
      assert.equal(last.code, 'state_unavailable');
      await redis.start();
      await eventually(async () => (await admitted(limiter, 1)).ok === 1, 10_000, 100);
    } finally {
      await leases.close();
    }
  });
});

describe('GET /admin/limits with shared limits', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.close());

  test('lists every counter this process holds without a filter, paged, and only the key asked for with ?key=', async () => {
    const transport = createRedisTransport({ url: redis.url, leaseTtlMs: 2000, prefix: 'snap:' });
    assert.ok(await transport.ready(5000));
    // A sync interval long enough that no counter used here goes idle long enough (ten intervals) to be forgotten
    // before the snapshot, however slowly a loaded machine runs the three reservations.
    const leases = createLeaseClient({ transport, holder: 'r1', syncMs: 300, leaseTtlMs: 2000, fallback: { mode: 'share', share: 0.5 } });
    try {
      const limiter = createLeasedLimiter(rules([{ match: { key: '*' }, rpm: 100 }, { match: { subject: '*' }, rpm: 50 }]), { leases });
      for (const key of ['k1', 'k2', 'k3']) (await limiter.reserve({ subject: 'alice', team: null, model: 'llama', key, estimatedTokens: 1 })).settle(1);
      const all = limiter.snapshot({});
      assert.equal(all.buckets.length, 4, JSON.stringify(all.buckets));
      assert.deepEqual(all.page && { total: all.page.totalBuckets, more: all.page.hasMore }, { total: 4, more: false });
      const paged = limiter.snapshot({ limit: 3, offset: 0 });
      assert.equal(paged.buckets.length, 3);
      assert.equal(paged.page?.hasMore, true);
      // One key's buckets: its own, and the rules that hold for every caller; never another key's.
      const one = limiter.snapshot({ key: 'k2', subject: 'alice' });
      assert.equal(one.buckets.length, 2, JSON.stringify(one.buckets));
      // Each entry says whose it is.
      assert.deepEqual(one.buckets.map((b) => [b.rule, b.subject, b.key]).sort(), [['limit:key=*', null, 'k2'], ['limit:subject=*', 'alice', null]]);
    } finally {
      await leases.close();
    }
  });
});
