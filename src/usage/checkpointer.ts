import type { Worker } from 'node:worker_threads';
import type { UsageDb } from './db.js';
import { startUsageThread } from './thread-start.js';
import type { CheckpointEvent } from './writer-protocol.js';

/** SQLite's own default: checkpoint once the WAL holds this many pages. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;
/** Rows between checkpoints: about a megabyte of WAL, a quarter of what SQLite would let accumulate. */
const CHECKPOINT_EVERY_ROWS = 8192;

export interface Checkpointer {
  /** Resolves once the thread holds the database, or checkpointing went back to the connection. */
  readonly ready: Promise<void>;
  /** Counts committed rows and asks the thread for a checkpoint every CHECKPOINT_EVERY_ROWS. */
  committed(rows: number): void;
  close(): void;
}

/**
 * For a usage log committed on the event loop. SQLite checkpoints inside the commit that crosses its threshold:
 * copying megabytes and two fsyncs (synchronous=NORMAL), which held the event loop for 7–10 ms here and can take far
 * longer on a network disk. Here the gateway's connection never checkpoints; a thread with its own connection does,
 * right after a commit, so it usually finishes before the next one and the WAL is then reused from its start. If the
 * thread fails, the connection goes back to checkpointing itself, so the WAL never grows without bound.
 */
export function startCheckpointer(db: UsageDb, path: string, onError: (err: unknown) => void): Checkpointer {
  let worker: Worker | null = startUsageThread('checkpoint-thread', { path });
  db.pragma('wal_autocheckpoint = 0');
  let rows = 0;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  /** Stops the thread and lets the connection checkpoint itself again. */
  const stop = (): boolean => {
    const w = worker;
    worker = null;
    markReady();
    if (!w) return false;
    w.removeAllListeners();
    w.on('error', () => {}); // whatever a dying thread still emits is moot now
    void w.terminate();
    if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
    return true;
  };
  const giveUp = (why: string) => {
    if (stop()) onError(new Error(`${why}; the usage log checkpoints on the main thread`));
  };
  worker.unref();
  worker.on('message', (e: CheckpointEvent) => {
    if (e.kind === 'ready') markReady();
    else onError(new Error(`usage log checkpoint failed: ${e.message}`));
  });
  worker.on('error', (err) => giveUp(`usage checkpoint thread failed (${err instanceof Error ? err.message : String(err)})`));
  worker.on('exit', (code) => giveUp(`usage checkpoint thread exited (code ${code})`));

  return {
    ready,
    committed(n) {
      if (!worker) return;
      rows += n;
      if (rows < CHECKPOINT_EVERY_ROWS) return;
      rows = 0;
      worker.postMessage(0);
    },
    // Before the connection closes: closing checkpoints what is left when it is the file's last connection.
    close: () => void stop(),
  };
}
