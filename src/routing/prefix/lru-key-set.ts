import { prefixLength } from './prefix-length.js';

/**
 * A fixed-capacity LRU set of prefix keys for one backend, the shape of the approximate indexes that other routers
 * keep from their own routing history (GIE/llm-d's per-server LRU, SGLang's per-worker tree with LRU eviction).
 * A Map keeps insertion order, so delete + set moves a key to the most-recent end and the first key is the eviction
 * victim: O(1) per key without a hand-written list.
 */
export class LruKeySet {
  #keys = new Map<number, true>();
  #capacity: number;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  get size(): number {
    return this.#keys.size;
  }

  get capacity(): number {
    return this.#capacity;
  }

  set capacity(n: number) {
    this.#capacity = Math.max(1, Math.floor(n));
    this.#trim();
  }

  has(key: number): boolean {
    return this.#keys.has(key);
  }

  /** Consecutive leading keys present (the index's guess of the cached prefix, in blocks). */
  matchLength(keys: readonly number[]): number {
    return prefixLength(keys, (k) => this.has(k));
  }


  /** Records that this backend now holds these keys (most recent last). */
  insertAll(keys: readonly number[]): void {
    for (const k of keys) {
      this.#keys.delete(k);
      this.#keys.set(k, true);
    }
    this.#trim();
  }

  clear(): void {
    this.#keys.clear();
  }

  #trim(): void {
    if (this.#keys.size <= this.#capacity) return;
    const it = this.#keys.keys();
    while (this.#keys.size > this.#capacity) {
      const r = it.next();
      if (r.done) break;
      this.#keys.delete(r.value);
    }
  }
}
