/**
 * Tokens used per quota key and window. Reads are synchronous and served from memory (the limiter runs on the hot
 * path); persistent implementations load a window once and write back in batches.
 */
export interface QuotaStore {
  used(key: string, window: string): number;
  add(key: string, window: string, tokens: number): void;
  /** Persist pending changes now (no-op in memory). */
  flush(): void;
  close(): void;
}

/** Per window, per key. Windows other than the current and the previous one of each period are forgotten. */
export class WindowCounters {
  readonly #windows = new Map<string, Map<string, number>>();

  get(key: string, window: string): number | undefined {
    return this.#windows.get(window)?.get(key);
  }

  has(window: string): boolean {
    return this.#windows.has(window);
  }

  set(key: string, window: string, value: number): void {
    let w = this.#windows.get(window);
    if (!w) {
      w = new Map();
      this.#windows.set(window, w);
      this.#prune(window);
    }
    w.set(key, value);
  }

  ensureWindow(window: string): void {
    if (!this.#windows.has(window)) {
      this.#windows.set(window, new Map());
      this.#prune(window);
    }
  }

  // Window ids sort chronologically within a period (`d:2024-05-01`), so keeping the two newest per period keeps
  // the current window and the one a request started before midnight still settles into.
  #prune(added: string): void {
    const prefix = added.slice(0, 2);
    const same = [...this.#windows.keys()].filter((w) => w.startsWith(prefix)).sort();
    for (const old of same.slice(0, Math.max(0, same.length - 2))) this.#windows.delete(old);
  }
}

export function createMemoryQuotaStore(): QuotaStore {
  const counters = new WindowCounters();
  return {
    used: (key, window) => counters.get(key, window) ?? 0,
    add: (key, window, tokens) => counters.set(key, window, (counters.get(key, window) ?? 0) + tokens),
    flush: () => {},
    close: () => {},
  };
}
