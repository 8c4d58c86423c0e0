import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runPileUp } from './pile-up-harness.js';

/**
 * Issue 10: with the quick start's two identical simulated backends, token_aware sent 94–100% of ~120 req/s to one
 * of them while its load grew without bound. Here the same fleet (the simulator's simple engine, the same short
 * prompt for every request) runs on a virtual clock with the real routing code, so every run is exact and repeatable.
 */
describe('token_aware in front of identical backends that expose no engine metrics', () => {
  for (const stream of [true, false]) {
    for (const qps of [60, 120, 200]) {
      it(`splits ${qps} ${stream ? 'streamed' : 'non-streamed'} req/s at least as evenly as least_requests`, () => {
        const least = runPileUp({ policy: 'least_requests', qps, seconds: 20, stream });
        const ours = runPileUp({ policy: 'token_aware', qps, seconds: 20, stream });
        const msg = `token_aware ${JSON.stringify(ours)} vs least_requests ${JSON.stringify(least)}`;
        // least_requests splits a symmetric fleet exactly; token_aware may differ by a request in fifty (overload makes
        // both engines' batches surge and ebb together), never by a pile-up.
        assert.ok(ours.maxShare <= least.maxShare + 0.02, msg);
        // Never one backend piling up while its twin idles: the busiest backend carries no more than least_requests'
        // busiest would, give or take the in-flight bound's slack.
        assert.ok(ours.peakInFlight <= least.peakInFlight * 1.35 + 4, msg);
      });
    }
  }

  it('also when the backends do report engine metrics', () => {
    const least = runPileUp({ policy: 'least_requests', qps: 120, seconds: 20, stream: true, scrape: true });
    const ours = runPileUp({ policy: 'token_aware', qps: 120, seconds: 20, stream: true, scrape: true });
    assert.ok(ours.maxShare <= least.maxShare + 0.02 && ours.peakInFlight <= least.peakInFlight * 1.35 + 4, JSON.stringify({ ours, least }));
  });
});
