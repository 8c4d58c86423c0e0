/**
 * Builds a usage database of N rows in the gateway's real schema (openUsageDb's migrations), for bench:usage.
 *
 * Raw rows are generated inside SQLite by a recursive CTE, a million per INSERT … SELECT, with the column values the
 * usage writer would have written (usage_names ids, status, tokens, TTFT, latency) drawn from a hash of the row
 * number: 200 subjects in 10 teams with 2 keys each, 4 models (each subject mostly on one) on 2 backends each, chat /
 * completions / embeddings, 3% errors, latencies 20 ms–10 s with a long tail. Times are spread evenly over `days`.
 * Rollups are then built in SQL (usage-rollup-sql.ts): the writer's catch-up and compaction make the same rollups
 * (test/usage/rollup-sql.test.ts checks it bucket by bucket) but fold row by row in JavaScript, 847 s for 10M rows.
 */
import { rmSync, statSync } from 'node:fs';
import { openUsageDb } from '../../src/usage/index.js';
import { buildRollupsInSql } from './usage-rollup-sql.js';

export const SUBJECTS = 200;
const NAMES = {
  subject: Array.from({ length: SUBJECTS }, (_, i) => `user-${String(i).padStart(3, '0')}`),
  team: Array.from({ length: 10 }, (_, i) => `team-${i}`),
  key: Array.from({ length: SUBJECTS * 2 }, (_, i) => `key_${String(i).padStart(4, '0')}`),
  model: ['llama-3.1-8b', 'llama-3.1-70b', 'qwen2.5-32b', 'bge-m3'],
  upstream: ['meta-llama/Llama-3.1-8B-Instruct', 'meta-llama/Llama-3.1-70B-Instruct', 'Qwen/Qwen2.5-32B-Instruct', 'BAAI/bge-m3'],
  backend: Array.from({ length: 8 }, (_, i) => `http://vllm-${i}:8000`),
  endpoint: ['chat', 'completions', 'embeddings'],
  error: ['upstream_error', 'rate_limit_exceeded', 'invalid_request'],
  source: ['backend', 'counted'],
};
const CHUNK = 1_000_000;

export interface BuiltDb {
  path: string;
  rows: number;
  fromMs: number;
  toMs: number;
  rawSeconds: number;
  rollupSeconds: number;
  bytes: number;
  rollupRows: number;
}

export function removeDb(path: string): void {
  for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
}

const size = (path: string) => [path, `${path}-wal`].reduce((n, f) => n + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);

/** Raw rows only (generated in SQL); returns the seconds it took. The file is left closed, rollups not built. */
export function buildRawRows(path: string, rows: number, toMs: number, days: number, log: (s: string) => void): number {
  removeDb(path);
  const fromMs = toMs - days * 86_400_000;
  const db = openUsageDb(path);
  // Bulk load: no journal, no fsync (a benchmark file); the writer's own settings come back for the rollup build.
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const start = performance.now();
  const base: Record<keyof typeof NAMES, number> = {} as Record<keyof typeof NAMES, number>;
  const addName = db.prepare<[string]>('INSERT INTO usage_names (name) VALUES (?)');
  for (const [kind, names] of Object.entries(NAMES) as [keyof typeof NAMES, string[]][]) {
    base[kind] = Number(addName.run(names[0]!).lastInsertRowid);
    for (const n of names.slice(1)) addName.run(n);
  }
  const span = toMs - fromMs;
  const insert = db.prepare<{ lo: bigint; hi: bigint }>(`
    WITH RECURSIVE n(i) AS (SELECT @lo UNION ALL SELECT i + 1 FROM n WHERE i < @hi)
    INSERT INTO usage_rows (request_id, time_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id,
      endpoint_id, stream, status, error_code_id, prompt_tokens, completion_tokens, cached_tokens, token_source_id, ttft_ms, latency_ms)
    SELECT 'req_' || i, ${fromMs} + (i * ${span}) / ${rows},
      ${base.subject} + s, ${base.team} + s % 10, ${base.key} + s * 2 + (h >> 8) % 2,
      ${base.model} + m, ${base.upstream} + m, ${base.backend} + m * 2 + (h >> 16) % 2, ${base.endpoint} + e,
      e = 0 AND (h >> 20) % 2, CASE r WHEN 0 THEN 502 WHEN 1 THEN 429 WHEN 2 THEN 400 ELSE 200 END,
      CASE r WHEN 0 THEN ${base.error} WHEN 1 THEN ${base.error + 1} WHEN 2 THEN ${base.error + 2} END,
      CASE WHEN r < 3 THEN 0 ELSE 20 + (h >> 4) % 3000 END,
      CASE WHEN r < 3 OR e = 2 THEN 0 ELSE (h >> 6) % 800 END,
      CASE WHEN r < 3 THEN 0 ELSE (h >> 10) % 64 END,
      CASE WHEN r < 3 THEN NULL ELSE ${base.source} + (e = 2) END,
      CASE WHEN r < 3 OR e = 2 THEN NULL ELSE 15 + ((h >> 9) % 400) * ((h >> 9) % 400) / 400.0 END,
      20 + ((h >> 3) % 1000) * ((h >> 3) % 1000) / 100.0
    FROM (
      SELECT i, h, h % ${SUBJECTS} AS s,
        CASE WHEN (h >> 12) % 5 = 0 THEN (h >> 14) % 4 ELSE (h % ${SUBJECTS}) % 4 END AS m,
        CASE (h >> 18) % 10 WHEN 0 THEN 2 WHEN 1 THEN 1 ELSE 0 END AS e,
        (h >> 22) % 100 AS r
      FROM (SELECT i, (i * 2654435761) % 4294967296 AS h FROM n)
    )`);
  for (let lo = 1; lo <= rows; lo += CHUNK) {
    const hi = Math.min(rows, lo + CHUNK - 1);
    // As BigInts: better-sqlite3 binds a number as a REAL, and the hash of a REAL row number loses its low bits past
    // 2^53 (subjects, models and statuses would repeat in runs); an INTEGER keeps the arithmetic exact.
    db.transaction(() => insert.run({ lo: BigInt(lo), hi: BigInt(hi) }))();
    if (hi % (10 * CHUNK) === 0 || hi === rows) log(`  raw rows: ${hi.toLocaleString('en-US')} of ${rows.toLocaleString('en-US')}`);
  }
  const rawSeconds = (performance.now() - start) / 1000;
  db.pragma('journal_mode = WAL');
  db.close();
  return rawSeconds;
}

export function buildUsageDb(path: string, rows: number, toMs: number, days: number, log: (s: string) => void): BuiltDb {
  const fromMs = toMs - days * 86_400_000;
  const rawSeconds = buildRawRows(path, rows, toMs, days, log);
  const db = openUsageDb(path);
  // The writer's code, not its durability: no fsync at WAL checkpoints while building (the file is a benchmark's).
  db.pragma('synchronous = OFF');

  db.pragma('cache_size = -262144');
  // Rollups in SQL (usage-rollup-sql.ts: what the writer's catch-up and compaction make, tested equal to them), with
  // the clock 20 minutes past the end of the range.
  const rollStart = performance.now();
  buildRollupsInSql(db, toMs + 20 * 60_000, log);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const rollupSeconds = (performance.now() - rollStart) / 1000;
  const rollupRows = db.prepare('SELECT COUNT(*) FROM usage_rollups').pluck().get() as number;
  db.close();
  return { path, rows, fromMs, toMs, rawSeconds, rollupSeconds, bytes: size(path), rollupRows };
}
