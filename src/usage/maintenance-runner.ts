import type { Worker } from 'node:worker_threads';
import type { UsageDb } from './db.js';
import type { RollupProgress } from './maintenance-loop.js';
import { startUsageThread } from './thread-start.js';
import type { PackedRows, UsageSink } from './sqlite-sink.js';
import type { MaintenanceThreadData, MaintenanceThreadMessage, ThreadEvent } from './writer-protocol.js';

/** SQLite's own default: checkpoint once the WAL holds this many pages. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;
/** Rows between checkpoints: about a megabyte of WAL, a quarter of what SQLite would let accumulate. */
const CHECKPOINT_EVERY_ROWS = 8192;
/**
 * Packed batches handed to the thread and not yet taken, at most (~36 KB each): a thread held up (a long compaction,
 * a slow disk) gets no more; it reads those rows back from the database later instead.
 */
const MAX_FEED_BACKLOG = 64;
/** How long close() waits for the thread to write what it holds (rows it leaves are folded at the next start). */
const CLOSE_WAIT_MS = 10_000;

export interface MaintenanceThreadOptions {
  path: string;
  /** False: checkpoints only; another process keeps the rollups and runs the background work. */
  maintain: boolean;
  /** The event loop's sink: it folds the packed batches itself once the thread is lost (with `maintain`). */
  sink: UsageSink;
  retentionMs: number;
  rollupRetentionMs: number;
  flushRows?: number | undefined;
  onProgress?: ((p: RollupProgress) => void) | undefined;
  onError: (err: unknown) => void;
  /** The thread died or could not start: the caller runs the background work itself from now on (when `maintain`). */
  onLost: () => void;
}

export interface MaintenanceThread {
  /** Resolves once the thread holds the database, or its work went back to the event loop. */
  readonly ready: Promise<void>;
  /**
   * Counts rows committed on the event loop and asks the thread for a checkpoint every CHECKPOINT_EVERY_ROWS; hands it
   * `packed` rows to fold (their buffer is transferred), or folds them on the event loop once the thread is lost.
   */
  committed(rows: number, packed?: PackedRows | null): void;
  /** Asks the thread to write what it has folded and waits for it (bounded); the thread is gone afterwards. */
  close(): void;
}

/**
 * Starts maintenance-thread.ts for a usage log committed on the event loop (`db` is that connection). SQLite
 * checkpoints inside the commit that crosses its threshold: copying megabytes and two fsyncs (synchronous=NORMAL),
 * which held the event loop for 7–10 ms here and can take far longer on a network disk. Here the gateway's connection
 * never checkpoints; the thread does, right after a commit, so it usually finishes before the next one and the WAL is
 * then reused from its start. If the thread fails, the connection goes back to checkpointing itself (the WAL never
 * grows without bound) and `onLost` moves the rollups and background work to the event loop.
 */
export function startMaintenanceThread(db: UsageDb, o: MaintenanceThreadOptions): MaintenanceThread {
  const done = new SharedArrayBuffer(4);
  const fed = new Int32Array(new SharedArrayBuffer(4));
  let posted = 0;
  const data: MaintenanceThreadData = {
    path: o.path,
    maintain: o.maintain,
    done,
    fed: fed.buffer as SharedArrayBuffer,
    retentionMs: o.retentionMs,
    rollupRetentionMs: o.rollupRetentionMs,
    ...(o.flushRows ? { flushRows: o.flushRows } : {}),
  };
  let worker: Worker | null = startUsageThread('maintenance-thread', data);
  db.pragma('wal_autocheckpoint = 0');
  let rows = 0;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  /** Stops using the thread; the connection checkpoints itself again. */
  const detach = (): Worker | null => {
    const w = worker;
    worker = null;
    markReady();
    if (!w) return null;
    w.removeAllListeners();
    w.on('error', () => {}); // whatever a dying thread still emits is moot now
    if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
    return w;
  };
  const lost = (why: string) => {
    const w = detach();
    if (!w) return;
    void w.terminate();
    const moved = o.maintain ? 'WAL checkpoints and usage rollups are kept on the main thread' : 'the usage log checkpoints on the main thread';
    o.onError(new Error(`${why}; ${moved}`));
    if (o.maintain) o.onLost();
  };
  worker.unref();
  worker.on('message', (e: ThreadEvent) => {
    if (e.kind === 'ready') markReady();
    else if (e.kind === 'progress') o.onProgress?.({ rolledId: e.rolledId, maxId: e.maxId, done: e.rolledId >= e.maxId });
    else if (e.kind === 'failing') o.onError(new Error(e.message));
  });
  worker.on('error', (err) => lost(`usage maintenance thread failed (${err instanceof Error ? err.message : String(err)})`));
  worker.on('exit', (code) => lost(`usage maintenance thread exited (code ${code})`));

  return {
    ready,
    committed(n, packed) {
      if (!worker) {
        if (!packed || !o.maintain) return;
        try {
          o.sink.feed(packed);
        } catch (err) {
          o.onError(err); // the fold starts over from rolled_id; catch-up reads these rows back
        }
        return;
      }
      // Folding these from memory costs the thread a fraction of reading them back from the database.
      if (packed && o.maintain && posted - Atomics.load(fed, 0) < MAX_FEED_BACKLOG) {
        posted++;
        const m: MaintenanceThreadMessage = { kind: 'rows', firstId: packed.firstId, rows: packed.rows, values: packed.values };
        worker.postMessage(m, [packed.values.buffer as ArrayBuffer]);
      }
      rows += n;
      if (rows < CHECKPOINT_EVERY_ROWS) return;
      rows = 0;
      worker.postMessage({ kind: 'checkpoint' } satisfies MaintenanceThreadMessage);
    },
    // Before the connection closes: closing checkpoints what is left when it is the file's last connection.
    close() {
      const w = detach();
      if (!w) return;
      w.postMessage({ kind: 'close' } satisfies MaintenanceThreadMessage);
      // Blocking, at shutdown only: the thread's last flush is one short transaction.
      Atomics.wait(new Int32Array(done), 0, 0, CLOSE_WAIT_MS);
      void w.terminate();
    },
  };
}
