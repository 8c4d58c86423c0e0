/**
 * The usage log's maintenance thread, used when rows are committed on the gateway's event loop (one core, or after
 * the writer thread is lost). On one connection of its own it does what would otherwise hold the event loop:
 *  - WAL checkpoints, on request (wal-checkpoint.ts): the gateway's connection never checkpoints meanwhile;
 *  - the rollups (the gateway hands it each committed batch packed as numbers to fold; rollup-writer.ts catch-up reads
 *    back from the database whatever it did not get that way, after a crash or an upgrade), compaction, retention and
 *    vacuum, in budgeted rounds (maintenance-loop.ts), unless started with `maintain: false` (a process that only
 *    reads beside the one that records: checkpoints only).
 * The event loop then commits raw rows and packs them (~0.1 µs a row); reports stay exact meanwhile
 * (they read the rows not yet rolled up raw, report.ts). One isolate does both jobs: a second one cost ~9 MB resident.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openUsageDb } from './db.js';
import { startMaintenanceLoop } from './maintenance-loop.js';
import { createSqliteSink, type UsageSink } from './sqlite-sink.js';
import { createWalCheckpoints } from './wal-checkpoint.js';
import type { MaintenanceThreadData, MaintenanceThreadMessage, ThreadEvent } from './writer-protocol.js';

/**
 * Flush thresholds of the thread's fold: each flush is one transaction holding the write lock, so it is kept to a few
 * thousand rollup rows (milliseconds); reports read at most this many rows raw (the tail).
 */
const ROLLUP_THREAD_FLUSH_ROWS = 16_384;
const ROLLUP_THREAD_FLUSH_GROUPS = 4_096;

const data = workerData as MaintenanceThreadData;
const done = new Int32Array(data.done);
const fed = new Int32Array(data.fed);
const port = parentPort!;
const send = (e: ThreadEvent) => port.postMessage(e);
const db = openUsageDb(data.path, { busyTimeoutMs: 1000 });
const checkpoints = createWalCheckpoints(db, (message) => send({ kind: 'failing', message: `usage log checkpoint failed: ${message}` }));

let sink: UsageSink | null = null;
let stopLoop = () => {};
if (data.maintain) {
  sink = createSqliteSink(db, {
    retentionMs: data.retentionMs,
    rollupRetentionMs: data.rollupRetentionMs,
    flushRows: data.flushRows ?? ROLLUP_THREAD_FLUSH_ROWS,
    flushGroups: ROLLUP_THREAD_FLUSH_GROUPS,
    catchUpAtClose: true,
  });
  stopLoop = startMaintenanceLoop(sink, {
    // Off the event loop, but each step's transaction holds the write lock the gateway's commits wait for.
    budgetMs: 20,
    onProgress: (p) => send({ kind: 'progress', rolledId: p.rolledId, maxId: p.maxId }),
    onError: (err) => send({ kind: 'failing', message: `usage rollups: ${err instanceof Error ? err.message : String(err)}` }),
  });
}
send({ kind: 'ready' });

port.on('message', (m: MaintenanceThreadMessage) => {
  if (m.kind === 'checkpoint') return checkpoints.request();
  if (m.kind === 'rows') {
    Atomics.add(fed, 0, 1);
    try {
      sink?.feed(m);
    } catch (err) {
      // The fold starts over from rolled_id and catch-up reads these rows back.
      send({ kind: 'failing', message: `usage rollups: ${err instanceof Error ? err.message : String(err)}` });
    }
    return;
  }
  stopLoop();
  checkpoints.stop();
  try {
    sink?.close(); // the rows still unread or folded, written (a long backlog is left for the next start)
    db.close();
  } catch {
    // the rows stay past rolled_id: the next start folds them
  }
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
  port.close();
});
