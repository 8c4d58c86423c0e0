import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DDSketch } from '@datadog/sketches-js';
import { BinCounts, encodeBins, QuantileSketch, sketchKey } from '../../src/usage/sketch.js';

const QS = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1];
const quantiles = (s: QuantileSketch) => QS.map((q) => s.quantile(q));

/** A deterministic spread of values: zeros, sub-millisecond, up to minutes. */
function values(seed: number, n: number, scale: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % 37 === 0 ? 0 : ((x % 100_000) / 100_000) ** 3 * scale + 0.01;
  });
}

describe('usage sketches', () => {
  it('merging encoded sketches gives the same percentiles as adding their values, whatever the order and alignment', () => {
    // Groups whose ranges force the dense run to grow downwards, upwards and both ways.
    const groups = [values(1, 500, 100), values(2, 800, 300_000), values(3, 300, 0.5), values(4, 1000, 5_000), values(5, 1, 1)];
    const direct = new QuantileSketch();
    for (const g of groups) for (const v of g) direct.addValue(v);
    for (const order of [groups, [...groups].reverse()]) {
      const merged = new QuantileSketch();
      for (const g of order) {
        const bins = new BinCounts();
        for (const v of g) bins.addKey(sketchKey(v));
        const blob = bins.encode();
        // Also read at an odd offset (a blob inside a larger buffer): the copy path.
        const odd = Buffer.alloc(blob.length + 1);
        blob.copy(odd, 1);
        merged.addBlob(order === groups ? blob : odd.subarray(1));
      }
      assert.equal(merged.count, direct.count);
      assert.deepEqual(quantiles(merged), quantiles(direct));
    }
  });

  it('an empty blob adds nothing', () => {
    const s = new QuantileSketch();
    s.addBlob(new BinCounts().encode());
    assert.equal(s.count, 0);
    assert.equal(s.quantile(0.5), null);
  });
});

/** The first encoding, (key, count) int32 pairs: rollup rows written before the compact one are still read. */
function pairs(bins: readonly [number, number][]): Buffer {
  const out = Buffer.alloc(bins.length * 8);
  bins.forEach(([k, c], i) => {
    out.writeInt32LE(k, i * 8);
    out.writeInt32LE(c, i * 8 + 4);
  });
  return out;
}

describe('sketch encodings', () => {
  const ZERO_KEY = sketchKey(0);
  // Negative keys (sub-millisecond), gaps of one, two and many, counts past one byte and past 2^32.
  const keys = [-40, -39, -37, 5, 6, 1000, 1001, 1003];
  const counts = [3, 1, 200, 1, 70_000, 2 ** 33 + 5, 64, 1];
  const compact = encodeBins(keys, counts, 9);
  const oldStyle = pairs([[ZERO_KEY, 4], [2, 5], [300, 7]]);
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

  it('the compact encoding round-trips exactly and takes a fraction of the pairs\' bytes', () => {
    const b = new BinCounts();
    b.add(compact);
    assert.equal(b.encode().toString('hex'), compact.toString('hex'));
    const s = new QuantileSketch();
    s.addBlob(compact);
    assert.equal(s.count, sum(counts) + 9);
    // A dense day-like sketch: 300 neighbouring bins of small counts.
    const dense = new BinCounts();
    for (let k = 100; k < 400; k++) for (let i = 0; i < 1 + (k % 7); i++) dense.addKey(k);
    const size = dense.encode().length;
    assert.ok(size <= 310, `${size} bytes for 300 bins (the pairs took 2400)`);
  });

  it('sketches in both encodings, back to back at any alignment, merge as if added one by one', () => {
    const parts = [compact, oldStyle, new BinCounts().encode(), compact, oldStyle];
    const blob = Buffer.concat(parts);
    const odd = Buffer.alloc(blob.length + 3);
    blob.copy(odd, 3);
    const oneByOne = new QuantileSketch();
    const binsOneByOne = new BinCounts();
    for (const p of parts) {
      oneByOne.addBlob(p);
      binsOneByOne.add(p);
    }
    assert.equal(oneByOne.count, 2 * (sum(counts) + 9) + 2 * 16);
    for (const input of [blob, odd.subarray(3)]) {
      const s = new QuantileSketch();
      s.addBlobs(input);
      assert.equal(s.count, oneByOne.count);
      assert.deepEqual(quantiles(s), quantiles(oneByOne));
      const b = new BinCounts();
      b.add(input);
      assert.equal(b.encode().toString('hex'), binsOneByOne.encode().toString('hex'));
    }
    // And an old blob alone reads as it always did.
    const old = new QuantileSketch();
    old.addBlob(oldStyle);
    const ref = new QuantileSketch();
    for (const [k, c] of [[ZERO_KEY, 4], [2, 5], [300, 7]] as const) ref.addKey(k, c);
    assert.equal(old.count, 16);
    assert.deepEqual(quantiles(old), quantiles(ref));
  });
});

describe('sketch percentiles', () => {
  it('are the library\'s own answer at the same rank (nearest rank, the middle of it)', () => {
    for (const [seed, n] of [[7, 1], [8, 2], [9, 3], [10, 997], [11, 5000]] as const) {
      const vs = values(seed, n, 20_000);
      const lib = new DDSketch({ relativeAccuracy: 0.01 });
      const ours = new QuantileSketch();
      for (const v of vs) {
        lib.accept(v > 0 ? v : 0);
        ours.addValue(v);
      }
      for (const q of QS) {
        const rank = Math.max(0, Math.ceil(q * n) - 1);
        const expected = n === 1 ? lib.getValueAtQuantile(0) : lib.getValueAtQuantile(Math.min(1, (rank + 0.5) / (n - 1)));
        assert.equal(ours.quantile(q), expected, `n=${n} q=${q}`);
      }
    }
  });
});
