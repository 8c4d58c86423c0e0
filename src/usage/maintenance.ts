import type { UsageDb } from './db.js';
import { mergeRollupRows } from './rollup-merge.js';
import { CUBOIDS, finestTier, floorTo, ROLLUP_COLUMNS, ROLLUP_INSERT, TIER, TIER_MS } from './rollup-shape.js';

export interface RetentionOptions {
  /** Raw rows (usage_rows) older than this are deleted; 0 keeps them forever. */
  retentionMs?: number;
  /** Day rollups older than this are deleted; 0 keeps them forever. Minute and hour rollups are kept less long. */
  rollupRetentionMs?: number;
}

const HOUR = TIER_MS[TIER.hour];
const DAY = TIER_MS[TIER.day];
/** Minute rollups serve the edges of recent reports; after this, hours do. */
export const MINUTE_ROLLUPS_KEPT_MS = 2 * DAY;
/** Hour rollups serve the edges of reports up to this old; after it, days do. */
export const HOUR_ROLLUPS_KEPT_MS = 35 * DAY;
/**
 * An hour is compacted this long after it ends, when rows for it have almost surely arrived (a row is recorded when
 * its request ends; its time is when it started). A later row is still added to the hour and day (rollup-fold.ts).
 */
export const GRACE_MS = 15 * 60_000;
/** Rows deleted per statement: each step holds the write lock for a few milliseconds. */
const DELETE_BATCH = 2_000;
/** Free space left before giving some back to the OS, and how much per step (in pages of the file's size). */
const VACUUM_ABOVE_BYTES = 4 * 1024 * 1024;
const VACUUM_STEP_BYTES = 2 * 1024 * 1024;

export interface Maintenance {
  /** One unit of work (compact one period of one cuboid, delete one batch, vacuum some pages); false when idle. */
  step(): boolean;
}

/**
 * Compaction, retention and vacuum for the usage log, run by its writer off the request path, one short
 * transaction per step. Compaction is what keeps reports fast however long the gateway has run: minute rollups of a
 * closed hour become hour rows, hours of a closed day become day rows, and the finer rows are deleted once older than
 * their retention. Raw rows are deleted only once they are rolled up, and never the newest one (SQLite would reuse
 * ids, and rolled_id counts on them growing).
 */
export function createMaintenance(db: UsageDb, options: RetentionOptions & { now: () => number; nextPart: () => number }): Maintenance {
  const retentionMs = options.retentionMs ?? 0;
  const rollupRetentionMs = options.rollupRetentionMs ?? 0;
  const now = options.now;
  const marks = db.prepare<[number], { hours: number; days: number }>('SELECT hours_done_ms AS hours, days_done_ms AS days FROM usage_rollup_marks WHERE cuboid = ?');
  // Nothing is written when the sink is created (the database may be locked then): a cuboid's marks row appears with
  // its first compaction.
  const upsertHours = db.prepare<[{ ms: number; cuboid: number }]>(
    'INSERT INTO usage_rollup_marks (cuboid, hours_done_ms, days_done_ms) VALUES (@cuboid, @ms, 0) ON CONFLICT (cuboid) DO UPDATE SET hours_done_ms = excluded.hours_done_ms',
  );
  const upsertDays = db.prepare<[{ ms: number; cuboid: number }]>(
    'INSERT INTO usage_rollup_marks (cuboid, hours_done_ms, days_done_ms) VALUES (@cuboid, 0, @ms) ON CONFLICT (cuboid) DO UPDATE SET days_done_ms = excluded.days_done_ms',
  );
  const setHours = { run: (ms: number, cuboid: number) => upsertHours.run({ ms, cuboid }) };
  const setDays = { run: (ms: number, cuboid: number) => upsertDays.run({ ms, cuboid }) };
  const firstBucket = db.prepare<[number, number, number], number | null>('SELECT MIN(bucket_ms) FROM usage_rollups WHERE cuboid = ? AND tier = ? AND bucket_ms >= ?').pluck();
  const period = db.prepare<[number, number, number, number]>(
    `SELECT ${ROLLUP_COLUMNS} FROM usage_rollups WHERE cuboid = ? AND tier = ? AND bucket_ms >= ? AND bucket_ms < ?`,
  ).raw();
  const insert = db.prepare(ROLLUP_INSERT);
  const deletePeriod = db.prepare<[number, number, number, number]>('DELETE FROM usage_rollups WHERE cuboid = ? AND tier = ? AND bucket_ms >= ? AND bucket_ms < ?');
  const state = db.prepare<[], { raw: number; minutes: number; hours: number; days: number }>(
    'SELECT raw_pruned_ms AS raw, minutes_pruned_ms AS minutes, hours_pruned_ms AS hours, days_pruned_ms AS days FROM usage_rollup_state',
  );
  const pruneRaw = db.prepare<[number, number]>(
    `DELETE FROM usage_rows WHERE id IN (SELECT id FROM usage_rows WHERE time_ms < ? ORDER BY time_ms LIMIT ?)
       AND id <= (SELECT rolled_id FROM usage_rollup_state) AND id < (SELECT MAX(id) FROM usage_rows)`,
  );
  // usage_rollups has no rowid: a batch is "the buckets up to the one DELETE_BATCH rows in" (at least one bucket).
  const pruneBound = db.prepare<[number, number, number, number], number | null>(
    'SELECT bucket_ms FROM usage_rollups WHERE cuboid = ? AND tier = ? AND bucket_ms < ? ORDER BY cuboid, tier, bucket_ms LIMIT 1 OFFSET ?',
  ).pluck();
  const pruneBelow = db.prepare<[number, number, number]>('DELETE FROM usage_rollups WHERE cuboid = ? AND tier = ? AND bucket_ms <= ?');
  const pruneRollups = {
    run(cuboid: number, tier: number, cut: number, batch: number) {
      const bound = pruneBound.get(cuboid, tier, cut, batch) ?? cut - 1;
      return pruneBelow.run(cuboid, tier, Math.min(bound, cut - 1));
    },
  };
  const setPruned = ['raw_pruned_ms', 'minutes_pruned_ms', 'hours_pruned_ms', 'days_pruned_ms'].map((col) =>
    db.prepare<[number]>(`UPDATE usage_rollup_state SET ${col} = MAX(${col}, ?)`),
  );

  /**
   * Compacts the next closed period of `tier` (hour or day) for `cuboid`; false when none is ready. A cuboid written
   * in hour rows has its hour's partial rows (one per writer flush) replaced by one row per group instead.
   */
  const compact = db.transaction((cuboid: number, tier: number): boolean => {
    const source = tier === TIER.hour && finestTier(cuboid) === TIER.hour ? TIER.hour : tier - 1;
    const m = marks.get(cuboid) ?? { hours: 0, days: 0 };
    const span = TIER_MS[tier]!;
    const done = tier === TIER.hour ? m.hours : m.days;
    // Ready up to: hours GRACE_MS after they end; days once their hours are all compacted.
    const readyTo = tier === TIER.hour ? floorTo(now() - GRACE_MS, HOUR) : floorTo(m.hours, DAY);
    const set = tier === TIER.hour ? setHours : setDays;
    if (done + span > readyTo) return false;
    const next = firstBucket.get(cuboid, source, done) ?? null;
    // Nothing finer to compact (or not before readyTo): move the mark over the empty stretch.
    if (next === null || floorTo(next, span) >= readyTo) {
      if (done === readyTo) return false;
      set.run(readyTo, cuboid);
      return true;
    }
    const start = floorTo(next, span);
    const rows = period.all(cuboid, source, start, start + span) as unknown[][];
    if (source === tier) deletePeriod.run(cuboid, source, start, start + span);
    for (const r of mergeRollupRows(rows, tier, start)) {
      r.push(options.nextPart());
      insert.run(r);
    }
    set.run(start + span, cuboid);
    return true;
  });

  function prune(): boolean {
    const t = now();
    const pruned = state.get()!;
    let cut = t - retentionMs;
    if (retentionMs > 0 && pruneRaw.run(cut, DELETE_BATCH).changes > 0) return setPruned[0]!.run(Math.max(pruned.raw, cut)), true;
    const hoursKept = rollupRetentionMs > 0 ? Math.min(HOUR_ROLLUPS_KEPT_MS, rollupRetentionMs) : HOUR_ROLLUPS_KEPT_MS;
    const tiers = [
      { tier: TIER.minute, kept: MINUTE_ROLLUPS_KEPT_MS, mark: (c: number) => marks.get(c)?.hours ?? 0 },
      { tier: TIER.hour, kept: hoursKept, mark: (c: number) => marks.get(c)?.days ?? 0 },
      { tier: TIER.day, kept: rollupRetentionMs, mark: () => Number.POSITIVE_INFINITY },
    ];
    for (const { tier, kept, mark } of tiers) {
      if (kept <= 0) continue;
      for (const c of CUBOIDS) {
        // Finer rows go only once compacted into the coarser tier.
        cut = Math.min(floorTo(t - kept, TIER_MS[tier]!), mark(c));
        if (pruneRollups.run(c, tier, cut, DELETE_BATCH).changes > 0) {
          setPruned[tier + 1]!.run(cut);
          return true;
        }
      }
    }
    return false;
  }

  function vacuum(): boolean {
    if (db.pragma('auto_vacuum', { simple: true }) !== 2) return false;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    if ((db.pragma('freelist_count', { simple: true }) as number) * pageSize < VACUUM_ABOVE_BYTES) return false;
    db.pragma(`incremental_vacuum(${Math.ceil(VACUUM_STEP_BYTES / pageSize)})`);
    return true;
  }

  return {
    step() {
      for (const c of CUBOIDS) if (compact.immediate(c, TIER.hour) || compact.immediate(c, TIER.day)) return true;
      return db.transaction(prune).immediate() || vacuum();
    },
  };
}
