import { DIM_COUNT, type RollupRow } from './rollup-shape.js';
import { BinCounts } from './sketch.js';

/** Positions in a rollup row (ROLLUP_COLUMNS order). */
export const R = { tier: 0, cuboid: 1, bucket: 2, dims: 3, requests: 3 + DIM_COUNT, latency: 8 + DIM_COUNT, ttft: 9 + DIM_COUNT } as const;
const SUMS = 5;

/**
 * Partial rollup rows of one cuboid merged into one row per distinct dimension values, at `tier` and `bucket`
 * (compaction: the minutes of an hour into the hour, the hours of a day into the day). Sums add; sketches add bins.
 */
export function mergeRollupRows(rows: readonly unknown[][], tier: number, bucket: number): RollupRow[] {
  const merged = new Map<string, { row: unknown[]; lat: BinCounts; ttft: BinCounts }>();
  for (const r of rows) {
    const key = r.slice(R.dims, R.dims + DIM_COUNT).join('|');
    let m = merged.get(key);
    if (m === undefined) {
      m = { row: [tier, r[R.cuboid], bucket, ...r.slice(R.dims, R.requests), 0, 0, 0, 0, 0], lat: new BinCounts(), ttft: new BinCounts() };
      merged.set(key, m);
    }
    for (let i = 0; i < SUMS; i++) (m.row[R.requests + i] as number) += r[R.requests + i] as number;
    m.lat.add(r[R.latency] as Uint8Array);
    m.ttft.add(r[R.ttft] as Uint8Array);
  }
  return [...merged.values()].map((m) => [...m.row, m.lat.encode(), m.ttft.encode()]);
}
