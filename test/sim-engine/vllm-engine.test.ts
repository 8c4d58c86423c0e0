import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createVllmEngine, LLAMA_8B_H100, type VllmEngineOptions, type VllmEngineRequest } from '../../src/sim/engine/vllm.js';
import type { EngineFinish } from '../../src/sim/engine/types.js';
import { VirtualScheduler } from '../../src/sim/des/virtual-scheduler.js';

interface Trace {
  tokens: number[];
  finish: EngineFinish | null;
}

function setup(options: VllmEngineOptions = {}) {
  const sched = new VirtualScheduler();
  const engine = createVllmEngine(sched, { seed: 7, ...options });
  const traces = new Map<string, Trace>();
  const submit = (id: string, prompt: ArrayLike<number>, outputTokens: number, outputTokenIds?: ArrayLike<number>) => {
    const t: Trace = { tokens: [], finish: null };
    traces.set(id, t);
    const req: VllmEngineRequest = outputTokenIds ? { id, promptTokenIds: prompt, outputTokens, outputTokenIds } : { id, promptTokenIds: prompt, outputTokens };
    engine.submit(req, {
      onToken: (i) => {
        assert.equal(i, t.tokens.length, 'tokens arrive in order');
        t.tokens.push(sched.now());
      },
      onFinish: (f) => {
        t.finish = f;
      },
    });
    return t;
  };
  return { sched, engine, submit, traces };
}

function tokens(n: number, seed: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.imul(i + 1, 2654435761) ^ seed) & 0x7fff;
  return a;
}

const within = (actual: number, expected: number, tolerance: number) =>
  assert.ok(Math.abs(actual - expected) <= expected * tolerance, `${actual.toFixed(2)} not within ${tolerance * 100}% of ${expected}`);

describe('vllm engine cost model', () => {
  it('serves a lone 8k-token prompt with a TTFT of about 175 ms', () => {
    for (const seed of [1, 2, 3]) {
      const { sched, submit } = setup({ seed });
      const t = submit('a', tokens(8192, seed), 2);
      sched.run();
      within(t.tokens[0] ?? Number.NaN, 175, 0.1);
    }
  });

  it('decodes a lone request at about 6 ms per token', () => {
    const { sched, submit } = setup();
    const t = submit('a', tokens(1000, 1), 201);
    sched.run();
    const itl = ((t.tokens[200] ?? 0) - (t.tokens[0] ?? 0)) / 200;
    within(itl, 6, 0.1);
  });

  it('slows a batch of 64 decodes at 2k context to about 11 ms per step', () => {
    const { sched, submit } = setup({ jitterSigma: 0 });
    // Long outputs, so that every request is still decoding while the last one admitted is measured.
    const all = Array.from({ length: 64 }, (_, i) => submit(`r${i}`, tokens(2048, i + 1), 200));
    sched.run();
    const t = all[63] as Trace;
    const itl = ((t.tokens[25] ?? 0) - (t.tokens[5] ?? 0)) / 20;
    within(itl, 11.3, 0.1);
  });

  it('splits a long prompt into chunks of the token budget', () => {
    const { sched, submit, engine } = setup({ jitterSigma: 0 });
    const t = submit('a', tokens(20_000, 1), 1);
    sched.run();
    assert.equal(engine.gauges().steps, 3);
    const k = LLAMA_8B_H100;
    let expected = 0;
    let done = 0;
    for (const n of [8192, 8192, 3616]) {
      expected += k.t0 + k.perPrefillToken * n + k.perAttentionPair * n * (done + n / 2);
      done += n;
    }
    within(t.tokens[0] ?? Number.NaN, expected, 1e-9);
  });

  it('runs a half-speed replica twice as slow', () => {
    const a = setup({ jitterSigma: 0 });
    const b = setup({ jitterSigma: 0, speed: 0.5 });
    const ta = a.submit('a', tokens(4000, 1), 1);
    const tb = b.submit('a', tokens(4000, 1), 1);
    a.sched.run();
    b.sched.run();
    within(tb.tokens[0] ?? 0, 2 * (ta.tokens[0] ?? 0), 1e-9);
  });
});

describe('vllm engine prefix cache', () => {
  it('caps a full hit below the last prompt token, in whole blocks', () => {
    const { sched, submit } = setup();
    const p = tokens(64, 1);
    submit('a', p, 1);
    sched.run();
    const again = submit('b', p, 1);
    sched.run();
    assert.equal(again.finish?.cachedTokens, 48, 'a 64-token prompt reuses at most 16·⌊63/16⌋ tokens');
    const longer = new Int32Array(100);
    longer.set(p);
    const ext = submit('c', longer, 1);
    sched.run();
    assert.equal(ext.finish?.cachedTokens, 64, 'an extension reuses every full cached block');
  });

  it('stops the hit at the first block that differs', () => {
    const { sched, submit } = setup();
    const p = tokens(160, 1);
    submit('a', p, 1);
    sched.run();
    const q = Int32Array.from(p);
    q[40] = 99_999;
    const t = submit('b', q, 1);
    sched.run();
    assert.equal(t.finish?.cachedTokens, 32);
  });

  it('reuses generated tokens when the next turn resends them', () => {
    const { sched, submit } = setup();
    const p = tokens(40, 1);
    const out = tokens(40, 2);
    submit('turn1', p, 40, out);
    sched.run();
    const next = new Int32Array(100);
    next.set(p);
    next.set(out, 40);
    const t = submit('turn2', next, 1);
    sched.run();
    assert.equal(t.finish?.cachedTokens, 64, 'prompt + answer = 80 tokens, the last token of the answer is never computed');
  });

  it('evicts the least recently freed prefix first', () => {
    // 20 blocks: each 160-token prompt with one output token holds and then leaves 10 cached blocks.
    const { sched, submit } = setup({ numGpuBlocks: 20 });
    const a = tokens(160, 1);
    const b = tokens(160, 2);
    const c = tokens(160, 3);
    for (const [id, p] of [['a', a], ['b', b], ['c', c]] as const) {
      submit(id, p, 1);
      sched.run();
    }
    const hitB = submit('b2', b, 1);
    sched.run();
    const hitA = submit('a2', a, 1);
    sched.run();
    assert.equal(hitB.finish?.cachedTokens, 144, 'b was freed after a, so it survives');
    assert.equal(hitA.finish?.cachedTokens, 0, 'a was evicted to make room for c');
  });

  it('evicts a freed request’s last blocks before its first ones', () => {
    const { sched, submit } = setup({ numGpuBlocks: 25 });
    const a = tokens(160, 1);
    submit('a', a, 1);
    sched.run();
    submit('b', tokens(160, 2), 1);
    sched.run();
    submit('c', tokens(160, 3), 1);
    sched.run();
    const hitA = submit('a2', a, 1);
    sched.run();
    assert.equal(hitA.finish?.cachedTokens, 80, 'c took the 5 untouched blocks, then a’s 5 tail blocks');
  });

  it('counts prefix queries and hits in tokens', () => {
    const { sched, submit, engine } = setup();
    const p = tokens(64, 1);
    submit('a', p, 1);
    sched.run();
    submit('b', p, 1);
    sched.run();
    const g = engine.gauges();
    assert.equal(g.prefixQueriesTokens, 128);
    assert.equal(g.prefixHitsTokens, 48);
  });
});

describe('vllm engine memory pressure and lifecycle', () => {
  it('preempts the newest running request when decode blocks run out, and still finishes everything', () => {
    const { sched, submit, engine } = setup({ numGpuBlocks: 24 });
    const all = ['a', 'b', 'c'].map((id, i) => submit(id, tokens(100, i + 1), 60));
    sched.run();
    assert.ok(engine.gauges().preemptions > 0, 'blocks ran out');
    for (const t of all) {
      assert.equal(t.finish?.reason, 'finished');
      assert.equal(t.tokens.length, 60);
    }
    const endA = all[0]?.tokens[59] ?? 0;
    const endC = all[2]?.tokens[59] ?? 0;
    assert.ok(endA < endC, 'the oldest request keeps its blocks and finishes first');
    assert.equal(engine.gauges().kvUsage, 0);
  });

  it('frees a cancelled request’s blocks and reports what it produced', () => {
    const { sched, submit, engine } = setup();
    const t = submit('a', tokens(5000, 1), 1000);
    sched.run(300);
    assert.ok(engine.gauges().kvUsage > 0);
    engine.cancel('a');
    assert.equal(t.finish?.reason, 'cancelled');
    assert.equal(t.finish?.completionTokens, t.tokens.length);
    assert.equal(engine.gauges().kvUsage, 0);
    assert.equal(engine.gauges().running, 0);
    sched.run();
    assert.equal(t.tokens.length, t.finish?.completionTokens, 'no token after the cancel');
  });

  it('cancels a queued request without running it', () => {
    const { sched, submit, engine } = setup({ maxNumSeqs: 1 });
    submit('a', tokens(100, 1), 50);
    const b = submit('b', tokens(100, 2), 50);
    sched.run(20);
    assert.equal(engine.gauges().waiting, 1);
    engine.cancel('b');
    sched.run();
    assert.equal(b.finish?.reason, 'cancelled');
    assert.equal(b.tokens.length, 0);
  });

  it('flushes the prefix cache and drops every request on restart', () => {
    const { sched, submit, engine } = setup();
    const p = tokens(320, 1);
    submit('a', p, 1);
    sched.run();
    const live = submit('b', tokens(500, 2), 500);
    sched.run(sched.now() + 50);
    engine.restart();
    assert.equal(live.finish?.reason, 'cancelled');
    const t = submit('c', p, 1);
    sched.run();
    assert.equal(t.finish?.cachedTokens, 0);
    assert.equal(engine.gauges().prefixHitsTokens, 0);
  });

  it('rejects a request larger than the whole KV cache', () => {
    const { submit } = setup({ numGpuBlocks: 4 });
    assert.throws(() => submit('a', tokens(100, 1), 1), RangeError);
  });
});
