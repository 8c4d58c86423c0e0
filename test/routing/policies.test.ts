import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { POLICIES, createTokenAware } from '../../src/routing/policies/index.js';
import { createPoolMemory, type DecisionContext } from '../../src/routing/policies/policy.js';
import { RequestProfile } from '../../src/routing/request-profile.js';
import { createRng } from '../../src/routing/rng.js';
import { BackendState } from '../../src/routing/state/backend-state.js';
import { EMPTY_METRICS } from '../../src/routing/state/engine-metrics.js';
import type { InFlight } from '../../src/routing/state/in-flight.js';
import { DEFAULT_ENGINE_PROFILE } from '../../src/routing/twin-model.js';
import { request, targets, text } from './helpers.js';

function states(n: number, weights: readonly number[] = []): BackendState[] {
  return targets(n, weights).map((t) => new BackendState(t, DEFAULT_ENGINE_PROFILE, 64));
}

function ctx(seed = 1, now = 0): DecisionContext {
  return { now, rng: createRng(seed), memory: createPoolMemory() };
}

const profile = (tokens: number, prefix = '', maxTokens: number | null = 100) => new RequestProfile(request(tokens, prefix, null, maxTokens), 'm', maxTokens ?? 100, 64);

/** Puts `pending` uncached prefill tokens in flight on a backend, as a dispatched request not yet at its first token. */
function load(s: BackendState, pending: number, decoding = 0): void {
  const r: InFlight = {
    promptTokens: pending,
    promptChars: pending * 4,
    cachedPred: 0,
    uncached: pending,
    prefillLeft: pending,
    attnLeft: (pending * pending) / 2,
    expectedOutput: 100,
    maxOutput: 100,
    decoded: 0,
    dispatchedAt: 0,
    firstTokenAt: -1,
    lastTokenAt: -1,
    keys: null,
    reservedBlocks: 0,
    ended: false,
    calFrom: -1,
    calSteps: 0,
    calPredictedMs: 0,
    calBatch: 0,
  };
  s.dispatch(r, 0);
  s.decoding += decoding;
  s.decodeContext += decoding * 2000;
}

describe('load-only policies', () => {
  it('round_robin rotates the first candidate through the pool', () => {
    const s = states(3);
    const c = ctx();
    const firsts = [0, 1, 2, 3].map(() => POLICIES.round_robin.rank(s, profile(10), c)[0]);
    assert.deepEqual(firsts, [0, 1, 2, 0]);
  });

  it('weighted sends traffic in proportion to weights, without bursts', () => {
    const s = states(2, [1, 3]);
    const c = ctx();
    const picks = Array.from({ length: 8 }, () => POLICIES.weighted.rank(s, profile(10), c)[0]);
    assert.equal(picks.filter((p) => p === 1).length, 6);
    assert.ok(!picks.join('').includes('1111'), `smooth: ${picks.join('')}`);
  });

  it('least_requests picks the backend with the fewest requests in flight', () => {
    const s = states(3);
    s[0]!.inFlight = 5;
    s[1]!.inFlight = 2;
    s[2]!.inFlight = 7;
    assert.deepEqual(POLICIES.least_requests.rank(s, profile(10), ctx()), [1, 0, 2]);
  });

  it('power_of_two keeps the less loaded of its two samples first', () => {
    const s = states(4);
    s.forEach((x, i) => (x.inFlight = [9, 1, 5, 3][i]!));
    for (let seed = 1; seed < 20; seed++) {
      const order = POLICIES.power_of_two.rank(s, profile(10), ctx(seed));
      assert.ok(s[order[0]!]!.inFlight <= s[order[1]!]!.inFlight);
      assert.equal(new Set(order).size, 4, 'every candidate appears once');
    }
  });
});

describe('prefix-aware baselines', () => {
  const sys = text(8000, 'sys');

  it('epp_default weighs queue 2, kv 2 and approximate prefix 3', () => {
    const s = states(3);
    const warm = profile(2500, sys);
    POLICIES.epp_default.onDispatch(s[2]!, warm);
    s[0]!.metrics = { ...EMPTY_METRICS, waiting: 0, kvUsage: 0.1 };
    s[1]!.metrics = { ...EMPTY_METRICS, waiting: 4, kvUsage: 0.1 };
    s[2]!.metrics = { ...EMPTY_METRICS, waiting: 4, kvUsage: 0.5 };
    // b0: 2 + 1.8 + 0 = 3.8; b1: 0 + 1.8 + 0 = 1.8; b2: 0 + 1 + 3 = 4 → the warm one wins despite its queue.
    assert.deepEqual(POLICIES.epp_default.rank(s, profile(2500, sys), ctx()), [2, 0, 1]);
    s[2]!.metrics = { ...EMPTY_METRICS, waiting: 4, kvUsage: 0.95 };
    assert.equal(POLICIES.epp_default.rank(s, profile(2500, sys), ctx())[0], 0, 'a full KV cache outweighs the prefix');
  });

  it('sticky_until_saturated stays on the warm backend until its uncached backlog leads by τ', () => {
    const s = states(2);
    POLICIES.sticky_until_saturated.onDispatch(s[1]!, profile(2500, sys));
    load(s[1]!, 100_000);
    // Warm and 100k uncached tokens behind is still "not saturated" (τ ≈ 650k tokens for 8B/H100).
    for (let seed = 1; seed < 10; seed++) {
      const first = POLICIES.sticky_until_saturated.rank(s, profile(2500, sys), ctx(seed))[0];
      if (first !== 1) assert.equal(first, 0, 'only the 1% exploration may leave the warm backend');
    }
    load(s[1]!, 700_000);
    assert.equal(POLICIES.sticky_until_saturated.rank(s, profile(2500, sys), ctx())[0], 0, 'released past τ');
  });

  it('sglang_cache_aware follows the longest match unless loads are imbalanced', () => {
    const s = states(3);
    POLICIES.sglang_cache_aware.onDispatch(s[2]!, profile(2500, sys));
    s[0]!.inFlight = 1;
    s[1]!.inFlight = 2;
    s[2]!.inFlight = 40;
    assert.equal(POLICIES.sglang_cache_aware.rank(s, profile(2500, sys), ctx())[0], 2);
    assert.equal(POLICIES.sglang_cache_aware.rank(s, profile(2500, 'other'), ctx())[0], 0, 'no match above 30%: least load');
    s[2]!.inFlight = 70;
    assert.equal(POLICIES.sglang_cache_aware.rank(s, profile(2500, sys), ctx())[0], 0, 'imbalanced: least load');
  });

  it('lmetric multiplies new prefill tokens by (in-flight + 1)', () => {
    const s = states(2);
    POLICIES.lmetric.onDispatch(s[1]!, profile(2500, sys + text(100, 'first')));
    const next = () => profile(2500, sys + text(100, 'second'));
    // Warm: ~500 new tokens × (3 + 1) ≈ 2000 < cold: 2500 × (0 + 1).
    s[1]!.inFlight = 3;
    assert.equal(POLICIES.lmetric.rank(s, next(), ctx())[0], 1);
    s[1]!.inFlight = 6;
    assert.equal(POLICIES.lmetric.rank(s, next(), ctx())[0], 0);
  });
});

describe('token_aware', () => {
  const sys = text(24_000, 'sys');
  const policy = createTokenAware();

  it('predicts a shorter TTFT on the backend that holds the prefix, and goes there', () => {
    const s = states(3);
    const p = profile(7000, sys);
    s[2]!.twin().pin(p.keys());
    const c = policy.explain(s, p, 0);
    assert.ok(c[2]!.cached > 5000, `cached ${c[2]!.cached}`);
    assert.ok(c[2]!.ttftMs < c[0]!.ttftMs / 2);
    assert.equal(policy.rank(s, profile(7000, sys), ctx())[0], 2);
  });

  it('spills a hot prefix to a cold backend once the warm one has a long prefill queue', () => {
    const s = states(2);
    const p = profile(7000, sys);
    s[1]!.twin().pin(p.keys());
    load(s[1]!, 60_000);
    const c = policy.explain(s, p, 0);
    assert.ok(c[1]!.ttftMs > c[0]!.ttftMs, 'the warm backend’s queue outweighs its cache');
    assert.equal(policy.rank(s, profile(7000, sys), ctx())[0], 0);
  });

  it('sends a cold prompt where the least prefill work is queued', () => {
    const s = states(3);
    load(s[0]!, 20_000);
    load(s[1]!, 4000);
    load(s[2]!, 9000);
    assert.equal(policy.rank(s, profile(3000, 'cold'), ctx())[0], 1);
  });

  it('draws the first candidate at random among near-equal backends', () => {
    const s = states(4);
    const firsts = new Set<number>();
    for (let seed = 1; seed < 40; seed++) firsts.add(policy.rank(s, profile(500, 'x'), ctx(seed))[0]!);
    assert.ok(firsts.size >= 3, `spread over ${[...firsts].join(',')}`);
  });

  it('prefers the backend with the lighter decode batch when prefill costs tie', () => {
    const s = states(2);
    load(s[0]!, 0, 200);
    load(s[1]!, 0, 10);
    assert.equal(policy.rank(s, profile(500, 'y'), ctx())[0], 1);
  });

  describe('where new cache growth goes', () => {
    /** A fast backend whose cache is half full and a half-speed one whose cache is empty. */
    const fleet = () => {
      const s = states(2);
      s[0]!.twin().reserve(s[0]!.twin().capacity / 2);
      s[1]!.twin();
      s[1]!.calibration.speedFactor = 2;
      return s;
    };

    it('puts a new prefix in the emptier cache even on a slower replica, instead of filling one cache ahead', () => {
      const s = fleet();
      const c = policy.explain(s, profile(7000, 'new'), 0);
      assert.ok(c[1]!.total > c[0]!.total, 'the slow replica costs more time');
      assert.deepEqual([c[0]!.overShare, c[1]!.overShare], [true, false]);
      assert.equal(policy.rank(s, profile(7000, 'new'), ctx())[0], 1);
      // Without the bound, time alone decides.
      assert.equal(createTokenAware({ cacheShareSlack: Number.POSITIVE_INFINITY }).rank(s, profile(7000, 'new'), ctx())[0], 0);
    });

    it('leaves caches that are within the band to the cost', () => {
      const s = fleet();
      s[1]!.twin().reserve(s[1]!.twin().capacity * 0.45);
      assert.equal(policy.rank(s, profile(7000, 'new'), ctx())[0], 0);
    });

    it('never applies to the backend that holds the prefix', () => {
      const s = fleet();
      const p = profile(7000, sys);
      s[0]!.twin().pin(p.keys());
      const c = policy.explain(s, p, 0);
      assert.equal(c[0]!.overShare, false);
      assert.equal(policy.rank(s, profile(7000, sys), ctx())[0], 0);
    });

    it('lets go when every backend within the band is saturated', () => {
      const s = fleet();
      load(s[1]!, 3 * 8192);
      const c = policy.explain(s, profile(7000, 'new'), 0);
      assert.deepEqual([c[0]!.overShare, c[1]!.overShare], [false, false]);
      assert.equal(policy.rank(s, profile(7000, 'new'), ctx())[0], 0);
    });
  });

  it('calls a backend saturated when more than two steps of prefill are queued', () => {
    const s = states(1);
    const p = profile(1000, 'z');
    assert.equal(policy.saturated(s[0]!, p, 0), false);
    load(s[0]!, 3 * 8192);
    assert.equal(policy.saturated(s[0]!, p, 0), true);
  });
});
