import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { catalogEntry } from '../../src/sim/des/catalog.js';
import { homogeneous } from '../../src/sim/des/fleet.js';
import { runSimulation } from '../../src/sim/des/runner.js';

/**
 * The replica exchange in virtual time: three RoutingCores behind a round-robin front over the vLLM-like engine, with
 * and without their ReplicaExchanges talking (batches every 50 ms, delivered 1 ms later). Deterministic: the same
 * seed gives the same run, so these are assertions on the design, not on a machine's speed.
 */
describe('gateway replicas in the discrete-event harness', () => {
  const base = { workload: catalogEntry('b2b-saas').build(0.1), backends: homogeneous(4), qps: 8, seed: 3, policy: 'token_aware' as const };
  const hit = (r: ReturnType<typeof runSimulation>) => r.cachedTokens / Math.max(1, r.promptTokens);

  test('three replicas that exchange state keep the prefix-cache hit ratio of one gateway within 2 points', () => {
    const one = runSimulation(base);
    const shared = runSimulation({ ...base, front: { gateways: 3, exchange: { intervalMs: 50, staleMs: 1000, delayMs: 1 } } });
    const blind = runSimulation({ ...base, front: { gateways: 3, exchange: null } });
    assert.ok(hit(shared) >= hit(one) - 0.02, `3 with exchange ${hit(shared).toFixed(3)} vs 1 ${hit(one).toFixed(3)}`);
    assert.ok(hit(blind) < hit(shared) - 0.02, `3 without exchange ${hit(blind).toFixed(3)} should be clearly below ${hit(shared).toFixed(3)}`);
  });

  test('one gateway behind the front is the runner without it', () => {
    const a = runSimulation(base);
    const b = runSimulation({ ...base, front: { gateways: 1, exchange: null } });
    assert.deepEqual(a.ttftMs, b.ttftMs);
  });
});
