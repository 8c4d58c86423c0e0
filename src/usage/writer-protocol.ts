/** What the gateway and the usage writer thread share: the slots of the progress array and the messages. */

/** Indexes into the shared BigInt64Array; counters only grow, so the gateway can read them at any time. */
export const SLOT = {
  /** Bumped after every write attempt and at close: the word the gateway waits on. */
  seq: 0,
  /** Rows committed so far. */
  committed: 1,
  batches: 2,
  errors: 3,
  /** 1 while the last write attempt failed. */
  failing: 4,
  /** Set once at close: rows that could not be written. */
  unwritten: 5,
  closed: 6,
  /** Audit entries committed so far. */
  audited: 7,
} as const;
export const SLOT_COUNT = 8;

export interface ThreadData {
  readonly path: string;
  readonly shared: SharedArrayBuffer;
  /** Pause before retrying after a refused write. */
  readonly retryMs: number;
  /** usage.retention and usage.rollup_retention in ms (0: kept forever). */
  readonly retentionMs: number;
  readonly rollupRetentionMs: number;
  /** Rollup flush threshold in rows (tests); undefined: the default. */
  readonly flushRows?: number;
}

/** Gateway → thread. `values` is a flat batch (sqlite-sink.ts pushRow). */
export type ThreadMessage =
  | { readonly kind: 'rows'; readonly values: unknown[] }
  | { readonly kind: 'audit'; readonly values: unknown[] }
  /** Peers' rows and the sync's cursors (peer-rows.ts), answered by 'ingested'. */
  | { readonly kind: 'ingest'; readonly seq: number; readonly values: unknown[]; readonly state: Record<string, string> }
  | { readonly kind: 'close' };

/** Thread → gateway, for logs and metrics (progress itself is in shared memory). */
export type ThreadEvent =
  | { readonly kind: 'ready' }
  | { readonly kind: 'batch'; readonly rows: number; readonly ms: number }
  | { readonly kind: 'failing'; readonly message: string }
  /** An ingest committed (`inserted` rows) or refused (`error`). */
  | { readonly kind: 'ingested'; readonly seq: number; readonly inserted: number; readonly error?: string }
  /** Rollups built from raw rows (an upgraded database, after a crash): how far. */
  | { readonly kind: 'progress'; readonly rolledId: number; readonly maxId: number };

/**
 * The maintenance thread's start data (rows committed on the event loop: it checkpoints the WAL and, with `maintain`,
 * keeps the rollups and runs compaction, retention and vacuum).
 */
export interface MaintenanceThreadData {
  readonly path: string;
  /** False: checkpoints only (a process that reads beside the one that records). */
  readonly maintain: boolean;
  /** One Int32 the thread sets to 1 (and notifies) once closed. */
  readonly done: SharedArrayBuffer;
  /** One Int32: packed batches ('rows' messages) the thread has taken so far (the gateway bounds those in flight). */
  readonly fed: SharedArrayBuffer;
  readonly retentionMs: number;
  readonly rollupRetentionMs: number;
  readonly flushRows?: number;
}
/** Gateway → maintenance thread. Its events are ThreadEvent's ready, progress and failing. */
export type MaintenanceThreadMessage =
  | { readonly kind: 'checkpoint' }
  | { readonly kind: 'close' }
  /** Rows just committed on the event loop, packed for the fold (sqlite-sink.ts PackedRows; the buffer is transferred). */
  | { readonly kind: 'rows'; readonly firstId: number; readonly rows: number; readonly values: Float64Array };
