/**
 * The twin prefix index as it was before its LRU moved to linked lists (src/routing/prefix/twin-index.ts at
 * 2cb3144), kept unchanged as the specification the current one is checked against (twin-index.test.ts).
 */
import { prefixLength } from '../../src/routing/prefix/prefix-length.js';

/**
 * The gateway's mirror of one backend's prefix cache, shaped like vLLM's block pool rather than a fixed-size LRU:
 * - keys of in-flight requests are pinned (the engine cannot evict blocks a running request holds);
 * - what a request holds beyond its keys (generated tokens, the partial tail of the prompt) is "reserved" while it
 *   runs, and on release becomes an anonymous LRU entry of that many blocks: in vLLM those blocks go to the free
 *   queue too and take their turn at the head before newer cached prefixes are evicted;
 * - released keys join the LRU in the engine's order (a request's last blocks first, so they are evicted first);
 * - capacity is the backend's reported KV size.
 * So eviction pressure rises exactly when the engine's does, and a prefix the engine has dropped stops scoring.
 */
export class ReferenceTwinPrefixIndex {
  /** Pinned keys → number of in-flight requests holding them. */
  #pinned = new Map<number, number>();
  /** Unpinned entries → weight in blocks (1 for a key); Map order is LRU order (first = next victim). */
  #free = new Map<number, number>();
  #freeWeight = 0;
  #capacity: number;
  #reserved = 0;
  #evictions = 0;
  /**
   * Anonymous entries take ids -1, -2, … (the next one is `#nextAnon`). Prefix keys are any int32, so a key in that
   * range is taken for an anonymous entry by `#isAnon`: about one key in 2³¹ per request served, a negligible miss.
   */
  #nextAnon = -1;
  /**
   * Where eviction resumes in `#free`. Entries are only appended and evictions only take the head, so a fresh
   * iterator would walk every deleted slot V8 keeps until its next rehash, on every request; this one does not.
   */
  #cursor: MapIterator<[number, number]> | null = null;

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

  /** Prefix keys held, pinned or evictable (anonymous entries excluded). */
  get cachedBlocks(): number {
    let anon = 0;
    for (const k of this.#free.keys()) if (this.#isAnon(k)) anon++;
    return this.#pinned.size + this.#free.size - anon;
  }

  get reservedBlocks(): number {
    return this.#reserved;
  }

  get usedBlocks(): number {
    return this.#pinned.size + this.#freeWeight + this.#reserved;
  }

  /** Prefix-key blocks evicted so far: a measure of cache churn. */
  get evictions(): number {
    return this.#evictions;
  }

  has(key: number): boolean {
    return this.#pinned.has(key) || this.#free.has(key);
  }

  /** Leading keys present, pinned or not: the predicted prefix hit in blocks. */
  matchLength(keys: readonly number[]): number {
    return prefixLength(keys, (k) => this.has(k));
  }


  /** A request was dispatched here: its keys become resident and pinned, evicting LRU entries if needed. */
  pin(keys: readonly number[]): void {
    for (const k of keys) {
      const r = this.#pinned.get(k);
      if (r !== undefined) this.#pinned.set(k, r + 1);
      else {
        const w = this.#free.get(k);
        if (w !== undefined) {
          this.#free.delete(k);
          this.#freeWeight -= w;
        }
        this.#pinned.set(k, 1);
      }
    }
    this.#trim();
  }

  /**
   * The request ended: its extra blocks (`reservedBlocks`, taken back from the reservation) are released first,
   * then its keys from last to first, matching the order vLLM appends a finished request's blocks to the free queue.
   */
  unpin(keys: readonly number[], reservedBlocks: number): void {
    const extra = Math.min(reservedBlocks, this.#reserved);
    if (extra > 0) {
      this.#reserved -= extra;
      this.#free.set(this.#nextAnon--, extra);
      this.#freeWeight += extra;
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i] as number;
      const r = this.#pinned.get(k);
      if (r === undefined) continue;
      if (r > 1) this.#pinned.set(k, r - 1);
      else {
        this.#pinned.delete(k);
        this.#free.set(k, 1);
        this.#freeWeight += 1;
      }
    }
  }

  /**
   * Another gateway replica sent a request with these keys here: the backend holds them now. They join the LRU as
   * most recent (unpinned: this replica does not see when that request ends, and the engine keeps its blocks cached
   * afterwards anyway), so they age out exactly like keys this replica routed itself.
   */
  touch(keys: Iterable<number>): void {
    for (const k of keys) {
      if (this.#pinned.has(k)) continue;
      const w = this.#free.get(k);
      if (w !== undefined) this.#free.delete(k);
      else this.#freeWeight += 1;
      this.#free.set(k, 1);
    }
    this.#trim();
  }

  /** Every prefix key held, least recently used first and pinned keys last (a snapshot for a replica that starts). */
  keys(): number[] {
    const out: number[] = [];
    for (const k of this.#free.keys()) if (!this.#isAnon(k)) out.push(k);
    for (const k of this.#pinned.keys()) out.push(k);
    return out;
  }

  /** Blocks held outside keys while a request runs (fractional: token counts over tokens per block). */
  reserve(deltaBlocks: number): void {
    this.#reserved = Math.max(0, this.#reserved + deltaBlocks);
    if (deltaBlocks > 0) this.#trim();
  }

  clear(): void {
    this.#cursor = null;
    this.#pinned.clear();
    this.#free.clear();
    this.#freeWeight = 0;
    this.#reserved = 0;
  }

  #isAnon(k: number): boolean {
    return k < 0 && k > this.#nextAnon;
  }

  #trim(): void {
    let over = this.#pinned.size + this.#freeWeight + this.#reserved - this.#capacity;
    while (over > 0 && this.#free.size > 0) {
      // A finished iterator stays finished even when entries are appended later: start a new one then.
      let next = this.#cursor?.next();
      if (next === undefined || next.done) {
        this.#cursor = this.#free.entries();
        next = this.#cursor.next();
        if (next.done) break;
      }
      const [k, w] = next.value;
      this.#free.delete(k);
      this.#freeWeight -= w;
      over -= w;
      if (!this.#isAnon(k)) this.#evictions++;
    }
    if (this.#free.size === 0) this.#freeWeight = 0;
  }
}
