import { DDSketch } from '@datadog/sketches-js';
import { endianness } from 'node:os';

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
/** Encoded sketches are little-endian int32s: on such a machine a blob is read as an Int32Array in place. */
const LITTLE_ENDIAN = endianness() === 'LE';

/** An encoded sketch's (key, count) pairs as int32s: a view when the platform and alignment allow, else a copy. */
function int32s(blob: Uint8Array): Int32Array {
  const n = (blob.byteLength >> 3) * 2;
  if (LITTLE_ENDIAN && (blob.byteOffset & 3) === 0) return new Int32Array(blob.buffer, blob.byteOffset, n);
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = v.getInt32(i * 4, true);
  return out;
}

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

  /**
   * Adds an encoded sketch: its keys are sorted (BinCounts.encode), so the run is grown once to span the first and
   * last, then the counts are added without a check per bin. A report merges thousands of these: this loop is most of
   * its CPU.
   */
  addBlob(blob: Uint8Array): void {
    if (blob.byteLength < 8) return;
    const a = int32s(blob);
    const end = a.length;
    let i = 0;
    let total = 0;
    if (a[0] === ZERO_KEY) {
      this.#zero += a[1]!;
      total += a[1]!;
      i = 2;
    }
    if (i < end) {
      const first = a[i]!;
      const last = a[end - 2]!;
      let c = this.#counts;
      if (c === null || first < this.#lo || last >= this.#lo + c.length) c = this.#cover(first, last);
      const lo = this.#lo;
      for (; i < end; i += 2) {
        const n = a[i + 1]!;
        c[a[i]! - lo]! += n;
        total += n;
      }
    }
    this.#count += total;
    this.#sketch = null;
  }

  /** Adds encoded sketches concatenated (each sorted, the whole not): a bounds check per bin. */
  addBlobs(blobs: Uint8Array): void {
    if (blobs.byteLength < 8) return;
    const a = int32s(blobs);
    let c = this.#counts;
    let lo = this.#lo;
    let hi = c === null ? lo : lo + c.length;
    let total = 0;
    for (let i = 0; i < a.length; i += 2) {
      const key = a[i]!;
      const n = a[i + 1]!;
      total += n;
      if (key === ZERO_KEY) {
        this.#zero += n;
        continue;
      }
      if (c === null || key < lo || key >= hi) {
        c = this.#cover(key, key);
        lo = this.#lo;
        hi = lo + c.length;
      }
      c[key - lo]! += n;
    }
    this.#count += total;
    this.#sketch = null;
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
    if (c === null || key < this.#lo || key >= this.#lo + c.length) c = this.#cover(key, key);
    c[key - this.#lo]! += count;
  }

  /** Grows the run to hold the keys `min`..`max` (doubling, so a sketch's bins cost a few copies in all). */
  #cover(min: number, max: number): Float64Array {
    const old = this.#counts;
    if (old === null) {
      this.#lo = min - 32;
      return (this.#counts = new Float64Array(Math.max(128, max - min + 64)));
    }
    const lo = Math.min(this.#lo, min);
    const hi = Math.max(this.#lo + old.length, max + 1);
    const grown = new Float64Array(Math.max(old.length * 2, hi - lo + 64));
    const newLo = min < this.#lo ? hi - grown.length : lo;
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
