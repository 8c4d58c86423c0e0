import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatResetDuration, parseDuration } from '../../src/core/index.js';

describe('durations', () => {
  it('parses every unit, compounds and bare milliseconds', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2s'), 2000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.equal(parseDuration('1d12h'), 36 * 3_600_000);
    assert.equal(parseDuration(' 1.5s '), 1500);
    assert.equal(parseDuration('300'), 300);
    assert.equal(parseDuration(42), 42);
  });

  it('rejects what is not a duration', () => {
    for (const bad of ['', 'd', '1w', '1 h', '-1s', 'h1', '1.s', '10x', '1d-']) assert.ok(Number.isNaN(parseDuration(bad)), bad);
  });

  it("formats reset times as OpenAI does", () => {
    assert.equal(formatResetDuration(20.2), '21ms');
    assert.equal(formatResetDuration(0), '0ms');
    assert.equal(formatResetDuration(6 * 60_000), '6m0s');
    assert.equal(formatResetDuration(3_600_000 + 61_000), '1h1m1s');
  });
});
