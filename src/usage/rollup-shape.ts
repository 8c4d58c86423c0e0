/**
 * The shape of usage_rollups (schema v3): what a rollup row is keyed by and which combinations are kept.
 *
 * A rollup row holds exact counts and sums and two sketches (latency, TTFT) for the rows of one time bucket that
 * share the values of its cuboid's dimensions. Rows are partial: the writer appends one per group per flush and
 * compaction appends coarser ones, and a report adds up whatever rows match, so no row is ever read back to be
 * updated on the write path.
 */

/** Dimensions, in column order; a cuboid is a bit mask over them. */
export const DIM_COLUMNS = [
  'subject_id', 'team_id', 'key_id', 'requested_model_id', 'upstream_model_id', 'backend_id', 'endpoint_id', 'status_class',
] as const;
export const DIM_COUNT = DIM_COLUMNS.length;

export const CUBOID = {
  none: 0,
  subject: 1 << 0,
  team: 1 << 1,
  key: 1 << 2,
  model: 1 << 3,
  full: (1 << DIM_COUNT) - 1,
} as const;

/**
 * The cuboids kept. A report reads the smallest one holding every dimension it groups or filters by: totals and
 * single-dimension reports (by subject, team, key or model, and a subject's or key's own window) merge a few
 * hundred rows per day; anything else reads the full cuboid, where a day has a row per distinct combination.
 */
export const CUBOIDS: readonly number[] = [CUBOID.none, CUBOID.subject, CUBOID.team, CUBOID.key, CUBOID.model, CUBOID.full];

/** Tier → bucket width: minutes, hours and days. */
export const TIER_MS = [60_000, 3_600_000, 86_400_000] as const;
export const TIER = { minute: 0, hour: 1, day: 2 } as const;

/**
 * Cuboids with few rows per minute (totals, teams, models) get minute rows; the others (a row per active subject, key
 * or combination) would have about as many minute rows as there are requests, so the writer gives them hour rows,
 * and a report's edges finer than an hour come from raw rows. Compaction turns minutes into hours (and merges the
 * partial hour rows of the others), then hours into days.
 */
export const MINUTE_CUBOIDS: ReadonlySet<number> = new Set([CUBOID.none, CUBOID.team, CUBOID.model]);
/** The finest tier a cuboid has. */
export const finestTier = (cuboid: number): number => (MINUTE_CUBOIDS.has(cuboid) ? TIER.minute : TIER.hour);

/** The cuboid to read for a set of dimensions (bit mask). */
export function cuboidFor(mask: number): number {
  for (const c of CUBOIDS) if ((c & mask) === mask && (c === CUBOID.full || c === mask)) return c;
  return CUBOID.full;
}

export const floorTo = (t: number, span: number) => Math.floor(t / span) * span;
export const ceilTo = (t: number, span: number) => Math.ceil(t / span) * span;

/** Column list of a rollup row, in the order `RollupRow` holds its values. */
export const ROLLUP_COLUMNS = `tier, cuboid, bucket_ms, ${DIM_COLUMNS.join(', ')}, requests, errors, prompt_tokens,
  completion_tokens, cached_tokens, latency, ttft`;
/** tier, cuboid, bucket, 8 dimensions, 5 sums, 2 sketches. */
export type RollupRow = unknown[];
/** A rollup row and its `part`. */
export const ROLLUP_INSERT = `INSERT INTO usage_rollups (${ROLLUP_COLUMNS}, part) VALUES (${'?,'.repeat(18)}?)`;

/**
 * `part` values for inserted rollup rows: unique among the rows one writer inserts (partial rows of the same group
 * and bucket differ only in it), and above any an earlier process used: microseconds since the epoch at start, plus
 * one per row (a process would have to insert more than a row per microsecond of its life to catch up with a later one).
 */
export function createPartCounter(): () => number {
  let next = Date.now() * 1000;
  return () => next++;
}
