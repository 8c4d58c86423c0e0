import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError, type Clock } from '../../src/core/index.js';
import { createLeasedLimiter, createLimiter, type CompiledLimits, type Limiter, type Reservation } from '../../src/limits/index.js';
import { createLeaseClient, createMemoryAuthority } from '../../src/state/index.js';
import { rules } from './helpers.js';

// A request first sent to model `a`, then admitted on its fallback `b` (Limiter.extend): the caller's own rules
// (no model in their match) must count it once, each model's own rules by what that model did.
const onA = { subject: 'alice', team: null, model: 'a', key: null };
const onB = { ...onA, model: 'b' };

/** Time stands still, so no bucket refills during a test and every count below is exact. */
const still: Clock = { now: () => 1_000_000, wallMs: () => Date.UTC(2026, 11, 6, 12) };

type Make = (compiled: CompiledLimits) => { limiter: Limiter; close(): Promise<void> };

const local: Make = (compiled) => ({ limiter: createLimiter(compiled, { clock: still }), close: async () => {} });
const leased: Make = (compiled) => {
  const authority = createMemoryAuthority({ leaseTtlMs: 5000 });
  const leases = createLeaseClient({ holder: 'p0', syncMs: 20, fallback: null, transport: { exchange: async (h, items) => authority.exchange(h, items), close: async () => {} } });
  return { limiter: createLeasedLimiter(compiled, { leases, clock: still }), close: () => leases.close() };
};

async function reserve(l: Limiter, who: typeof onA, estimatedTokens: number): Promise<Reservation | GatewayError> {
  try {
    return await l.reserve({ ...who, estimatedTokens });
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

async function extend(l: Limiter, r: Reservation, who: typeof onA): Promise<GatewayError | null> {
  try {
    await l.extend(r, who);
    return null;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

/** Reserves on `a`, extends to `b`, settles with `used`; the error of whichever step refused, if any. */
async function viaFallback(l: Limiter, estimate: number, used: number): Promise<GatewayError | null> {
  const r = await reserve(l, onA, estimate);
  if (r instanceof GatewayError) return r;
  const refused = await extend(l, r, onB);
  r.settle(refused ? 0 : used);
  return refused;
}

for (const [kind, make] of [['single-process limiter', local], ['leased limiter', leased]] as const) {
  describe(`fallback admission counts shared rules once (${kind})`, () => {
    test("the caller's rpm counts a request that fell back once", async () => {
      const { limiter, close } = make(rules([{ match: { subject: 'alice' }, rpm: 3 }]));
      for (let i = 0; i < 3; i++) assert.equal(await viaFallback(limiter, 10, 10), null, `request ${i + 1} of 3`);
      const fourth = await viaFallback(limiter, 10, 10);
      assert.equal(fourth?.status, 429);
      assert.match(fourth!.message, /requests per minute/);
      await close();
    });

    test("the caller's concurrency slot is held once and released once", async () => {
      const { limiter, close } = make(rules([{ match: { subject: 'alice' }, concurrency: 2 }]));
      const r1 = (await reserve(limiter, onA, 10)) as Reservation;
      assert.equal(await extend(limiter, r1, onB), null);
      const r2 = await reserve(limiter, onA, 10);
      assert.ok(!(r2 instanceof GatewayError), 'a second request fits beside one that fell back');
      assert.ok((await reserve(limiter, onA, 10)) instanceof GatewayError, 'a third does not');
      r1.settle(5);
      (r2 as Reservation).settle(5);
      const r3 = await reserve(limiter, onB, 10);
      assert.ok(!(r3 instanceof GatewayError), 'both slots came back');
      (r3 as Reservation).settle(1);
      await close();
    });

    test('tokens go to the shared rules and the fallback once; the first model gets its estimate back', async () => {
      const { limiter, close } = make(
        rules([
          { match: { subject: 'alice' }, tpm: 100 },
          { match: { subject: 'alice', model: 'a' }, tpm: 40 },
          { match: { subject: 'alice', model: 'b' }, tpm: 70 },
        ]),
      );
      // Estimate 30, used 30: a shares 100 (-30), b 70 (-30); a's own 40 is refunded in full each time.
      assert.equal(await viaFallback(limiter, 30, 30), null);
      assert.equal(await viaFallback(limiter, 30, 30), null);
      const third = await viaFallback(limiter, 30, 30);
      assert.equal(third?.status, 429, "b's own 70 has 10 left");
      assert.match(third!.message, /model "b"/);
      // a's own bucket is whole again: a request answered by a itself passes, and spends the shared 100 down to 10.
      const onAOnly = (await reserve(limiter, onA, 30)) as Reservation;
      assert.ok(!(onAOnly instanceof GatewayError), "a's tokens were refunded");
      onAOnly.settle(30);
      // On a model with no rule of its own, only the shared 100 applies: 10 left.
      const onC = { ...onA, model: 'c' };
      const over = await reserve(limiter, onC, 11);
      assert.ok(over instanceof GatewayError && over.message.includes('(subject "alice")'), `the shared rule refuses 11: ${(over as Error).message}`);
      const fits = (await reserve(limiter, onC, 10)) as Reservation;
      assert.ok(!(fits instanceof GatewayError), 'and admits 10');
      fits.settle(10);
      await close();
    });

    test('a shared daily quota is charged the tokens once', async () => {
      const { limiter, close } = make(rules([], [{ match: { subject: 'alice' }, tokens_per_day: 100 }]));
      for (let i = 0; i < 3; i++) assert.equal(await viaFallback(limiter, 30, 30), null);
      // 90 used (not 180): 10 tokens left.
      const over = await reserve(limiter, onA, 30);
      assert.ok(over instanceof GatewayError && over.status === 429, 'a request needing 30 is refused');
      const fits = await reserve(limiter, onA, 10);
      assert.ok(!(fits instanceof GatewayError), 'one needing 10 fits');
      (fits as Reservation).settle(10);
      await close();
    });

    test('after two fallbacks only the last model and the shared rules are charged', async () => {
      const { limiter, close } = make(
        rules([
          { match: { subject: 'alice' }, tpm: 100 },
          { match: { subject: 'alice', model: 'a' }, tpm: 40 },
          { match: { subject: 'alice', model: 'b' }, tpm: 50 },
          { match: { subject: 'alice', model: 'c' }, tpm: 60 },
        ]),
      );
      const onC = { ...onA, model: 'c' };
      const r = (await reserve(limiter, onA, 30)) as Reservation;
      assert.equal(await extend(limiter, r, onB), null);
      assert.equal(await extend(limiter, r, onC), null);
      r.settle(20);
      r.settle(99); // a second settle changes nothing
      // Shared 100 - 20, c 60 - 20; a and b got their 30 back.
      assert.ok((await reserve(limiter, onC, 41)) instanceof GatewayError, "c's own rule has 40 left");
      const onBack = (await reserve(limiter, onB, 50)) as Reservation;
      assert.ok(!(onBack instanceof GatewayError), "b's tokens were refunded");
      onBack.settle(50);
      const rest = (await reserve(limiter, onA, 30)) as Reservation;
      assert.ok(!(rest instanceof GatewayError), '30 of the shared 100 are left and a has its 40');
      rest.settle(30);
      assert.ok((await reserve(limiter, onA, 1)) instanceof GatewayError, 'the shared rule is spent');
      await close();
    });

    test('extend refuses a settled reservation and one made by another limiter', async () => {
      const one = make(rules([{ match: { subject: 'alice' }, rpm: 10 }]));
      const other = make(rules([{ match: { subject: 'alice' }, rpm: 10 }]));
      const settled = (await reserve(one.limiter, onA, 1)) as Reservation;
      settled.settle(1);
      await assert.rejects(async () => one.limiter.extend(settled, onB), /not a live reservation/);
      const foreign = (await reserve(other.limiter, onA, 1)) as Reservation;
      await assert.rejects(async () => one.limiter.extend(foreign, onB), /not a live reservation/);
      foreign.settle(1);
      await one.close();
      await other.close();
    });

    test('a refused fallback leaves the reservation as it was, and it settles normally', async () => {
      const { limiter, close } = make(
        rules([
          { match: { subject: 'alice' }, concurrency: 1, tpm: 100 },
          { match: { model: 'b' }, rpm: 1 },
        ]),
      );
      const spend = (await reserve(limiter, onB, 1)) as Reservation;
      spend.settle(1);
      const r = (await reserve(limiter, onA, 30)) as Reservation;
      const refused = await extend(limiter, r, onB);
      assert.equal(refused?.status, 429, "b's rpm is spent");
      r.settle(20);
      // The caller's slot is free again and its tpm was charged 1 + 20: 79 left.
      assert.ok((await reserve(limiter, onA, 80)) instanceof GatewayError, '80 do not fit');
      const fits = (await reserve(limiter, onA, 79)) as Reservation;
      assert.ok(!(fits instanceof GatewayError), `79 do, in the slot the settled request gave back: ${(fits as unknown as Error).message}`);
      fits.settle(0);
      await close();
    });
  });
}
