/**
 * Latency histograms with logarithmic buckets: bucket i holds values up to GROWTH^i ms, so any quantile read back is
 * within GROWTH (±8%) of the true value: plenty for a console's p50/p99, at 96 counters of fixed memory, mergeable by
 * addition, and O(1) to record with no allocation.
 */
const GROWTH = 1.16;
const LOG_GROWTH = Math.log(GROWTH);
export const BUCKETS = 96; // GROWTH^95 ≈ 1.3e6 ms: longer requests share the last bucket

export function bucketOf(ms: number): number {
  if (!(ms > 1)) return 0;
  const i = Math.ceil(Math.log(ms) / LOG_GROWTH);
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** The bucket's upper bound in ms. */
export function bucketValue(i: number): number {
  return i === 0 ? 1 : GROWTH ** i;
}

/** The q-quantile (0..1) of one or more histograms added together; null when they are empty. */
export function quantile(hists: readonly Uint32Array[], q: number): number | null {
  let total = 0;
  for (const h of hists) for (let i = 0; i < BUCKETS; i++) total += h[i]!;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    for (const h of hists) seen += h[i]!;
    if (seen >= rank) return Math.round(bucketValue(i) * 10) / 10;
  }
  return Math.round(bucketValue(BUCKETS - 1));
}
