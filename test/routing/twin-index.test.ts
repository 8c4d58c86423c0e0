import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TwinPrefixIndex } from '../../src/routing/prefix/twin-index.js';
import { createRng } from '../../src/routing/rng.js';
import { ReferenceTwinPrefixIndex } from './twin-index-reference.js';

/**
 * The twin index keeps its LRU in linked lists; the reference is the Map-ordered implementation it replaced (kept
 * as the specification, test/routing/twin-index-reference.ts). Both are driven by the same random operations, as the
 * routing core and the replica exchange call them, and must agree on everything observable after every step.
 */
function agree(t: TwinPrefixIndex, r: ReferenceTwinPrefixIndex, probe: readonly number[][], where: string): void {
  assert.equal(t.usedBlocks, r.usedBlocks, `usedBlocks ${where}`);
  assert.equal(t.pinnedBlocks, r.pinnedBlocks, `pinnedBlocks ${where}`);
  assert.equal(t.cachedBlocks, r.cachedBlocks, `cachedBlocks ${where}`);
  assert.equal(t.reservedBlocks, r.reservedBlocks, `reservedBlocks ${where}`);
  assert.equal(t.evictions, r.evictions, `evictions ${where}`);
  assert.equal(t.capacity, r.capacity, `capacity ${where}`);
  assert.deepEqual(t.keys(), r.keys(), `keys ${where}`);
  for (const keys of probe) assert.equal(t.matchLength(keys), r.matchLength(keys), `matchLength ${where}`);
}

/** A chain of prompt keys: a shared prefix (one of a few "system prompts") and a tail of its own. */
function prompt(rand: () => number): number[] {
  const system = Math.floor(rand() * 4);
  const shared = Math.floor(rand() * 6);
  const own = Math.floor(rand() * 5);
  const keys: number[] = [];
  for (let i = 0; i < shared; i++) keys.push(system * 100 + i);
  for (let i = 0; i < own; i++) keys.push(1000 + Math.floor(rand() * 300));
  return keys;
}

describe('twin prefix index, against the Map-ordered implementation it replaced', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`agrees on every observable after each of 4,000 random operations (seed ${seed})`, () => {
      const rand = createRng(seed);
      const capacity = 5 + Math.floor(rand() * 60);
      const t = new TwinPrefixIndex(capacity);
      const r = new ReferenceTwinPrefixIndex(capacity);
      const inFlight: { keys: number[]; reserved: number }[] = [];
      const probe = Array.from({ length: 6 }, () => prompt(rand));
      for (let step = 0; step < 4000; step++) {
        const op = rand();
        if (op < 0.3) {
          const keys = prompt(rand);
          t.pin(keys);
          r.pin(keys);
          inFlight.push({ keys, reserved: 0 });
        } else if (op < 0.5 && inFlight.length > 0) {
          const req = inFlight[Math.floor(rand() * inFlight.length)]!;
          const blocks = rand() < 0.5 ? rand() * 3 : Math.floor(rand() * 4);
          req.reserved += blocks;
          t.reserve(blocks);
          r.reserve(blocks);
        } else if (op < 0.75 && inFlight.length > 0) {
          const [req] = inFlight.splice(Math.floor(rand() * inFlight.length), 1);
          t.unpin(req!.keys, req!.reserved);
          r.unpin(req!.keys, req!.reserved);
        } else if (op < 0.85) {
          const keys = prompt(rand);
          t.touch(keys);
          r.touch(keys);
        } else if (op < 0.9) {
          // Keys never pinned here (a replica's), and a reservation returned without a request.
          const keys = prompt(rand);
          const blocks = -rand() * 2;
          t.unpin(keys, 0);
          r.unpin(keys, 0);
          t.reserve(blocks);
          r.reserve(blocks);
        } else if (op < 0.95) {
          const c = 1 + rand() * 80;
          t.capacity = c;
          r.capacity = c;
        } else if (op < 0.955) {
          t.clear();
          r.clear();
          inFlight.length = 0;
        }
        agree(t, r, probe, `after step ${step}`);
      }
    });
  }
});
