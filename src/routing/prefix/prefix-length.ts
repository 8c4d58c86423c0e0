/**
 * Length of the longest present prefix of a chain of keys, by galloping then bisecting: O(log n) lookups. Exact when
 * presence is prefix-closed, which holds for chained keys in an index that, like vLLM, evicts a request's last
 * blocks first (a hole in the middle of a held prefix is rare and only shortens or lengthens a match locally).
 */
export function prefixLength(keys: readonly number[], has: (key: number) => boolean): number {
  const n = keys.length;
  if (n === 0 || !has(keys[0] as number)) return 0;
  let lo = 0;
  let step = 1;
  while (lo + step < n && has(keys[lo + step] as number)) {
    lo += step;
    step *= 2;
  }
  let hi = Math.min(n, lo + step);
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (has(keys[mid] as number)) lo = mid;
    else hi = mid;
  }
  return lo + 1;
}
