import { Lru } from './lru.js';

/**
 * Completion lengths seen per model, in a log-scale histogram (4 buckets per doubling, ±10% resolution, 1 token to
 * ~1M). Counts are halved every `decayEvery` samples so the estimate follows a model whose use changes.
 */
const STEPS_PER_DOUBLING = 4;
const BUCKETS = 20 * STEPS_PER_DOUBLING + 1;

function bucketOf(tokens: number): number {
  return Math.min(BUCKETS - 1, Math.max(0, Math.floor(Math.log2(tokens + 1) * STEPS_PER_DOUBLING)));
}

function upperOf(bucket: number): number {
  return Math.ceil(2 ** ((bucket + 1) / STEPS_PER_DOUBLING) - 1);
}

class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  total = 0;
  samples = 0;

  add(tokens: number, decayEvery: number): void {
    this.counts[bucketOf(tokens)]! += 1;
    this.total += 1;
    this.samples += 1;
    if (this.total >= decayEvery) {
      for (let i = 0; i < BUCKETS; i++) this.counts[i]! /= 2;
      this.total /= 2;
    }
  }

  quantile(q: number): number {
    const target = q * this.total;
    let cum = 0;
    for (let i = 0; i < BUCKETS; i++) {
      cum += this.counts[i]!;
      if (cum >= target) return upperOf(i);
    }
    return upperOf(BUCKETS - 1);
  }
}

export interface OutputEstimate {
  /** What to reserve: `max_tokens` when given (a true bound), else the observed p99 or the default. */
  readonly upperBound: number;
  /** What to expect, for routing: the observed median, never above the bound. */
  readonly expected: number;
}

export interface OutputEstimatorOptions {
  /** Reserved when the client sent no max_tokens and the model has too few samples yet. */
  defaultMaxOutput?: number;
  defaultExpected?: number;
  /** Samples before the histogram is trusted. */
  minSamples?: number;
  decayEvery?: number;
}

export interface OutputEstimator {
  observe(model: string, completionTokens: number): void;
  estimate(model: string, maxTokens: number | null | undefined): OutputEstimate;
}

export function createOutputEstimator(options: OutputEstimatorOptions = {}): OutputEstimator {
  // Keyed by model names from callers: bounded by bytes too (issue 11), not only by entries.
  const models = new Lru<string, Histogram>(1024, 256 * 1024);
  const defaultMax = options.defaultMaxOutput ?? 1024;
  const defaultExpected = options.defaultExpected ?? 256;
  const minSamples = options.minSamples ?? 20;
  const decayEvery = options.decayEvery ?? 10_000;
  return {
    observe(model, tokens) {
      if (!Number.isFinite(tokens) || tokens < 0) return;
      let h = models.get(model);
      if (!h) {
        h = new Histogram();
        models.set(model, h);
      }
      h.add(tokens, decayEvery);
    },
    estimate(model, maxTokens) {
      const h = models.get(model);
      const trusted = h !== undefined && h.samples >= minSamples;
      const bound = maxTokens != null && maxTokens > 0 ? maxTokens : trusted ? h.quantile(0.99) : defaultMax;
      const expected = trusted ? h.quantile(0.5) : defaultExpected;
      return { upperBound: bound, expected: Math.min(bound, expected) };
    },
  };
}
