import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lru } from '../../src/usage/lru.js';

test('Lru drops the least recently used key, counting reads of the newest key as uses', () => {
  const l = new Lru<string, number>(2);
  l.set('a', 1);
  l.set('b', 2);
  assert.equal(l.get('a'), 1); // a is now the newest
  assert.equal(l.get('a'), 1); // reading the newest again changes nothing
  l.set('c', 3); // evicts b, the least recent
  assert.equal(l.get('b'), undefined);
  assert.deepEqual([l.get('a'), l.get('c'), l.size], [1, 3, 2]);
  l.set('d', 4); // a was read before c: a goes
  assert.equal(l.get('a'), undefined);
  assert.deepEqual([l.get('c'), l.get('d')], [3, 4]);
});

test('Lru of one keeps only the last key set', () => {
  const l = new Lru<string, number>(1);
  l.set('a', 1);
  l.set('b', 2);
  assert.deepEqual([l.get('a'), l.get('b'), l.size], [undefined, 2, 1]);
  l.set('a', 3);
  assert.deepEqual([l.get('b'), l.get('a')], [undefined, 3]);
});
