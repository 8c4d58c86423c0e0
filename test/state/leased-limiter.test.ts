import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLeasedLimiter, createLimiter, quotaLeftOf, type Reservation } from '../../src/limits/index.js';
import { createLeaseClient, createMemoryAuthority, type LeaseClient } from '../../src/state/index.js';
import { GatewayError } from '../../src/core/index.js';
import { rules } from '../limits/helpers.js';

const who = { subject: 'alice', team: 'research', model: 'llama' };

/** N processes' lease clients over one authority, each exchange crossing an event-loop turn like IPC does. */
function fleet(n: number, syncMs = 20, leaseTtlMs = 5000, clientTtlMs?: number) {
  const authority = createMemoryAuthority({ leaseTtlMs });
  const clients: LeaseClient[] = Array.from({ length: n }, (_, i) =>
    createLeaseClient({
      holder: `p${i}`,
      syncMs,
      leaseTtlMs: clientTtlMs ?? leaseTtlMs,
      fallback: null,
      transport: { exchange: async (h, items) => (await new Promise((r) => setImmediate(r)), authority.exchange(h, items)), close: async () => {} },
    }),
  );
  return { authority, clients, close: () => Promise.all(clients.map((c) => c.close())) };
}

async function attempt(p: () => Reservation | Promise<Reservation>): Promise<Reservation | GatewayError> {
  try {
    return await p();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

describe('leased limiter over one authority', () => {
  test('three processes with 50 concurrent requests each admit exactly the rpm limit, no more and no fewer', async () => {
    const f = fleet(3);
    const compiled = rules([{ match: { subject: '*' }, rpm: 90 }]);
    const limiters = f.clients.map((leases) => createLeasedLimiter(compiled, { leases }));
    const results = await Promise.all(limiters.flatMap((l) => Array.from({ length: 60 }, () => attempt(() => l.reserve({ ...who, estimatedTokens: 10 })))));
    const admitted = results.filter((r) => !(r instanceof GatewayError)).length;
    assert.equal(admitted, 90);
    for (const r of results) if (r instanceof GatewayError) assert.equal(r.status, 429);
    await f.close();
  });

  test('concurrency across processes never exceeds the limit and slots come back when requests end', async () => {
    const f = fleet(3);
    const compiled = rules([{ match: { subject: '*' }, concurrency: 10 }]);
    const limiters = f.clients.map((leases) => createLeasedLimiter(compiled, { leases }));
    let inFlight = 0;
    let peak = 0;
    let admitted = 0;
    let refused = 0;
    await Promise.all(
      limiters.flatMap((l) =>
        Array.from({ length: 50 }, async (_, i) => {
          await new Promise((r) => setTimeout(r, i));
          const r = await attempt(() => l.reserve({ ...who, estimatedTokens: 1 }));
          if (r instanceof GatewayError) return void refused++;
          admitted++;
          peak = Math.max(peak, ++inFlight);
          await new Promise((res) => setTimeout(res, 15));
          inFlight--;
          r.settle(1);
        }),
      ),
    );
    assert.ok(peak <= 10, `peak ${peak}`);
    assert.ok(admitted >= 10 && refused > 0, `admitted ${admitted}, refused ${refused}`);
    await f.close();
  });

  test('token limits settle with real usage: refunds go back to the fleet', async () => {
    const f = fleet(2);
    const compiled = rules([{ match: { subject: '*' }, tpm: 1000 }]);
    const [a, b] = f.clients.map((leases) => createLeasedLimiter(compiled, { leases }));
    const r1 = await a!.reserve({ ...who, estimatedTokens: 800 });
    const waits = await attempt(() => b!.reserve({ ...who, estimatedTokens: 300 }));
    assert.ok(waits instanceof GatewayError);
    assert.equal(waits.headers?.['x-should-retry'], undefined); // fits once the minute moves on
    const never = await attempt(() => b!.reserve({ ...who, estimatedTokens: 1001 }));
    assert.ok(never instanceof GatewayError && /Request too large/.test(never.message), String(never));
    assert.equal(never.headers?.['x-should-retry'], 'false');
    r1.settle(100); // 700 refunded to a's lease, returned to the authority in the background
    const r2 = await attempt(() => b!.reserve({ ...who, estimatedTokens: 800 }));
    assert.ok(!(r2 instanceof GatewayError), 'b gets the refund once a returns it');
    await f.close();
  });

  test('the live-state snapshot shows the limits this process uses, with what is left fleet-wide', async () => {
    const f = fleet(2);
    const compiled = rules([{ match: { subject: '*' }, rpm: 50, concurrency: 4 }], [{ match: { team: 'research' }, tokens_per_day: 1000 }]);
    const [a, b] = f.clients.map((leases) => createLeasedLimiter(compiled, { leases }));
    for (let i = 0; i < 10; i++) (await a!.reserve({ ...who, estimatedTokens: 10 })).settle(10);
    const held = await b!.reserve({ ...who, estimatedTokens: 10 });
    const snap = b!.snapshot({ subject: 'alice', team: 'research' });
    const bucket = snap.buckets.find((x) => x.subject === 'alice')!;
    assert.equal(bucket.requests!.limit, 50);
    assert.ok(bucket.requests!.remaining <= 39, `remaining ${bucket.requests!.remaining}`);
    assert.equal(bucket.concurrency!.limit, 4);
    assert.equal(snap.quotas[0]!.limit, 1000);
    assert.equal(snap.quotas[0]!.period, 'day');
    held.settle(10);
    await f.close();
  });

  test('quotas are charged with the real count once and refuse when spent', async () => {
    const f = fleet(2);
    const compiled = rules([], [{ match: { team: 'research' }, tokens_per_day: 500 }]);
    const [a, b] = f.clients.map((leases) => createLeasedLimiter(compiled, { leases }));
    (await a!.reserve({ ...who, estimatedTokens: 300 })).settle(250);
    (await b!.reserve({ ...who, estimatedTokens: 200 })).settle(200);
    const refused = await attempt(() => a!.reserve({ ...who, estimatedTokens: 60 }));
    assert.ok(refused instanceof GatewayError && refused.wireCode === 'insufficient_quota', String(refused));
    assert.equal(refused.headers?.['x-should-retry'], 'false');
    assert.match(refused.message, /resets at \d{4}-\d\d-\d\dT/);
    const ok = await attempt(() => b!.reserve({ ...who, estimatedTokens: 50 }));
    assert.ok(!(ok instanceof GatewayError), 'exactly 50 are left');
    await f.close();
  });
  // The lease client forgets a counter idle for ten sync intervals; the limiter's plans kept the object. Units granted
  // to it afterwards were never returned nor renewed (its lease expired at the authority while the process still
  // admitted from them), and a second model's plan built a second object for the same key whose `held` overwrote the
  // first's: each let a concurrency limit of 5 hold 10 requests (infergate workers or replicas on Redis).
  const idle = (syncMs: number) => new Promise((r) => setTimeout(r, 20 * syncMs));

  test('a counter forgotten while idle is not used again: its lease cannot expire under requests it admits', async () => {
    const f = fleet(2, 20, 200);
    const compiled = rules([{ match: { subject: '*' }, concurrency: 5 }]);
    const [a, b] = f.clients.map((leases) => createLeasedLimiter(compiled, { leases }));
    (await a!.reserve({ ...who, estimatedTokens: 1 })).settle(1);
    await idle(20);
    for (const r of await Promise.all(Array.from({ length: 5 }, () => attempt(() => a!.reserve({ ...who, estimatedTokens: 1 }))))) {
      if (!(r instanceof GatewayError)) r.settle(1);
    }
    await new Promise((r) => setTimeout(r, 400)); // past the lease TTL
    let admitted = 0;
    for (const l of [b!, a!, b!, a!]) {
      const got = await Promise.all(Array.from({ length: 5 }, () => attempt(() => l.reserve({ ...who, estimatedTokens: 1 }))));
      admitted += got.filter((r) => !(r instanceof GatewayError)).length;
    }
    assert.equal(admitted, 5);
    await f.close();
  });

  // An idle counter with recent use is re-declared every ten sync intervals; with a lease TTL shorter than that the
  // authority had expired the holder by then and took the re-declare for a new holder's, charging its recent use
  // again each time (state.sync_interval 1s with the default lease_ttl 5s): an rpm bucket never refilled.
  test('an idle counter is re-declared within the lease TTL: its use is not charged again', async () => {
    // Ten sync intervals (1 s) are longer than the TTL (600 ms); re-declared every 300 ms, a loaded machine's late
    // timers still have 300 ms before the authority expires the holder.
    const f = fleet(1, 100, 600);
    const l = createLeasedLimiter(rules([{ match: { subject: '*' }, rpm: 60 }]), { leases: f.clients[0]! });
    for (let i = 0; i < 60; i++) (await l.reserve({ ...who, estimatedTokens: 1 })).settle(1);
    // Spent: every holder keeps no spare, so the counter goes idle; the bucket refills one unit a second.
    await new Promise((r) => setTimeout(r, 2500));
    const view = f.authority.view()[0]!;
    assert.ok(view.free >= 1, `free ${view.free} after 2.5 s of refill`);
    const r = await attempt(() => l.reserve({ ...who, estimatedTokens: 1 }));
    assert.ok(!(r instanceof GatewayError), String(r));
    await f.close();
  });

  // A reload (or a change of a key's limits) builds a new limiter over the same lease client while the old one's
  // requests still run. One of them falling back to another model built a plan in the old limiter, whose spec (the old
  // limit) replaced the new one's on the shared counter: concurrency 5 lowered to 2 held 5 again, for good.
  test('a request admitted before a reload that falls back after it does not bring the old limit back', async () => {
    const f = fleet(1);
    const before = createLeasedLimiter(rules([{ match: { subject: '*' }, concurrency: 5 }]), { leases: f.clients[0]! });
    const old = await before.reserve({ ...who, model: 'llama', estimatedTokens: 1 });
    const after = createLeasedLimiter(rules([{ match: { subject: '*' }, concurrency: 2 }]), { leases: f.clients[0]! });
    (await after.reserve({ ...who, model: 'llama', estimatedTokens: 1 })).settle(1);
    await before.extend(old, { ...who, model: 'mistral' });
    const got = await Promise.all(Array.from({ length: 5 }, () => attempt(() => after.reserve({ ...who, model: 'llama', estimatedTokens: 1 }))));
    assert.equal(got.filter((r) => !(r instanceof GatewayError)).length, 1, 'the old request holds one of the 2 slots');
    for (const r of got) if (!(r instanceof GatewayError)) r.settle(1);
    old.settle(1);
    await idle(20); // forgotten while idle, then revived by the new limiter
    const again = await Promise.all(Array.from({ length: 5 }, () => attempt(() => after.reserve({ ...who, model: 'llama', estimatedTokens: 1 }))));
    assert.equal(again.filter((r) => !(r instanceof GatewayError)).length, 2);
    await f.close();
  });

  test('two models of one subject share one slot counter after it was forgotten', async () => {
    const f = fleet(1);
    const l = createLeasedLimiter(rules([{ match: { subject: '*' }, concurrency: 5 }]), { leases: f.clients[0]! });
    (await l.reserve({ ...who, model: 'llama', estimatedTokens: 1 })).settle(1);
    await idle(20);
    let admitted = 0;
    for (let round = 0; round < 3; round++) {
      for (const model of ['mistral', 'llama']) {
        const got = await Promise.all(Array.from({ length: 5 }, () => attempt(() => l.reserve({ ...who, model, estimatedTokens: 1 }))));
        admitted += got.filter((r) => !(r instanceof GatewayError)).length;
      }
    }
    assert.equal(admitted, 5);
    const snap = l.snapshot({});
    assert.equal(snap.buckets[0]?.concurrency?.inFlight, 5, 'the live snapshot sees the counter in use');
    await f.close();
  });
  test('the token ceiling is the smallest tpm cap and quota that apply, the same for the local limiter', async () => {
    const f = fleet(1);
    const compiled = rules(
      [{ match: { subject: '*' }, tpm: 5000 }, { match: { subject: 'carol' }, tpm: 50_000 }],
      [{ match: { subject: 'alice' }, tokens_per_day: 3000 }],
    );
    for (const l of [createLeasedLimiter(compiled, { leases: f.clients[0]! }), createLimiter(compiled)]) {
      assert.equal(l.tokenCeiling(who), 3000);
      assert.equal(l.tokenCeiling({ ...who, subject: 'bob' }), 5000);
      // The most specific rule naming the same fields replaces the general one.
      assert.equal(l.tokenCeiling({ ...who, subject: 'carol' }), 50_000);
    }
    assert.equal(createLimiter(rules([{ match: { subject: '*' }, rpm: 10 }])).tokenCeiling(who), Number.POSITIVE_INFINITY);
    await f.close();
  });
});

describe('units granted to waiting requests', () => {
  // An exchange that takes longer than a sync interval lets the timer queue the counter again meanwhile; the lease
  // client then runs that next exchange in the same turn it wakes the waiters, and on a scarce counter it handed the
  // units just granted for them straight back (a limit of 2 admitted 1 under a starved event loop).
  test('are not returned by the exchange that follows before the waiters could take them', async () => {
    const authority = createMemoryAuthority({ leaseTtlMs: 5000 });
    const syncMs = 10;
    const leases = createLeaseClient({
      holder: 'p0',
      syncMs,
      leaseTtlMs: 5000,
      fallback: null,
      transport: { exchange: async (h, items) => (await new Promise((r) => setTimeout(r, 3 * syncMs)), authority.exchange(h, items)), close: async () => {} },
    });
    try {
      const l = createLeasedLimiter(rules([{ match: { subject: '*' }, concurrency: 2 }]), { leases });
      for (let round = 0; round < 5; round++) {
        const got = await Promise.all(Array.from({ length: 5 }, () => attempt(() => l.reserve({ ...who, estimatedTokens: 1 }))));
        const ok = got.filter((r): r is Reservation => !(r instanceof GatewayError));
        assert.equal(ok.length, 2, `round ${round}`);
        for (const r of ok) r.settle(1);
        await new Promise((r) => setTimeout(r, 5 * syncMs));
      }
    } finally {
      await leases.close();
    }
  });
});

describe("a quota's refusal", () => {
  test('says how much the quota still has, in the leased limiter as in the local one', async () => {
    const f = fleet(1);
    try {
      const compiled = rules([], [{ match: { subject: 'alice' }, tokens_per_day: 1000 }, { match: { subject: '*' }, tokens_per_day: 5000 }]);
      for (const l of [createLeasedLimiter(compiled, { leases: f.clients[0]! }), createLimiter(compiled)]) {
        (await l.reserve({ ...who, estimatedTokens: 900 })).settle(880);
        const err = await attempt(() => l.reserve({ ...who, estimatedTokens: 500 }));
        assert.ok(err instanceof GatewayError && err.status === 429, String(err));
        // The tighter of the two quotas that apply: 1000 - 880.
        assert.equal(quotaLeftOf(err), 120);
        // Asking for what is left passes.
        (await l.reserve({ ...who, estimatedTokens: 120 })).settle(120);
      }
      assert.equal(quotaLeftOf(new GatewayError('rate_limited', 'x')), undefined);
    } finally {
      await f.close();
    }
  });
});
