/**
 * Rollups of a usage database built in SQL, for bench:usage's large databases: the writer's catch-up folds rows in
 * JavaScript (the 10M-row build took 847 s that way), this path runs GROUP BY inside SQLite with the writer's sketch
 * mapping and encoding as aggregates (src/usage/sketch-sql.ts). It produces what the writer's catch-up and compaction
 * would, with the clock at `nowMs`, for a database whose rows are all raw and none rolled up: the full cuboid's hour
 * rows from the raw rows, hour by hour; every other cuboid's hour rows merged from those; minute rows for the cuboids
 * that have them, as far back as retention keeps them (MINUTE_ROLLUPS_KEPT_MS); day rows merged from hours for the
 * closed days; the marks and rolled_id. Rows differ from the writer's only in how they are split into parts (one row
 * per group and bucket here); test/usage/rollup-sql.test.ts checks the per-bucket sums and sketch bins are equal.
 */
import type { UsageDb } from '../../src/usage/index.js';
import { GRACE_MS, MINUTE_ROLLUPS_KEPT_MS } from '../../src/usage/maintenance.js';
import { CUBOID, CUBOIDS, DIM_COLUMNS, finestTier, floorTo, TIER, TIER_MS } from '../../src/usage/rollup-shape.js';

const [MINUTE, HOUR, DAY] = TIER_MS;
const COLUMNS = `tier, cuboid, bucket_ms, ${DIM_COLUMNS.join(', ')}, requests, errors, prompt_tokens, completion_tokens, cached_tokens, latency, ttft, part`;
/**
 * The raw columns as the fold reads them: names as ids (0 for none), the status class. Times may be fractional
 * milliseconds (REAL): buckets are floored with CAST, as the fold's Math.floor does.
 */
const RAW_DIMS = DIM_COLUMNS.map((c) => (c === 'status_class' ? 'status / 100' : c === 'subject_id' ? c : `COALESCE(${c}, 0)`));
const RAW_SUMS = 'COUNT(*), SUM(status >= 400), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), usage_sketch(latency_ms), usage_sketch(ttft_ms), 0';
const MERGED_SUMS = `SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), usage_sketch_merge(latency),
  usage_sketch_merge(ttft), 0`;

const masked = (cols: readonly string[], cuboid: number) => cols.map((c, i) => ((cuboid >> i) & 1 ? c : '0'));
const groupBy = (cuboid: number, bucket: string) => [bucket, ...DIM_COLUMNS.filter((_, i) => (cuboid >> i) & 1)].join(', ');

export function buildRollupsInSql(db: UsageDb, nowMs: number, log: (s: string) => void): void {
  const range = db.prepare('SELECT MIN(time_ms) AS lo, MAX(time_ms) AS hi, MAX(id) AS maxId FROM usage_rows').get() as { lo: number | null; hi: number; maxId: number };
  const lo = range.lo;
  if (lo === null) return;
  const hoursDone = floorTo(nowMs - GRACE_MS, HOUR);
  const daysDone = floorTo(hoursDone, DAY);
  const minutesCut = floorTo(nowMs - MINUTE_ROLLUPS_KEPT_MS, MINUTE);
  const full = db.prepare(
    `INSERT INTO usage_rollups (${COLUMNS}) SELECT ${TIER.hour}, ${CUBOID.full}, @h, ${RAW_DIMS.join(', ')}, ${RAW_SUMS}
     FROM usage_rows WHERE time_ms >= @h AND time_ms < @h + ${HOUR} GROUP BY ${RAW_DIMS.join(', ')}`,
  );
  const start = performance.now();
  for (let h = floorTo(lo, HOUR); h <= range.hi; h += HOUR) {
    db.transaction(() => full.run({ h }))();
    if ((h / HOUR) % 24 === 23) log(`  rollups (SQL): full cuboid hours to ${new Date(h + HOUR).toISOString()} (${((performance.now() - start) / 1000).toFixed(0)} s)`);
  }
  // Every other cuboid's hour rows, a day at a time, merged from the full cuboid's.
  for (let d = floorTo(lo, DAY); d <= range.hi; d += DAY) {
    db.transaction(() => {
      for (const c of CUBOIDS) {
        if (c === CUBOID.full) continue;
        db.prepare(
          `INSERT INTO usage_rollups (${COLUMNS}) SELECT ${TIER.hour}, ${c}, bucket_ms, ${masked(DIM_COLUMNS, c).join(', ')}, ${MERGED_SUMS}
           FROM usage_rollups WHERE cuboid = ${CUBOID.full} AND tier = ${TIER.hour} AND bucket_ms >= ? AND bucket_ms < ? GROUP BY ${groupBy(c, 'bucket_ms')}`,
        ).run(d, d + DAY);
      }
    })();
  }
  log(`  rollups (SQL): hour rows (${((performance.now() - start) / 1000).toFixed(0)} s)`);
  // Minute rows, as far back as retention keeps them: the fold's two minute tables (owner and routing dimensions), then
  // each cuboid from the one that holds its dimensions.
  db.transaction(() => {
    for (const [table, dimsOf] of [['owner_minutes', CUBOID.owner], ['routing_minutes', CUBOID.routing]] as const) {
      db.exec(`CREATE TEMP TABLE ${table} AS SELECT * FROM usage_rollups WHERE 0`);
      const dims = masked(RAW_DIMS, dimsOf);
      db.prepare(
        `INSERT INTO temp.${table} (${COLUMNS}) SELECT ${TIER.minute}, ${dimsOf}, CAST(time_ms / ${MINUTE} AS INTEGER) * ${MINUTE}, ${dims.join(', ')}, ${RAW_SUMS}
         FROM usage_rows WHERE time_ms >= ? GROUP BY 3, ${dims.filter((d) => d !== '0').join(', ')}`,
      ).run(minutesCut);
    }
    for (const c of CUBOIDS) {
      if (finestTier(c) !== TIER.minute) continue;
      db.exec(
        `INSERT INTO usage_rollups (${COLUMNS}) SELECT ${TIER.minute}, ${c}, bucket_ms, ${masked(DIM_COLUMNS, c).join(', ')}, ${MERGED_SUMS}
         FROM temp.${c === CUBOID.routing ? 'routing_minutes' : 'owner_minutes'} GROUP BY ${groupBy(c, 'bucket_ms')}`,
      );
    }
    db.exec('DROP TABLE temp.owner_minutes; DROP TABLE temp.routing_minutes');
  })();
  log(`  rollups (SQL): minute rows (${((performance.now() - start) / 1000).toFixed(0)} s)`);
  // Day rows of the closed days, merged from hours.
  for (const c of CUBOIDS) {
    db.transaction(() => {
      db.prepare(
        `INSERT INTO usage_rollups (${COLUMNS}) SELECT ${TIER.day}, ${c}, CAST(bucket_ms / ${DAY} AS INTEGER) * ${DAY}, ${masked(DIM_COLUMNS, c).join(', ')}, ${MERGED_SUMS}
         FROM usage_rollups WHERE cuboid = ${c} AND tier = ${TIER.hour} AND bucket_ms < ? GROUP BY ${groupBy(c, '3')}`,
      ).run(daysDone);
    })();
  }
  log(`  rollups (SQL): day rows (${((performance.now() - start) / 1000).toFixed(0)} s)`);
  db.transaction(() => {
    const mark = db.prepare('INSERT OR REPLACE INTO usage_rollup_marks (cuboid, hours_done_ms, days_done_ms, minutes_from_ms) VALUES (?, ?, ?, 0)');
    for (const c of CUBOIDS) mark.run(c, hoursDone, daysDone);
    db.prepare('UPDATE usage_rollup_state SET rolled_id = ?, minutes_pruned_ms = MAX(minutes_pruned_ms, ?)').run(range.maxId, lo < minutesCut ? minutesCut : 0);
  })();
}
