import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createUsageWriter, openUsageDb, queryUsage, type GroupKey, type UsageDb, type UsageQuery } from '../../src/usage/index.js';
import { CUBOID, CUBOIDS, DIM_COLUMNS, TIER } from '../../src/usage/rollup-shape.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { T0 } from './fixtures.js';
import { variedRow } from './rollup-rows.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-rollup-upgrade-'));
after(() => rm(dir, { recursive: true, force: true }));
const HOUR = 3_600_000;
const DAY = 86_400_000;
const DIMS = DIM_COLUMNS.map((c) => (c === 'status_class' ? '(status / 100)' : c === 'subject_id' ? c : `COALESCE(${c}, 0)`));
const SUMS = 'SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), usage_sketch_merge(latency), usage_sketch_merge(ttft), 0';
const keep = (c: number, cols: readonly string[]) => cols.map((col, i) => ((c >> i) & 1 ? col : '0')).join(', ');
/** GROUP BY terms: the bucket, then the cuboid's own dimensions. */
const by = (bucket: string, c: number, cols: readonly string[]) => [bucket, ...cols.filter((_, i) => (c >> i) & 1)].join(', ');

/**
 * A schema v4 database as its writer left it: raw rows all rolled up, the full cuboid, subjects and keys in hour rows
 * (partial: one per group per flush), totals, teams and models in minute rows; no routing or owner cuboid.
 */
function v4Database(path: string, rows: number): void {
  const db = openUsageDb(path);
  const sink = createSqliteSink(db, { rollups: false });
  const batch: unknown[] = [];
  for (let i = 1; i <= rows; i++) pushRow(batch, variedRow(i));
  sink.write(batch);
  sink.close();
  const insert = (sql: string) => db.exec(`INSERT INTO usage_rollups (tier, cuboid, bucket_ms, ${DIM_COLUMNS.join(', ')}, requests, errors,
    prompt_tokens, completion_tokens, cached_tokens, latency, ttft, part) ${sql}`);
  const raw = `COUNT(*), SUM(status >= 400), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), usage_sketch(latency_ms), usage_sketch(ttft_ms)`;
  // Two flushes' partial rows per group: ids up to half, and the rest.
  for (const [part, ids] of [[1, `id <= ${rows / 2}`], [2, `id > ${rows / 2}`]] as const) {
    insert(`SELECT 1, 255, time_ms / ${HOUR} * ${HOUR}, ${DIMS.join(', ')}, ${raw}, ${part} FROM usage_rows WHERE ${ids} GROUP BY 3, ${DIMS.join(', ')}`);
    for (const c of [CUBOID.none, CUBOID.team, CUBOID.model]) {
      insert(`SELECT 0, ${c}, time_ms / 60000 * 60000, ${keep(c, DIMS)}, ${raw}, ${part} FROM usage_rows WHERE ${ids} GROUP BY ${by('3', c, DIMS)}`);
    }
  }
  for (const c of [CUBOID.subject, CUBOID.key]) {
    insert(`SELECT 1, ${c}, bucket_ms, ${keep(c, DIM_COLUMNS)}, ${SUMS.replace(', 0', ', part')} FROM usage_rollups WHERE cuboid = 255 GROUP BY ${by('bucket_ms, part', c, DIM_COLUMNS)}`);
  }
  db.exec(`UPDATE usage_rollup_state SET rolled_id = (SELECT MAX(id) FROM usage_rows);
    ALTER TABLE usage_rollup_marks DROP COLUMN minutes_from_ms; UPDATE usage_schema SET version = 4;`);
  db.close();
}

/** Raw sums per combination of a cuboid's dimensions, and the same from its rollup rows of one tier. */
function sums(db: UsageDb, cuboid: number, tier: number | null): unknown[] {
  const key = DIM_COLUMNS.filter((_, i) => (cuboid >> i) & 1);
  const k = key.length ? key.join(` || '|' || `) : "''";
  const sql =
    tier === null
      ? `SELECT ${key.length ? DIMS.filter((_, i) => (cuboid >> i) & 1).join(` || '|' || `) : "''"} AS k, COUNT(*), SUM(status >= 400), SUM(prompt_tokens), SUM(cached_tokens) FROM usage_rows GROUP BY k ORDER BY k`
      : `SELECT ${k} AS k, SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(cached_tokens) FROM usage_rollups WHERE cuboid = ${cuboid} AND tier = ${tier} GROUP BY k ORDER BY k`;
  return db.prepare(sql).raw().all();
}

/** A report's counts and sums straight from the raw rows (the usage view), grouped as queryUsage groups. */
function rawReport(db: UsageDb, q: UsageQuery) {
  const col: Record<string, string> = { subject: 'subject', team: 'team', key: '"key"', model: 'requested_model', backend: 'backend', status_class: "(status / 100) || 'xx'" };
  const by = q.groupBy.map((g) => `${col[g]} AS ${g}`);
  const where = [q.subject ? `subject = '${q.subject}'` : '', q.key ? `"key" = '${q.key}'` : ''].filter(Boolean).map((w) => ` AND ${w}`).join('');
  const sql = `SELECT ${[...by, 'COUNT(*) AS requests', 'SUM(status >= 400) AS errors', 'SUM(prompt_tokens) AS prompt_tokens', 'SUM(cached_tokens) AS cached_tokens'].join(', ')}
    FROM usage WHERE time_ms >= ? AND time_ms < ?${where}${q.groupBy.length ? ` GROUP BY ${q.groupBy.join(', ')} ORDER BY ${q.groupBy.join(', ')}` : ''}`;
  return db.prepare(sql).all(q.fromMs, q.toMs);
}
/** The report, and the raw rows' answer for the range it says it covers (widened where minute rows are pruned). */
function both(db: UsageDb, q: UsageQuery) {
  const r = queryUsage(db, q);
  return [report(r.rows, q), rawReport(db, { ...q, fromMs: r.fromMs, toMs: r.toMs })] as const;
}
function report(rows: ReturnType<typeof queryUsage>['rows'], q: UsageQuery) {
  return rows.map((r) => {
    const out: Record<string, unknown> = {};
    for (const g of q.groupBy) out[g] = r[g as GroupKey];
    return { ...out, requests: r.requests, errors: r.errors, prompt_tokens: r.prompt_tokens, cached_tokens: r.cached_tokens };
  });
}

describe('usage rollups, schema v5 to v7 upgrade', () => {
  it('derives routing and owner from the full cuboid and subject by model from owner, starts minute rows after the newest hour, and stays exact through late rows and compaction', () => {
    const path = join(dir, 'v4.db');
    v4Database(path, 4000);
    let db = openUsageDb(path);
    for (const c of [CUBOID.routing, CUBOID.owner, CUBOID.subjectModel]) assert.deepEqual(sums(db, c, TIER.hour), sums(db, c, null), `cuboid ${c} derived`);
    const newest = (db.prepare('SELECT MAX(bucket_ms) FROM usage_rollups WHERE cuboid = 255').pluck().get() as number) + HOUR;
    const marks = db.prepare('SELECT cuboid, hours_done_ms AS hours, minutes_from_ms AS minutes FROM usage_rollup_marks ORDER BY cuboid').all();
    assert.deepEqual(marks, [1, 4, CUBOID.subjectModel, 31, 250].map((cuboid) => ({ cuboid, hours: newest, minutes: newest })));
    // Edges inside minutes, ranges across the upgrade's last hour; groupings served by every cuboid.
    const queries: UsageQuery[] = [
      { fromMs: T0 + 61_234, toMs: T0 + 2 * DAY, groupBy: ['subject', 'key'] },
      { fromMs: T0 + 5 * HOUR + 7, toMs: newest - 1234, groupBy: ['backend', 'status_class'] },
      { fromMs: T0, toMs: T0 + 3 * DAY, groupBy: ['model'], key: 'key_3' },
      { fromMs: newest - HOUR - 5000, toMs: newest + HOUR, groupBy: ['team', 'model'] },
      { fromMs: T0 + 3 * HOUR + 17, toMs: newest + HOUR, groupBy: ['subject', 'model'] },
    ];
    for (const q of queries) assert.deepEqual(...both(db, q), JSON.stringify(q));
    db.close();

    // The new writer: rows late for hours before the upgrade, and rows after it; then compaction two days later.
    const w = createUsageWriter({ path, thread: false, rollupFlushRows: 300 });
    for (let i = 1; i <= 1500; i++) w.record({ ...variedRow(10_000 + i), timeMs: (i % 3 ? newest - 3 * HOUR : newest) + i * 1999 });
    w.close();
    db = openUsageDb(path);
    for (const q of [...queries, { fromMs: newest - 2 * HOUR - 999, toMs: newest + DAY, groupBy: ['subject'] } satisfies UsageQuery]) {
      assert.deepEqual(...both(db, q), `after new rows: ${JSON.stringify(q)}`);
    }
    const sink = createSqliteSink(db, { now: () => newest + 4 * DAY });
    for (let i = 0; i < 100_000 && sink.maintain(1000); i++);
    sink.close();
    for (const c of CUBOIDS) assert.deepEqual(sums(db, c, TIER.day), sums(db, c, null), `cuboid ${c} days`);
    for (const q of queries) assert.deepEqual(...both(db, q), `after compaction: ${JSON.stringify(q)}`);
    db.close();
  });
});
