import type { UsageRow, UsageWriter, UsageWriterStats } from '../usage/index.js';
import type { IpcPort } from '../state/index.js';

export interface IpcUsageWriterOptions {
  port: IpcPort & { send(message: unknown, callback?: (err: Error | null) => void): unknown };
  /** Rows per message; a full batch is sent at once. */
  batchSize: number;
  /** A partial batch waits at most this long: what a worker's hard kill can lose. */
  flushIntervalMs: number;
  /**
   * The usage module's own writer on the same file, opened only when something other than recording is asked of it
   * (the admin queries, which read what the supervisor has committed).
   */
  openReader: () => UsageWriter;
}

export interface IpcUsageWriter extends UsageWriter {
  /** Resolves once every row recorded so far has been handed to the IPC channel (await it before exiting). */
  drained(): Promise<void>;
}

/**
 * A worker's usage log: rows go to the supervisor, the one writer of the host's SQLite file, in batches over the
 * cluster IPC channel. Everything else a usage writer offers (queries, exports) is served by the usage module's own
 * writer opened on the same file on first use; recording never goes through it.
 */
export function createIpcUsageWriter(options: IpcUsageWriterOptions): IpcUsageWriter {
  let batch: UsageRow[] = [];
  let timer: NodeJS.Timeout | null = null;
  let inFlight = 0;
  let idle: Array<() => void> = [];
  let reader: UsageWriter | null = null;
  const stats: UsageWriterStats = { rowsWritten: 0, batches: 0, lastBatchMs: 0, queueLength: 0, syncFlushes: 0, writeErrors: 0, rowsDropped: 0 } as UsageWriterStats;

  const send = () => {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    inFlight++;
    const done = (err: Error | null) => {
      inFlight--;
      if (err) stats.rowsDropped += rows.length;
      else {
        stats.rowsWritten += rows.length;
        stats.batches++;
      }
      if (inFlight === 0) {
        const w = idle;
        idle = [];
        for (const f of w) f();
      }
    };
    try {
      options.port.send({ ig: 'usage', rows }, done);
    } catch (err) {
      // The channel is closed (the supervisor is gone): these rows cannot be written by anyone now.
      done(err as Error);
    }
  };

  const mine = {
    record(row: UsageRow) {
      batch.push(row);
      if (batch.length >= options.batchSize) send();
      else if (!timer) {
        timer = setTimeout(send, options.flushIntervalMs);
        timer.unref();
      }
    },
    flush: send,
    close() {
      send();
      reader?.close();
    },
    stats: () => ({ ...stats, queueLength: batch.length }),
    ready: Promise.resolve(),
    drained() {
      send();
      return inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => idle.push(r));
    },
  };
  return new Proxy(mine, {
    get(target, prop, receiver) {
      if (prop in target) return Reflect.get(target, prop, receiver);
      reader ??= options.openReader();
      const v: unknown = Reflect.get(reader, prop);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(reader) : v;
    },
  }) as unknown as IpcUsageWriter;
}
