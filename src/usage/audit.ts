import type { UsageDb } from './db.js';

/** One `/admin/*` call, answered or refused: who tried what, and what came of it. */
export interface AuditEntry {
  /** Wall-clock epoch ms the call arrived. */
  readonly timeMs: number;
  readonly requestId: string;
  /** Null when the caller was not identified (no token, or a refused one). */
  readonly subject: string | null;
  readonly team: string | null;
  /** Public id of the gateway-managed key, when the caller used one. */
  readonly keyId: string | null;
  readonly method: string;
  /** Path and query string, cut to MAX_PATH characters. */
  readonly path: string;
  readonly status: number;
  /** `ok` (2xx/3xx), `denied` (401/403) or `error` (any other status). */
  readonly outcome: 'ok' | 'denied' | 'error';
}

const MAX_PATH = 512;

export function auditOutcome(status: number): AuditEntry['outcome'] {
  if (status === 401 || status === 403) return 'denied';
  return status < 400 ? 'ok' : 'error';
}

/** An entry as the flat values the writer thread receives (usage_audit column order). */
export function auditValues(e: AuditEntry): unknown[] {
  return [e.timeMs, e.requestId, e.subject, e.team, e.keyId, e.method, e.path.slice(0, MAX_PATH), e.status, e.outcome];
}

/** Writes queued audit entries in one transaction; throws when SQLite refuses (nothing is written). */
export function createAuditSink(db: UsageDb): (entries: readonly unknown[][]) => void {
  const insert = db.prepare(
    'INSERT INTO usage_audit (time_ms, request_id, subject, team, key_id, method, path, status, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const write = db.transaction((entries: readonly unknown[][]) => {
    for (const e of entries) insert.run(e);
  });
  return (entries) => write.immediate(entries);
}

export interface AuditQuery {
  fromMs: number;
  toMs: number;
  /** At most this many entries. */
  limit: number;
  /** Oldest first (default) or newest first: the recent calls of a busy range without paging through it. */
  newestFirst?: boolean;
}

/** Wire shape of an audit entry (snake_case, as `GET /admin/audit` returns it). */
export interface AuditRecord {
  time: string;
  request_id: string;
  subject: string | null;
  team: string | null;
  key_id: string | null;
  method: string;
  path: string;
  status: number;
  outcome: string;
}

export function queryAudit(db: UsageDb, q: AuditQuery): AuditRecord[] {
  const order = q.newestFirst ? 'time_ms DESC, id DESC' : 'time_ms, id';
  const rows = db
    .prepare<[number, number, number], Omit<AuditRecord, 'time'> & { time_ms: number }>(
      `SELECT time_ms, request_id, subject, team, key_id, method, path, status, outcome FROM usage_audit
       WHERE time_ms >= ? AND time_ms < ? ORDER BY ${order} LIMIT ?`,
    )
    .all(Math.floor(q.fromMs), Math.ceil(q.toMs), q.limit);
  return rows.map(({ time_ms, ...r }) => ({ time: new Date(time_ms).toISOString(), ...r }));
}
