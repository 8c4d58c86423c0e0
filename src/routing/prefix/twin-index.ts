import { prefixLength } from './prefix-length.js';

/** A resident run of blocks: one prefix key (weight 1), or an anonymous run (`key` null, fractional weight). */
class Entry {
  /** In-flight requests holding the key; an entry with pins is in the pinned list, else in the LRU. */
  pins = 0;
  prev: Entry | null = null;
  next: Entry | null = null;
  constructor(
    readonly key: number | null,
    readonly weight: number,
  ) {}
}

/** A doubly-linked list of entries in order (an entry is in at most one list at a time). */
class EntryList {
  head: Entry | null = null;
  tail: Entry | null = null;
  size = 0;

  append(e: Entry): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    this.size++;
  }

  remove(e: Entry): void {
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = null;
    this.size--;
  }

  clear(): void {
    this.head = this.tail = null;
    this.size = 0;
  }
}

/**
 * The gateway's mirror of one backend's prefix cache, shaped like vLLM's block pool rather than a fixed-size LRU:
 * - keys of in-flight requests are pinned (the engine cannot evict blocks a running request holds);
 * - what a request holds beyond its keys (generated tokens, the partial tail of the prompt) is "reserved" while it
 *   runs, and on release becomes an anonymous LRU entry of that many blocks: in vLLM those blocks go to the free
 *   queue too and take their turn at the head before newer cached prefixes are evicted;
 * - released keys join the LRU in the engine's order (a request's last blocks first, so they are evicted first);
 * - capacity is the backend's reported KV size.
 * So eviction pressure rises exactly when the engine's does, and a prefix the engine has dropped stops scoring.
 *
 * The LRU order is kept in linked lists, and the Map from key to entry is written only when a key enters or leaves
 * the index. Moving keys between Maps (delete, then set at the recent end) was slower the longer the gateway ran:
 * V8 leaves a deleted Map entry in its bucket's chain until the table is rehashed, and a lookup of an absent key
 * walks the whole chain, so a prefix pinned and released by every request (a shared system prompt) added one entry
 * to that walk per request: ~1 µs per release in the benchmark's profile, 20-70 µs per release once 16k entries
 * were cached.
 */
export class TwinPrefixIndex {
  /** Every resident key. */
  readonly #byKey = new Map<number, Entry>();
  /** Unpinned entries, least recently used first (the next victim). */
  readonly #lru = new EntryList();
  /** Pinned keys in the order they were pinned. */
  readonly #pinned = new EntryList();
  /** Keyed entries in the LRU (the rest of it is anonymous). */
  #lruKeys = 0;
  #freeWeight = 0;
  #capacity: number;
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

  /** Prefix keys held, pinned or evictable (anonymous entries excluded). */
  get cachedBlocks(): number {
    return this.#pinned.size + this.#lruKeys;
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
    return this.#byKey.has(key);
  }

  /** Leading keys present, pinned or not: the predicted prefix hit in blocks. */
  matchLength(keys: readonly number[]): number {
    return prefixLength(keys, (k) => this.has(k));
  }

  /** A request was dispatched here: its keys become resident and pinned, evicting LRU entries if needed. */
  pin(keys: readonly number[]): void {
    for (const k of keys) {
      let e = this.#byKey.get(k);
      if (e !== undefined && e.pins > 0) {
        e.pins++;
        continue;
      }
      if (e !== undefined) {
        this.#lru.remove(e);
        this.#lruKeys--;
        this.#freeWeight -= e.weight;
      } else {
        e = new Entry(k, 1);
        this.#byKey.set(k, e);
      }
      e.pins = 1;
      this.#pinned.append(e);
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
      this.#lru.append(new Entry(null, extra));
      this.#freeWeight += extra;
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const e = this.#byKey.get(keys[i] as number);
      if (e === undefined || e.pins === 0) continue;
      if (--e.pins > 0) continue;
      this.#pinned.remove(e);
      this.#lru.append(e);
      this.#lruKeys++;
      this.#freeWeight += 1;
    }
  }

  /**
   * Another gateway replica sent a request with these keys here: the backend holds them now. They join the LRU as
   * most recent (unpinned: this replica does not see when that request ends, and the engine keeps its blocks cached
   * afterwards anyway), so they age out exactly like keys this replica routed itself.
   */
  touch(keys: Iterable<number>): void {
    for (const k of keys) {
      let e = this.#byKey.get(k);
      if (e !== undefined && e.pins > 0) continue;
      if (e !== undefined) this.#lru.remove(e);
      else {
        e = new Entry(k, 1);
        this.#byKey.set(k, e);
        this.#lruKeys++;
        this.#freeWeight += 1;
      }
      this.#lru.append(e);
    }
    this.#trim();
  }

  /** Every prefix key held, least recently used first and pinned keys last (a snapshot for a replica that starts). */
  keys(): number[] {
    const out: number[] = [];
    for (let e = this.#lru.head; e !== null; e = e.next) if (e.key !== null) out.push(e.key);
    for (let e = this.#pinned.head; e !== null; e = e.next) out.push(e.key as number);
    return out;
  }

  /** Blocks held outside keys while a request runs (fractional: token counts over tokens per block). */
  reserve(deltaBlocks: number): void {
    this.#reserved = Math.max(0, this.#reserved + deltaBlocks);
    if (deltaBlocks > 0) this.#trim();
  }

  clear(): void {
    this.#byKey.clear();
    this.#lru.clear();
    this.#pinned.clear();
    this.#lruKeys = 0;
    this.#freeWeight = 0;
    this.#reserved = 0;
  }

  #trim(): void {
    let over = this.#pinned.size + this.#freeWeight + this.#reserved - this.#capacity;
    while (over > 0 && this.#lru.head !== null) {
      const e = this.#lru.head;
      this.#lru.remove(e);
      this.#freeWeight -= e.weight;
      over -= e.weight;
      if (e.key !== null) {
        this.#byKey.delete(e.key);
        this.#lruKeys--;
        this.#evictions++;
      }
    }
    if (this.#lru.size === 0) this.#freeWeight = 0;
  }
}
