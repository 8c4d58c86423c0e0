import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createManualClock } from '../../src/core/index.js';
import { HealthState, type HealthTransition } from '../../src/routing/health/health-state.js';

describe('backend health state machine', () => {
  it('ejects at once on a refused connection and returns half-open after the backoff', () => {
    const clock = createManualClock();
    const h = new HealthState({ baseEjectMs: 1000 });
    h.onFailure('connect', clock.now());
    assert.equal(h.status(clock.now()), 'ejected');
    assert.equal(h.isHealthy(clock.now()), false);
    clock.advance(999);
    assert.equal(h.isHealthy(clock.now()), false);
    clock.advance(1);
    assert.equal(h.status(clock.now()), 'half_open');
    assert.equal(h.isHealthy(clock.now()), true);
    h.onSuccess(clock.now());
    assert.equal(h.status(clock.now()), 'healthy');
  });

  it('ejects after N consecutive 5xx or timeouts, and a success in between resets the count', () => {
    const clock = createManualClock();
    const h = new HealthState({ ejectAfter: 3 });
    h.onFailure('status_5xx', 0);
    h.onFailure('timeout', 0);
    h.onSuccess(clock.now());
    h.onFailure('status_5xx', 0);
    h.onFailure('reset', 0);
    assert.equal(h.status(0), 'healthy');
    h.onFailure('status_5xx', 0);
    assert.equal(h.status(0), 'ejected');
  });

  it('doubles the ejection each time a half-open trial fails, up to the cap', () => {
    const clock = createManualClock();
    const h = new HealthState({ baseEjectMs: 1000, maxEjectMs: 5000 });
    const lengths: number[] = [];
    for (let i = 0; i < 5; i++) {
      h.onFailure('connect', clock.now());
      const start = clock.now();
      while (!h.isHealthy(clock.now())) clock.advance(100);
      lengths.push(clock.now() - start);
    }
    assert.deepEqual(lengths, [1000, 2000, 4000, 5000, 5000]);
    h.onSuccess(clock.now());
    h.onFailure('connect', clock.now());
    const start = clock.now();
    while (!h.isHealthy(clock.now())) clock.advance(100);
    assert.equal(clock.now() - start, 1000, 'a success resets the backoff');
  });

  it('re-ejects a half-open backend on its first failure', () => {
    const h = new HealthState({ ejectAfter: 5, baseEjectMs: 1000 });
    h.onFailure('connect', 0);
    assert.equal(h.status(1000), 'half_open');
    h.onFailure('status_5xx', 1000);
    assert.equal(h.status(1000), 'ejected');
  });

  it('never ejects for 429', () => {
    const h = new HealthState({ ejectAfter: 1 });
    for (let i = 0; i < 10; i++) h.onFailure('status_429', 0);
    assert.equal(h.status(0), 'healthy');
  });

  it('marks a backend down after failed probes and back up after good ones', () => {
    const h = new HealthState({ unhealthyThreshold: 2, healthyThreshold: 2 });
    h.onProbe(false, 0);
    assert.equal(h.isHealthy(0), true, 'one failed probe is not enough');
    h.onProbe(false, 0);
    assert.equal(h.status(0), 'probe_down');
    h.onProbe(true, 0);
    assert.equal(h.status(0), 'probe_down');
    h.onProbe(true, 0);
    assert.equal(h.isHealthy(0), true);
  });

  it('failures of requests in flight when it was ejected are one ejection: neither counted again nor doubling it', () => {
    // 20 requests in flight when the backend broke: the first three eject it, the other 17 fail while it is out.
    const r: string[] = [];
    const h = new HealthState({ ejectAfter: 3, baseEjectMs: 1000, maxEjectMs: 30_000 }, (t) => void r.push(`${t.from}→${t.to}${t.ejectedForMs ? ` ${t.ejectedForMs}` : ''}`));
    for (let i = 0; i < 20; i++) h.onFailure(i % 2 ? 'reset' : 'timeout', i);
    assert.equal(h.ejectionsTotal, 1, 'infergate_backend_ejections_total counts what the log shows: one ejection');
    // Every third failure while out extends it to its own length from then (the last at t=17), never doubling it.
    assert.equal(h.status(1016), 'ejected');
    assert.equal(h.status(1017), 'half_open', 'out for 1 s after the last failures, not 2^5 s');
    h.check(1017);
    h.onFailure('status_5xx', 1017);
    assert.equal(h.ejectedUntil, 1017 + 2000, 'a failed trial is the second ejection: doubled once');
    assert.equal(h.ejectionsTotal, 2);
    assert.deepEqual(r, ['healthy→ejected 1000', 'ejected→half_open', 'half_open→ejected 2000']);
  });

  it('a backend back from probe_down is half-open, whatever ejection was running when it went down', () => {
    // A crash under load: in-flight requests reset (ejected), the probes are refused (down), then it restarts.
    const r: string[] = [];
    const h = new HealthState({ ejectAfter: 3, baseEjectMs: 30_000, maxEjectMs: 30_000, unhealthyThreshold: 2, healthyThreshold: 2 }, (t) => void r.push(`${t.from}→${t.to}`));
    for (let i = 0; i < 3; i++) h.onFailure('reset', 0);
    h.onProbe(false, 1000, 'ECONNREFUSED');
    h.onProbe(false, 2000, 'ECONNREFUSED');
    assert.equal(h.status(2000), 'probe_down');
    h.onProbe(true, 3000);
    h.onProbe(true, 4000);
    assert.equal(h.status(4000), 'half_open', 'restarted and answering its probes: on trial, not out for the rest of 30 s');
    h.onSuccess(4100);
    assert.equal(h.status(4100), 'healthy');
    assert.deepEqual(r, ['healthy→ejected', 'ejected→probe_down', 'probe_down→half_open', 'half_open→healthy']);
  });

  it('lets a good probe end an ejection for refused connections early, but not one for 5xx', () => {
    const a = new HealthState({ baseEjectMs: 10_000 });
    a.onFailure('connect', 0);
    a.onProbe(true, 100);
    assert.equal(a.status(100), 'half_open');
    const b = new HealthState({ baseEjectMs: 10_000, ejectAfter: 1 });
    b.onFailure('status_5xx', 0);
    b.onProbe(true, 100);
    assert.equal(b.status(100), 'ejected');
  });
});

describe('health transitions', () => {
  const recorder = () => {
    const seen: string[] = [];
    return { seen, on: (t: HealthTransition) => void seen.push(`${t.from}→${t.to}: ${t.reason}${t.ejectedForMs !== undefined ? ` (${t.ejectedForMs} ms)` : ''}`) };
  };

  it('reports each change of status once, with its reason', () => {
    const r = recorder();
    const h = new HealthState({ ejectAfter: 2, baseEjectMs: 1000, unhealthyThreshold: 2, healthyThreshold: 1 }, r.on);
    h.onFailure('status_5xx', 0);
    h.onFailure('timeout', 0);
    h.onFailure('reset', 10); // already ejected: extends nothing new in the log
    h.check(500);
    h.check(1000);
    h.check(1500);
    h.onSuccess(1600);
    h.onSuccess(1700);
    h.onProbe(false, 2000, '/health answered 503');
    h.onProbe(false, 2100, '/health answered 503');
    h.onProbe(false, 2200, 'timeout');
    h.onProbe(true, 2300);
    h.onSuccess(2400);
    assert.deepEqual(r.seen, [
      'healthy→ejected: 2 consecutive failures (last: timeout) (1000 ms)',
      'ejected→half_open: ejection over; the next request is a trial',
      'half_open→healthy: a request succeeded',
      'healthy→probe_down: 2 failed probes (last: /health answered 503)',
      'probe_down→half_open: 1 good probe',
      'half_open→healthy: a request succeeded',
    ]);
  });

  it('reports a refused connection, a failed trial and a probe ending an ejection early', () => {
    const r = recorder();
    const h = new HealthState({ baseEjectMs: 1000 }, r.on);
    h.onFailure('connect', 0);
    h.check(1000);
    h.onFailure('status_5xx', 1000);
    h.onFailure('connect', 1100);
    h.onProbe(true, 1200);
    assert.deepEqual(r.seen, [
      'healthy→ejected: connection refused or failed (1000 ms)',
      'ejected→half_open: ejection over; the next request is a trial',
      'half_open→ejected: trial request failed (status_5xx) (2000 ms)',
      'ejected→half_open: probe answered after refused connections',
    ]);
    assert.equal(h.ejectionsTotal, 2, 'the refused connection while ejected is not another ejection');
  });
});
