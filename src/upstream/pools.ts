import { Pool } from 'undici';

/** How long an idle backend connection is kept for reuse. */
const KEEP_ALIVE_MS = 4000;

export interface PoolOptions {
  connections: number;
  connectTimeoutMs: number;
}

/**
 * One undici Pool per backend origin. Pools for origins that survive a config reload are kept (their warm
 * keep-alive connections too); pools for removed origins are closed gracefully, so in-flight requests finish.
 */
export class BackendPools {
  #pools = new Map<string, Pool>();
  #options: PoolOptions;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  get(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.#options.connections,
        connectTimeout: this.#options.connectTimeoutMs,
        pipelining: 1,
        // Below the 5 s after which uvicorn (vLLM, SGLang) and llama.cpp close an idle connection: a request written
        // onto a socket the backend is closing is reset before any answer (a 502 where the model has one backend), and
        // uvicorn sends no Keep-Alive hint undici could go by. A backend that sends one (`timeout=N`) is taken at its word.
        keepAliveTimeout: KEEP_ALIVE_MS,
        // Deadlines are enforced per attempt by the caller (first byte, idle, total); undici's own are off.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /** Keeps pools for `origins`, closes the rest. */
  sync(origins: Iterable<string>, options?: PoolOptions): void {
    if (options) this.#options = options;
    const keep = new Set(origins);
    for (const [origin, pool] of this.#pools) {
      if (!keep.has(origin)) {
        this.#pools.delete(origin);
        pool.close().catch(() => {});
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(all.map((p) => p.close().catch(() => p.destroy())));
  }

  destroy(): void {
    for (const p of this.#pools.values()) p.destroy().catch(() => {});
    this.#pools.clear();
  }
}
