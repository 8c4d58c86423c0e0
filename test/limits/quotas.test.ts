import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createManualClock } from '../../src/core/index.js';
import { createLimiter, createSqliteQuotaStore, quotaWindow } from '../../src/limits/index.js';
import { alice, refusal, rules } from './helpers.js';

// 2023-11-14T22:13:20Z; midnight UTC is 6,400 s later.
const WALL = 1_700_000_000_000;
const TO_MIDNIGHT = Date.UTC(2023, 10, 15) - WALL;

describe('quota windows', () => {
  it('are UTC days and months with their reset instants', () => {
    assert.deepEqual(quotaWindow('day', WALL), { id: 'd:2023-11-14', startsAtMs: Date.UTC(2023, 10, 14), resetsAtMs: Date.UTC(2023, 10, 15) });
    assert.deepEqual(quotaWindow('month', WALL), { id: 'm:2023-11', startsAtMs: Date.UTC(2023, 10, 1), resetsAtMs: Date.UTC(2023, 11, 1) });
    assert.equal(quotaWindow('month', Date.UTC(2023, 11, 31, 23, 59)).resetsAtMs, Date.UTC(2024, 0, 1));
  });
});

describe('token quotas', () => {
  it('refuses with insufficient_quota and the reset time once a day is used up', () => {
    const clock = createManualClock(0, WALL);
    const limiter = createLimiter(rules([], [{ match: { team: 'research' }, tokens_per_day: 1000 }]), { clock });
    limiter.reserve({ ...alice, estimatedTokens: 500 }).settle(400);
    limiter.reserve({ ...alice, estimatedTokens: 600 }).settle(600);
    const err = refusal(() => limiter.reserve({ ...alice, estimatedTokens: 1 }));
    assert.equal(err.code, 'quota_exceeded');
    assert.equal(err.wireCode, 'insufficient_quota');
    assert.equal(err.headers?.['retry-after'], String(TO_MIDNIGHT / 1000));
    assert.match(err.message, /1000 tokens per day, 0 left.*resets at 2023-11-15T00:00:00.000Z/);
    assert.equal(err.headers?.['x-should-retry'], 'false'); // waiting a minute will not help: SDKs must not retry
    limiter.reserve({ ...alice, team: 'other', estimatedTokens: 1 }); // other teams are not affected
  });

  it("carries the request's x-ratelimit-* headers as every limited answer does", () => {
    const clock = createManualClock(0, WALL);
    const limiter = createLimiter(rules([{ match: { subject: '*' }, rpm: 60, tpm: 10_000 }], [{ match: { team: 'research' }, tokens_per_day: 100 }]), { clock });
    limiter.reserve({ ...alice, estimatedTokens: 90 }).settle(90);
    const err = refusal(() => limiter.reserve({ ...alice, estimatedTokens: 50 }));
    assert.equal(err.wireCode, 'insufficient_quota');
    assert.equal(err.headers?.['x-ratelimit-limit-requests'], '60');
    assert.equal(err.headers?.['x-ratelimit-limit-tokens'], '10000');
    assert.ok(err.headers?.['x-ratelimit-remaining-tokens']);
    assert.equal(err.headers?.['x-should-retry'], 'false');
  });

  it('counts in-flight reservations so concurrent requests cannot overrun it', () => {
    const clock = createManualClock(0, WALL);
    const limiter = createLimiter(rules([], [{ match: { subject: '*' }, tokens_per_day: 1000 }]), { clock });
    const held = Array.from({ length: 5 }, () => limiter.reserve({ ...alice, estimatedTokens: 200 }));
    refusal(() => limiter.reserve({ ...alice, estimatedTokens: 1 }));
    for (const r of held) r.settle(50);
    limiter.reserve({ ...alice, estimatedTokens: 750 });
  });

  it('starts afresh at midnight, charging a request that crossed it to the day it was admitted', () => {
    const clock = createManualClock(0, WALL);
    const limiter = createLimiter(rules([], [{ match: { team: 'research' }, tokens_per_day: 1000 }]), { clock });
    const late = limiter.reserve({ ...alice, estimatedTokens: 900 });
    refusal(() => limiter.reserve({ ...alice, estimatedTokens: 200 }));
    clock.advance(TO_MIDNIGHT);
    late.settle(900);
    const r = limiter.reserve({ ...alice, estimatedTokens: 1000 });
    const snap = limiter.snapshot({ team: 'research' });
    assert.equal(snap.quotas[0]?.reserved, 1000);
    assert.equal(snap.quotas[0]?.used, 0);
    r.settle(10);
  });

  it('enforces a monthly quota next to a daily one', () => {
    const clock = createManualClock(0, WALL);
    const limiter = createLimiter(rules([], [{ match: { subject: '*' }, tokens_per_day: 1000, tokens_per_month: 1500 }]), { clock });
    limiter.reserve({ ...alice, estimatedTokens: 1000 }).settle(1000);
    clock.advance(TO_MIDNIGHT);
    limiter.reserve({ ...alice, estimatedTokens: 500 }).settle(500);
    const err = refusal(() => limiter.reserve({ ...alice, estimatedTokens: 1 }));
    assert.match(err.message, /per month/);
  });
});

describe('quota persistence in SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'infergate-quota-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('survives closing and re-opening the database', () => {
    const path = join(dir, 'usage.db');
    const quotaRules = rules([], [{ match: { team: 'research' }, tokens_per_day: 1000 }]);
    const clock = createManualClock(0, WALL);
    const store1 = createSqliteQuotaStore({ path, flushIntervalMs: 60_000 });
    const first = createLimiter(quotaRules, { clock, quotaStore: store1 });
    first.reserve({ ...alice, estimatedTokens: 700 }).settle(700);
    store1.close(); // a graceful stop writes pending counts

    const store2 = createSqliteQuotaStore({ path });
    const second = createLimiter(quotaRules, { clock, quotaStore: store2 });
    refusal(() => second.reserve({ ...alice, estimatedTokens: 301 }));
    second.reserve({ ...alice, estimatedTokens: 300 }).settle(300);
    store2.flush();
    store2.close();

    const store3 = createSqliteQuotaStore({ path });
    assert.equal(createLimiter(quotaRules, { clock, quotaStore: store3 }).snapshot({ team: 'research' }).quotas[0]?.used, 1000);
    store3.close();
  });
});
