import { DDSketch } from '@datadog/sketches-js';

/**
 * Latency and TTFT distributions in rollups are DDSketches (@datadog/sketches-js): a value is mapped to a logarithmic
 * bin, so every percentile read back is within SKETCH_RELATIVE_ACCURACY (1%) of the true value at the same rank, and
 * sketches merge exactly by adding bin counts, whatever the number of rows behind them.
 *
 * The library maps values to bins and reads quantiles; what it lacks is a serializer that works (its toProto needs
 * protobufjs, which it does not install) and a cheap in-progress form. So rollups keep a sketch as its bins: while
 * rows are folded, a Map of bin key → count (BinCounts); on disk, the bins sorted by key (encodings below). Creating a library sketch per group would cost ~10 µs each (it allocates 128-bin arrays).
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
 * On disk a sketch is its bins, sorted by key, in one of two encodings; a blob may hold several sketches back to back
 * (a report's group_concat), in either encoding:
 * - compact (written since the pairs below): a 4-byte little-endian header, the bin count in its low 24 bits and COMPACT_TAG in its
 *   high byte; a varint zero count; the first bin's key (zigzag varint) and count (varint); then per bin one varint,
 *   count × 2 + 1 when its key is 2 or more past the previous one (the gap − 2 follows as a varint), else count × 2.
 *   A dense bin is one or two bytes where the older pairs took eight: a report reads, sorts and merges a fifth of the
 *   bytes.
 * - pairs (the first encoding, still read): (key, count) as little-endian int32s, no header. A key's high byte is 0x00 or 0xFF
 *   (|key| < 2^23: keys of doubles stay under 40,000) or 0x80 for ZERO_KEY, never COMPACT_TAG, so the fourth byte at
 *   a sketch's start tells the two apart.
 */
const COMPACT_TAG = 0xa7;
const MAX_BINS = 0xff_ffff;

function putVarint(out: number[], v: number): void {
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** The compact encoding of bins (keys sorted ascending, counts > 0) and a zero count. */
export function encodeBins(keys: readonly number[], counts: readonly number[], zero: number): Buffer {
  if (keys.length === 0 && zero === 0) return EMPTY;
  if (keys.length > MAX_BINS) throw new RangeError(`sketch with ${keys.length} bins`);
  const out: number[] = [keys.length & 0xff, (keys.length >> 8) & 0xff, keys.length >> 16, COMPACT_TAG];
  putVarint(out, zero);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const c = counts[i]!;
    if (i === 0) {
      putVarint(out, k >= 0 ? k * 2 : -k * 2 - 1);
      putVarint(out, c);
      continue;
    }
    const gap = k - keys[i - 1]!;
    putVarint(out, gap === 1 ? c * 2 : c * 2 + 1);
    if (gap !== 1) putVarint(out, gap - 2);
  }
  return Buffer.from(out);
}

/**
 * Calls `bin(key, count)` for every bin of the sketches in `blob` (either encoding, back to back), ZERO_KEY for the
 * zero count. The reader of the cold paths (compaction, SQL aggregates, tests); QuantileSketch.addBlobs inlines it.
 */
export function forEachBin(blob: Uint8Array, bin: (key: number, count: number) => void): void {
  const b = blob;
  const end = b.length;
  let at = 0;
  let v = 0;
  const varint = () => {
    let x = b[at++]!;
    if (x < 128) return x;
    let r = x & 127;
    let mul = 128;
    do {
      x = b[at++]!;
      r += (x & 127) * mul;
      mul *= 128;
    } while (x >= 128);
    return r;
  };
  while (at + 4 <= end) {
    if (b[at + 3] !== COMPACT_TAG) {
      if (at + 8 > end) break;
      bin(b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24), b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24));
      at += 8;
      continue;
    }
    const n = b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
    at += 4;
    const zero = varint();
    if (zero > 0) bin(ZERO_KEY, zero);
    let key = 0;
    for (let i = 0; i < n; i++) {
      if (i === 0) {
        v = varint();
        key = v % 2 === 0 ? v / 2 : -(v + 1) / 2;
        bin(key, varint());
        continue;
      }
      v = varint();
      if (v % 2 === 0) key += 1;
      else key += 2 + varint();
      bin(key, Math.floor(v / 2));
    }
  }
}

/**
 * A sketch being built: bin key → count. The writer's fold keeps one per group and value (a count per distinct bin,
 * so merging groups costs their bins, not their values); compaction adds encoded sketches into one.
 */
export class BinCounts {
  readonly #bins = new Map<number, number>();
  readonly #addBin = (key: number, count: number) => this.#bins.set(key, (this.#bins.get(key) ?? 0) + count);

  addKey(key: number): void {
    this.#bins.set(key, (this.#bins.get(key) ?? 0) + 1);
  }

  addAll(other: BinCounts): void {
    for (const [k, c] of other.#bins) this.#bins.set(k, (this.#bins.get(k) ?? 0) + c);
  }

  /** Adds encoded sketches (either encoding, one or several back to back). */
  add(blob: Uint8Array): void {
    forEachBin(blob, this.#addBin);
  }

  encode(): Buffer {
    if (this.#bins.size === 0) return EMPTY;
    const zero = this.#bins.get(ZERO_KEY) ?? 0;
    const keys = [...this.#bins.keys()].filter((k) => k !== ZERO_KEY).sort((a, b) => a - b);
    return encodeBins(keys, keys.map((k) => this.#bins.get(k)!), zero);
  }
}

/** A sketch to merge encoded sketches and raw values into, for reading percentiles. */
export class QuantileSketch {
  // Merging adds into a dense run of counts over the keys seen so far (a report merges thousands of encoded sketches:
  // an array index per bin, where a Map or the library's store costs a lookup or a shift); percentiles are read off
  // the run with the library's mapping.
  #lo = 0;
  #counts: Float64Array | null = null;
  #zero = 0;
  #count = 0;

  /** Adds an encoded sketch (either encoding). */
  addBlob(blob: Uint8Array): void {
    this.addBlobs(blob);
  }

  /**
   * Adds encoded sketches, back to back in either encoding (forEachBin, inlined: a report merges thousands of sketches
   * and this loop is most of its CPU). Counts go into a dense run over the keys seen so far, grown when a key falls
   * outside it.
   */
  addBlobs(b: Uint8Array): void {
    const end = b.length;
    let c = this.#counts;
    let lo = this.#lo;
    let hi = c === null ? lo : lo + c.length;
    let total = 0;
    let at = 0;
    let x = 0;
    let v = 0;
    let n = 0;
    let mul = 0;
    let key = 0;
    while (at + 4 <= end) {
      if (b[at + 3] !== COMPACT_TAG) {
        if (at + 8 > end) break;
        key = b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
        n = b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24);
        at += 8;
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
        continue;
      }
      const bins = b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
      at += 4;
      // Varints inline, one byte the common case (zero counts, dense bins of small counts).
      x = b[at++]!;
      if (x < 128) v = x;
      else for (v = x & 127, mul = 128; ; mul *= 128) if (((v += ((x = b[at++]!) & 127) * mul), x < 128)) break;
      this.#zero += v;
      total += v;
      for (let i = 0; i < bins; i++) {
        x = b[at++]!;
        if (x < 128) v = x;
        else for (v = x & 127, mul = 128; ; mul *= 128) if (((v += ((x = b[at++]!) & 127) * mul), x < 128)) break;
        if (i === 0) {
          key = v % 2 === 0 ? v / 2 : -(v + 1) / 2;
          x = b[at++]!;
          if (x < 128) n = x;
          else for (n = x & 127, mul = 128; ; mul *= 128) if (((n += ((x = b[at++]!) & 127) * mul), x < 128)) break;
        } else if (v % 2 === 0) {
          key += 1;
          n = v / 2;
        } else {
          n = (v - 1) / 2;
          x = b[at++]!;
          if (x < 128) v = x;
          else for (v = x & 127, mul = 128; ; mul *= 128) if (((v += ((x = b[at++]!) & 127) * mul), x < 128)) break;
          key += 2 + v;
        }
        if (c === null || key < lo || key >= hi) {
          c = this.#cover(key, key);
          lo = this.#lo;
          hi = lo + c.length;
        }
        c[key - lo]! += n;
        total += n;
      }
    }
    this.#count += total;
  }

  addValue(value: number): void {
    this.addKey(sketchKey(value));
  }

  addKey(key: number, count = 1): void {
    this.#count += count;
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

  /**
   * The value at quantile `q` (0..1) by nearest rank (the ceil(q × n)-th smallest, as reports computed it from raw
   * rows), or null without values: the representative value of the bin holding that rank (the library's mapping), as
   * the library's getValueAtQuantile answers, read off the dense run. Building a library sketch per group to ask it
   * cost more than merging the group's sketches (~100 µs per group and reading).
   */
  quantile(q: number): number | null {
    const n = this.#count;
    if (n === 0) return null;
    // The middle of the wanted rank: the bin whose cumulative count first passes it.
    const rank = Math.max(0, Math.ceil(q * n) - 1) + 0.5;
    if (rank < this.#zero) return 0;
    const c = this.#counts;
    if (c === null) return 0;
    let seen = this.#zero;
    let last = 0;
    for (let i = 0; i < c.length; i++) {
      if (c[i]! === 0) continue;
      seen += c[i]!;
      last = i;
      if (seen > rank) return mapping.value(this.#lo + i);
    }
    return mapping.value(this.#lo + last);
  }

  get count(): number {
    return this.#count;
  }
}
