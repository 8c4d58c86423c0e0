import { availableParallelism } from 'node:os';
import type { ResourceLimits, Worker } from 'node:worker_threads';
import { auditValues, createAuditSink, queryAudit, type AuditEntry, type AuditQuery, type AuditRecord } from './audit.js';
import { openUsageDb, type UsageDb } from './db.js';
import { startMaintenanceLoop, type RollupProgress } from './maintenance-loop.js';
import { startMaintenanceThread, type MaintenanceThread } from './maintenance-runner.js';
import { queryUsage, type UsageQuery, type UsageReport } from './query.js';
import { createSqliteSink, pushRow, VALUES_PER_ROW, type UsageSink } from './sqlite-sink.js';
import type { UsageRow } from './usage-row.js';
import { createLossReport } from './loss-report.js';
import { createIngestWaits, ingestNow } from './peer-ingest.js';
import type { PeerBatch } from './peer-rows.js';
import { startUsageThread } from './thread-start.js';
import { SLOT, SLOT_COUNT, type ThreadData, type ThreadEvent, type ThreadMessage } from './writer-protocol.js';

export interface UsageWriterOptions {
  path: string;
  /** Rows per batch (one transaction each); a full batch goes to the writer thread at once. */
  batchSize?: number;
  /** Rows fewer than a batch wait at most this long. Also the retry pause after a refused write. */
  flushIntervalMs?: number;
  /**
   * Bound on rows recorded and not yet committed. Reaching it while the disk is merely slow makes the recording call
   * wait for the writer (backpressure on the hot path); while the database refuses writes, further rows are counted
   * as dropped and reported, never silently lost.
   */
  queueMax?: number;
  /** Write failures (disk full, read-only file, lock); rows stay queued and are retried. */
  onError?: (err: unknown) => void;
  /** Rows dropped for good (the queue at its bound while writes fail, or at close); batched, see loss-report.ts. */
  onLost?: (rows: number, reason: string) => void;
  /** Each committed batch, for metrics. */
  onBatch?: (rows: number, durationMs: number) => void;
  /** Rollups being built from raw rows (an upgraded database, after a crash): every few seconds, and when done. */
  onRollupProgress?: (p: RollupProgress) => void;
  /** usage.retention: raw rows older than this are deleted (0 or absent: kept). */
  retentionMs?: number;
  /** usage.rollup_retention: day rollups older than this are deleted (0 or absent: kept). */
  rollupRetentionMs?: number;
  /** Rows folded before rollups are written (default 65,536; they are also written every 60 s). For tests. */
  rollupFlushRows?: number;
  /**
   * Run compaction, retention and rollup catch-up (default true). A process that only reads through this writer while
   * another process records (a worker beside its supervisor) passes false and leaves that work to the recorder.
   */
  maintenance?: boolean;
  /** Write from a worker thread (default with more than one core) or on the event loop (one core: no core to spare). */
  thread?: boolean;
  /** The writer thread's V8 heap limits instead of thread-start.ts's (tests: a thread that runs out of memory). */
  threadLimits?: ResourceLimits;
}

export interface UsageWriterStats {
  rowsWritten: number;
  batches: number;
  lastBatchMs: number;
  /** Rows recorded and not yet committed. */
  queueLength: number;
  /** Times the queue was full and a recording call waited for the writer (backpressure). */
  syncFlushes: number;
  writeErrors: number;
  /** Rows given up because the database kept failing while the queue was full. Never silent: counted and reported. */
  rowsDropped: number;
}

export interface UsageWriter {
  record(row: UsageRow): void;
  /** Waits (blocking) until every recorded row is committed, or the database refuses them. */
  flush(): void;
  /** Flushes everything and closes the database. */
  close(): void;
  /** Totals for `GET /admin/usage`, from the rollups; flushes first so the caller sees its own requests. */
  query(q: UsageQuery): UsageReport;
  /** Peers' rows through this writer's sink (rollups stay exact) with their cursors; resolves with rows inserted. */
  ingest(batch: PeerBatch): Promise<number>;
  /** Records an `/admin/*` call in usage_audit (written with the next batch, off the request). */
  audit(entry: AuditEntry): void;
  /** Audit entries in a time range; flushes first. */
  queryAudit(q: AuditQuery): AuditRecord[];
  /** The database file (exports open their own read-only connection on it). */
  readonly path: string;
  stats(): Readonly<UsageWriterStats>;
  /** The gateway thread's own connection (migrations at start, reads for queries). */
  readonly db: UsageDb;
  /**
   * Resolves once the writer thread has opened the database (or writing fell back to this thread); on one core, once
   * the maintenance thread is up. Rows recorded before are kept and written, but a hard kill before then loses them:
   * start serving after it.
   */
  readonly ready: Promise<void>;
}

/** How long a recording call waits for room before treating the database as unavailable. */
const BACKPRESSURE_WAIT_MS = 5_000;

/**
 * The usage log's writer. `record` appends the row's values to the current batch; a full batch (or, within
 * `flushIntervalMs`, a partial one) is committed in one transaction. With more than one core available, batches go to
 * a writer thread: SQLite's work, and any wait on a slow or locked disk, happens off the event loop, which pays about
 * half a microsecond per row. On a single core a second thread only competes with request handling, so batches are
 * written on the event loop between requests, as they are if the thread dies; SQLite's occasional checkpoint (a copy
 * and two fsyncs) and the rollups (folded from the committed rows) go to one small thread then
 * (maintenance-thread.ts), so the event loop pays what raw rows cost.
 *
 * Hard-kill loss: a SIGKILL loses the rows recorded and not yet committed: the open batch (at most `batchSize` rows
 * or `flushIntervalMs` of traffic) plus batches posted and not yet committed (the thread commits each within about a
 * millisecond unless the disk is slow). With the defaults (256 rows, 200 ms) that is at most ~256 rows or 200 ms of
 * traffic; measured by test/usage/kill.test.ts. SIGTERM/SIGINT lose nothing: the server calls close(), which waits
 * until every row is written.
 */
export function createUsageWriter(options: UsageWriterOptions): UsageWriter {
  const batchSize = Math.max(1, options.batchSize ?? 256);
  const queueMax = Math.max(batchSize, options.queueMax ?? 20_000);
  const intervalMs = options.flushIntervalMs ?? 200;
  // Opened here first, synchronously: a database that cannot be opened or migrated fails the start, not a request.
  const db = openUsageDb(options.path, { busyTimeoutMs: 50 });
  const shared = new BigInt64Array(new SharedArrayBuffer(SLOT_COUNT * BigInt64Array.BYTES_PER_ELEMENT));
  const read = (slot: number) => Number(Atomics.load(shared, slot));

  // availableParallelism() honours the CPU affinity mask (taskset, cpusets).
  const threaded = options.thread ?? availableParallelism() > 1;
  const retention = {
    retentionMs: options.retentionMs ?? 0,
    rollupRetentionMs: options.rollupRetentionMs ?? 0,
    ...(options.rollupFlushRows ? { flushRows: options.rollupFlushRows } : {}),
  };
  const threadData: ThreadData = { path: options.path, shared: shared.buffer, retryMs: intervalMs, ...retention };
  let thread: Worker | null = threaded ? startUsageThread('writer-thread', threadData, options.threadLimits) : null;
  // Committing on this thread: SQLite's checkpoints (a copy and two fsyncs) and the rollups go to this thread (startHere).
  let upkeep: MaintenanceThread | null = null;
  let lastBatchMs = 0;
  const ingests = createIngestWaits();
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  // The server's shutdown closes the writer; an idle writer thread must not keep a process alive by itself.
  thread?.unref();
  thread?.on('message', (e: ThreadEvent) => {
    if (e.kind === 'ready') {
      markReady();
    } else if (e.kind === 'batch') {
      lastBatchMs = e.ms;
      options.onBatch?.(e.rows, e.ms);
    } else if (e.kind === 'ingested') {
      ingests.settle(e.seq, e.error === undefined ? e.inserted : new Error(`usage ingest failed: ${e.error}`));
    } else if (e.kind === 'progress') {
      options.onRollupProgress?.({ rolledId: e.rolledId, maxId: e.maxId, done: e.rolledId >= e.maxId });
    } else {
      options.onError?.(new Error(`usage log write failed: ${e.message}`));
    }
  });
  thread?.on('error', (err) => abandonThread(`usage writer thread failed (${err instanceof Error ? err.message : String(err)})`));

  /** Stops using the thread; the rows it had not committed are still in `sent` and are written here instead. */
  function abandonThread(why: string): void {
    markReady();
    if (!thread) return;
    ingests.failAll(why);
    const t = thread;
    thread = null;
    void t.terminate();
    options.onError?.(new Error(`${why}; writing the usage log on the main thread`));
    trimSent();
    const pending = sent.flatMap((b) => b.values);
    const pendingRows = sent.reduce((n, b) => n + b.rows, 0);
    sent.length = 0;
    batch = pending.concat(batch);
    batchRows += pendingRows;
    if (batchRows > 0) writeHere();
  }

  let batch: unknown[] = [];
  let batchRows = 0;
  /** Rows handed to the thread so far (compared with its committed count). */
  let posted = 0;
  // Batches handed to the thread and not known to be committed, kept (postMessage copied them) so that rows survive
  // a thread that dies; `trimmed` counts the rows of batches already let go.
  const sent: { values: unknown[]; rows: number }[] = [];
  let trimmed = 0;
  function trimSent(): void {
    const committed = read(SLOT.committed);
    while (sent.length > 0 && trimmed + sent[0]!.rows <= committed) trimmed += sent.shift()!.rows;
  }
  let closed = false;
  let syncFlushes = 0;
  // Writing on this thread: on one core, or once the writer thread is gone.
  let inThread: { sink: UsageSink; committed: number; batches: number; errors: number; failedAt: number; stopMaintenance: () => void } | null = null;
  // Audit entries: posted to the thread as they come, or written here with the next batch.
  const audits: unknown[][] = [];
  let auditsPosted = 0;
  let writeAudits: ((entries: readonly unknown[][]) => void) | null = null;

  const losses = createLossReport(options.onLost ?? ((rows, why) => options.onError?.(new Error(`${why}: ${rows} row(s) not written`))));
  const lost = losses.add;

  const unwritten = () => (thread ? posted - read(SLOT.committed) : 0) + batchRows;

  /**
   * Blocks until `done()` holds, waking on each of the thread's write attempts. False when the thread made no
   * progress at all for BACKPRESSURE_WAIT_MS (stuck or dead; an error event cannot arrive while this thread blocks).
   */
  function waitUntil(done: () => boolean): boolean {
    let seq = Atomics.load(shared, SLOT.seq);
    let idleSince = performance.now();
    while (!done()) {
      const left = idleSince + BACKPRESSURE_WAIT_MS - performance.now();
      if (left <= 0) return false;
      Atomics.wait(shared, SLOT.seq, seq, left);
      const now = Atomics.load(shared, SLOT.seq);
      if (now !== seq) {
        seq = now;
        idleSince = performance.now();
      }
    }
    return true;
  }

  /**
   * Writing on this thread from now on: raw rows, each batch also packed as numbers for the maintenance thread, which
   * folds them, checkpoints the WAL and runs the background work (unless another process maintains it); if it is lost,
   * this connection checkpoints itself, folds here and a maintenance loop here works in short steps.
   */
  function startHere(): NonNullable<typeof inThread> {
    const maintain = options.maintenance !== false;
    const sink = createSqliteSink(db, { ...retention, rollups: false, packRows: maintain });
    const here = { sink, committed: 0, batches: 0, errors: 0, failedAt: Number.NEGATIVE_INFINITY, stopMaintenance: () => {} };
    const onEventLoop = () => {
      here.stopMaintenance = startMaintenanceLoop(here.sink, {
        // On the event loop: short steps, so a request waits at most this long behind compaction or retention.
        budgetMs: 5,
        busy: () => batchRows > 0,
        ...(options.onRollupProgress ? { onProgress: options.onRollupProgress } : {}),
        onError: (err) => options.onError?.(err),
      });
    };
    const up = (upkeep = startMaintenanceThread(db, { path: options.path, maintain, sink, ...retention, onProgress: options.onRollupProgress, onError: (e) => options.onError?.(e), onLost: onEventLoop }));
    void up.ready.then(markReady);
    return Object.assign(here, { stopMaintenance: () => up.close() });
  }

  /**
   * Writes the open batch on this thread (no writer thread, or it failed). After a refused write it waits one flush
   * interval before trying again, so a locked database does not cost every request its busy timeout; meanwhile rows
   * stay queued up to the bound, and the interval timer retries.
   */
  function writeHere(force = false): void {
    inThread ??= startHere();
    if (batchRows === 0 && audits.length === 0) return;
    if (force || performance.now() - inThread.failedAt >= intervalMs) {
      const start = performance.now();
      try {
        if (audits.length > 0) {
          (writeAudits ??= createAuditSink(db))(audits);
          audits.length = 0;
        }
        if (batchRows === 0) return;
        const packed = inThread.sink.write(batch);
        lastBatchMs = performance.now() - start;
        options.onBatch?.(batchRows, lastBatchMs);
        upkeep?.committed(batchRows, packed);
        inThread.committed += batchRows;
        inThread.batches++;
        batch = [];
        batchRows = 0;
        return;
      } catch (err) {
        inThread.errors++;
        inThread.failedAt = performance.now();
        options.onError?.(err);
      }
    }
    shed(queueMax);
  }

  /** The database is failing, not slow: keep at most `room` rows of the open batch, count and report the rest. */
  function shed(room: number): void {
    const excess = batchRows - Math.max(0, room);
    if (excess <= 0) return;
    batch.length -= excess * VALUES_PER_ROW;
    batchRows -= excess;
    lost(excess, `usage log unavailable: queue at ${queueMax} rows`);
  }

  /** Hands the open batch to the thread, waiting for room first when the thread is behind (backpressure). */
  function post(): void {
    if (batchRows === 0 && audits.length === 0) return;
    if (!thread) return writeHere();
    if (posted - read(SLOT.committed) + batchRows > queueMax) {
      if (read(SLOT.failing) === 0) {
        syncFlushes++;
        if (!waitUntil(() => posted - read(SLOT.committed) + batchRows <= queueMax || read(SLOT.failing) !== 0)) {
          // Not one write attempt finished in the whole wait: the thread is stuck or gone (its own lock wait is 1 s).
          abandonThread(`usage writer thread made no progress in ${BACKPRESSURE_WAIT_MS} ms`);
          return;
        }
      }
      // Still no room: the database refuses writes. What the thread holds stays; the open batch is cut to the bound.
      shed(queueMax - (posted - read(SLOT.committed)));
      if (batchRows === 0) return;
    }
    thread.postMessage({ kind: 'rows', values: batch } satisfies ThreadMessage);
    trimSent();
    sent.push({ values: batch, rows: batchRows });
    posted += batchRows;
    batch = [];
    batchRows = 0;
  }

  const timer = setInterval(() => {
    if (batchRows > 0 || audits.length > 0) post();
  }, intervalMs);
  if (!thread) inThread = startHere(); // the background work starts now, not at the first row
  timer.unref();

  function flush(): void {
    if (!thread) return writeHere(true);
    post();
    if (thread && !waitUntil(() => (posted <= read(SLOT.committed) && auditsPosted <= read(SLOT.audited)) || read(SLOT.failing) !== 0)) {
      abandonThread(`usage writer thread made no progress in ${BACKPRESSURE_WAIT_MS} ms`);
    }
  }

  return {
    db,
    ready,
    path: options.path,
    audit(entry) {
      if (closed) return;
      const values = auditValues(entry);
      if (thread) {
        thread.postMessage({ kind: 'audit', values } satisfies ThreadMessage);
        auditsPosted++;
      } else audits.push(values);
    },
    queryAudit(q) {
      flush();
      return queryAudit(db, q);
    },
    record(row) {
      if (closed) throw new Error('usage writer is closed');
      pushRow(batch, row);
      if (++batchRows >= batchSize) post();
    },
    flush,
    ingest(b) {
      if (closed) return Promise.reject(new Error('usage writer is closed'));
      if (!thread) return ingestNow((inThread ??= startHere()).sink, b, (n) => upkeep?.committed(n));
      const { seq, done } = ingests.add();
      thread.postMessage({ kind: 'ingest', seq, values: b.values as unknown[], state: { ...b.state } } satisfies ThreadMessage);
      return done;
    },
    close() {
      if (closed) return;
      closed = true;
      ingests.failAll('usage writer closed');
      clearInterval(timer);
      post();
      if (thread) {
        const t = thread;
        t.postMessage({ kind: 'close' } satisfies ThreadMessage);
        // The thread retries a locked database for up to its busy timeout per batch; a thread that stops making
        // progress altogether hands its rows back to this one.
        if (waitUntil(() => read(SLOT.closed) === 1)) {
          lost(read(SLOT.unwritten), 'usage log unavailable at shutdown');
          thread = null;
          void t.terminate();
        } else {
          abandonThread('usage writer thread did not finish at shutdown');
        }
      }
      if (batchRows > 0 || audits.length > 0) {
        // Background work stops first: a maintenance round holds the write lock longer than this connection's busy
        // timeout when the machine is loaded, and these rows must not be refused behind it at shutdown.
        inThread?.stopMaintenance();
        writeHere(true);
        lost(batchRows, 'usage log unavailable at shutdown');
        batchRows = 0;
      }
      if (inThread) {
        inThread.stopMaintenance();
        inThread.sink.close();
      }
      losses.flush();
      db.close();
    },
    query(q) {
      flush();
      return queryUsage(db, q);
    },
    stats: () => ({
      rowsWritten: read(SLOT.committed) + (inThread?.committed ?? 0),
      batches: read(SLOT.batches) + (inThread?.batches ?? 0),
      lastBatchMs,
      queueLength: unwritten(),
      syncFlushes,
      writeErrors: read(SLOT.errors) + (inThread?.errors ?? 0),
      rowsDropped: losses.dropped(),
    }),
  };
}
