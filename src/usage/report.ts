import type { Statement } from 'better-sqlite3';
import type { UsageDb } from './db.js';
import { ceilTo, cuboidFor, DIM_COLUMNS, DIM_COUNT, finestTier, floorTo, TIER, TIER_MS } from './rollup-shape.js';
import { QuantileSketch } from './sketch.js';

/** What a report groups by: a rollup dimension (its index in DIM_COLUMNS), or the UTC day. */
export type ReportDim = number | 'day';

export interface ReportSpec {
  fromMs: number;
  toMs: number;
  dims: readonly ReportDim[];
  /** Only rows of this subject / key (names). */
  subject?: string | undefined;
  key?: string | undefined;
}

export interface ReportGroup {
  /** Per dim of the spec: a usage_names id (0: none), a status class, or a UTC day number. */
  readonly values: number[];
  requests: number;
  errors: number;
  prompt: number;
  completion: number;
  cached: number;
  readonly latency: QuantileSketch;
  readonly ttft: QuantileSketch;
}

export interface RawReport {
  /** The range the report covers: the one asked for, widened where finer data has been pruned (retention). */
  fromMs: number;
  toMs: number;
  groups: ReportGroup[];
}

const DAY = TIER_MS[TIER.day];
const HOUR = TIER_MS[TIER.hour];
const MINUTE = TIER_MS[TIER.minute];
const SUBJECT = 0;
const KEY = 2;

interface Piece {
  /** -1: raw rows; else a rollup tier. */
  tier: number;
  from: number;
  to: number;
}

/**
 * [x, y) as the coarsest pieces available: whole days, then hours, then minutes, then raw rows at the edges. Tier t
 * is complete before done[t]; minute rows only from minutesFrom.
 */
function cover(x: number, y: number, tier: number, done: readonly number[], minutesFrom: number): Piece[] {
  if (x >= y) return [];
  if (tier < 0) return [{ tier: -1, from: x, to: y }];
  const span = TIER_MS[tier]!;
  const s = tier === TIER.minute ? Math.max(ceilTo(x, span), minutesFrom) : ceilTo(x, span);
  const e = Math.min(floorTo(y, span), floorTo(done[tier]!, span));
  if (s >= e) return cover(x, y, tier - 1, done, minutesFrom);
  return [...cover(x, s, tier - 1, done, minutesFrom), { tier, from: s, to: e }, ...cover(e, y, tier - 1, done, minutesFrom)];
}

type Stmt = Statement<unknown[], unknown>;
const statements = new WeakMap<UsageDb, Map<string, Stmt>>();
function prepared(db: UsageDb, sql: string): Stmt {
  let perDb = statements.get(db);
  if (!perDb) statements.set(db, (perDb = new Map()));
  let stmt = perDb.get(sql);
  if (!stmt) perDb.set(sql, (stmt = db.prepare<unknown[], unknown>(sql)));
  return stmt;
}

const RAW_COLUMNS = `time_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id, endpoint_id, status,
  prompt_tokens, completion_tokens, cached_tokens, ttft_ms, latency_ms`;
const ROLLUP_SUMS = `SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens),
  CAST(group_concat(latency, '') AS BLOB), CAST(group_concat(ttft, '') AS BLOB)`;

/**
 * Totals per group over [from, to), merged from rollups: the rows of the smallest cuboid that holds every dimension
 * grouped or filtered by, at the coarsest tier that fits each part of the range, plus raw rows for the edges finer
 * than a minute and for the rows not yet rolled up (the writer's last seconds). All in one read transaction, so the
 * rollups and the rows past rolled_id are one snapshot: each row is counted exactly once.
 */
export function buildReport(db: UsageDb, spec: ReportSpec): RawReport {
  return db.transaction(() => build(db, spec))();
}

function build(db: UsageDb, spec: ReportSpec): RawReport {
  const filters: [number, number][] = [];
  for (const [dim, name] of [[SUBJECT, spec.subject], [KEY, spec.key]] as const) {
    if (name === undefined) continue;
    const id = (prepared(db, 'SELECT id FROM usage_names WHERE name = ?').pluck().get(name) as number | undefined) ?? -1;
    filters.push([dim, id]);
  }
  let mask = 0;
  for (const d of spec.dims) if (d !== 'day') mask |= 1 << d;
  for (const [d] of filters) mask |= 1 << d;
  const cuboid = cuboidFor(mask);

  const state = prepared(db, 'SELECT rolled_id AS rolled, raw_pruned_ms AS raw, minutes_pruned_ms AS minutes, hours_pruned_ms AS hours FROM usage_rollup_state').get() as
    | { rolled: number; raw: number; minutes: number; hours: number }
    | undefined;
  const marks = prepared(db, 'SELECT hours_done_ms AS hours, days_done_ms AS days, minutes_from_ms AS minutesFrom FROM usage_rollup_marks WHERE cuboid = ?').get(cuboid) as
    | { hours: number; days: number; minutesFrom: number }
    | undefined;
  const rolled = state?.rolled ?? 0;
  const minutes = finestTier(cuboid) === TIER.minute;
  // Subjects and keys in a database upgraded from v4 have minute rows only from minutesFrom on (hour rows before).
  const minutesFrom = minutes ? (marks?.minutesFrom ?? 0) : Number.POSITIVE_INFINITY;
  // Where finer rows are gone (retention), the range widens to the bucket that still has them.
  const snap = (t: number, round: (t: number, span: number) => number) => {
    if (!state) return t;
    if (t < state.hours) return round(t, DAY);
    if (t < state.minutes || (t < minutesFrom && t < state.raw)) return round(t, HOUR);
    if (t < state.raw) return round(t, MINUTE);
    return t;
  };
  const fromMs = snap(spec.fromMs, floorTo);
  const toMs = snap(spec.toMs, ceilTo);
  // Where each tier is complete: minute rows (for the cuboids that have them) hold every rolled row; hour rows hold
  // every row before hoursDone (cuboids written in hours: all of them); day rows every row before daysDone.
  const done = minutes
    ? [Number.POSITIVE_INFINITY, marks?.hours ?? 0, marks?.days ?? 0]
    : [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, marks?.days ?? 0];
  const pieces = cover(fromMs, toMs, TIER.day, done, minutesFrom);

  const groups = new Map<string, ReportGroup>();
  const values: number[] = new Array(spec.dims.length);
  const group = (): ReportGroup => {
    const k = values.join('|');
    let g = groups.get(k);
    if (g === undefined) {
      g = { values: values.slice(), requests: 0, errors: 0, prompt: 0, completion: 0, cached: 0, latency: new QuantileSketch(), ttft: new QuantileSketch() };
      groups.set(k, g);
    }
    return g;
  };
  const where = filters.map(([d]) => ` AND ${['subject_id', 'team_id', 'key_id'][d]} = ?`).join('');
  const filterArgs = filters.map(([, id]) => id);

  // Each piece grouped inside SQLite: sums added there, and a group's sketches come back as one blob, their encodings
  // concatenated (group_concat keeps a blob's bytes; CAST makes the result a blob again). A row per output group
  // instead of a row per rollup row: better-sqlite3 makes a Buffer per blob it returns, which cost more than
  // everything else a report does.
  const keys = spec.dims.map((d) => (d === 'day' ? `bucket_ms / ${DAY}` : DIM_COLUMNS[d]!));
  const grouped = prepared(
    db,
    `SELECT ${[...keys, ROLLUP_SUMS].join(', ')} FROM usage_rollups WHERE cuboid = ? AND tier = ? AND bucket_ms >= ? AND bucket_ms < ?${where}${keys.length ? ` GROUP BY ${keys.join(', ')}` : ''}`,
  );
  const n = keys.length;
  for (const p of pieces) {
    if (p.tier < 0) continue;
    for (const r of grouped.raw(true).all(cuboid, p.tier, p.from, p.to, ...filterArgs) as unknown[][]) {
      if (r[n] === null) continue; // no rows (an aggregate without GROUP BY still answers)
      for (let i = 0; i < n; i++) values[i] = r[i] as number;
      const g = group();
      g.requests += r[n] as number;
      g.errors += r[n + 1] as number;
      g.prompt += r[n + 2] as number;
      g.completion += r[n + 3] as number;
      g.cached += r[n + 4] as number;
      if (r[n + 5]) g.latency.addBlobs(r[n + 5] as Uint8Array);
      if (r[n + 6]) g.ttft.addBlobs(r[n + 6] as Uint8Array);
    }
  }

  const addRaw = (r: unknown[]) => {
    for (let i = 0; i < spec.dims.length; i++) {
      const d = spec.dims[i]!;
      values[i] = d === 'day' ? Math.floor((r[0] as number) / DAY) : d === DIM_COUNT - 1 ? Math.floor((r[8] as number) / 100) : ((r[1 + d] as number | null) ?? 0);
    }
    const g = group();
    g.requests++;
    if ((r[8] as number) >= 400) g.errors++;
    g.prompt += r[9] as number;
    g.completion += r[10] as number;
    g.cached += r[11] as number;
    if (r[12] !== null) g.ttft.addValue(r[12] as number);
    g.latency.addValue(r[13] as number);
  };
  // Edges finer than a minute, from rows already rolled up; then every row not yet rolled up, wherever it falls.
  // The unary + keeps SQLite from planning on the wrong range: edges walk the time index (a minute or two of rows),
  // the tail walks ids past rolled_id (the last seconds), never the reverse over the whole table.
  const edge = prepared(db, `SELECT ${RAW_COLUMNS} FROM usage_rows WHERE time_ms >= ? AND time_ms < ? AND +id <= ?${where}`);
  for (const p of pieces) if (p.tier < 0) for (const r of edge.raw(true).iterate(p.from, p.to, rolled, ...filterArgs) as Iterable<unknown[]>) addRaw(r);
  const tail = prepared(db, `SELECT ${RAW_COLUMNS} FROM usage_rows WHERE id > ? AND +time_ms >= ? AND +time_ms < ?${where}`);
  for (const r of tail.raw(true).iterate(rolled, fromMs, toMs, ...filterArgs) as Iterable<unknown[]>) addRaw(r);

  return { fromMs, toMs, groups: [...groups.values()] };
}
