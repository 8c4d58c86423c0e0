/**
 * A Map in recency order with a size cap; `get` refreshes, inserting past the cap drops the least recent. With
 * `maxBytes`, string keys also count against a byte budget (two bytes a character, as V8 may hold them): keys come
 * from callers (model names), and a cap on entries alone lets a few megabyte-long names take gigabytes. A key larger
 * than the whole budget is not kept at all.
 */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();
  readonly #max: number;
  readonly #maxBytes: number;
  #bytes = 0;
  // The most recent key needs no refresh: a hot key read again and again costs one Map lookup.
  #newest: K | undefined = undefined;

  constructor(max: number, maxBytes = Number.POSITIVE_INFINITY) {
    this.#max = Math.max(1, max);
    this.#maxBytes = maxBytes;
  }

  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined && key !== this.#newest) {
      this.#map.delete(key);
      this.#map.set(key, v);
      this.#newest = key;
    }
    return v;
  }

  set(key: K, value: V): void {
    const bytes = sizeOf(key);
    if (bytes > this.#maxBytes) return;
    if (this.#map.delete(key)) this.#bytes -= bytes;
    this.#map.set(key, value);
    this.#bytes += bytes;
    this.#newest = key;
    while (this.#map.size > this.#max || this.#bytes > this.#maxBytes) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.#map.delete(oldest.value);
      this.#bytes -= sizeOf(oldest.value);
      if (oldest.value === this.#newest) this.#newest = undefined;
    }
  }

  get size(): number {
    return this.#map.size;
  }

  /** Bytes of the string keys held. */
  get bytes(): number {
    return this.#bytes;
  }
}

const sizeOf = (key: unknown): number => (typeof key === 'string' ? key.length * 2 : 0);
