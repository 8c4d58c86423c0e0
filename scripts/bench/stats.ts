/** Small statistics helpers; every input array may be unsorted and is never modified. */

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** Median of the finite values only (a skipped or failed round is NaN). */
export function medianFinite(values: readonly number[]): number {
  return median(values.filter((v) => Number.isFinite(v)));
}
