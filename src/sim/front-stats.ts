/**
 * Cumulative latency histograms and request counters kept by the HTTP front, in simulated seconds (scheduler time).
 * The front keeps them itself rather than reading EngineSnapshot's sample arrays because engines may cap those
 * arrays, and Prometheus histograms must only ever grow.
 */

export interface Histogram {
  readonly buckets: readonly number[];
  /** Cumulative-ready per-bucket counts (not cumulative yet), plus +Inf at the end. */
  readonly counts: number[];
  sum: number;
  count: number;
}

export function createHistogram(buckets: readonly number[]): Histogram {
  return { buckets, counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 };
}

export function observe(h: Histogram, value: number): void {
  let i = 0;
  while (i < h.buckets.length && value > (h.buckets[i] as number)) i++;
  h.counts[i] = (h.counts[i] as number) + 1;
  h.sum += value;
  h.count++;
}

// Bucket bounds in the spirit of vLLM's (seconds; token counts for the length histograms).
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960];
const LENGTH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

export type FinishedReason = 'stop' | 'length' | 'abort';

export interface FrontStats {
  ttft: Histogram;
  itl: Histogram;
  /** Per request mean time per output token after the first. */
  tpot: Histogram;
  e2e: Histogram;
  promptTokens: Histogram;
  generationTokens: Histogram;
  finished: Record<FinishedReason, number>;
  /** HTTP generation requests received (chat + completions). */
  requests: number;
  /** Prompt tokens served from the prefix cache, summed over finished requests. */
  cachedTokens: number;
  /** Largest prompt + generated length seen in one request. */
  maxRequestTokens: number;
}

export function createFrontStats(): FrontStats {
  return {
    ttft: createHistogram(TTFT_BUCKETS),
    itl: createHistogram(ITL_BUCKETS),
    tpot: createHistogram(ITL_BUCKETS),
    e2e: createHistogram(E2E_BUCKETS),
    promptTokens: createHistogram(LENGTH_BUCKETS),
    generationTokens: createHistogram(LENGTH_BUCKETS),
    finished: { stop: 0, length: 0, abort: 0 },
    requests: 0,
    cachedTokens: 0,
    maxRequestTokens: 0,
  };
}
