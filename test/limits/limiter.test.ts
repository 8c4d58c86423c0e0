import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { createManualClock } from '../../src/core/index.js';
import { createLimiter, createMemoryLimitStore } from '../../src/limits/index.js';
import { alice, refusal, rules } from './helpers.js';

describe('requests per minute', () => {
  it('admits rpm requests, then refuses with the real wait, then refills lazily', () => {
    const clock = createManualClock();
    const limiter = createLimiter(rules([{ match: { subject: '*' }, rpm: 60 }]), { clock });
    for (let i = 0; i < 60; i++) limiter.reserve({ ...alice, estimatedTokens: 1 }).settle(1);
    const err = refusal(() => limiter.reserve({ ...alice, estimatedTokens: 1 }));
    assert.equal(err.wireCode, 'rate_limit_exceeded');
    assert.equal(err.headers?.['retry-after'], '1');
    assert.equal(err.headers?.['retry-after-ms'], '1000');
    assert.equal(err.headers?.['x-ratelimit-remaining-requests'], '0');
    assert.match(err.message, /requests per minute \(subject "alice"\): limit 60/);
    clock.advance(999);
    refusal(() => limiter.reserve({ ...alice, estimatedTokens: 1 }));
    clock.advance(1);
    limiter.reserve({ ...alice, estimatedTokens: 1 });
  });

  it('gives each distinct value of a "*" match its own bucket', () => {
    const limiter = createLimiter(rules([{ match: { subject: '*' }, rpm: 1 }]), { clock: createManualClock() });
    limiter.reserve({ ...alice, estimatedTokens: 0 });
    limiter.reserve({ ...alice, subject: 'bob', estimatedTokens: 0 });
    refusal(() => limiter.reserve({ ...alice, estimatedTokens: 0 }));
  });

  it('keeps matching right for every (subject, team, model), however many callers it has seen', () => {
    const limiter = createLimiter(
      rules([
        { match: { subject: '*' }, rpm: 2 },
        { match: { team: 'research' }, rpm: 1000 },
        { match: { subject: '*', model: 'big' }, rpm: 1 },
      ]),
      { clock: createManualClock() },
    );
    limiter.reserve({ ...alice, estimatedTokens: 0 });
    // Same subject, other model: the per-model rule applies there only.
    limiter.reserve({ ...alice, model: 'big', estimatedTokens: 0 });
    refusal(() => limiter.reserve({ ...alice, model: 'big', estimatedTokens: 0 }));
    // A flood of distinct callers (past the matched-rule cache's bound) changes nothing for alice's buckets.
    for (let i = 0; i < 10_050; i++) limiter.reserve({ subject: `u${i}`, team: null, model: 'llama', estimatedTokens: 0 });
    refusal(() => limiter.reserve({ ...alice, team: null, estimatedTokens: 0 }));
    refusal(() => limiter.reserve({ ...alice, model: 'big', estimatedTokens: 0 }));
    // A team of the same name as a subject is another dimension, not another subject.
    limiter.reserve({ subject: 'research', team: 'alice', model: 'llama', estimatedTokens: 0 });
  });

  it('lets a specific rule override the "*" default of the same shape, while other shapes still apply', () => {
    const limiter = createLimiter(
      rules([
        { match: { subject: '*' }, rpm: 1 },
        { match: { subject: 'alice' }, rpm: 3 },
        { match: { team: 'research' }, rpm: 4 },
      ]),
      { clock: createManualClock() },
    );
    for (let i = 0; i < 3; i++) limiter.reserve({ ...alice, estimatedTokens: 0 });
    refusal(() => limiter.reserve({ ...alice, estimatedTokens: 0 }));
    limiter.reserve({ ...alice, subject: 'carol', estimatedTokens: 0 }); // team bucket: 4th
    const err = refusal(() => limiter.reserve({ ...alice, subject: 'dave', estimatedTokens: 0 }));
    assert.match(err.message, /team "research"/);
  });

  it('picks the most specific rule whatever the order in the file', () => {
    const limiter = createLimiter(
      rules([
        { match: { subject: 'alice', model: '*' }, rpm: 2 },
        { match: { subject: '*', model: '*' }, rpm: 1 },
      ]),
      { clock: createManualClock() },
    );
    limiter.reserve({ ...alice, estimatedTokens: 0 });
    limiter.reserve({ ...alice, estimatedTokens: 0 });
    refusal(() => limiter.reserve({ ...alice, estimatedTokens: 0 }));
  });

  it('skips team rules for principals without a team', () => {
    const limiter = createLimiter(rules([{ match: { team: '*' }, rpm: 1 }]), { clock: createManualClock() });
    for (let i = 0; i < 5; i++) limiter.reserve({ subject: 'x', team: null, model: 'm', estimatedTokens: 1 });
  });
});

describe('tokens per minute', () => {
  it('reserves the estimate and refunds the unused part on settle', () => {
    const clock = createManualClock();
    const limiter = createLimiter(rules([{ match: {}, tpm: 1000 }]), { clock });
    const r = limiter.reserve({ ...alice, estimatedTokens: 600 });
    assert.equal(r.headers['x-ratelimit-remaining-tokens'], '400');
    assert.equal(r.headers['x-ratelimit-limit-tokens'], '1000');
    assert.equal(r.headers['x-ratelimit-reset-tokens'], '36s');
    refusal(() => limiter.reserve({ ...alice, estimatedTokens: 500 }));
    r.settle(100);
    r.settle(0); // idempotent: no second refund
    const r2 = limiter.reserve({ ...alice, estimatedTokens: 900 });
    assert.equal(r2.headers['x-ratelimit-remaining-tokens'], '0');
  });

  it('charges usage beyond the estimate so later requests wait for the debt', () => {
    const clock = createManualClock();
    const limiter = createLimiter(rules([{ match: {}, tpm: 600 }]), { clock });
    limiter.reserve({ ...alice, estimatedTokens: 100 }).settle(700); // balance now -100
    const err = refusal(() => limiter.reserve({ ...alice, estimatedTokens: 50 }));
    // 150 tokens missing at 10 tokens/s
    assert.equal(err.headers?.['retry-after-ms'], '15000');
    clock.advance(15_000);
    limiter.reserve({ ...alice, estimatedTokens: 50 });
  });

  it('refuses a request larger than the whole limit without a retry hint', () => {
    const limiter = createLimiter(rules([{ match: { subject: '*' }, tpm: 1000 }]), { clock: createManualClock() });
    const err = refusal(() => limiter.reserve({ ...alice, estimatedTokens: 1001 }));
    assert.match(err.message, /Request too large/);
    assert.equal(err.headers?.['retry-after'], undefined);
    assert.equal(err.headers?.['x-should-retry'], 'false');
  });

  it('leaves every bucket untouched when one of them refuses', () => {
    const limiter = createLimiter(rules([{ match: {}, rpm: 100 }, { match: { subject: '*' }, tpm: 100 }]), { clock: createManualClock() });
    refusal(() => limiter.reserve({ ...alice, estimatedTokens: 200 }));
    const r = limiter.reserve({ ...alice, estimatedTokens: 10 });
    assert.equal(r.headers['x-ratelimit-remaining-requests'], '99');
  });
});

describe('concurrency', () => {
  it('holds a slot until settle', () => {
    const limiter = createLimiter(rules([{ match: { team: 'research' }, concurrency: 2 }]), { clock: createManualClock() });
    const a = limiter.reserve({ ...alice, estimatedTokens: 1 });
    limiter.reserve({ ...alice, estimatedTokens: 1 });
    const err = refusal(() => limiter.reserve({ ...alice, estimatedTokens: 1 }));
    assert.match(err.message, /concurrent/);
    assert.equal(err.headers?.['retry-after'], '1');
    a.settle(1);
    a.settle(1); // a second settle must not free a second slot
    limiter.reserve({ ...alice, estimatedTokens: 1 });
    refusal(() => limiter.reserve({ ...alice, estimatedTokens: 1 }));
  });

  it('never overruns a token limit under 50 simultaneous requests', async () => {
    const clock = createManualClock();
    const limiter = createLimiter(rules([{ match: { subject: '*' }, tpm: 1000, concurrency: 8 }]), { clock });
    let admitted = 0;
    let inFlight = 0;
    let peak = 0;
    const one = async (i: number) => {
      await tick();
      let r;
      try {
        r = limiter.reserve({ ...alice, estimatedTokens: 100 });
      } catch {
        return;
      }
      admitted++;
      peak = Math.max(peak, ++inFlight);
      for (let k = 0; k < (i % 3) + 1; k++) await tick();
      inFlight--;
      r.settle(100);
    };
    await Promise.all(Array.from({ length: 50 }, (_, i) => one(i)));
    assert.ok(peak <= 8, `peak concurrency ${peak}`);
    assert.ok(admitted * 100 <= 1000, `admitted ${admitted} × 100 tokens`);
    assert.ok(admitted >= 8);
  });
});

describe('memory bounds', () => {
  it('drops idle keys as new ones arrive and caps the total', () => {
    const clock = createManualClock();
    const store = createMemoryLimitStore({ maxKeys: 5000 });
    const limiter = createLimiter(rules([{ match: { subject: '*' }, rpm: 10 }]), { clock, store });
    for (let i = 0; i < 10_000; i++) limiter.reserve({ ...alice, subject: `s${i}`, estimatedTokens: 0 }).settle(0);
    assert.equal(store.size, 5000);
    assert.ok(store.evictions > 0);
    clock.advance(60_000); // every bucket has refilled and is idle
    for (let i = 0; i < 3000; i++) limiter.reserve({ ...alice, subject: `t${i}`, estimatedTokens: 0 }).settle(0);
    assert.ok(store.size <= 3100, `idle keys were swept, size ${store.size}`);
  });

  it('keeps buckets across a config reload when the store is passed on', () => {
    const clock = createManualClock();
    const store = createMemoryLimitStore();
    const first = createLimiter(rules([{ match: { subject: '*' }, rpm: 2 }]), { clock, store });
    first.reserve({ ...alice, estimatedTokens: 0 });
    first.reserve({ ...alice, estimatedTokens: 0 });
    const second = createLimiter(rules([{ match: { subject: '*' }, rpm: 3 }]), { clock, store });
    second.reserve({ ...alice, estimatedTokens: 0 });
    refusal(() => second.reserve({ ...alice, estimatedTokens: 0 }));
  });
});
