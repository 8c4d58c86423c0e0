import { prefixLength } from '../prefix/prefix-length.js';
import { chainTokenBlock, ROOT_KEY } from './token-keys.js';
import type { KvEvent } from './wire.js';

/**
 * One backend's prefix cache as its engine reports it: the blocks stored and not yet removed, each under the
 * gateway's own key (token-keys.ts) so that a prompt the gateway tokenizes can be matched block by block. The
 * engine's hash → gateway key map is what lets a stored block name its parent by the engine's hash; a block whose
 * parent was never seen (stored before this index listened, and not replayed) cannot be keyed and is counted as
 * an orphan.
 */
export class EventBlockIndex {
  /** Engine block hash → the gateway's key for the same tokens. */
  readonly #byHash = new Map<string, number>();
  /** Gateway key → engine blocks holding it (two LoRA adapters may hold the same tokens). */
  readonly #resident = new Map<number, number>();
  /** The engine's block size, from its events (0 until the first store). */
  blockSize = 0;
  /** Blocks stored since the last `markTurnover()`: a full turnover heals a picture that missed events. */
  storedSinceMark = 0;
  readonly stats = { stored: 0, removed: 0, orphans: 0, cleared: 0 };

  get size(): number {
    return this.#byHash.size;
  }

  has(key: number): boolean {
    return this.#resident.has(key);
  }

  /** Leading keys present: the engine's prefix hit in blocks. */
  matchLength(keys: readonly number[]): number {
    return prefixLength(keys, (k) => this.#resident.has(k));
  }

  apply(e: KvEvent): void {
    if (e.type === 'cleared') {
      this.clear();
      this.stats.cleared++;
      return;
    }
    if (!e.gpu) return;
    if (e.type === 'removed') {
      for (const h of e.hashes) this.#remove(h);
      return;
    }
    this.blockSize = e.blockSize;
    let parent = e.parent === null ? ROOT_KEY : this.#byHash.get(e.parent);
    if (parent === undefined) {
      this.stats.orphans += e.hashes.length;
      return;
    }
    for (let i = 0; i < e.hashes.length; i++) {
      const h = e.hashes[i] as string;
      const key = chainTokenBlock(parent, e.tokens, i * e.blockSize, e.blockSize);
      const old = this.#byHash.get(h);
      if (old === undefined) {
        this.#byHash.set(h, key);
        this.#resident.set(key, (this.#resident.get(key) ?? 0) + 1);
        this.stats.stored++;
        this.storedSinceMark++;
      }
      parent = key;
    }
  }

  clear(): void {
    this.#byHash.clear();
    this.#resident.clear();
  }

  #remove(h: string): void {
    const key = this.#byHash.get(h);
    if (key === undefined) return;
    this.#byHash.delete(h);
    const n = this.#resident.get(key) ?? 0;
    if (n <= 1) this.#resident.delete(key);
    else this.#resident.set(key, n - 1);
    this.stats.removed++;
  }
}
