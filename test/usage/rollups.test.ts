import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createRequestCtx } from '../../src/core/index.js';
import { createUsageWriter, openUsageDb, queryUsage, rowFromCtx, type RollupProgress, type UsageDb } from '../../src/usage/index.js';
import { CUBOIDS, DIM_COLUMNS, finestTier, TIER } from '../../src/usage/rollup-shape.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { eventually } from '../helpers/harness.js';
import { T0 } from './fixtures.js';
import { variedRow } from './rollup-rows.js';

const CHILD = fileURLToPath(new URL('./rollup-kill-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'infergate-rollups-'));
after(() => rm(dir, { recursive: true, force: true }));
let n = 0;
const dbPath = () => join(dir, `usage-${++n}.db`);
const DAY = 86_400_000;

type Sums = Map<string, number[]>;
const SUMS = 'SUM(%r), SUM(%e), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens)';

/** Raw sums per combination of a cuboid's dimensions (status class included in the full cuboid). */
function rawSums(db: UsageDb, cuboid: number): Sums {
  const dims = DIM_COLUMNS.filter((_, i) => (cuboid >> i) & 1).map((c) => (c === 'status_class' ? '(status / 100)' : `COALESCE(${c}, 0)`));
  const key = dims.length ? dims.join(` || '|' || `) : "''";
  const sql = `SELECT ${key} AS k, ${SUMS.replace('%r', '1').replace('%e', 'status >= 400')} FROM usage_rows GROUP BY k`;
  return new Map((db.prepare(sql).raw().all() as unknown[][]).map(([k, ...v]) => [String(k), v as number[]]));
}

/** The same sums from the rollup rows of one cuboid and tier. */
function rollupSums(db: UsageDb, cuboid: number, tier: number): Sums {
  const dims = DIM_COLUMNS.filter((_, i) => (cuboid >> i) & 1);
  const key = dims.length ? dims.join(` || '|' || `) : "''";
  const sql = `SELECT ${key} AS k, ${SUMS.replace('%r', 'requests').replace('%e', 'errors')} FROM usage_rollups WHERE cuboid = ? AND tier = ? GROUP BY k`;
  return new Map((db.prepare(sql).raw().all(cuboid, tier) as unknown[][]).map(([k, ...v]) => [String(k), v as number[]]));
}

const sorted = (m: Sums) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
/** Each cuboid's rows of `tiers` (default: the finest it has) add up to the raw rows. */
function assertRollupsExact(db: UsageDb, tiers?: readonly number[]): void {
  for (const cuboid of CUBOIDS) {
    const raw = rawSums(db, cuboid);
    for (const tier of tiers ?? [finestTier(cuboid)]) assert.deepEqual(sorted(rollupSums(db, cuboid, tier)), sorted(raw), `cuboid ${cuboid} tier ${tier}`);
  }
}

const state = (db: UsageDb) => db.prepare('SELECT rolled_id AS rolled, (SELECT MAX(id) FROM usage_rows) AS max FROM usage_rollup_state').get() as { rolled: number; max: number };

/** What a report must say, straight from the raw rows: per subject and key, requests, errors and token sums. */
function rawReport(db: UsageDb, fromMs: number, toMs: number) {
  return db
    .prepare(
      `SELECT subject, "key", COUNT(*) AS requests, SUM(status >= 400) AS errors, SUM(prompt_tokens) AS prompt_tokens,
         SUM(completion_tokens) AS completion_tokens, SUM(cached_tokens) AS cached_tokens
       FROM usage WHERE time_ms >= ? AND time_ms < ? GROUP BY subject, "key" ORDER BY subject, "key"`,
    )
    .all(fromMs, toMs);
}
function report(db: UsageDb, fromMs: number, toMs: number) {
  return queryUsage(db, { fromMs, toMs, groupBy: ['subject', 'key'] }).rows.map((r) => ({
    subject: r.subject,
    key: r.key,
    requests: r.requests,
    errors: r.errors,
    prompt_tokens: r.prompt_tokens,
    completion_tokens: r.completion_tokens,
    cached_tokens: r.cached_tokens,
  }));
}

/** Runs the sink's background work (catch-up, compaction, retention) until there is none left. */
function maintainAll(db: UsageDb, options: Parameters<typeof createSqliteSink>[1] = {}): void {
  const sink = createSqliteSink(db, options);
  for (let i = 0; i < 100_000 && sink.maintain(1000); i++);
  sink.close();
}

describe('usage rollups', () => {
  for (const thread of [true, false]) {
    it(`stay equal to the raw rows through flushes, partial folds, close and restart (${thread ? 'writer thread' : 'event loop'})`, async () => {
      const path = dbPath();
      let w = createUsageWriter({ path, batchSize: 37, flushIntervalMs: 60_000, thread, rollupFlushRows: 200 });
      for (let i = 1; i <= 3000; i++) w.record(variedRow(i));
      // Mid-way: some rows are rolled up, the last ones are still folded in memory (the writer thread folds in its
      // batch transactions; on the event loop's side the rollup thread folds committed rows, a little later); the
      // report counts each once.
      w.flush();
      if (!thread) await eventually(() => state(w.db).rolled > 0, 30_000);
      const mid = state(w.db);
      assert.ok(mid.rolled > 0 && mid.rolled <= mid.max, `rolled ${mid.rolled} of ${mid.max}`);
      if (thread) assert.ok(mid.rolled < mid.max, `rolled ${mid.rolled} of ${mid.max}: the last rows are still folded`);
      assert.deepEqual(report(w.db, T0, T0 + 3 * DAY), rawReport(w.db, T0, T0 + 3 * DAY));
      w.close();
      w = createUsageWriter({ path, batchSize: 37, flushIntervalMs: 60_000, thread, rollupFlushRows: 200 });
      for (let i = 3001; i <= 3500; i++) w.record(variedRow(i));
      w.close();
      const db = openUsageDb(path);
      const s = state(db);
      assert.equal(s.rolled, s.max, 'close writes what is folded');
      assert.equal(s.max, 3500);
      assertRollupsExact(db);
      assert.deepEqual(report(db, T0, T0 + 3 * DAY), rawReport(db, T0, T0 + 3 * DAY));
      // A window that starts and ends inside minutes: edges come from raw rows, the middle from rollups.
      assert.deepEqual(report(db, T0 + 90_123, T0 + DAY + 45_678), rawReport(db, T0 + 90_123, T0 + DAY + 45_678));
      db.close();
    });
  }

  it('after a SIGKILL, reports stay exact and the rows past rolled_id are folded again on restart', async () => {
    const path = dbPath();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, '300'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolve) => child.stdout.on('data', (c: string) => (out += c).includes('ready\n') && resolve()));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    await new Promise((r) => setTimeout(r, 700));
    child.kill('SIGKILL');
    await exited;

    const db = openUsageDb(path);
    const killed = state(db);
    assert.ok(killed.max > 1000, `the child was under load (${killed.max} rows)`);
    assert.ok(killed.rolled > 0, 'rollups were written while it ran');
    // Before any catch-up: the rows not rolled up are read raw.
    assert.deepEqual(report(db, T0, T0 + 3 * DAY), rawReport(db, T0, T0 + 3 * DAY));
    // With the real clock these rows (from 2024) are compacted all the way: the day rollups hold every one of them.
    maintainAll(db);
    const after = state(db);
    assert.equal(after.rolled, after.max);
    assertRollupsExact(db, [TIER.day]);
    assert.deepEqual(report(db, T0, T0 + 3 * DAY), rawReport(db, T0, T0 + 3 * DAY));
    db.close();
  });

  it('upgrades a v2 database in place and builds its rollups from the raw rows in the background, logging progress', async () => {
    const path = dbPath();
    const v2 = new Database(path);
    v2.exec(`CREATE TABLE usage_schema (version INTEGER NOT NULL); INSERT INTO usage_schema VALUES (2);
      CREATE TABLE usage_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
      CREATE TABLE usage_rows (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, time_ms INTEGER NOT NULL, subject_id INTEGER NOT NULL,
        team_id INTEGER, requested_model_id INTEGER, upstream_model_id INTEGER, backend_id INTEGER, endpoint_id INTEGER,
        stream INTEGER NOT NULL, status INTEGER NOT NULL, error_code_id INTEGER, prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, token_source_id INTEGER, ttft_ms REAL, latency_ms REAL NOT NULL);
      CREATE INDEX usage_rows_time ON usage_rows (time_ms);
      CREATE VIEW usage AS SELECT u.id, u.request_id, u.time_ms, s.name AS subject, u.status FROM usage_rows u JOIN usage_names s ON s.id = u.subject_id;
      INSERT INTO usage_names (name) VALUES ('alice'), ('bob'), ('llama'), ('chat');
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 45000)
      INSERT INTO usage_rows (request_id, time_ms, subject_id, team_id, requested_model_id, upstream_model_id, backend_id, endpoint_id,
        stream, status, error_code_id, prompt_tokens, completion_tokens, cached_tokens, token_source_id, ttft_ms, latency_ms)
      SELECT 'r' || i, ${T0} + i * 1000, 1 + i % 2, NULL, 3, 3, NULL, 4, 0, CASE WHEN i % 11 = 0 THEN 500 ELSE 200 END, NULL,
        i % 50, i % 70, 0, NULL, CASE WHEN i % 3 = 0 THEN NULL ELSE i % 300 END, 10 + i % 900 FROM n;`);
    const before = v2.prepare('SELECT COUNT(*) AS c, SUM(prompt_tokens) AS p FROM usage_rows').get();
    v2.close();

    const progress: RollupProgress[] = [];
    const w = createUsageWriter({ path, thread: false, onRollupProgress: (p) => progress.push(p) });
    // At once: the schema is v3 (key column in the view), nothing is rolled up yet, and reports are already exact.
    assert.deepEqual(w.db.prepare('SELECT COUNT(*) AS c, SUM(prompt_tokens) AS p FROM usage_rows').get(), before);
    assert.equal(w.db.prepare('SELECT "key" FROM usage LIMIT 1').pluck().get(), null);
    assert.deepEqual(report(w.db, T0, T0 + 3 * DAY), rawReport(w.db, T0, T0 + 3 * DAY));
    // Built in budgeted rounds between other work: on a loaded CI machine that takes a while; only the outcome is asserted.
    await eventually(() => progress.some((p) => p.done), 60_000);
    assert.ok(progress.some((p) => !p.done && p.rolledId < p.maxId), 'progress was reported while building');
    const s = state(w.db);
    assert.equal(s.rolled, s.max);
    w.close();
    const db = openUsageDb(path);
    maintainAll(db); // the rest of the background work: compaction into hours and days
    assertRollupsExact(db, [TIER.day]);
    assert.deepEqual(report(db, T0, T0 + 3 * DAY), rawReport(db, T0, T0 + 3 * DAY));
    db.close();
  });

  it('compacts minutes into hours and days, prunes raw rows past usage.retention, and gives the freed pages back', () => {
    const path = dbPath();
    const db = openUsageDb(path);
    let clock = T0;
    const sink = createSqliteSink(db, { now: () => clock, retentionMs: DAY, flushRows: 5000 });
    for (let b = 0; b < 60; b++) {
      const batch: unknown[] = [];
      for (let i = 1; i <= 1000; i++) pushRow(batch, variedRow(b * 1000 + i));
      sink.write(batch);
    }
    sink.close();
    const wanted = rawReport(db, T0, T0 + 3 * DAY);
    const wantedSums = CUBOIDS.map((c) => sorted(rawSums(db, c)));
    clock = T0 + 4 * DAY;
    maintainAll(db, { now: () => clock }); // compaction only
    const pagesBefore = db.pragma('page_count', { simple: true }) as number;
    maintainAll(db, { now: () => clock, retentionMs: DAY });
    CUBOIDS.forEach((c, i) => {
      assert.deepEqual(sorted(rollupSums(db, c, TIER.hour)), wantedSums[i], `hours of cuboid ${c}`);
      assert.deepEqual(sorted(rollupSums(db, c, TIER.day)), wantedSums[i], `days of cuboid ${c}`);
      assert.equal(rollupSums(db, c, TIER.minute).size, 0, 'minute rows older than two days are gone once compacted');
      // Compaction leaves one hour row per group (the writer's partial rows are merged).
      const dupes = db
        .prepare(`SELECT COUNT(*) FROM (SELECT 1 FROM usage_rollups WHERE cuboid = ? AND tier = 1 GROUP BY bucket_ms, ${DIM_COLUMNS.join(', ')} HAVING COUNT(*) > 1)`)
        .pluck()
        .get(c);
      assert.equal(dupes, 0, `one hour row per group in cuboid ${c}`);
    });
    assert.equal(db.prepare('SELECT COUNT(*) FROM usage_rows').pluck().get(), 1, 'raw rows past retention are gone but the newest');
    const pagesAfter = db.pragma('page_count', { simple: true }) as number;
    assert.ok(pagesAfter < pagesBefore * 0.8, `the file shrank: ${pagesBefore} → ${pagesAfter} pages`);
    const free = (db.pragma('freelist_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
    assert.ok(free <= 4 * 1024 * 1024, `at most 4 MiB of free pages are kept for reuse (${free} bytes)`);
    // Reports still cover the whole range from the hour and day rollups; an edge inside a minute whose rows are gone
    // widens to its hour (T0 is 12:00).
    assert.deepEqual(report(db, T0, T0 + 3 * DAY), wanted);
    const r = queryUsage(db, { fromMs: T0 + 12_345, toMs: T0 + 3 * DAY, groupBy: [] });
    assert.equal(r.fromMs, T0, 'widened to the hour that still has data');
    db.close();
  });

  it('records the gateway-managed key of a request and reports by key, or for one key', () => {
    const path = dbPath();
    const w = createUsageWriter({ path, thread: false, flushIntervalMs: 60_000 });
    const ctx = createRequestCtx('req-key', 0, T0);
    ctx.principal = { subject: 'svc', team: 'ops', scopes: new Set(), keyId: 'key_abc' };
    ctx.status = 200;
    w.record(rowFromCtx(ctx, 5));
    const jwt = createRequestCtx('req-jwt', 0, T0 + 1);
    jwt.principal = { subject: 'svc', team: 'ops', scopes: new Set() };
    jwt.status = 200;
    w.record(rowFromCtx(jwt, 5));
    w.flush();
    assert.deepEqual(w.db.prepare('SELECT request_id, "key" FROM usage ORDER BY id').all(), [
      { request_id: 'req-key', key: 'key_abc' },
      { request_id: 'req-jwt', key: null },
    ]);
    const byKey = w.query({ fromMs: T0, toMs: T0 + DAY, groupBy: ['key'] }).rows.map((r) => [r.key, r.requests]);
    assert.deepEqual(byKey, [[null, 1], ['key_abc', 1]]);
    assert.equal(w.query({ fromMs: T0, toMs: T0 + DAY, groupBy: [], key: 'key_abc' }).rows[0]?.requests, 1);
    assert.equal(w.query({ fromMs: T0, toMs: T0 + DAY, groupBy: [], subject: 'nobody' }).rows[0]?.requests, 0);
    w.close();
  });
});
