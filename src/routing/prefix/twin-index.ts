/**
 * The gateway's mirror of one backend's prefix cache, shaped like vLLM's block pool rather than a fixed-size LRU:
 * keys of in-flight requests are pinned (the engine cannot evict blocks a running request holds), released keys
 * join an LRU in the engine's order (a request's last blocks first, so they are evicted first), and the capacity
 * is the backend's reported KV size minus what in-flight requests hold outside cached keys (decode tokens).
 * So eviction pressure rises exactly when the engine's does, and a prefix the engine has dropped stops scoring.
 */
export class TwinPrefixIndex {
  /** Pinned keys → number of in-flight requests holding them. */
  #pinned = new Map<number, number>();
  /** Unpinned cached keys; Map order is LRU order (first = next victim). */
  #free = new Map<number, true>();
  #capacity: number;
  /** Blocks held by in-flight requests beyond their keys (generated tokens, partial blocks). */
  #reserved = 0;
  #evictions = 0;

  constructor(capacityBlocks: number) {
    this.#capacity = Math.max(1, capacityBlocks);
  }

  get capacity(): number {
    return this.#capacity;
  }

  set capacity(blocks: number) {
    this.#capacity = Math.max(1, blocks);
    this.#trim();
  }

  get pinnedBlocks(): number {
    return this.#pinned.size;
  }

  get cachedBlocks(): number {
    return this.#pinned.size + this.#free.size;
  }

  get reservedBlocks(): number {
    return this.#reserved;
  }

  /** Blocks evicted so far: a measure of cache churn (new prefixes pushing out old ones). */
  get evictions(): number {
    return this.#evictions;
  }

  has(key: number): boolean {
    return this.#pinned.has(key) || this.#free.has(key);
  }

  /** Leading keys present, pinned or not: the predicted prefix hit in blocks. */
  matchLength(keys: readonly number[]): number {
    let n = 0;
    for (const k of keys) {
      if (!this.#pinned.has(k) && !this.#free.has(k)) break;
      n++;
    }
    return n;
  }

  /** A request was dispatched here: its keys become resident and pinned, evicting LRU keys if needed. */
  pin(keys: readonly number[]): void {
    for (const k of keys) {
      const r = this.#pinned.get(k);
      if (r !== undefined) this.#pinned.set(k, r + 1);
      else {
        this.#free.delete(k);
        this.#pinned.set(k, 1);
      }
    }
    this.#trim();
  }

  /** The request ended: its keys stay cached but become evictable, last block first. */
  unpin(keys: readonly number[]): void {
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i] as number;
      const r = this.#pinned.get(k);
      if (r === undefined) continue;
      if (r > 1) this.#pinned.set(k, r - 1);
      else {
        this.#pinned.delete(k);
        this.#free.set(k, true);
      }
    }
  }

  /** Adjusts blocks held outside keys (may be fractional: they are token counts divided by tokens per block). */
  reserve(deltaBlocks: number): void {
    this.#reserved = Math.max(0, this.#reserved + deltaBlocks);
    if (deltaBlocks > 0) this.#trim();
  }

  clear(): void {
    this.#pinned.clear();
    this.#free.clear();
    this.#reserved = 0;
  }

  #trim(): void {
    const over = this.#pinned.size + this.#free.size + this.#reserved - this.#capacity;
    if (over <= 0 || this.#free.size === 0) return;
    let n = Math.ceil(over);
    const it = this.#free.keys();
    while (n > 0) {
      const r = it.next();
      if (r.done) break;
      this.#free.delete(r.value);
      this.#evictions++;
      n--;
    }
  }
}
