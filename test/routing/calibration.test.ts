import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendState } from '../../src/routing/state/backend-state.js';
import { Calibration } from '../../src/routing/state/calibration.js';
import type { InFlight } from '../../src/routing/state/in-flight.js';
import { DEFAULT_ENGINE_PROFILE, decodeStepMs } from '../../src/routing/twin-model.js';
import { targets } from './helpers.js';

describe('speed calibration', () => {
  it('learns speed per batch size, so a backend that went idle is priced as it measured when lightly loaded', () => {
    const c = new Calibration();
    // An engine that slows with its batch far more steeply than the profile: 1.4× at one sequence, 5.6× at 64.
    for (let i = 0; i < 600; i++) {
      const batch = 2 ** (i % 7);
      c.observeStep(1.4 * 2 ** ((i % 7) / 3), 1, batch);
    }
    assert.ok(Math.abs(c.speedAt(1) - 1.4) < 0.1, `batch 1: ${c.speedAt(1)}`);
    assert.ok(Math.abs(c.speedAt(64) - 5.6) < 0.4, `batch 64: ${c.speedAt(64)}`);
    // Then it only sees large batches for a while: what it knows about small ones is kept, not overwritten.
    for (let i = 0; i < 100; i++) c.observeStep(5.6, 1, 64);
    assert.ok(c.speedAt(1) < 2, `batch 1 after a busy spell: ${c.speedAt(1)}`);
  });

  it('uses the overall factor for a batch size it has never seen, and 1 before any sample', () => {
    const c = new Calibration();
    assert.equal(c.speedAt(16), 1);
    c.speedFactor = 2;
    assert.equal(c.speedAt(16), 2, 'a configured or learned overall speed applies until a batch size has its own');
  });

  it('measures a busy backend even while short prompts keep arriving (a sliver of prefill in the step)', () => {
    const s = new BackendState(targets(1)[0]!, DEFAULT_ENGINE_PROFILE, 64);
    const record = (): InFlight => ({
      promptTokens: 10,
      promptChars: 40,
      cachedPred: 0,
      uncached: 10,
      prefillLeft: 10,
      attnLeft: 50,
      expectedOutput: 16,
      maxOutput: Number.POSITIVE_INFINITY,
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
    });
    const decoding = Array.from({ length: 32 }, record);
    let now = 0;
    for (const r of decoding) {
      s.dispatch(r, now);
      s.firstToken(r, now);
    }
    // Every step a new short request arrives, so some prefill is always pending; steps take 3× the profile's time.
    for (let step = 0; step < 300; step++) {
      now += 3 * decodeStepMs(DEFAULT_ENGINE_PROFILE, s.decoding, s.decodeContext);
      s.dispatch(record(), now);
      for (const r of decoding) s.tokens(r, 1, now);
    }
    assert.ok(s.pendingTokens > 0, 'prefill was pending at every step');
    assert.ok(s.speed(32) > 2.5, `learned ${s.speed(32)}`);
  });
});
