import type { UsageDb } from './db.js';
import { VALUES_PER_ROW } from './row-layout.js';

/**
 * Usage rows shared between replicas (server/usage-sync.ts ships and receives them; this module only reads its own
 * rows after a cursor and ingests peers' rows idempotently). A peer's row is the flat row layout (row-layout.ts,
 * names as strings) followed by its origin (the peer's id) and its id in the peer's database: that pair is unique,
 * so a row delivered twice is inserted once. Request ids are not a key: a client may send its own, more than once.
 */
export const PEER_VALUES_PER_ROW = VALUES_PER_ROW + 2;

/** Peer rows (flat, PEER_VALUES_PER_ROW each) and cursors to store in the same transaction (usage_sync). */
export interface PeerBatch {
  readonly values: readonly unknown[];
  readonly state: Readonly<Record<string, string>>;
}

export interface LocalRowReader {
  /**
   * This replica's own rows (not peers') with ids after `afterId`, oldest first, at most `limit`: each is the id
   * followed by the row's values in row-layout order, names as strings.
   */
  after(afterId: number, limit: number): unknown[][];
  /** The id just before this replica's first row that started at or after `ms` (where re-shipping starts). */
  idBefore(ms: number): number;
  /** The sync's stored cursors (usage_sync). */
  state(): Record<string, string>;
}

export function createLocalRowReader(db: UsageDb): LocalRowReader {
  const rows = db
    .prepare<[number, number]>(
      `SELECT u.id, u.request_id, u.time_ms, s.name, t.name, k.name, rm.name, um.name, b.name, e.name, u.stream, u.status,
         ec.name, u.prompt_tokens, u.completion_tokens, u.cached_tokens, ts.name, u.ttft_ms, u.latency_ms
       FROM usage_rows u
         JOIN usage_names s ON s.id = u.subject_id
         LEFT JOIN usage_names t ON t.id = u.team_id
         LEFT JOIN usage_names k ON k.id = u.key_id
         LEFT JOIN usage_names rm ON rm.id = u.requested_model_id
         LEFT JOIN usage_names um ON um.id = u.upstream_model_id
         LEFT JOIN usage_names b ON b.id = u.backend_id
         LEFT JOIN usage_names e ON e.id = u.endpoint_id
         LEFT JOIN usage_names ec ON ec.id = u.error_code_id
         LEFT JOIN usage_names ts ON ts.id = u.token_source_id
       WHERE u.id > ? AND u.origin_id IS NULL ORDER BY u.id LIMIT ?`,
    )
    .raw();
  const first = db.prepare<[number], number | null>('SELECT MIN(id) FROM usage_rows WHERE time_ms >= ? AND origin_id IS NULL').pluck();
  const maxId = db.prepare<[], number | null>('SELECT MAX(id) FROM usage_rows').pluck();
  const state = db.prepare<[], [string, string]>('SELECT key, value FROM usage_sync').raw();
  return {
    after: (afterId, limit) => rows.all(afterId, limit) as unknown[][],
    idBefore: (ms) => {
      const id = first.get(Math.floor(ms));
      return id === null || id === undefined ? (maxId.get() ?? 0) : id - 1;
    },
    state: () => Object.fromEntries(state.all()),
  };
}
