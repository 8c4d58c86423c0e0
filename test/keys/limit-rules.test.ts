import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createManualClock } from '../../src/core/index.js';
import { createLimiter } from '../../src/limits/index.js';
import { stateKey } from '../../src/limits/rules.js';
import { alice, refusal, rules } from '../limits/helpers.js';

describe('the limits key dimension (per API key rules)', () => {
  it('applies a key rule only to requests made with that key, beside the subject rules', () => {
    const limiter = createLimiter(
      rules([
        { match: { key: 'k1' }, rpm: 1 },
        { match: { subject: '*' }, rpm: 3 },
      ]),
      { clock: createManualClock() },
    );
    limiter.reserve({ ...alice, key: 'k1', estimatedTokens: 0 });
    const err = refusal(() => limiter.reserve({ ...alice, key: 'k1', estimatedTokens: 0 }));
    assert.match(err.message, /key "k1"/);
    // The same subject with a JWT (no key) or another key is not held by k1's bucket, only by its own subject's.
    limiter.reserve({ ...alice, estimatedTokens: 0 });
    limiter.reserve({ ...alice, key: 'k2', estimatedTokens: 0 });
    refusal(() => limiter.reserve({ ...alice, key: 'k2', estimatedTokens: 0 }));
  });

  it('gives every key its own bucket under key "*", and JWT callers none', () => {
    const limiter = createLimiter(rules([{ match: { key: '*' }, rpm: 1 }]), { clock: createManualClock() });
    limiter.reserve({ ...alice, key: 'a', estimatedTokens: 0 });
    limiter.reserve({ ...alice, key: 'b', estimatedTokens: 0 });
    refusal(() => limiter.reserve({ ...alice, key: 'a', estimatedTokens: 0 }));
    for (let i = 0; i < 5; i++) limiter.reserve({ ...alice, estimatedTokens: 0 });
  });

  it('keeps the state keys of rules that do not name a key as they were (persisted quota counters survive)', () => {
    const [rule] = rules([], [{ match: { team: 'research' }, tokens_per_day: 10 }]).quotas;
    assert.equal(stateKey(rule!, { ...alice, key: 'k1' }), JSON.stringify(['quota:team=research', null, 'research', null]));
  });

  it('enforces a per-key daily quota exactly under concurrent reservations', () => {
    const limiter = createLimiter(rules([], [{ match: { key: 'k1' }, tokens_per_day: 100 }]), { clock: createManualClock() });
    const held = [limiter.reserve({ ...alice, key: 'k1', estimatedTokens: 60 })];
    const err = refusal(() => limiter.reserve({ ...alice, key: 'k1', estimatedTokens: 50 }));
    assert.equal(err.wireCode, 'insufficient_quota');
    held[0]!.settle(30);
    held.push(limiter.reserve({ ...alice, key: 'k1', estimatedTokens: 70 }));
    refusal(() => limiter.reserve({ ...alice, key: 'k1', estimatedTokens: 1 }));
  });
});
