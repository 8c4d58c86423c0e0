import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../src/core/index.js';
import { GatewayQueue } from '../../src/routing/gateway-queue.js';
import type { BackendTarget } from '../../src/routing/types.js';
import { pool, request, setup, targets } from './helpers.js';

describe('gateway queue ordering', () => {
  it('serves the shortest predicted service first', () => {
    const q = new GatewayQueue<string>();
    q.push('long', 0, 500);
    q.push('short', 0, 50);
    q.push('mid', 0, 200);
    assert.deepEqual([q.pop()?.payload, q.pop()?.payload, q.pop()?.payload], ['short', 'mid', 'long']);
  });

  it('ages waiting items so a long request is not starved by a stream of short ones', () => {
    const q = new GatewayQueue<string>({ aging: 1 });
    q.push('long', 0, 500);
    q.push('short-late', 600, 50);
    assert.equal(q.pop()?.payload, 'long', 'waited 600 ms > the 450 ms service gap');
  });

  it('refuses items beyond its bound', () => {
    const q = new GatewayQueue<number>({ maxQueued: 2 });
    assert.ok(q.push(1, 0, 1));
    assert.ok(q.push(2, 0, 1));
    assert.equal(q.push(3, 0, 1), null);
  });

  it('removes an item from the middle', () => {
    const q = new GatewayQueue<number>();
    const items = [5, 1, 4, 2, 3].map((s) => q.push(s, 0, s));
    assert.ok(q.remove(items[2]!));
    assert.deepEqual([1, 2, 3, 5].map(() => q.pop()?.payload), [1, 2, 3, 5]);
  });
});

describe('late binding in the routing core', () => {
  function saturate(core: ReturnType<typeof setup>['core'], t: readonly BackendTarget[]) {
    // Three full steps of uncached prefill queued on every backend.
    const trackers = [];
    for (const target of t) {
      for (let i = 0; i < 3; i++) {
        const req = request(8192, `fill-${target.id}-${i}`);
        core.plan(pool('round_robin', t), [target], req, { resolve() {}, reject() {} });
        trackers.push(core.begin(target, req));
      }
    }
    return trackers;
  }

  it('queues a request when every backend is saturated and dispatches it on the next capacity signal', () => {
    const { core } = setup();
    const t = targets(2);
    const busy = saturate(core, t);
    let got: BackendTarget[] | null = null;
    const r = core.plan(pool('token_aware', t), t, request(500, 'q'), { resolve: (o) => (got = o), reject: assert.fail });
    assert.ok(!Array.isArray(r), 'queued');
    assert.equal(core.queued, 1);
    for (const tr of busy.slice(0, 4)) {
      tr.firstToken();
      tr.end({ ok: true, promptTokens: 8192, cachedTokens: 0, completionTokens: 1 });
    }
    assert.ok(got, 'dispatched once a backend drained');
    assert.equal(core.queued, 0);
  });

  it('answers 429 with Retry-After once the maximum wait has passed', () => {
    const { core, advance } = setup();
    const t = targets(1);
    saturate(core, t);
    let err: unknown = null;
    core.plan(pool('token_aware', t), t, request(500, 'q'), { resolve: () => assert.fail('not dispatched'), reject: (e) => (err = e) });
    advance(30_000);
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 429);
    assert.ok(Number(err.headers?.['retry-after']) >= 1);
  });

  it('answers 429 at once when the queue is full', () => {
    const { core } = setup();
    const t = targets(1);
    saturate(core, t);
    const small = new (core.constructor as typeof import('../../src/routing/core.js').RoutingCore)({ queue: { maxQueued: 0 } });
    saturate(small, t);
    assert.throws(() => small.plan(pool('token_aware', t), t, request(500, 'q'), { resolve() {}, reject() {} }), (e: unknown) => e instanceof GatewayError && e.status === 429);
  });

  it('lets the baselines bind immediately even when saturated', () => {
    const { core } = setup();
    const t = targets(1);
    saturate(core, t);
    const r = core.plan(pool('least_requests', t), t, request(500, 'q'), { resolve() {}, reject() {} });
    assert.ok(Array.isArray(r));
  });
});
