import { DDSketch } from '@datadog/sketches-js';

/**
 * Latency and TTFT distributions in rollups are DDSketches (@datadog/sketches-js): a value is mapped to a logarithmic
 * bin, so every percentile read back is within SKETCH_RELATIVE_ACCURACY (1%) of the true value at the same rank, and
 * sketches merge exactly by adding bin counts, whatever the number of rows behind them.
 *
 * The library maps values to bins and reads quantiles; what it lacks is a serializer that works (its toProto needs
 * protobufjs, which it does not install) and a cheap in-progress form. So rollups keep a sketch as its bins: while
 * rows are folded, a Map of bin key → count (BinCounts); on disk, (key, count) pairs as little-endian int32s, sorted
 * by key. Creating a library sketch per group would cost ~10 µs each (it allocates 128-bin arrays).
 */
export const SKETCH_RELATIVE_ACCURACY = 0.01;

const mapping = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY }).mapping;
/** The bin of values too small to map (0 ms): the sketch's zero count. */
const ZERO_KEY = -0x7fff_ffff;

/** The bin key of a value (the library's mapping). */
export function sketchKey(value: number): number {
  return value > mapping.minPossible ? mapping.key(value) : ZERO_KEY;
}

const EMPTY = Buffer.alloc(0);

/**
 * A sketch being built: bin key → count. The writer's fold keeps one per group and value (a count per distinct bin,
 * so merging groups costs their bins, not their values); compaction adds encoded sketches into one.
 */
export class BinCounts {
  readonly #bins = new Map<number, number>();

  addKey(key: number): void {
    this.#bins.set(key, (this.#bins.get(key) ?? 0) + 1);
  }

  addAll(other: BinCounts): void {
    for (const [k, c] of other.#bins) this.#bins.set(k, (this.#bins.get(k) ?? 0) + c);
  }

  add(blob: Uint8Array): void {
    const b = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    for (let at = 0; at + 8 <= b.length; at += 8) {
      const key = b.readInt32LE(at);
      this.#bins.set(key, (this.#bins.get(key) ?? 0) + b.readInt32LE(at + 4));
    }
  }

  encode(): Buffer {
    if (this.#bins.size === 0) return EMPTY;
    const keys = [...this.#bins.keys()].sort((a, b) => a - b);
    const out = Buffer.allocUnsafe(keys.length * 8);
    keys.forEach((k, i) => {
      out.writeInt32LE(k, i * 8);
      out.writeInt32LE(this.#bins.get(k)!, i * 8 + 4);
    });
    return out;
  }
}

/** A library sketch to merge encoded sketches and raw values into, for reading percentiles. */
export class QuantileSketch {
  // Merging adds into a dense run of counts over the keys seen so far (a report merges thousands of encoded sketches:
  // an array index per bin, where a Map or the library's store costs a lookup or a shift); the library sketch is
  // built once, when a percentile is read.
  #lo = 0;
  #counts: Float64Array | null = null;
  #zero = 0;
  #count = 0;
  #sketch: DDSketch | null = null;

  addBlob(blob: Uint8Array): void {
    const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    for (let at = 0; at + 8 <= blob.byteLength; at += 8) this.addKey(v.getInt32(at, true), v.getInt32(at + 4, true));
  }

  addValue(value: number): void {
    this.addKey(sketchKey(value));
  }

  addKey(key: number, count = 1): void {
    this.#count += count;
    this.#sketch = null;
    if (key === ZERO_KEY) {
      this.#zero += count;
      return;
    }
    let c = this.#counts;
    if (c === null || key < this.#lo || key >= this.#lo + c.length) c = this.#cover(key);
    c[key - this.#lo]! += count;
  }

  /** Grows the run to hold `key` (doubling, so a sketch's bins cost a few copies in all). */
  #cover(key: number): Float64Array {
    const old = this.#counts;
    if (old === null) {
      this.#lo = key - 32;
      return (this.#counts = new Float64Array(128));
    }
    const lo = Math.min(this.#lo, key);
    const hi = Math.max(this.#lo + old.length, key + 1);
    const grown = new Float64Array(Math.max(old.length * 2, hi - lo + 64));
    const newLo = key < this.#lo ? hi - grown.length : lo;
    grown.set(old, this.#lo - newLo);
    this.#lo = newLo;
    return (this.#counts = grown);
  }

  #built(): DDSketch {
    const s = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    s.zeroCount = this.#zero;
    const c = this.#counts;
    if (c) for (let i = 0; i < c.length; i++) if (c[i]! > 0) s.store.add(this.#lo + i, c[i]);
    s.count = this.#count;
    return s;
  }

  /**
   * The value at quantile `q` (0..1) by nearest rank (the ceil(q × n)-th smallest, as reports computed it from raw
   * rows), or null without values. The library ranks at q × (n − 1); asking it for the middle of the wanted rank
   * gives the same element whatever the rounding.
   */
  quantile(q: number): number | null {
    const n = this.#count;
    if (n === 0) return null;
    const sketch = (this.#sketch ??= this.#built());
    if (n === 1) return sketch.getValueAtQuantile(0);
    const rank = Math.max(0, Math.ceil(q * n) - 1);
    return sketch.getValueAtQuantile(Math.min(1, (rank + 0.5) / (n - 1)));
  }

  get count(): number {
    return this.#count;
  }
}
