import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineFinish, Scheduler, SchedulerHandle } from '../../src/sim/engine/types.js';
import { createRealtimeScheduler, createSimpleEngine, parseFaultHeader, tokenize } from '../../src/sim/index.js';
import { mergeFaults } from '../../src/sim/faults.js';
import { planLength } from '../../src/sim/generation/plan.js';
import { chooseTool, sampleFromSchema } from '../../src/sim/generation/tool-calls.js';
import { applyStop } from '../../src/sim/text/generator.js';
import { tokenPieces } from '../../src/sim/text/tokenizer.js';

/** A virtual-time scheduler: run() executes due work in time order. */
function virtualScheduler(): Scheduler & { run(): void } {
  let now = 0;
  let id = 0;
  const queue: { at: number; id: number; fn: () => void }[] = [];
  return {
    now: () => now,
    at(at, fn) {
      const h = { at: Math.max(at, now), id: ++id, fn };
      queue.push(h);
      return { id: h.id };
    },
    cancel(handle: SchedulerHandle) {
      const i = queue.findIndex((q) => q.id === handle.id);
      if (i >= 0) queue.splice(i, 1);
    },
    run() {
      while (queue.length) {
        queue.sort((a, b) => a.at - b.at || a.id - b.id);
        const next = queue.shift()!;
        now = next.at;
        next.fn();
      }
    },
  };
}

describe('simulator tokenizer and text', () => {
  test('tokenizes deterministically, about four characters per token, with shared prefixes giving shared ids', () => {
    const text = 'The quick brown fox jumps over the lazy dog, again and again: 12345!';
    assert.deepEqual(tokenize(text), tokenize(text));
    assert.equal(tokenPieces(text).join(''), text);
    const n = tokenize(text).length;
    assert.ok(n >= text.length / 6 && n <= text.length / 2, `${n} tokens`);
    const a = tokenize('shared system prompt. question one');
    const b = tokenize('shared system prompt. another question');
    assert.deepEqual(a.slice(0, 4), b.slice(0, 4));
  });

  test('ends output at max_tokens, min_tokens and ignore_eos as vLLM does', () => {
    const base = { natural: 16, maxTokens: null, minTokens: 0, ignoreEos: false };
    assert.deepEqual(planLength(base), { tokens: 16, finish: 'stop' });
    assert.deepEqual(planLength({ ...base, maxTokens: 5 }), { tokens: 5, finish: 'length' });
    assert.deepEqual(planLength({ ...base, maxTokens: 16 }), { tokens: 16, finish: 'stop' });
    assert.deepEqual(planLength({ ...base, minTokens: 30, maxTokens: 20 }), { tokens: 20, finish: 'length' });
    assert.deepEqual(planLength({ ...base, maxTokens: 100, ignoreEos: true }), { tokens: 100, finish: 'length' });
  });

  test('cuts text before the earliest stop string, inside a piece when needed', () => {
    const pieces = ['Hello', ' wor', 'ld', ' again'];
    assert.equal(applyStop(pieces, ['ld a', 'again']), 'ld a');
    assert.deepEqual(pieces, ['Hello', ' wor']);
    const p2 = ['abc', 'def'];
    assert.equal(applyStop(p2, ['cd']), 'cd');
    assert.deepEqual(p2, ['ab']);
  });

  test('chooses tools deterministically and fills arguments from the schema', () => {
    const tools = [
      { type: 'function', function: { name: 'a_tool', parameters: { type: 'object' } } },
      { type: 'function', function: { name: 'b_tool', parameters: { type: 'object' } } },
    ];
    assert.equal(chooseTool(tools, 'auto', 'please use b_tool')?.name, 'b_tool');
    assert.equal(chooseTool(tools, 'auto', 'nothing'), null);
    assert.equal(chooseTool(tools, 'required', 'nothing')?.name, 'a_tool');
    assert.equal(chooseTool(tools, 'none', 'a_tool'), null);
    assert.deepEqual(
      sampleFromSchema({ type: 'object', properties: { s: { type: 'string' }, n: { type: 'number' }, b: { type: 'boolean' }, l: { type: 'array', items: { type: 'integer' } }, o: { type: 'object', properties: { e: { enum: ['z'] } } } } }),
      { s: 'x', n: 1, b: true, l: [1], o: { e: 'z' } },
    );
  });

  test('parses fault headers with URL-decoded values and merges layers key by key', () => {
    assert.deepEqual(parseFaultHeader('status=503, message=a%2Cb ,refuse, bogus=1, drop_after_chunks=-1'), { status: 503, message: 'a,b', refuse: true });
    assert.deepEqual(mergeFaults({ status: 500, token_delay_ms: 5 }, null, { status: 503 }), { status: 503, token_delay_ms: 5 });
  });
});

describe('simulator simple engine', () => {
  test('times the first token by prompt length and load, then tokens by ITL, and frees on finish', () => {
    const sched = virtualScheduler();
    const engine = createSimpleEngine(sched, { ttftMs: 40, itlMs: 8, speed: 2 });
    const times: number[] = [];
    let finish: EngineFinish | undefined;
    engine.submit({ id: 'a', promptTokenIds: new Array(100).fill(1), outputTokens: 3 }, { onToken: () => times.push(sched.now()), onFinish: (f) => (finish = f) });
    assert.equal(engine.snapshot().running, 1);
    sched.run();
    assert.deepEqual(times, [21, 25, 29]); // (40 + 100*0.02) / 2, then 8 / 2 apart
    assert.deepEqual(finish, { promptTokens: 100, cachedTokens: 0, completionTokens: 3, reason: 'finished' });
    const snap = engine.snapshot();
    assert.equal(snap.running, 0);
    assert.equal(snap.generationTokensTotal, 3);
    assert.equal(snap.promptTokensTotal, 100);
  });

  test('queues past maxRunning, slows with load and cancels queued and running requests', () => {
    const sched = virtualScheduler();
    const engine = createSimpleEngine(sched, { ttftMs: 10, itlMs: 10, maxRunning: 2 });
    const finished: Record<string, EngineFinish> = {};
    const first: Record<string, number> = {};
    for (const id of ['a', 'b', 'c', 'd']) {
      engine.submit({ id, promptTokenIds: [], outputTokens: 2 }, { onToken: (i) => i === 0 && (first[id] = sched.now()), onFinish: (f) => (finished[id] = f) });
    }
    assert.deepEqual([engine.snapshot().running, engine.snapshot().waiting], [2, 2]);
    assert.ok(engine.snapshot().kvUsage >= 0);
    engine.cancel('c');
    assert.equal(finished['c']?.reason, 'cancelled');
    assert.equal(engine.snapshot().waiting, 1);
    sched.run();
    assert.equal(first['a'], 10);
    assert.ok(Math.abs(first['b']! - 11) < 1e-9); // admitted with one running: ×1.1
    assert.equal(finished['d']?.reason, 'finished');
    engine.submit({ id: 'e', promptTokenIds: [], outputTokens: 5 }, { onToken: () => {}, onFinish: (f) => (finished['e'] = f) });
    engine.restart();
    assert.equal(finished['e']?.reason, 'cancelled');
    assert.equal(engine.snapshot().running, 0);
  });

  test('maps simulated time to real time with the time scale', async () => {
    const sched = createRealtimeScheduler(0.1);
    const t0 = performance.now();
    await new Promise<void>((resolve) => sched.at(sched.now() + 300, resolve));
    const real = performance.now() - t0;
    assert.ok(real >= 25 && real < 200, `${real} ms`);
    const h = sched.at(sched.now() + 10, () => assert.fail('cancelled work ran'));
    sched.cancel(h);
    await new Promise((r) => setTimeout(r, 20));
  });
});
