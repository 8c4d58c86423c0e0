import { chainBlockHash, promptBlockHashes } from './block-hash.js';
import type { BlockPool } from './block-pool.js';
import type { KvEventSink } from './kv-event-sink.js';
import type { Sequence } from './sequence.js';

/**
 * Per-request KV bookkeeping on top of the block pool (vLLM's KVCacheManager): prefix-hit lookup, slot allocation
 * with the same capacity check as vLLM, cache registration of newly full blocks, and release.
 */
export class KvManager {
  readonly #pool: BlockPool;
  readonly #bs: number;
  readonly #caching: boolean;
  readonly #scratch: Int32Array;
  readonly #events: KvEventSink | null;

  constructor(pool: BlockPool, blockSize: number, caching: boolean, events: KvEventSink | null = null) {
    this.#pool = pool;
    this.#bs = blockSize;
    this.#caching = caching;
    this.#scratch = new Int32Array(blockSize);
    this.#events = events;
    if (events) pool.onEvict = (key) => events.removed(key);
  }

  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.#bs);
  }

  attach(s: Sequence): void {
    if (this.#caching) s.promptKeys = promptBlockHashes(s.promptIds, this.#bs);
  }

  /**
   * Cached blocks usable by a request being admitted with nothing computed. The hit stops at the first miss and is
   * capped so that at least the last token is recomputed (vLLM needs its logits): hit ≤ bs·⌊(T − 1)/bs⌋.
   */
  findCached(s: Sequence): number[] {
    const hits: number[] = [];
    if (!this.#caching) return hits;
    const total = s.prompt + s.output;
    const maxBlocks = Math.min(Math.floor((total - 1) / this.#bs), this.#knowableBlocks(s, total));
    for (let k = 0; k < maxBlocks; k++) {
      const b = this.#pool.lookup(this.#keyAt(s, k));
      if (b < 0) break;
      hits.push(b);
    }
    return hits;
  }

  /** Admits a waiting request: takes the cached blocks and allocates room for `n` new tokens, or changes nothing. */
  admit(s: Sequence, cached: readonly number[], n: number): boolean {
    const hitTokens = cached.length * this.#bs;
    const need = this.blocksFor(hitTokens + n) - cached.length;
    let evictable = 0;
    for (const b of cached) if (this.#pool.refCount(b) === 0) evictable++;
    // Touching a free cached block removes it from the free queue, so it counts against free space like a new one.
    if (need + evictable > this.#pool.free) return false;
    for (const b of cached) this.#pool.touch(b);
    s.blocks = cached.slice();
    for (let i = 0; i < need; i++) s.blocks.push(this.#pool.allocate());
    s.computed = hitTokens;
    s.registered = cached.length;
    s.cachedTokens = hitTokens;
    return true;
  }

  /** Grows a running request by `n` tokens; false when the pool cannot (the caller preempts). */
  grow(s: Sequence, n: number): boolean {
    const need = this.blocksFor(s.computed + n) - s.blocks.length;
    if (need <= 0) return true;
    if (need > this.#pool.free) return false;
    for (let i = 0; i < need; i++) s.blocks.push(this.#pool.allocate());
    return true;
  }

  /**
   * Registers the blocks that will be full once `upTo` tokens are computed. Like vLLM's allocate_slots, this happens
   * when the step is scheduled, so a request admitted right after can already hit blocks being computed.
   */
  commit(s: Sequence, upTo: number): void {
    if (!this.#caching) return;
    const full = Math.min(Math.floor(upTo / this.#bs), this.#knowableBlocks(s, upTo), s.blocks.length);
    const ev = this.#events;
    if (!ev) {
      for (let k = s.registered; k < full; k++) this.#pool.register(s.blocks[k] ?? -1, this.#keyAt(s, k));
    } else {
      // One BlockStored per run of newly cached consecutive blocks, as vLLM reports a request's new blocks.
      let hashes: number[] = [];
      let tokens: number[] = [];
      let parent: number | null = null;
      for (let k = s.registered; k < full; k++) {
        const key = this.#keyAt(s, k);
        if (this.#pool.register(s.blocks[k] ?? -1, key)) {
          if (hashes.length === 0) parent = k === 0 ? null : this.#keyAt(s, k - 1);
          hashes.push(key);
          for (let i = k * this.#bs; i < (k + 1) * this.#bs; i++) tokens.push(i < s.prompt ? (s.promptIds[i] ?? 0) : (s.outputIds?.[i - s.prompt] ?? 0));
        } else if (hashes.length > 0) {
          ev.stored(hashes, parent, tokens);
          hashes = [];
          tokens = [];
        }
      }
      if (hashes.length > 0) ev.stored(hashes, parent, tokens);
    }
    if (full > s.registered) s.registered = full;
  }

  release(s: Sequence): void {
    this.#pool.releaseAll(s.blocks);
    s.blocks = [];
    s.registered = 0;
    s.computed = 0;
  }

  /** Full blocks whose token ids are known: the prompt, plus emitted outputs when the request carries their ids. */
  #knowableBlocks(s: Sequence, upTo = s.prompt + s.output): number {
    const known = Math.min(upTo, s.prompt + (s.outputIds ? Math.min(s.outputIds.length, s.output) : 0));
    return Math.floor(known / this.#bs);
  }

  #keyAt(s: Sequence, k: number): number {
    const pk = s.promptKeys;
    if (k < pk.length) return pk[k] ?? 0;
    const extra = s.extraKeys;
    while (pk.length + extra.length <= k) {
      const j = pk.length + extra.length;
      const parent = j === 0 ? 0 : j - 1 < pk.length ? (pk[j - 1] ?? 0) : (extra[j - 1 - pk.length] ?? 0);
      const start = j * this.#bs;
      for (let i = 0; i < this.#bs; i++) {
        const pos = start + i;
        this.#scratch[i] = pos < s.prompt ? (s.promptIds[pos] ?? 0) : (s.outputIds?.[pos - s.prompt] ?? 0);
      }
      extra.push(chainBlockHash(parent, this.#scratch, 0, this.#bs));
    }
    return extra[k - pk.length] ?? 0;
  }
}
