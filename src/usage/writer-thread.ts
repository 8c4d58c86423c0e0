/**
 * The usage log's writer thread: receives flat batches of rows from the gateway's event loop and commits each in
 * one SQLite transaction, so a slow or locked disk never stalls request handling. Progress is published in shared
 * memory (see SLOT) for the gateway to read without a message round trip, and to wait on when it must.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { createAuditSink } from './audit.js';
import { openUsageDb } from './db.js';
import { startMaintenanceLoop } from './maintenance-loop.js';
import { createSqliteSink, VALUES_PER_ROW } from './sqlite-sink.js';
import { SLOT, type ThreadData, type ThreadEvent, type ThreadMessage } from './writer-protocol.js';

const data = workerData as ThreadData;
const shared = new BigInt64Array(data.shared);
const port = parentPort!;
// No event loop of ours to protect here: wait out a competing writer's lock for longer than the gateway could.
const db = openUsageDb(data.path, { busyTimeoutMs: 1000 });
const sink = createSqliteSink(db, { retentionMs: data.retentionMs, rollupRetentionMs: data.rollupRetentionMs, ...(data.flushRows ? { flushRows: data.flushRows } : {}) });
const write = sink.write;
const writeAudit = createAuditSink(db);
const queue: unknown[][] = [];
const audits: unknown[][] = [];
let retry: NodeJS.Timeout | null = null;
let failing = false;

function progressed(): void {
  Atomics.add(shared, SLOT.seq, 1n);
  Atomics.notify(shared, SLOT.seq);
}

function send(e: ThreadEvent): void {
  port.postMessage(e);
}

/** Writes queued batches in order; stops at the first refusal (rows stay queued, retried later). */
function drain(): boolean {
  if (audits.length > 0) {
    try {
      writeAudit(audits);
      Atomics.add(shared, SLOT.audited, BigInt(audits.length));
      audits.length = 0;
    } catch (err) {
      Atomics.add(shared, SLOT.errors, 1n);
      if (!failing) {
        failing = true;
        Atomics.store(shared, SLOT.failing, 1n);
        send({ kind: 'failing', message: `audit: ${err instanceof Error ? err.message : String(err)}` });
      }
      progressed();
      return false;
    }
    progressed();
  }
  while (queue.length > 0) {
    const values = queue[0]!;
    const start = performance.now();
    try {
      write(values);
    } catch (err) {
      Atomics.add(shared, SLOT.errors, 1n);
      if (!failing) {
        failing = true;
        Atomics.store(shared, SLOT.failing, 1n);
        send({ kind: 'failing', message: err instanceof Error ? err.message : String(err) });
      }
      progressed();
      return false;
    }
    queue.shift();
    const ms = performance.now() - start;
    const rows = values.length / VALUES_PER_ROW;
    Atomics.add(shared, SLOT.committed, BigInt(rows));
    Atomics.add(shared, SLOT.batches, 1n);
    if (failing) {
      failing = false;
      Atomics.store(shared, SLOT.failing, 0n);
    }
    send({ kind: 'batch', rows, ms });
    progressed();
  }
  return true;
}

function scheduleRetry(): void {
  retry ??= setTimeout(() => {
    retry = null;
    if (!drain()) scheduleRetry();
  }, data.retryMs);
}

send({ kind: 'ready' });

// Rollup catch-up, compaction and retention between batches: this thread has no requests to hold up.
const stopMaintenance = startMaintenanceLoop(sink, {
  budgetMs: 50,
  busy: () => queue.length > 0,
  onProgress: (p) => send({ kind: 'progress', rolledId: p.rolledId, maxId: p.maxId }),
  onError: (err) => send({ kind: 'failing', message: `usage maintenance: ${err instanceof Error ? err.message : String(err)}` }),
});

port.on('message', (m: ThreadMessage) => {
  if (m.kind === 'ingest') {
    // Not queued behind refused batches: a refusal answers at once and the sync reads again from its cursor.
    try {
      send({ kind: 'ingested', seq: m.seq, inserted: sink.ingest(m.values, m.state) });
    } catch (err) {
      send({ kind: 'ingested', seq: m.seq, inserted: 0, error: err instanceof Error ? err.message : String(err) });
    }
    return;
  }
  if (m.kind === 'rows' || m.kind === 'audit') {
    if (m.kind === 'rows') queue.push(m.values);
    else audits.push(m.values);
    if (retry === null && !drain()) scheduleRetry();
    return;
  }
  // close: one last attempt, then report what could not be written.
  if (retry !== null) clearTimeout(retry);
  drain();
  stopMaintenance();
  let left = 0;
  for (const v of queue) left += v.length / VALUES_PER_ROW;
  try {
    sink.close();
    db.close();
  } catch {
    // nothing more to do with a database that will not close
  }
  Atomics.store(shared, SLOT.unwritten, BigInt(left));
  Atomics.store(shared, SLOT.closed, 1n);
  progressed();
  port.close();
});
