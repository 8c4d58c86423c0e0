import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { charBlockKeys } from '../../src/routing/prefix/char-blocks.js';
import { prefixLength } from '../../src/routing/prefix/prefix-length.js';
import { SessionKeyCache } from '../../src/routing/prefix/session-key-cache.js';
import { TwinPrefixIndex } from '../../src/routing/prefix/twin-index.js';
import { LruKeySet } from '../../src/routing/prefix/lru-key-set.js';
import { text } from './helpers.js';

describe('character-block prefix keys', () => {
  it('gives equal keys exactly for the blocks two prompts share', () => {
    const sys = text(640, 'sys');
    const a = charBlockKeys(sys + text(300, 'a'));
    const b = charBlockKeys(sys + text(300, 'b'));
    assert.deepEqual(a.slice(0, 10), b.slice(0, 10));
    assert.notEqual(a[10], b[10]);
    assert.equal(a.length, Math.floor(940 / 64), 'the partial trailing block has no key');
  });

  it('hashes only the new part of a growing conversation, with the same keys as from scratch', () => {
    const cache = new SessionKeyCache(10, 64);
    const turn1 = text(5000, 'turn1');
    const turn2 = turn1 + text(3000, 'answer-and-question');
    assert.deepEqual(cache.keys('s', turn1), charBlockKeys(turn1));
    assert.deepEqual(cache.keys('s', turn2), charBlockKeys(turn2));
    assert.deepEqual(cache.keys('s', text(2000, 'edited')), charBlockKeys(text(2000, 'edited')), 'a prompt that does not extend the last one');
  });

  it('finds a held prefix in a logarithmic number of lookups', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => i);
    let lookups = 0;
    const held = (k: number) => {
      lookups++;
      return k < 1234;
    };
    assert.equal(prefixLength(keys, held), 1234);
    assert.ok(lookups <= 2 * Math.ceil(Math.log2(2000)) + 2, `${lookups} lookups`);
  });
});

describe('twin prefix index (mirror of the engine’s block pool)', () => {
  it('never evicts the keys of a request in flight', () => {
    const t = new TwinPrefixIndex(10);
    t.pin([1, 2, 3, 4, 5, 6, 7, 8]);
    t.pin([11, 12, 13, 14, 15]);
    assert.equal(t.matchLength([1, 2, 3, 4, 5, 6, 7, 8]), 8, 'over capacity but pinned');
  });

  it('evicts a finished request’s generated blocks and last keys before its first ones', () => {
    const t = new TwinPrefixIndex(12);
    t.pin([1, 2, 3, 4, 5, 6]);
    t.reserve(2);
    t.unpin([1, 2, 3, 4, 5, 6], 2);
    t.pin([21, 22, 23, 24, 25, 26]);
    // 6 + 2 anonymous + 6 = 14 > 12: the two anonymous blocks go first, nothing keyed is lost yet.
    assert.equal(t.matchLength([1, 2, 3, 4, 5, 6]), 6);
    t.pin([31, 32]);
    assert.equal(t.matchLength([1, 2, 3, 4, 5, 6]), 4, 'then the request’s tail keys');
  });

  it('keeps a reused prefix by moving it to the recent end', () => {
    const t = new TwinPrefixIndex(8);
    t.pin([1, 2, 3]);
    t.unpin([1, 2, 3], 0);
    t.pin([4, 5, 6]);
    t.unpin([4, 5, 6], 0);
    t.pin([1, 2, 3]);
    t.unpin([1, 2, 3], 0);
    t.pin([7, 8, 9]);
    assert.equal(t.matchLength([1, 2, 3]), 3);
    assert.equal(t.matchLength([4, 5, 6]), 2, 'the older prefix lost its last key');
  });
});

describe('approximate LRU index (the baselines’)', () => {
  it('forgets the least recently inserted keys beyond its capacity', () => {
    const l = new LruKeySet(4);
    l.insertAll([1, 2, 3]);
    l.insertAll([4, 5]);
    assert.equal(l.has(1), false);
    assert.equal(l.matchLength([2, 3]), 2);
  });
});
