import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createManualClock } from '../../src/core/index.js';
import { createRetryBudget } from '../../src/routing/index.js';

function withdrawAll(budget: ReturnType<typeof createRetryBudget>, max = 10_000): number {
  let n = 0;
  while (n < max && budget.tryWithdraw()) n++;
  return n;
}

describe('retry budget', () => {
  it('allows the floor of min_per_second over the window when there is no traffic', () => {
    const budget = createRetryBudget({ clock: createManualClock(), ratio: 0.2, minPerSecond: 3, windowMs: 2000 });
    assert.equal(withdrawAll(budget), 6);
    assert.equal(budget.tryWithdraw(), false);
    assert.equal(budget.available(), 0);
  });

  it('allows retries in proportion to requests on top of the floor', () => {
    const budget = createRetryBudget({ clock: createManualClock(), ratio: 0.2, minPerSecond: 0 });
    for (let i = 0; i < 100; i++) budget.deposit();
    assert.equal(budget.available(), 20);
    assert.equal(withdrawAll(budget), 20);
    for (let i = 0; i < 5; i++) budget.deposit();
    assert.equal(withdrawAll(budget), 1, 'five more requests earn one more retry');
  });

  it('caps the load a failing fleet sees at (1 + ratio) times the requests once the floor is spent', () => {
    const clock = createManualClock();
    const budget = createRetryBudget({ clock, ratio: 0.1, minPerSecond: 1, windowMs: 10_000 });
    let attempts = 0;
    // 1000 requests within one 10 s window, each wanting 2 retries on a fleet where every attempt fails.
    for (let i = 0; i < 1000; i++) {
      clock.advance(9);
      budget.deposit();
      attempts++;
      for (let r = 0; r < 2 && budget.tryWithdraw(); r++) attempts++;
    }
    // Without a budget: 3000 attempts. With it: 1000 requests + 10% of them + the 10-retry floor.
    assert.ok(attempts <= 1000 + 100 + 10, `attempts ${attempts}`);
    assert.ok(attempts >= 1000 + 100, `attempts ${attempts}`);
  });

  it('forgets requests and retries that left the sliding window', () => {
    const clock = createManualClock();
    const budget = createRetryBudget({ clock, ratio: 0.5, minPerSecond: 0, windowMs: 1000, buckets: 10 });
    for (let i = 0; i < 10; i++) budget.deposit();
    assert.equal(withdrawAll(budget), 5);
    clock.advance(500);
    for (let i = 0; i < 10; i++) budget.deposit();
    assert.equal(withdrawAll(budget), 5, 'the new half-window adds 5');
    clock.advance(600);
    // The first 10 requests and their 5 retries are out of the window: 10 requests, 5 retries remain.
    assert.equal(budget.available(), 0);
    clock.advance(500);
    assert.equal(budget.available(), 0, 'everything expired: no requests, no retries');
    for (let i = 0; i < 4; i++) budget.deposit();
    assert.equal(budget.available(), 2);
  });

  it('expires counts one bucket at a time, not all at once at the end of the window', () => {
    const clock = createManualClock();
    const budget = createRetryBudget({ clock, ratio: 1, minPerSecond: 0, windowMs: 1000, buckets: 4 });
    for (let step = 0; step < 4; step++) {
      for (let i = 0; i < 10; i++) budget.deposit();
      clock.advance(250);
    }
    // Now at t=1000: the bucket of t=[0,250) has just left the window.
    assert.equal(budget.available(), 30);
    clock.advance(250);
    assert.equal(budget.available(), 20);
    clock.advance(10_000);
    assert.equal(budget.available(), 0);
  });

  it('denies every retry with a zero ratio and no floor', () => {
    const budget = createRetryBudget({ clock: createManualClock(), ratio: 0, minPerSecond: 0 });
    for (let i = 0; i < 1000; i++) budget.deposit();
    assert.equal(budget.tryWithdraw(), false);
  });

  it('applies a new ratio and floor at once and keeps the counts', () => {
    const budget = createRetryBudget({ clock: createManualClock(), ratio: 0, minPerSecond: 0 });
    for (let i = 0; i < 10; i++) budget.deposit();
    assert.equal(budget.tryWithdraw(), false);
    budget.configure({ ratio: 0.5, minPerSecond: 0 });
    assert.equal(withdrawAll(budget), 5);
    budget.configure({ ratio: 0.5, minPerSecond: 0, windowMs: 5000 });
    assert.equal(budget.available(), 0, 'a new window starts from empty counts');
  });

  it('rejects nonsensical settings', () => {
    assert.throws(() => createRetryBudget({ ratio: -0.1 }), /ratio/);
    assert.throws(() => createRetryBudget({ ratio: Number.NaN }), /ratio/);
    assert.throws(() => createRetryBudget({ minPerSecond: -1 }), /minPerSecond/);
    assert.throws(() => createRetryBudget({ windowMs: 0 }), /windowMs/);
    assert.throws(() => createRetryBudget({ buckets: 1.5 }), /buckets/);
  });
});
