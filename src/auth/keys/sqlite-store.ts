import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { prepareSqliteFile } from '../../core/index.js';
import type { KeyLimits, KeyRow } from './record.js';

type MaybePromise<T> = T | Promise<T>;

/**
 * Where keys live. The registry keeps every key in memory and asks the store only at start, for changes, and to
 * write, never on the request path; so a store may answer synchronously (this SQLite file) or asynchronously (a store
 * on the shared-state transport, e.g. Redis for replicas without a common disk, plugs in here). A store shared by
 * several processes tells them about each other's writes through `changesSince`, which must be cheap when nothing
 * changed: it is asked every `keys.poll_interval`.
 */
export interface KeyStore {
  loadAll(): MaybePromise<{ rows: KeyRow[]; seq: number }>;
  /** Rows written by anyone after `seq`, or null when nothing was (the common case, answered without a query). */
  changesSince(seq: number): MaybePromise<{ rows: KeyRow[]; seq: number } | null>;
  /** Inserts or replaces a row; returns the new change sequence. Throws on a duplicate id when `insert`. */
  write(row: KeyRow, mode: 'insert' | 'update'): MaybePromise<number>;
  /** Last-used times, batched; not a change other processes need to hear about. */
  touch(used: readonly { id: string; ms: number }[]): MaybePromise<void>;
  close(): void;
}

interface DbRow {
  id: string;
  hash: string;
  prev_hash: string | null;
  prev_until_ms: number | null;
  subject: string;
  team: string | null;
  scopes: string;
  label: string;
  created_ms: number;
  expires_ms: number | null;
  revoked_ms: number | null;
  last_used_ms: number | null;
  limits: string;
  updated_ms: number;
  seq: number;
}

function fromDb(r: DbRow): KeyRow {
  return {
    id: r.id,
    hash: r.hash,
    prevHash: r.prev_hash,
    prevUntilMs: r.prev_until_ms,
    subject: r.subject,
    team: r.team,
    scopes: Object.freeze(r.scopes.split(' ').filter((s) => s.length > 0)),
    label: r.label,
    createdMs: r.created_ms,
    expiresMs: r.expires_ms,
    revokedMs: r.revoked_ms,
    lastUsedMs: r.last_used_ms,
    limits: Object.freeze(JSON.parse(r.limits) as KeyLimits),
    updatedMs: r.updated_ms,
  };
}

/**
 * Keys in SQLite (WAL, so readers never wait for the writer). Every write bumps one sequence number in the same
 * transaction. Other processes notice writes through `PRAGMA data_version`, which changes exactly when another
 * connection committed and costs no disk read; only then do they read the sequence and the changed rows.
 */
export function createSqliteKeyStore(path: string): KeyStore {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  // The operator may point keys.sqlite at the usage log's file: whichever opens it first, it gets the same settings.
  prepareSqliteFile(db);
  db.pragma('busy_timeout = 2000');
  db.exec(`
    CREATE TABLE IF NOT EXISTS api_keys (
      id TEXT PRIMARY KEY,
      hash TEXT NOT NULL UNIQUE,
      prev_hash TEXT,
      prev_until_ms INTEGER,
      subject TEXT NOT NULL,
      team TEXT,
      scopes TEXT NOT NULL,
      label TEXT NOT NULL DEFAULT '',
      created_ms INTEGER NOT NULL,
      expires_ms INTEGER,
      revoked_ms INTEGER,
      last_used_ms INTEGER,
      limits TEXT NOT NULL DEFAULT '{}',
      updated_ms INTEGER NOT NULL,
      seq INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS api_keys_by_seq ON api_keys (seq);
    CREATE TABLE IF NOT EXISTS api_keys_version (one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL);
    INSERT OR IGNORE INTO api_keys_version (one, seq) VALUES (1, 0);
  `);
  const readSeq = db.prepare<[], { seq: number }>('SELECT seq FROM api_keys_version WHERE one = 1');
  const bumpSeq = db.prepare<[], { seq: number }>('UPDATE api_keys_version SET seq = seq + 1 WHERE one = 1 RETURNING seq');
  const selectAll = db.prepare<[], DbRow>('SELECT * FROM api_keys');
  const selectSince = db.prepare<[number], DbRow>('SELECT * FROM api_keys WHERE seq > ?');
  const cols = 'id, hash, prev_hash, prev_until_ms, subject, team, scopes, label, created_ms, expires_ms, revoked_ms, last_used_ms, limits, updated_ms, seq';
  const params = '@id, @hash, @prev_hash, @prev_until_ms, @subject, @team, @scopes, @label, @created_ms, @expires_ms, @revoked_ms, @last_used_ms, @limits, @updated_ms, @seq';
  const insert = db.prepare(`INSERT INTO api_keys (${cols}) VALUES (${params})`);
  const replace = db.prepare(`INSERT OR REPLACE INTO api_keys (${cols}) VALUES (${params})`);
  const touchOne = db.prepare<[number, string]>('UPDATE api_keys SET last_used_ms = max(coalesce(last_used_ms, 0), ?) WHERE id = ?');
  const dataVersion = () => db.pragma('data_version', { simple: true }) as number;
  let seenVersion = dataVersion();

  const write = db.transaction((row: KeyRow, mode: 'insert' | 'update'): number => {
    const seq = bumpSeq.get()!.seq;
    const values = {
      id: row.id,
      hash: row.hash,
      prev_hash: row.prevHash,
      prev_until_ms: row.prevUntilMs,
      subject: row.subject,
      team: row.team,
      scopes: row.scopes.join(' '),
      label: row.label,
      created_ms: row.createdMs,
      expires_ms: row.expiresMs,
      revoked_ms: row.revokedMs,
      last_used_ms: row.lastUsedMs,
      limits: JSON.stringify(row.limits),
      updated_ms: row.updatedMs,
      seq,
    };
    (mode === 'insert' ? insert : replace).run(values);
    return seq;
  });
  const touchAll = db.transaction((used: readonly { id: string; ms: number }[]) => {
    for (const u of used) touchOne.run(u.ms, u.id);
  });

  return {
    loadAll() {
      const read = db.transaction(() => ({ rows: selectAll.all().map(fromDb), seq: readSeq.get()!.seq }));
      return read();
    },
    changesSince(seq) {
      const v = dataVersion();
      if (v === seenVersion) return null;
      seenVersion = v;
      const now = readSeq.get()!.seq;
      if (now <= seq) return null; // another process only wrote last-used times
      return { rows: selectSince.all(seq).map(fromDb), seq: now };
    },
    write: (row, mode) => write(row, mode),
    touch(used) {
      if (used.length > 0) touchAll(used);
    },
    close() {
      if (db.open) db.close();
    },
  };
}
