/** A Map in recency order with a size cap; `get` refreshes, inserting past the cap drops the least recent. */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();
  readonly #max: number;
  // The most recent key needs no refresh: a hot key read again and again costs one Map lookup.
  #newest: K | undefined = undefined;

  constructor(max: number) {
    this.#max = Math.max(1, max);
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
    this.#map.delete(key);
    this.#map.set(key, value);
    this.#newest = key;
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) {
        this.#map.delete(oldest.value);
        if (oldest.value === this.#newest) this.#newest = undefined;
      }
    }
  }

  get size(): number {
    return this.#map.size;
  }
}
