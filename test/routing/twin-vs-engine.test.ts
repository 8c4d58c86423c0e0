import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Calibration } from '../../src/routing/state/calibration.js';
import { homogeneous } from '../../src/sim/des/fleet.js';
import { runSimulation } from '../../src/sim/des/runner.js';
import { catalogEntry } from '../../src/sim/des/catalog.js';

describe('token_aware’s prefix twin against the simulator’s own cache', () => {
  it('predicts the cached tokens each backend reports for most requests', () => {
    // Record (predicted, reported) pairs as the routing state reconciles them with each response's usage.
    const pairs: [number, number][] = [];
    const original = Calibration.prototype.observeCacheHit;
    Calibration.prototype.observeCacheHit = function (predicted: number, reported: number, tolerance: number, prompt: number) {
      pairs.push([predicted, reported]);
      original.call(this, predicted, reported, tolerance, prompt);
    };
    try {
      runSimulation({ workload: catalogEntry('b2b-saas').build(0.15), policy: 'token_aware', qps: 10, seed: 3, backends: homogeneous(4) });
    } finally {
      Calibration.prototype.observeCacheHit = original;
    }
    const close = pairs.filter(([p, r]) => Math.abs(p - r) <= Math.max(64, 0.05 * Math.max(p, r))).length;
    assert.ok(pairs.length > 500, `${pairs.length} responses`);
    assert.ok(close / pairs.length >= 0.9, `${((100 * close) / pairs.length).toFixed(1)}% within 5%`);
  });
});
