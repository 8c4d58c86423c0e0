import Database from 'better-sqlite3';
import { prepareSqliteFile } from '../core/index.js';
import { WindowCounters, type QuotaStore } from './quota-store.js';

export interface SqliteQuotaStoreOptions {
  /** SQLite file; may be the usage log's file (this store uses its own table and connection). */
  path: string;
  /** How often pending usage is written back; a hard kill can lose at most this much quota accounting. */
  flushIntervalMs?: number;
  /** Called when a write-back fails; the counts stay in memory and are retried at the next flush. */
  onError?: (err: unknown) => void;
}

/**
 * Quota counters persisted in SQLite so a restart does not reset them. In memory the counters are authoritative;
 * a window's rows are read once (the first time the window is touched) and dirty counters are written back every
 * `flushIntervalMs` in one transaction as absolute values, so a repeated flush is harmless. The hot path never
 * touches the disk except that one read per new window.
 */
export function createSqliteQuotaStore(options: SqliteQuotaStoreOptions): QuotaStore {
  const db = new Database(options.path);
  // Often the usage log's file, and often opened before it: the file gets the usage log's settings either way.
  prepareSqliteFile(db);
  db.pragma('busy_timeout = 1000');
  db.exec(`CREATE TABLE IF NOT EXISTS quota_usage (
    window TEXT NOT NULL,
    key TEXT NOT NULL,
    used INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (window, key)
  ) WITHOUT ROWID`);
  const selectWindow = db.prepare<[string], { key: string; used: number }>('SELECT key, used FROM quota_usage WHERE window = ?');
  const upsert = db.prepare<[string, string, number, number]>(
    `INSERT INTO quota_usage (window, key, used, updated_ms) VALUES (?, ?, ?, ?)
     ON CONFLICT (window, key) DO UPDATE SET used = excluded.used, updated_ms = excluded.updated_ms`,
  );
  const counters = new WindowCounters();
  const dirty = new Map<string, { key: string; window: string }>();
  const writeBack = db.transaction((rows: { key: string; window: string; used: number }[]) => {
    const now = Date.now();
    for (const r of rows) upsert.run(r.window, r.key, r.used, now);
  });

  const load = (window: string): void => {
    if (counters.has(window)) return;
    counters.ensureWindow(window);
    for (const row of selectWindow.all(window)) counters.set(row.key, window, row.used);
  };

  const flush = (): void => {
    if (dirty.size === 0 || !db.open) return;
    const rows: { key: string; window: string; used: number }[] = [];
    for (const d of dirty.values()) {
      const used = counters.get(d.key, d.window);
      if (used !== undefined) rows.push({ ...d, used }); // a window pruned from memory was already written
    }
    try {
      writeBack(rows);
      dirty.clear();
    } catch (err) {
      options.onError?.(err);
    }
  };

  const timer = setInterval(flush, options.flushIntervalMs ?? 1000);
  timer.unref();

  return {
    used(key, window) {
      load(window);
      return counters.get(key, window) ?? 0;
    },
    add(key, window, tokens) {
      load(window);
      counters.set(key, window, (counters.get(key, window) ?? 0) + tokens);
      dirty.set(`${window}\u0000${key}`, { key, window });
    },
    flush,
    close() {
      clearInterval(timer);
      flush();
      if (db.open) db.close();
    },
  };
}
