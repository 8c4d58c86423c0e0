import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../src/core/index.js';
import { createLeasedLimiter, type Limiter } from '../../src/limits/index.js';
import { createLeaseClient, createMemoryAuthority, createRedisTransport, type CounterSpec, type ExchangeItem, type LeaseClient } from '../../src/state/index.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { rules } from '../limits/helpers.js';

/**
 * A Redis restarted without its data, at small scale: three lease clients (three replicas' worth) on one real
 * redis-server, concurrent requests through each one's leased limiter. After the restart the replicas re-seed Redis
 * (a settling period in which nothing is granted); requests arriving then must wait for it to end and be admitted
 * from what is really left, never refused while capacity is left, and never admitted beyond the limit.
 */
const who = { subject: 'alice', team: null, model: 'llama' };
const SYNC_MS = 50;
const TTL_MS = 2000;

interface Replica {
  leases: LeaseClient;
  limiter: Limiter;
}

function replicas(url: string, prefix: string, limits: unknown[], quotas: unknown[], mode: 'share' | 'refuse'): Replica[] {
  const compiled = rules(limits, quotas);
  return [0, 1, 2].map((i) => {
    // The gateway's own settling period for these settings (server/shared-state.ts): max(12 syncs, half a TTL).
    const transport = createRedisTransport({ url, prefix, leaseTtlMs: TTL_MS, settleMs: Math.max(12 * SYNC_MS, TTL_MS / 2) });
    const leases = createLeaseClient({
      transport,
      holder: `${prefix}r${i}`,
      syncMs: SYNC_MS,
      fallback: mode === 'share' ? { mode: 'share', share: 1 / 3 } : { mode: 'refuse' },
    });
    return { leases, limiter: createLeasedLimiter(compiled, { leases }) };
  });
}

/** `perReplica` requests of `tokens` each through every replica, `concurrency` at a time per replica. */
async function offer(rs: Replica[], perReplica: number, tokens: number, concurrency: number) {
  let ok = 0;
  const refusals: GatewayError[] = [];
  await Promise.all(
    rs.map(async ({ limiter }) => {
      let left = perReplica;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (left-- > 0) {
            try {
              const r = await limiter.reserve({ ...who, estimatedTokens: tokens });
              // Held briefly, like a request at a backend, so reservations overlap across replicas.
              await new Promise((res) => setTimeout(res, 5));
              r.settle(tokens);
              ok++;
            } catch (err) {
              assert.ok(err instanceof GatewayError, String(err));
              refusals.push(err);
            }
          }
        }),
      );
    }),
  );
  return { ok, refusals };
}

describe('a Redis restart mid-run (its state lost)', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.close());

  for (const mode of ['refuse', 'share'] as const) {
    test(`${mode}: requests during the re-seeding wait for it and are admitted from what is left; 0 overrun`, async () => {
      const RPM = 60;
      const rs = replicas(redis.url, `${mode}:`, [{ match: { subject: '*' }, rpm: RPM }], [], mode);
      try {
        const t0 = performance.now();
        const a = await offer(rs, 10, 1, 5);
        assert.equal(a.ok, 30, 'half the limit before the restart');
        await redis.restart();
        const b = await offer(rs, 20, 1, 10);
        const refill = Math.ceil((RPM * (performance.now() - t0)) / 60_000);
        const admitted = a.ok + b.ok;
        // refuse: exact. share: while Redis was away (the reconnect) each replica used its share of what it last
        // saw left, which may be a little old: up to a slice (a tenth of the limit) per replica more (README).
        const slack = mode === 'share' ? 3 * (RPM / 10) : 0;
        assert.ok(admitted <= RPM + refill + slack, `admitted ${admitted} of ${RPM} (+${refill} refill, +${slack} allowed in share mode)`);
        // Nobody refused while capacity is left beyond a slice per replica (near exhaustion slices are one request).
        assert.ok(admitted >= RPM - 3, `admitted only ${admitted} of ${RPM}: refused while capacity was left`);
        assert.ok(b.refusals.length > 0, 'about half the traffic after the restart is over the limit');
        for (const e of b.refusals) assert.equal(e.status, 429, `${e.code}: ${e.message}`);
      } finally {
        await Promise.all(rs.map((r) => r.leases.close()));
      }
    });
  }

  test('a bucket re-seeded after the restart counts a holder\'s lease once: what it hands back was never used', async () => {
    // An hour-long window, so refill during the test is nothing.
    const spec: CounterSpec = { key: 'reseed|r', kind: 'rate', cap: 100, windowMs: 3_600_000 };
    const item = (o: Partial<ExchangeItem>): ExchangeItem => ({ spec, consumed: 0, returned: 0, need: 0, min: 0, want: 0, held: 0, spare: 0, history: 0, ...o });
    // 30 leased, 20 of them used: 10 spare. Redis then loses its data, and the holder's first report hands the 10 back.
    const lease = item({ need: 30, min: 30, want: 30 });
    const report = item({ consumed: 20, returned: 10, held: 0, history: 20 });
    const redisSide = createRedisTransport({ url: redis.url, prefix: 'reseed:', leaseTtlMs: TTL_MS, settleMs: 100 });
    try {
      assert.ok(await redisSide.ready(5000));
      assert.equal((await redisSide.exchange('h1', [lease]))[0]!.granted, 30);
      await redis.restart();
      const after = await (async () => {
        for (;;) {
          try {
            return (await redisSide.exchange('h1', [report]))[0]!;
          } catch {
            await new Promise((r) => setTimeout(r, 20)); // reconnecting
          }
        }
      })();
      assert.equal(after.level, 80, 'the limit less what was used; the returned spare counted once');
    } finally {
      await redisSide.close();
    }
    // The supervisor's authority runs the same steps: a holder it does not know (after the authority restarted).
    const memory = createMemoryAuthority({ leaseTtlMs: TTL_MS });
    assert.equal(memory.exchange('h1', [report])[0]!.level, 80);
  });

  test('refuse: a request that needs a lease while Redis restarts waits for it (a blip is not an outage), then is served', async () => {
    // A limit of 10 per minute leases one unit at a time: every request here needs the authority.
    const rs = replicas(redis.url, 'blip:', [{ match: { subject: '*' }, rpm: 10 }], [], 'refuse');
    const r = rs[0];
    try {
      for (let i = 0; i < 3; i++) (await r!.limiter.reserve({ ...who, estimatedTokens: 1 })).settle(1);
      await redis.stop();
      const waiting = (async () => r!.limiter.reserve({ ...who, estimatedTokens: 1 }))();
      await new Promise((res) => setTimeout(res, 200));
      await redis.start();
      (await waiting).settle(1);
      // Re-seeded from this replica's use: 4 of 10 spent, so 6 more and no more.
      const after = await offer([r!], 10, 1, 1);
      assert.ok(after.ok >= 5 && after.ok <= 6, `admitted ${after.ok} more of the 6 left`);
    } finally {
      await Promise.all(rs.map((x) => x.leases.close()));
    }
  });

  test('refuse: a daily quota is re-seeded from every replica and spent to the last slice, never beyond', async () => {
    const QUOTA = 600;
    const rs = replicas(redis.url, 'quota:', [], [{ match: { subject: '*' }, tokens_per_day: QUOTA }], 'refuse');
    try {
      const a = await offer(rs, 10, 10, 5);
      assert.equal(a.ok * 10, 300);
      await redis.restart();
      const b = await offer(rs, 20, 10, 10);
      const tokens = (a.ok + b.ok) * 10;
      assert.ok(tokens <= QUOTA, `admitted ${tokens} quota tokens of ${QUOTA}`);
      assert.ok(tokens >= QUOTA - 3 * 10, `admitted only ${tokens} tokens of ${QUOTA}: refused while quota was left`);
      for (const e of b.refusals) assert.equal(e.status, 429, `${e.code}: ${e.message}`);
    } finally {
      await Promise.all(rs.map((r) => r.leases.close()));
    }
  });
});
