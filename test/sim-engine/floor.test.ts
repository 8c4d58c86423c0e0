import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idleTtft, loadedFloorMs, phaseOf, SharedPrefixTracker } from '../../src/sim/des/floor.js';

function ids(from: number, n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => from + i);
}

function concat(...parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('unloaded floor', () => {
  it('counts whole blocks shared with other prompts, never a prompt with itself', () => {
    const t = new SharedPrefixTracker(16);
    const sys = ids(1000, 100); // 6 full blocks + 4 tokens
    const a = concat(sys, ids(5000, 40));
    const b = concat(sys, ids(9000, 40));
    assert.equal(t.observe(a, null), 0);
    // b shares the 100-token system prompt with a: 6 whole blocks (the 7th mixes in b's own question).
    assert.equal(t.observe(b, null), 96);
    // An exact repeat of a: only what other prompts also sent counts, not a's own question.
    assert.equal(t.observe(a, null), 96);
    const lone = ids(20_000, 64);
    assert.equal(t.observe(lone, null), 0);
    assert.equal(t.observe(lone, null), 0);
  });

  it('lets the next turn of a chat reuse the previous prompt and its answer', () => {
    const t = new SharedPrefixTracker(16);
    const turn1 = ids(1, 50);
    const answer = ids(700, 30);
    assert.equal(t.observe(turn1, answer), 0);
    const turn2 = concat(turn1, answer, ids(3000, 20));
    assert.equal(t.observe(turn2, null), 80);
  });

  it('replays a request on an idle engine with its prefix warm (cost model sanity figures)', () => {
    // routing-research.md §6.2: an 8k-token prompt takes ≈175 ms at no load.
    const cold = idleTtft(ids(1, 8192), 0, 1, 1);
    assert.ok(Math.abs(cold.idleMs - 175) / 175 < 0.1, `cold 8k TTFT ${cold.idleMs}`);
    assert.equal(cold.steps, 1);
    // 6000 cached + 1200 new: t0 + 1200·a + g·1200·(6000 + 600) ≈ 33 ms.
    const warm = idleTtft(ids(1, 7200), 6000, 1, 2);
    assert.ok(Math.abs(warm.idleMs - 33.3) / 33.3 < 0.1, `warm TTFT ${warm.idleMs}`);
    // A half-speed replica takes twice as long.
    const slow = idleTtft(ids(1, 7200), 6000, 0.5, 2);
    assert.ok(Math.abs(slow.idleMs / warm.idleMs - 2) < 0.01);
  });

  it('adds the step in progress and the co-batched decodes on a loaded replica', () => {
    const s = { idleMs: 30, steps: 2 };
    assert.equal(loadedFloorMs(s, 0, 0, 1, 0.5), 30);
    // 20 sequences of 5k context: batch 0.12 + 4 ms per step, a full decode step is 5.75 + 4.12 ms.
    const batch = 0.006 * 20 + 0.04 * 100;
    assert.ok(Math.abs(loadedFloorMs(s, 20, 100_000, 1, 0.5) - (30 + 0.5 * (5.75 + batch) + 2 * batch)) < 1e-9);
    for (let i = 0; i < 100; i++) assert.ok(phaseOf(i) >= 0 && phaseOf(i) < 1);
  });
});
