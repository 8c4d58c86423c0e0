/**
 * The usage log's rollup thread, used when rows are committed on the gateway's event loop (one core): it keeps the
 * rollups (rollup-writer.ts catch-up: reads the rows past rolled_id and folds them), and runs compaction, retention
 * and vacuum, on a connection of its own. The event loop then commits raw rows only, at the cost it had before
 * rollups existed; reports stay exact meanwhile (they read the rows not yet rolled up raw, report.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openUsageDb } from './db.js';
import { startMaintenanceLoop } from './maintenance-loop.js';
import { createSqliteSink } from './sqlite-sink.js';
import type { RollupThreadData, RollupThreadMessage, ThreadEvent } from './writer-protocol.js';

/**
 * Flush thresholds of the thread's fold: each flush is one transaction holding the write lock, so it is kept to a few
 * thousand rollup rows (milliseconds); reports read at most this many rows raw (the tail).
 */
const ROLLUP_THREAD_FLUSH_ROWS = 16_384;
const ROLLUP_THREAD_FLUSH_GROUPS = 4_096;

const data = workerData as RollupThreadData;
const done = new Int32Array(data.done);
const port = parentPort!;
const send = (e: ThreadEvent) => port.postMessage(e);
const db = openUsageDb(data.path, { busyTimeoutMs: 1000 });
const sink = createSqliteSink(db, {
  retentionMs: data.retentionMs,
  rollupRetentionMs: data.rollupRetentionMs,
  flushRows: data.flushRows ?? ROLLUP_THREAD_FLUSH_ROWS,
  flushGroups: ROLLUP_THREAD_FLUSH_GROUPS,
  catchUpAtClose: true,
});
send({ kind: 'ready' });

const stop = startMaintenanceLoop(sink, {
  // Off the event loop, but each step's transaction holds the write lock the gateway's commits wait for.
  budgetMs: 20,
  onProgress: (p) => send({ kind: 'progress', rolledId: p.rolledId, maxId: p.maxId }),
  onError: (err) => send({ kind: 'failing', message: `usage rollups: ${err instanceof Error ? err.message : String(err)}` }),
});

port.on('message', (m: RollupThreadMessage) => {
  if (m.kind !== 'close') return;
  stop();
  try {
    sink.close(); // the rows still unread or folded, written (a long backlog is left for the next start)
    db.close();
  } catch {
    // the rows stay past rolled_id: the next start folds them
  }
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
  port.close();
});
