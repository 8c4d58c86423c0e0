import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../src/core/index.js';
import { createLeasedLimiter, type Limiter } from '../../src/limits/index.js';
import { createLeaseClient, createMemoryAuthority, createRedisTransport, type LeaseClient, type Transport } from '../../src/state/index.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { rules } from '../limits/helpers.js';

const who = { subject: 'alice', team: null, model: 'm', key: null };

async function admits(l: Limiter, tokens: number): Promise<boolean> {
  try {
    (await l.reserve({ ...who, estimatedTokens: tokens })).settle(tokens);
    return true;
  } catch (err) {
    if (err instanceof GatewayError && err.status === 429) return false;
    throw err;
  }
}

/**
 * A request larger than what the authority has free, but not larger than that plus the unused units this process
 * already holds, is admitted: the process's lease spare counts. Before, the authority granted nothing (it compared
 * the whole request with its free units only) and the request was refused with capacity left.
 */
async function largeRequests(transport: Transport, fallback: { mode: 'share'; share: number } | null = null): Promise<void> {
  const leases: LeaseClient = createLeaseClient({ holder: 'p0', syncMs: 20, fallback, transport });
  try {
    const limiter = createLeasedLimiter(rules([{ match: { subject: 'alice' }, tpm: 1000 }]), { leases });
    // Reserve 300, use 100: the lease keeps 200 unused, the authority has about 700 free.
    const r = await limiter.reserve({ ...who, estimatedTokens: 300 });
    r.settle(100);
    assert.ok(await admits(limiter, 850), '850 of the 900 left are admitted');
    // About 50 are left (plus refill): a request of 200 is refused, one of 40 is not.
    assert.equal(await admits(limiter, 200), false);
    assert.ok(await admits(limiter, 40));
  } finally {
    await leases.close();
  }
}

describe('a request larger than the free capacity but within it plus the lease spare', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.close());

  test('in-process authority (the workers of one host)', async () => {
    const authority = createMemoryAuthority({ leaseTtlMs: 5000 });
    await largeRequests({ exchange: async (h, items) => authority.exchange(h, items), close: async () => {} });
  });

  test('the share fallback while the authority is unreachable (one replica: its share is everything left)', async () => {
    await largeRequests({ exchange: async () => Promise.reject(new Error('unreachable')), close: async () => {} }, { mode: 'share', share: 1 });
  });

  test('Redis authority (replicas)', async () => {
    const transport = createRedisTransport({ url: redis.url, leaseTtlMs: 5000, prefix: 'large:' });
    assert.ok(await transport.ready(5000));
    try {
      await largeRequests(transport);
    } finally {
      await transport.close();
    }
  });
});
