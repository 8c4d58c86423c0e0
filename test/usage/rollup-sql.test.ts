import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildRollupsInSql } from '../../scripts/bench/usage-rollup-sql.js';
import { openUsageDb, queryUsage, type UsageDb, type UsageQuery } from '../../src/usage/index.js';
import { CUBOIDS, DIM_COLUMNS, TIER } from '../../src/usage/rollup-shape.js';
import { BinCounts } from '../../src/usage/sketch.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { T0 } from './fixtures.js';
import { variedRow } from './rollup-rows.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-rollup-sql-'));
after(() => rm(dir, { recursive: true, force: true }));
const HOUR = 3_600_000;
const DAY = 86_400_000;
const ROWS = 6000;

/** Writes the varied rows through the real sink: with rollups (flushed every 500 rows) or raw only. */
function write(path: string, rollups: boolean, now: () => number): UsageDb {
  const db = openUsageDb(path);
  const sink = createSqliteSink(db, { now, rollups, flushRows: 500 });
  for (let b = 0; b < ROWS / 250; b++) {
    const batch: unknown[] = [];
    // Every other batch at fractional milliseconds (a REAL time_ms): buckets are floored alike.
    for (let i = 1; i <= 250; i++) pushRow(batch, variedRow(b * 250 + i, b % 2 ? T0 + 0.5 : T0));
    sink.write(batch);
  }
  sink.close();
  return db;
}

/** Per cuboid, tier, bucket and dimensions: the sums and the merged sketch bins, however the rows are split in parts. */
function content(db: UsageDb): Map<string, unknown[]> {
  const out = new Map<string, { sums: number[]; lat: BinCounts; ttft: BinCounts }>();
  const rows = db
    .prepare(`SELECT cuboid, tier, bucket_ms, ${DIM_COLUMNS.join(', ')}, requests, errors, prompt_tokens, completion_tokens, cached_tokens, latency, ttft FROM usage_rollups`)
    .raw()
    .all() as unknown[][];
  for (const r of rows) {
    const key = r.slice(0, 3 + DIM_COLUMNS.length).join('|');
    let g = out.get(key);
    if (!g) out.set(key, (g = { sums: [0, 0, 0, 0, 0], lat: new BinCounts(), ttft: new BinCounts() }));
    for (let i = 0; i < 5; i++) g.sums[i]! += r[3 + DIM_COLUMNS.length + i] as number;
    g.lat.add(r[8 + DIM_COLUMNS.length] as Uint8Array);
    g.ttft.add(r[9 + DIM_COLUMNS.length] as Uint8Array);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, g]) => [k, [...g.sums, g.lat.encode().toString('hex'), g.ttft.encode().toString('hex')]]));
}

describe('rollups built in SQL (bench:usage)', () => {
  it('equal the writer\'s own, bucket by bucket, sketches included, and reports from them are identical', () => {
    // The rows span two days from T0 (12:00); the clock is past them, so hours and days are compacted and the minute
    // rows older than two days pruned.
    const now = T0 + 2 * DAY + 5 * HOUR + 20 * 60_000;
    let clock = T0;
    const writer = write(join(dir, 'writer.db'), true, () => clock);
    clock = now;
    const sink = createSqliteSink(writer, { now: () => clock });
    for (let i = 0; i < 100_000 && sink.maintain(1000); i++);
    sink.close();

    const sql = write(join(dir, 'sql.db'), false, () => T0);
    assert.equal(sql.prepare('SELECT COUNT(*) FROM usage_rollups').pluck().get(), 0, 'raw rows only');
    buildRollupsInSql(sql, now, () => {});

    const a = content(writer);
    const b = content(sql);
    for (const c of CUBOIDS) {
      for (const t of [TIER.minute, TIER.hour, TIER.day]) {
        const prefix = `${c}|${t}|`;
        const pick = (m: Map<string, unknown[]>) => [...m].filter(([k]) => k.startsWith(prefix));
        assert.deepEqual(pick(b), pick(a), `cuboid ${c} tier ${t}`);
      }
    }
    assert.ok(a.size > 1000, `${a.size} rollup groups compared`);
    const state = 'SELECT rolled_id, raw_pruned_ms, minutes_pruned_ms, hours_pruned_ms, days_pruned_ms FROM usage_rollup_state';
    assert.deepEqual(sql.prepare(state).get(), writer.prepare(state).get());
    const marks = 'SELECT * FROM usage_rollup_marks ORDER BY cuboid';
    assert.deepEqual(sql.prepare(marks).all(), writer.prepare(marks).all());

    const queries: UsageQuery[] = [
      { fromMs: T0 - DAY, toMs: now, groupBy: [] },
      { fromMs: T0 + 12_345, toMs: now - 6789, groupBy: ['subject', 'model'] },
      { fromMs: now - 2 * HOUR - 1234, toMs: now - 1234, groupBy: ['backend', 'status_class'] },
      { fromMs: T0, toMs: now, groupBy: ['day', 'team'], key: 'key_3' },
    ];
    for (const q of queries) assert.deepEqual(queryUsage(sql, q), queryUsage(writer, q), JSON.stringify(q));
    writer.close();
    sql.close();
  });
});
