/**
 * How long a request waits when its process's lease runs short: three lease clients (three replicas' worth) on one
 * real Redis, each reserving at a fixed rate and settling 5 ms later. "ample": the limit is ten times the offered
 * rate, so waits happen only while slices grow; "near exhaustion": the limit is about 60% of the traffic, so slices
 * shrink to single requests and many requests wait for one exchange.
 */
import { createLeasedLimiter, compileLimitRules, type Limiter } from '../../src/limits/index.js';
import { createLeaseClient, createRedisTransport, type LeaseClient } from '../../src/state/index.js';
import { startRedis } from '../../test/helpers/redis.js';

export interface LeaseRow {
  scenario: string;
  reservations: number;
  waitedPct: number;
  waitP50Ms: number;
  waitP99Ms: number;
  refusedPct: number;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : 0;
};

async function scenario(url: string, name: string, rpm: number, perClientPerMs: number, ms: number): Promise<LeaseRow> {
  const clients: LeaseClient[] = [];
  const limiters: Limiter[] = [];
  const rules = compileLimitRules([{ match: { subject: '*' }, rpm }], []);
  for (let i = 0; i < 3; i++) {
    const transport = createRedisTransport({ url, leaseTtlMs: 5000, prefix: `bench:${name}:` });
    await transport.ready(5000);
    const leases = createLeaseClient({ transport, holder: `c${i}`, syncMs: 100, fallback: null });
    clients.push(leases);
    limiters.push(createLeasedLimiter(rules, { leases }));
  }
  const waits: number[] = [];
  let total = 0;
  let refused = 0;
  const pending: Promise<void>[] = [];
  const end = performance.now() + ms;
  const who = { subject: 'alice', team: null, model: 'm', estimatedTokens: 1 };
  while (performance.now() < end) {
    for (const l of limiters) {
      for (let k = 0; k < perClientPerMs; k++) {
        total++;
        const t0 = performance.now();
        let r;
        try {
          r = l.reserve(who);
        } catch {
          refused++;
          continue;
        }
        if (r instanceof Promise) {
          pending.push(
            r.then(
              (res) => {
                waits.push(performance.now() - t0);
                setTimeout(() => res.settle(1), 5);
              },
              () => {
                waits.push(performance.now() - t0);
                refused++;
              },
            ),
          );
        } else setTimeout(() => r.settle(1), 5);
      }
    }
    await new Promise((res) => setTimeout(res, 1));
  }
  await Promise.all(pending);
  await Promise.all(clients.map((c) => c.close()));
  return {
    scenario: name,
    reservations: total,
    waitedPct: (100 * waits.length) / total,
    waitP50Ms: quantile(waits, 0.5),
    waitP99Ms: quantile(waits, 0.99),
    refusedPct: (100 * refused) / total,
  };
}

export async function runLeaseWait(log: (s: string) => void, seconds: number): Promise<LeaseRow[]> {
  const redis = await startRedis();
  try {
    // ~1 reservation per ms per client for `seconds`: offered ≈ 3 × 60,000 per minute.
    const offeredPerMin = 3 * 60_000;
    const ample = await scenario(redis.url, 'ample (limit 10x the rate)', offeredPerMin * 10, 1, seconds * 1000);
    // The same rate against a limit (full bucket plus refill) of about 60% of what the first run offered: the end of
    // the run is spent at exhaustion, where slices are single requests and refusals begin.
    const cap = Math.floor((0.6 * ample.reservations) / (1 + seconds / 60));
    const rows = [ample, await scenario(redis.url, `near exhaustion (limit ${cap}/min, ~60% of the traffic)`, cap, 1, seconds * 1000)];
    for (const r of rows) log(`lease wait: ${r.scenario}: ${r.waitedPct.toFixed(2)}% waited, p99 ${r.waitP99Ms.toFixed(2)} ms`);
    return rows;
  } finally {
    await redis.close();
  }
}
