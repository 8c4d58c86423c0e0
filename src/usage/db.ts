import Database from 'better-sqlite3';

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

export interface OpenUsageDbOptions {
  /** For the CLI and reports: no migrations, no writes. */
  readonly?: boolean;
  /** How long a statement waits for another connection's lock; the writer keeps this short (it blocks the loop). */
  busyTimeoutMs?: number;
}

/**
 * Opens the usage log. WAL lets readers (the CLI, admin queries) run while the gateway writes; synchronous=NORMAL
 * keeps committed batches safe across a process kill (they are in the WAL), at the cost of the last batches on a
 * power loss, which is the usual trade for a log.
 */
export function openUsageDb(path: string, options: OpenUsageDbOptions = {}): UsageDb {
  const db = new Database(path, options.readonly ? { readonly: true, fileMustExist: true } : {});
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 1000))}`);
  if (options.readonly) return db;
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  migrate(db);
  return db;
}
