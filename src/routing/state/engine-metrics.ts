/**
 * One scrape of a backend's /metrics, normalised across engines (vLLM, SGLang, TGI, llama.cpp). A field is null when
 * that engine does not export it; consumers fall back to the gateway's own accounting.
 */
export interface EngineMetrics {
  readonly running: number | null;
  readonly waiting: number | null;
  /** Fraction of KV blocks held by requests (vLLM semantics: cached-but-free blocks count as free). */
  readonly kvUsage: number | null;
  /** Tokens the KV cache holds in total (num_gpu_blocks × block_size, SGLang max_total_num_tokens, ...). */
  readonly kvCapacityTokens: number | null;
  readonly blockSize: number | null;
  /** Monotonic counters: a decrease means the process restarted (and its cache is empty). */
  readonly prefixQueriesTokens: number | null;
  readonly prefixHitsTokens: number | null;
  readonly promptTokensTotal: number | null;
  readonly generationTokensTotal: number | null;
}

export const EMPTY_METRICS: EngineMetrics = Object.freeze({
  running: null,
  waiting: null,
  kvUsage: null,
  kvCapacityTokens: null,
  blockSize: null,
  prefixQueriesTokens: null,
  prefixHitsTokens: null,
  promptTokensTotal: null,
  generationTokensTotal: null,
});

/** True when a counter went backwards between two scrapes: the backend restarted. */
export function looksRestarted(prev: EngineMetrics, next: EngineMetrics): boolean {
  const back = (a: number | null, b: number | null) => a !== null && b !== null && b < a;
  return back(prev.prefixQueriesTokens, next.prefixQueriesTokens) || back(prev.generationTokensTotal, next.generationTokensTotal);
}
