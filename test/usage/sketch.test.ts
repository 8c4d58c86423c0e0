import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinCounts, QuantileSketch, sketchKey } from '../../src/usage/sketch.js';

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
