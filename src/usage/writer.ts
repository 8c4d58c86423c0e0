import { performance } from 'node:perf_hooks';
import { openUsageDb, type UsageDb } from './db.js';
import { queryUsage, type UsageQuery, type UsageTotals } from './query.js';
import type { UsageRow } from './usage-row.js';

export interface UsageWriterOptions {
  path: string;
  /** Rows per transaction; reaching it schedules a write on the next turn of the event loop. */
  batchSize?: number;
  /** Rows fewer than a batch wait at most this long. */
  flushIntervalMs?: number;
  /** Queue bound: reaching it writes synchronously on the recording call (backpressure on the hot path). */
  queueMax?: number;
  /** Write failures (disk full, read-only file, lock); rows stay queued and are retried. */
  onError?: (err: unknown) => void;
}

export interface UsageWriterStats {
  rowsWritten: number;
  batches: number;
  lastBatchMs: number;
  queueLength: number;
  /** Times the queue was full and rows were written on the recording call. */
  syncFlushes: number;
  writeErrors: number;
  /** Rows given up because the database kept failing while the queue was full. Never silent: counted and reported. */
  rowsDropped: number;
}

export interface UsageWriter {
  record(row: UsageRow): void;
  /** Writes every queued row now (one transaction per batch). */
  flush(): void;
  /** Flushes everything and closes the database. */
  close(): void;
  /** Totals for `GET /admin/usage`; flushes first so the caller sees its own requests. */
  query(q: UsageQuery): UsageTotals[];
  stats(): Readonly<UsageWriterStats>;
  readonly db: UsageDb;
}

const INSERT = `INSERT INTO usage (request_id, time_ms, subject, team, requested_model, upstream_model, backend, endpoint,
  stream, status, error_code, prompt_tokens, completion_tokens, cached_tokens, token_source, ttft_ms, latency_ms)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * The usage log's writer. `record` only appends to an in-memory queue; rows reach SQLite in batches, one transaction
 * each, written on a later turn of the event loop (setImmediate when a batch is full, an interval for the rest).
 *
 * Hard-kill loss: a SIGKILL loses exactly the rows queued and not yet in a committed batch. A full batch is written
 * on the next loop turn and a partial one within `flushIntervalMs`, so the window is about
 * min(batchSize, rate × flushIntervalMs) rows plus those recorded during one loop turn, and never more than queueMax.
 * With the defaults (128 rows, 200 ms) that is ≤ 200 ms of traffic and at most ~128 rows per batch; measured by
 * test/usage/kill.test.ts. SIGTERM/SIGINT lose nothing: the server calls close(), which writes every queued row.
 */
export function createUsageWriter(options: UsageWriterOptions): UsageWriter {
  const batchSize = options.batchSize ?? 128;
  const queueMax = Math.max(batchSize, options.queueMax ?? 20_000);
  const db = openUsageDb(options.path, { busyTimeoutMs: 50 });
  const insert = db.prepare(INSERT);
  const writeRows = db.transaction((rows: readonly UsageRow[]) => {
    for (const r of rows) {
      insert.run(
        r.id, r.timeMs, r.subject, r.team, r.requestedModel, r.upstreamModel, r.backend, r.endpoint,
        r.stream ? 1 : 0, r.status, r.errorCode, r.promptTokens, r.completionTokens, r.cachedTokens,
        r.tokenSource, r.ttftMs, r.latencyMs,
      );
    }
  });
  let queue: UsageRow[] = [];
  const stats: UsageWriterStats = { rowsWritten: 0, batches: 0, lastBatchMs: 0, queueLength: 0, syncFlushes: 0, writeErrors: 0, rowsDropped: 0 };
  let immediate: NodeJS.Immediate | null = null;
  let closed = false;
  const intervalMs = options.flushIntervalMs ?? 200;
  // After a failed write, requests do not retry synchronously for one interval: a locked file would otherwise make
  // every request wait out the busy timeout. The interval keeps retrying in the background.
  let failedAt = Number.NEGATIVE_INFINITY;

  /** Writes one batch from the head of the queue; false when the database refused it (rows stay queued). */
  function writeBatch(): boolean {
    // The common case is a queue no longer than a batch: write it as is, without copying.
    const batch = queue.length <= batchSize ? queue : queue.slice(0, batchSize);
    const start = performance.now();
    try {
      writeRows(batch);
    } catch (err) {
      stats.writeErrors++;
      failedAt = performance.now();
      options.onError?.(err);
      return false;
    }
    queue = batch === queue ? [] : queue.slice(batch.length);
    stats.lastBatchMs = performance.now() - start;
    stats.rowsWritten += batch.length;
    stats.batches++;
    return true;
  }

  function drainAll(): boolean {
    while (queue.length > 0) if (!writeBatch()) return false;
    return true;
  }

  // One batch per loop turn, so a backlog never blocks the event loop for more than one transaction at a time.
  function pump(): void {
    immediate = null;
    if (queue.length > 0 && writeBatch() && queue.length >= batchSize) schedule();
  }

  function schedule(): void {
    if (!immediate && !closed) immediate = setImmediate(pump);
  }

  const timer = setInterval(() => {
    if (queue.length > 0) pump();
  }, intervalMs);
  timer.unref();

  return {
    db,
    record(row) {
      if (closed) throw new Error('usage writer is closed');
      queue.push(row);
      if (queue.length >= queueMax) {
        const healthy = performance.now() - failedAt >= intervalMs;
        if (healthy) stats.syncFlushes++;
        if ((!healthy || !drainAll()) && queue.length >= queueMax) {
          // The database is failing, not slow: keep the newest rows up to the bound, count and report the rest.
          const excess = queue.length - queueMax + 1;
          queue = queue.slice(excess);
          stats.rowsDropped += excess;
          options.onError?.(new Error(`usage log unavailable: dropped ${excess} row(s) after the queue reached ${queueMax}`));
        }
      } else if (queue.length >= batchSize) {
        schedule();
      }
    },
    flush() {
      drainAll();
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      if (immediate) clearImmediate(immediate);
      if (!drainAll()) {
        stats.rowsDropped += queue.length;
        options.onError?.(new Error(`usage log unavailable at shutdown: ${queue.length} row(s) not written`));
        queue = [];
      }
      db.close();
    },
    query(q) {
      drainAll();
      return queryUsage(db, q);
    },
    stats: () => ({ ...stats, queueLength: queue.length }),
  };
}
