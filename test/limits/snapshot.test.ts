import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { governanceShape } from '../../src/config/governance-schema.js';
import { createManualClock } from '../../src/core/index.js';
import { createLimiter } from '../../src/limits/index.js';
import { alice, rules } from './helpers.js';

describe('limits snapshot', () => {
  it('shows the live buckets and quotas of a subject and its team', () => {
    const clock = createManualClock();
    const limiter = createLimiter(
      rules(
        [
          { match: { subject: '*' }, rpm: 60, tpm: 6000 },
          { match: { team: 'research' }, concurrency: 4 },
          { match: { subject: 'bob' }, rpm: 1 },
        ],
        [{ match: { team: 'research' }, tokens_per_month: 10_000 }],
      ),
      { clock },
    );
    const r = limiter.reserve({ ...alice, estimatedTokens: 3000 });
    clock.advance(500);
    const snap = limiter.snapshot({ subject: 'alice', team: 'research' });
    const mine = snap.buckets.find((b) => b.subject === 'alice');
    assert.deepEqual(mine?.requests, { limit: 60, remaining: 59, resetMs: 500, reset: '500ms' });
    assert.equal(mine?.tokens?.remaining, 3050);
    assert.equal(mine?.tokens?.reset, '30s');
    const team = snap.buckets.find((b) => b.team === 'research');
    assert.deepEqual(team?.concurrency, { limit: 4, inFlight: 1 });
    assert.ok(!snap.buckets.some((b) => b.rule.includes('bob')), "bob's rule is not shown for alice");
    assert.equal(snap.quotas[0]?.reserved, 3000);
    r.settle(100);
    assert.equal(limiter.snapshot({ team: 'research' }).quotas[0]?.used, 100);
    assert.deepEqual(limiter.snapshot({ team: 'research' }).buckets.find((b) => b.concurrency)?.concurrency, { limit: 4, inFlight: 0 });
  });
});

describe('limits and quotas config', () => {
  const schema = z.strictObject({ limits: governanceShape.limits, quotas: governanceShape.quotas });
  const problems = (input: unknown) => {
    const r = schema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('rejects unknown keys, empty rules and non-positive numbers', () => {
    assert.match(problems({ limits: [{ match: { user: 'x' }, rpm: 1 }] }).join(), /limits\.0\.match/);
    assert.match(problems({ limits: [{ match: {} }] }).join(), /at least one of rpm, tpm or concurrency/);
    assert.match(problems({ limits: [{ rpm: 0 }] }).join(), /limits\.0\.rpm/);
    assert.match(problems({ quotas: [{ match: { team: 'a' } }] }).join(), /tokens_per_day or tokens_per_month/);
    assert.match(problems({ quotas: [{ tokens_per_week: 5 }] }).join(), /quotas\.0/);
  });

  it('defaults to no limits', () => {
    assert.deepEqual(schema.parse({}), { limits: [], quotas: [] });
  });
});
