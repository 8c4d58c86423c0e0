/**
 * vLLM's paged KV block pool with automatic prefix caching (vllm/v1/core/block_pool.py semantics):
 * - every block not referenced by a request sits in one free queue, cached or not; usage = 1 − free/total;
 * - allocation pops the queue head (least recently freed) and evicts that block's cache key;
 * - a cache hit on a free block takes it out of the queue (it is referenced again);
 * - freed blocks go to the tail; callers pass a request's blocks in reverse so its tail blocks are evicted first.
 * The queue is an intrusive doubly linked list over typed arrays: O(1) everything, no per-block objects.
 */
export class BlockPool {
  readonly total: number;
  #ref: Int32Array;
  #key: Int32Array;
  /** 1 when the block holds a cache key (keys are any int32, so presence needs its own flag). */
  #keyed: Uint8Array;
  #prev: Int32Array;
  #next: Int32Array;
  #queued: Uint8Array;
  #head = -1;
  #tail = -1;
  #free = 0;
  #byKey = new Map<number, number>();
  /** Told when a cached block's key is evicted (the simulator's KV events, BlockRemoved). */
  onEvict: ((key: number) => void) | null = null;

  constructor(total: number) {
    this.total = total;
    this.#ref = new Int32Array(total);
    this.#key = new Int32Array(total);
    this.#keyed = new Uint8Array(total);
    this.#prev = new Int32Array(total);
    this.#next = new Int32Array(total);
    this.#queued = new Uint8Array(total);
    this.reset();
  }

  /** Every block free and uncached, as after a restart. */
  reset(): void {
    this.#byKey.clear();
    this.#head = -1;
    this.#tail = -1;
    this.#free = 0;
    this.#ref.fill(0);
    this.#keyed.fill(0);
    this.#queued.fill(0);
    for (let b = 0; b < this.total; b++) this.#append(b);
  }

  get free(): number {
    return this.#free;
  }

  get cachedBlocks(): number {
    return this.#byKey.size;
  }

  /** Block holding this cache key, or −1. */
  lookup(key: number): number {
    return this.#byKey.get(key) ?? -1;
  }

  refCount(block: number): number {
    return this.#ref[block] ?? 0;
  }

  /** A cache hit: reference the block (taking it off the free queue if nobody else held it). */
  touch(block: number): void {
    if (this.#queued[block] === 1) this.#unlink(block);
    this.#ref[block] = (this.#ref[block] ?? 0) + 1;
  }

  /** Pops the least recently freed block, evicting its cache key; −1 when none is free. */
  allocate(): number {
    const b = this.#head;
    if (b < 0) return -1;
    this.#unlink(b);
    if (this.#keyed[b] === 1) {
      const key = this.#key[b] as number;
      if (this.#byKey.get(key) === b) {
        this.#byKey.delete(key);
        this.onEvict?.(key);
      }
      this.#keyed[b] = 0;
    }
    this.#ref[b] = 1;
    return b;
  }

  /**
   * Makes a full, computed block findable; true when it became so. A key already cached keeps its first block (the
   * duplicate stays anonymous).
   */
  register(block: number, key: number): boolean {
    if (this.#keyed[block] === 1 || this.#byKey.has(key)) return false;
    this.#key[block] = key;
    this.#keyed[block] = 1;
    this.#byKey.set(key, block);
    return true;
  }

  /** Drops one reference to each block, walking from the request's last block to its first. */
  releaseAll(blocks: readonly number[]): void {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i] ?? -1;
      const r = (this.#ref[b] ?? 0) - 1;
      this.#ref[b] = r;
      if (r === 0) this.#append(b);
    }
  }

  #append(b: number): void {
    this.#prev[b] = this.#tail;
    this.#next[b] = -1;
    if (this.#tail >= 0) this.#next[this.#tail] = b;
    else this.#head = b;
    this.#tail = b;
    this.#queued[b] = 1;
    this.#free++;
  }

  #unlink(b: number): void {
    const p = this.#prev[b] ?? -1;
    const n = this.#next[b] ?? -1;
    if (p >= 0) this.#next[p] = n;
    else this.#head = n;
    if (n >= 0) this.#prev[n] = p;
    else this.#tail = p;
    this.#queued[b] = 0;
    this.#free--;
  }
}
