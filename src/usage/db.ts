import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { prepareSqliteFile } from '../core/index.js';
import { registerSketchSql } from './sketch-sql.js';

export type UsageDb = Database.Database;

/**
 * Schema migrations, applied in order, each in its own transaction with the version bump. Append only: a released
 * migration is never edited, so every database converges to the same schema.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE usage (
     id INTEGER PRIMARY KEY,
     request_id TEXT NOT NULL,
     time_ms INTEGER NOT NULL,
     subject TEXT NOT NULL,
     team TEXT,
     requested_model TEXT,
     upstream_model TEXT,
     backend TEXT,
     endpoint TEXT,
     stream INTEGER NOT NULL,
     status INTEGER NOT NULL,
     error_code TEXT,
     prompt_tokens INTEGER NOT NULL,
     completion_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     token_source TEXT,
     ttft_ms REAL,
     latency_ms REAL NOT NULL
   );
   CREATE INDEX usage_time ON usage (time_ms);`,
  // v2: the repeated strings (subject, team, models, backend, endpoint, error code, token source) are stored once in
  // usage_names and referenced by id. Binding eight strings per row was most of the insert's CPU and bytes; an integer
  // costs a fraction of either. `usage` becomes a view with the same columns as before, so ad-hoc SQL and reports
  // that read it are unchanged; rows are written to usage_rows. The *_id columns hold usage_names ids without a
  // FOREIGN KEY clause: better-sqlite3 enforces foreign keys, which would cost an index lookup per column per row.
  // (OR IGNORE also skips the NULLs the UNION yields.)
  `CREATE TABLE usage_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
   INSERT OR IGNORE INTO usage_names (name)
     SELECT subject FROM usage UNION SELECT team FROM usage UNION SELECT requested_model FROM usage
     UNION SELECT upstream_model FROM usage UNION SELECT backend FROM usage UNION SELECT endpoint FROM usage
     UNION SELECT error_code FROM usage UNION SELECT token_source FROM usage;
   CREATE TABLE usage_rows (
     id INTEGER PRIMARY KEY,
     request_id TEXT NOT NULL,
     time_ms INTEGER NOT NULL,
     subject_id INTEGER NOT NULL,
     team_id INTEGER,
     requested_model_id INTEGER,
     upstream_model_id INTEGER,
     backend_id INTEGER,
     endpoint_id INTEGER,
     stream INTEGER NOT NULL,
     status INTEGER NOT NULL,
     error_code_id INTEGER,
     prompt_tokens INTEGER NOT NULL,
     completion_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     token_source_id INTEGER,
     ttft_ms REAL,
     latency_ms REAL NOT NULL
   );
   INSERT INTO usage_rows
     SELECT u.id, u.request_id, u.time_ms,
       (SELECT n.id FROM usage_names n WHERE n.name = u.subject), (SELECT n.id FROM usage_names n WHERE n.name = u.team),
       (SELECT n.id FROM usage_names n WHERE n.name = u.requested_model), (SELECT n.id FROM usage_names n WHERE n.name = u.upstream_model),
       (SELECT n.id FROM usage_names n WHERE n.name = u.backend), (SELECT n.id FROM usage_names n WHERE n.name = u.endpoint),
       u.stream, u.status, (SELECT n.id FROM usage_names n WHERE n.name = u.error_code),
       u.prompt_tokens, u.completion_tokens, u.cached_tokens, (SELECT n.id FROM usage_names n WHERE n.name = u.token_source),
       u.ttft_ms, u.latency_ms
     FROM usage u ORDER BY u.id;
   DROP TABLE usage;
   CREATE INDEX usage_rows_time ON usage_rows (time_ms);
   CREATE VIEW usage AS
     SELECT u.id, u.request_id, u.time_ms, s.name AS subject, t.name AS team, rm.name AS requested_model,
       um.name AS upstream_model, b.name AS backend, e.name AS endpoint, u.stream, u.status, ec.name AS error_code,
       u.prompt_tokens, u.completion_tokens, u.cached_tokens, ts.name AS token_source, u.ttft_ms, u.latency_ms
     FROM usage_rows u
       JOIN usage_names s ON s.id = u.subject_id
       LEFT JOIN usage_names t ON t.id = u.team_id
       LEFT JOIN usage_names rm ON rm.id = u.requested_model_id
       LEFT JOIN usage_names um ON um.id = u.upstream_model_id
       LEFT JOIN usage_names b ON b.id = u.backend_id
       LEFT JOIN usage_names e ON e.id = u.endpoint_id
       LEFT JOIN usage_names ec ON ec.id = u.error_code_id
       LEFT JOIN usage_names ts ON ts.id = u.token_source_id;`,
  // v3: the gateway-managed key a request came with (key_id, a usage_names id; NULL for JWTs and older rows) and a
  // `key` column in the view; rollups that reports read instead of raw rows (rollup-shape.ts); the audit log of /admin
  // calls. usage_rollups is clustered by (cuboid, tier, bucket): a report's range is one contiguous run of pages, not
  // a lookup per row; `part` tells apart the partial rows of one group and bucket (rollup-shape.ts nextPart).
  // Nothing here rewrites usage_rows: ADD COLUMN only touches the schema, so a 100M-row database upgrades at once and
  // its rollups are built from the raw rows afterwards, in the background (rolled_id starts at 0).
  `ALTER TABLE usage_rows ADD COLUMN key_id INTEGER;
   DROP VIEW usage;
   CREATE VIEW usage AS
     SELECT u.id, u.request_id, u.time_ms, s.name AS subject, t.name AS team, k.name AS "key", rm.name AS requested_model,
       um.name AS upstream_model, b.name AS backend, e.name AS endpoint, u.stream, u.status, ec.name AS error_code,
       u.prompt_tokens, u.completion_tokens, u.cached_tokens, ts.name AS token_source, u.ttft_ms, u.latency_ms
     FROM usage_rows u
       JOIN usage_names s ON s.id = u.subject_id
       LEFT JOIN usage_names t ON t.id = u.team_id
       LEFT JOIN usage_names k ON k.id = u.key_id
       LEFT JOIN usage_names rm ON rm.id = u.requested_model_id
       LEFT JOIN usage_names um ON um.id = u.upstream_model_id
       LEFT JOIN usage_names b ON b.id = u.backend_id
       LEFT JOIN usage_names e ON e.id = u.endpoint_id
       LEFT JOIN usage_names ec ON ec.id = u.error_code_id
       LEFT JOIN usage_names ts ON ts.id = u.token_source_id;
   CREATE TABLE usage_rollups (
     tier INTEGER NOT NULL,
     cuboid INTEGER NOT NULL,
     bucket_ms INTEGER NOT NULL,
     subject_id INTEGER NOT NULL,
     team_id INTEGER NOT NULL,
     key_id INTEGER NOT NULL,
     requested_model_id INTEGER NOT NULL,
     upstream_model_id INTEGER NOT NULL,
     backend_id INTEGER NOT NULL,
     endpoint_id INTEGER NOT NULL,
     status_class INTEGER NOT NULL,
     requests INTEGER NOT NULL,
     errors INTEGER NOT NULL,
     prompt_tokens INTEGER NOT NULL,
     completion_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     latency BLOB NOT NULL,
     ttft BLOB NOT NULL,
     part INTEGER NOT NULL,
     PRIMARY KEY (cuboid, tier, bucket_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id,
       endpoint_id, status_class, part)
   ) WITHOUT ROWID;
   CREATE INDEX usage_rollups_subject ON usage_rollups (cuboid, subject_id, tier, bucket_ms);
   CREATE TABLE usage_rollup_state (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     rolled_id INTEGER NOT NULL,
     raw_pruned_ms INTEGER NOT NULL,
     minutes_pruned_ms INTEGER NOT NULL,
     hours_pruned_ms INTEGER NOT NULL,
     days_pruned_ms INTEGER NOT NULL
   );
   INSERT INTO usage_rollup_state VALUES (1, 0, 0, 0, 0, 0);
   CREATE TABLE usage_rollup_marks (
     cuboid INTEGER PRIMARY KEY,
     hours_done_ms INTEGER NOT NULL,
     days_done_ms INTEGER NOT NULL
   );
   CREATE TABLE usage_audit (
     id INTEGER PRIMARY KEY,
     time_ms INTEGER NOT NULL,
     request_id TEXT NOT NULL,
     subject TEXT,
     team TEXT,
     key_id TEXT,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     status INTEGER NOT NULL,
     outcome TEXT NOT NULL
   );
   CREATE INDEX usage_audit_time ON usage_audit (time_ms);`,
  // v4: usage shared across replicas (server/usage-sync.ts). A peer's row carries its origin (the peer's id, a
  // usage_names id) and its id there; the partial unique index makes a row delivered twice insert once (OR IGNORE)
  // and costs this replica's own rows (origin NULL) nothing. usage_sync holds the sync's cursors, written in the same
  // transactions as the rows they speak of.
  `ALTER TABLE usage_rows ADD COLUMN origin_id INTEGER;
   ALTER TABLE usage_rows ADD COLUMN origin_row INTEGER;
   CREATE UNIQUE INDEX usage_rows_origin ON usage_rows (origin_id, origin_row) WHERE origin_id IS NOT NULL;
   CREATE TABLE usage_sync (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
  // v5: two more cuboids (rollup-shape.ts): routing (250: team, both models, backend, endpoint, status class) and owner
  // (31: subject, team, key, both models), their hour and day rows derived here from the full cuboid's, which hold
  // every rolled row (usage_sketch_merge: sketch-sql.ts). They, subjects and keys (1, 4) get minute rows from the hour
  // after the newest hour row they have data in (minutes_from_ms); hours before it stay complete in hour rows
  // (hours_done_ms moves there, and a late row for such an hour is written to its hour as well, rollup-fold.ts drain).
  // Only rollup rows are read: as fast for a 100M-row log as for any other of the same age.
  `ALTER TABLE usage_rollup_marks ADD COLUMN minutes_from_ms INTEGER NOT NULL DEFAULT 0;
   INSERT INTO usage_rollups (tier, cuboid, bucket_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id,
     endpoint_id, status_class, requests, errors, prompt_tokens, completion_tokens, cached_tokens, latency, ttft, part)
     SELECT tier, 250, bucket_ms, 0, team_id, 0, requested_model_id, upstream_model_id, backend_id, endpoint_id, status_class,
       SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), usage_sketch_merge(latency),
       usage_sketch_merge(ttft), 0
     FROM usage_rollups WHERE cuboid = 255
     GROUP BY tier, bucket_ms, team_id, requested_model_id, upstream_model_id, backend_id, endpoint_id, status_class;
   INSERT INTO usage_rollups (tier, cuboid, bucket_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id,
     endpoint_id, status_class, requests, errors, prompt_tokens, completion_tokens, cached_tokens, latency, ttft, part)
     SELECT tier, 31, bucket_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, 0, 0, 0,
       SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), usage_sketch_merge(latency),
       usage_sketch_merge(ttft), 0
     FROM usage_rollups WHERE cuboid = 255
     GROUP BY tier, bucket_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id;
   INSERT INTO usage_rollup_marks (cuboid, hours_done_ms, days_done_ms, minutes_from_ms)
     SELECT cuboid, t, days, t FROM (
       SELECT p.cuboid, COALESCE(m.days_done_ms, 0) AS days, MAX(COALESCE(m.hours_done_ms, 0),
         COALESCE((SELECT MAX(bucket_ms) + 3600000 FROM usage_rollups r WHERE r.cuboid = p.source AND r.tier = 1), 0)) AS t
       FROM (SELECT 250 AS cuboid, 255 AS source UNION ALL SELECT 31, 255 UNION ALL SELECT 1, 1 UNION ALL SELECT 4, 4) p
         LEFT JOIN usage_rollup_marks m ON m.cuboid = p.source)
     WHERE t > 0
     ON CONFLICT (cuboid) DO UPDATE SET hours_done_ms = excluded.hours_done_ms, minutes_from_ms = excluded.minutes_from_ms;`,
  // v6: usage_rollups keyed with `part` right after the bucket. A flush appends one partial row per group, and with
  // `part` last those rows landed between the bucket's earlier ones, group by group: every flush rewrote nearly every
  // page of the open hour (a flush of 4,096 groups wrote ~64 MiB of WAL for ~1 MiB of rows, and kept the WAL growing
  // past half a gigabyte under sustained load). Parts grow, so a flush now appends at the bucket's end; reports and
  // compaction read whole buckets either way. Sketches are rewritten in the compact encoding on the way
  // (usage_sketch_recode: sketch.ts), a fifth of the bytes for reports to read. The table is copied in this one
  // transaction (bench/results/usage.md times it at 10M and 100M rows); the old pages are freed, and incremental
  // vacuum gives them back to the OS afterwards.
  `CREATE TABLE usage_rollups_v6 (
     tier INTEGER NOT NULL,
     cuboid INTEGER NOT NULL,
     bucket_ms INTEGER NOT NULL,
     subject_id INTEGER NOT NULL,
     team_id INTEGER NOT NULL,
     key_id INTEGER NOT NULL,
     requested_model_id INTEGER NOT NULL,
     upstream_model_id INTEGER NOT NULL,
     backend_id INTEGER NOT NULL,
     endpoint_id INTEGER NOT NULL,
     status_class INTEGER NOT NULL,
     requests INTEGER NOT NULL,
     errors INTEGER NOT NULL,
     prompt_tokens INTEGER NOT NULL,
     completion_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     latency BLOB NOT NULL,
     ttft BLOB NOT NULL,
     part INTEGER NOT NULL,
     PRIMARY KEY (cuboid, tier, bucket_ms, part, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id,
       endpoint_id, status_class)
   ) WITHOUT ROWID;
   INSERT INTO usage_rollups_v6 (tier, cuboid, bucket_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id, endpoint_id,
       status_class, requests, errors, prompt_tokens, completion_tokens, cached_tokens, latency, ttft, part)
     SELECT tier, cuboid, bucket_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id, endpoint_id,
       status_class, requests, errors, prompt_tokens, completion_tokens, cached_tokens, usage_sketch_recode(latency), usage_sketch_recode(ttft), part FROM usage_rollups;
   DROP TABLE usage_rollups;
   ALTER TABLE usage_rollups_v6 RENAME TO usage_rollups;
   CREATE INDEX usage_rollups_subject ON usage_rollups (cuboid, subject_id, tier, bucket_ms);`,
  // v7: the subject-by-model cuboid (27: subject, team, both models; rollup-shape.ts), every tier derived from the
  // owner cuboid's rows, which hold the same rows with keys apart, and its marks copied from owner's (rollup rows
  // only, like v5).
  `INSERT INTO usage_rollups (tier, cuboid, bucket_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id,
     endpoint_id, status_class, requests, errors, prompt_tokens, completion_tokens, cached_tokens, latency, ttft, part)
     SELECT tier, 27, bucket_ms, subject_id, team_id, 0, requested_model_id, upstream_model_id, 0, 0, 0,
       SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), usage_sketch_merge(latency),
       usage_sketch_merge(ttft), 0
     FROM usage_rollups WHERE cuboid = 31
     GROUP BY tier, bucket_ms, subject_id, team_id, requested_model_id, upstream_model_id;
   INSERT INTO usage_rollup_marks (cuboid, hours_done_ms, days_done_ms, minutes_from_ms)
     SELECT 27, hours_done_ms, days_done_ms, minutes_from_ms FROM usage_rollup_marks WHERE cuboid = 31;`,
];

export const USAGE_SCHEMA_VERSION = MIGRATIONS.length;

function migrate(db: UsageDb): void {
  // Its own version table rather than PRAGMA user_version: other modules (quota counters) share the file.
  db.exec('CREATE TABLE IF NOT EXISTS usage_schema (version INTEGER NOT NULL)');
  const row = db.prepare<[], { version: number }>('SELECT version FROM usage_schema').get();
  if (!row) db.exec('INSERT INTO usage_schema (version) VALUES (0)');
  const current = row?.version ?? 0;
  if (current > MIGRATIONS.length) {
    throw new Error(`usage database schema version ${current} is newer than this gateway understands (${MIGRATIONS.length})`);
  }
  const bump = db.prepare('UPDATE usage_schema SET version = ?');
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      bump.run(v + 1);
    })();
  }
}

/**
 * The schema upgrade opening `path` for writing would run, or null (no file yet, or already current). Read-only and
 * quick: the version and the highest row id, so a gateway can say what it is about to do before it does it.
 */
export function pendingUsageUpgrade(path: string): { from: number; to: number; rows: number } | null {
  if (!existsSync(path)) return null;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const hasSchema = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'usage_schema'").get() !== undefined;
    if (!hasSchema) return null;
    const from = db.prepare<[], { version: number }>('SELECT version FROM usage_schema').get()?.version ?? 0;
    if (from >= MIGRATIONS.length) return null;
    const hasRows = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'usage_rows'").get() !== undefined;
    const rows = hasRows ? (db.prepare<[], { n: number | null }>('SELECT max(id) AS n FROM usage_rows').get()?.n ?? 0) : 0;
    return { from, to: MIGRATIONS.length, rows };
  } finally {
    db.close();
  }
}

export interface OpenUsageDbOptions {
  /** For the CLI and reports: no migrations, no writes. */
  readonly?: boolean;
  /** How long a statement waits for another connection's lock; the writer keeps this short (it blocks the loop). */
  busyTimeoutMs?: number;
}

/** Opens the usage log (file settings: core/sqlite-file.ts) and brings its schema up to date. */
export function openUsageDb(path: string, options: OpenUsageDbOptions = {}): UsageDb {
  const db = new Database(path, options.readonly ? { readonly: true, fileMustExist: true } : {});
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 1000))}`);
  if (options.readonly) {
    // No migrations from a reader (a gateway of the older version may still be writing): say what to do instead.
    const version = db.prepare<[], { version: number }>('SELECT version FROM usage_schema').get()?.version ?? 0;
    if (version !== MIGRATIONS.length) {
      db.close();
      throw new Error(
        version < MIGRATIONS.length
          ? `usage database ${path} has schema version ${version}; start this version of the gateway on it once to upgrade it to ${MIGRATIONS.length}`
          : `usage database ${path} has schema version ${version}, newer than this version understands (${MIGRATIONS.length})`,
      );
    }
    return db;
  }
  // 16 KiB pages and incremental auto-vacuum for a new file, WAL: core/sqlite-file.ts, shared with every other module
  // that may open this file first (the quota counters).
  prepareSqliteFile(db);
  // Compaction and retention walk the rollup indexes; SQLite's default 2 MiB page cache thrashes on a large file.
  db.pragma('cache_size = -32768');
  registerSketchSql(db);
  migrate(db);
  return db;
}
