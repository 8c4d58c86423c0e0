/** Percentile of an unsorted sample (nearest rank); NaN when empty. Sorts a copy. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = Float64Array.from(values).sort();
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank] as number;
}

/**
 * Log-bucketed histogram for per-token latencies: millions of inter-token gaps per run would not fit in arrays.
 * Buckets grow by 2% so percentiles are within 1% of the exact value.
 */
export class LogHistogram {
  static readonly #GROWTH = 1.02;
  static readonly #MIN = 0.01;
  #counts = new Float64Array(1200);
  #total = 0;

  add(ms: number): void {
    const b = ms <= LogHistogram.#MIN ? 0 : Math.min(this.#counts.length - 1, 1 + Math.floor(Math.log(ms / LogHistogram.#MIN) / Math.log(LogHistogram.#GROWTH)));
    this.#counts[b] = (this.#counts[b] ?? 0) + 1;
    this.#total++;
  }

  get count(): number {
    return this.#total;
  }

  percentile(p: number): number {
    if (this.#total === 0) return Number.NaN;
    const target = (p / 100) * this.#total;
    let acc = 0;
    for (let b = 0; b < this.#counts.length; b++) {
      acc += this.#counts[b] ?? 0;
      if (acc >= target) return b === 0 ? LogHistogram.#MIN : LogHistogram.#MIN * Math.pow(LogHistogram.#GROWTH, b - 0.5);
    }
    return Number.NaN;
  }
}
