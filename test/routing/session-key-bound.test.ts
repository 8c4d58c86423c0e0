import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionKeyCache, boundedSessionKey } from '../../src/routing/prefix/session-key-cache.js';

test('session keys from callers are bounded: long ones are hashed, short ones kept', () => {
  assert.equal(boundedSessionKey(null), null);
  assert.equal(boundedSessionKey(undefined), null);
  assert.equal(boundedSessionKey('alice'), 'alice');
  const long = boundedSessionKey('u'.repeat(8_000_000))!;
  assert.ok(long.length <= 64);
  assert.equal(boundedSessionKey('u'.repeat(8_000_000)), long);
  assert.notEqual(boundedSessionKey('v'.repeat(8_000_000)), long);
});

test('the session cache holds a bounded number of prompt characters and still resumes a session', () => {
  const cache = new SessionKeyCache(10_000, 64, 1_000_000);
  for (let i = 0; i < 200; i++) cache.keys(`s${i}`, `${i}`.padEnd(50_000, 'x'));
  const a = cache.keys('s199', '199'.padEnd(50_000, 'x') + 'y'.repeat(128));
  const b = cache.keys('fresh', '199'.padEnd(50_000, 'x') + 'y'.repeat(128));
  assert.deepEqual(a, b);
});
