import { isIdle, type BucketState } from './bucket.js';

/**
 * Where bucket state lives. The limiter does the arithmetic and relies on get → mutate → set being atomic, which a
 * single-threaded in-process store gives for free. A store shared by several replicas would lease token batches
 * from a remote counter behind this same synchronous interface, so the hot path never awaits the network.
 */
export interface LimitStore {
  get(key: string): BucketState | undefined;
  /** Stores the state (a no-op for the object already stored: the limiter mutates states in place). */
  set(key: string, state: BucketState, nowMs: number): void;
  entries(): IterableIterator<[string, BucketState]>;
  readonly size: number;
  readonly evictions: number;
}

export interface MemoryLimitStoreOptions {
  /** Hard bound on keys; beyond it the least recently used key is dropped even if not idle. */
  maxKeys?: number;
}

/**
 * A Map in insertion order. Each new key also examines the two oldest: idle ones are dropped, busy ones (a long
 * stream in flight, a bucket still refilling) move to the back. That sweeps all keys every n/2 insertions, O(1) per
 * insertion and nothing at all for known keys, with no timer; idle keys leave at least as fast as new ones arrive.
 * `maxKeys` bounds memory even against a flood of distinct subjects (the oldest key goes first).
 */
export function createMemoryLimitStore(options: MemoryLimitStoreOptions = {}): LimitStore {
  const maxKeys = options.maxKeys ?? 100_000;
  const map = new Map<string, BucketState>();
  let evictions = 0;
  return {
    get: (key) => map.get(key),
    set(key, state, nowMs) {
      const known = map.get(key);
      if (known === state) return;
      if (known !== undefined) map.delete(key);
      map.set(key, state);
      for (let i = 0; i < 2; i++) {
        const oldest = map.entries().next();
        if (oldest.done || oldest.value[0] === key) break;
        const [k, v] = oldest.value;
        map.delete(k);
        if (!isIdle(v, nowMs)) map.set(k, v);
      }
      while (map.size > maxKeys) {
        const oldest = map.keys().next();
        if (oldest.done) break;
        map.delete(oldest.value);
        evictions++;
      }
    },
    entries: () => map.entries(),
    get size() {
      return map.size;
    },
    get evictions() {
      return evictions;
    },
  };
}
