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
  /** Who used which model: subject, team, key, requested and upstream model (schema v4). */
  owner: (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4),
  /** Where requests went and how they ended: team, both models, backend, endpoint, status class (schema v4). */
  routing: (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7),
  /** Who used which model, keys aside: subject, team, requested and upstream model (schema v7). */
  subjectModel: (1 << 0) | (1 << 1) | (1 << 3) | (1 << 4),
  full: (1 << DIM_COUNT) - 1,
} as const;

/**
 * The cuboids kept, in the order a report prefers them: it reads the first one holding every dimension it groups or
 * filters by. A day has a row per distinct combination of a cuboid's dimensions: totals 1, teams and models a few,
 * subjects and keys a few hundred, routing (the low-cardinality dimensions together), subject by model and owner
 * (subject, key and model) several hundred, the full cuboid one per combination of everything (thousands to tens of
 * thousands); a report merges days × that many rows, so every single group_by, a subject's or key's window by model,
 * and any mix of team, models, backend, endpoint and status class stays off the full cuboid, and subject by model
 * reads half the rows owner holds (a subject's keys apart).
 */
export const CUBOIDS: readonly number[] = [
  CUBOID.none, CUBOID.team, CUBOID.model, CUBOID.subject, CUBOID.key, CUBOID.routing, CUBOID.subjectModel, CUBOID.owner, CUBOID.full,
];

/** Tier → bucket width: minutes, hours and days. */
export const TIER_MS = [60_000, 3_600_000, 86_400_000] as const;
export const TIER = { minute: 0, hour: 1, day: 2 } as const;

/**
 * Every cuboid but the full one gets minute rows: a report's edges finer than an hour come from them, and only those
 * finer than a minute from raw rows (a minute of rows, however busy the gateway). The full cuboid would have about a
 * row per request per minute, so the writer gives it hour rows, and its reports read raw rows for edges finer than an
 * hour. Minute rows are kept two days (maintenance.ts). Compaction turns minutes into hours (and merges the full
 * cuboid's partial hour rows), then hours into days. Subjects, keys, routing and owner have minute rows since schema
 * v5 (usage_rollup_marks.minutes_from_ms: from when on).
 */
export const MINUTE_CUBOIDS: ReadonlySet<number> = new Set(CUBOIDS.filter((c) => c !== CUBOID.full));
/** The finest tier a cuboid has. */
export const finestTier = (cuboid: number): number => (MINUTE_CUBOIDS.has(cuboid) ? TIER.minute : TIER.hour);

/** The cuboid to read for a set of dimensions (bit mask): the first in CUBOIDS that holds them all. */
export function cuboidFor(mask: number): number {
  for (const c of CUBOIDS) if ((c & mask) === mask) return c;
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
