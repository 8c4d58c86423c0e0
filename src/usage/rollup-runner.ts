import type { Worker } from 'node:worker_threads';
import type { RollupProgress } from './maintenance-loop.js';
import { startUsageThread } from './thread-start.js';
import type { RollupThreadData, RollupThreadMessage, ThreadEvent } from './writer-protocol.js';

/** How long close() waits for the rollup thread to write what it holds (rows it leaves are folded at the next start). */
const CLOSE_WAIT_MS = 10_000;

export interface RollupRunnerOptions {
  path: string;
  retentionMs: number;
  rollupRetentionMs: number;
  flushRows?: number | undefined;
  onProgress?: ((p: RollupProgress) => void) | undefined;
  onError: (err: unknown) => void;
  /** The thread died or could not start: the caller runs the background work itself from now on. */
  onLost: () => void;
}

export interface RollupRunner {
  /** Resolves once the thread holds the database (or is lost). */
  readonly ready: Promise<void>;
  /** Asks the thread to write what it has folded and waits for it (bounded); the thread is gone afterwards. */
  close(): void;
}

/** Starts rollup-thread.ts (one core: the event loop commits raw rows, the thread keeps the rollups). */
export function startRollupThread(o: RollupRunnerOptions): RollupRunner {
  const done = new SharedArrayBuffer(4);
  const data: RollupThreadData = { path: o.path, done, retentionMs: o.retentionMs, rollupRetentionMs: o.rollupRetentionMs, ...(o.flushRows ? { flushRows: o.flushRows } : {}) };
  let worker: Worker | null = startUsageThread('rollup-thread', data);
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const lost = (why: string) => {
    const w = worker;
    if (!w) return;
    worker = null;
    markReady();
    w.removeAllListeners();
    w.on('error', () => {});
    void w.terminate();
    o.onError(new Error(`${why}; usage rollups are kept on the main thread`));
    o.onLost();
  };
  worker.unref();
  worker.on('message', (e: ThreadEvent) => {
    if (e.kind === 'ready') markReady();
    else if (e.kind === 'progress') o.onProgress?.({ rolledId: e.rolledId, maxId: e.maxId, done: e.rolledId >= e.maxId });
    else if (e.kind === 'failing') o.onError(new Error(e.message));
  });
  worker.on('error', (err) => lost(`usage rollup thread failed (${err instanceof Error ? err.message : String(err)})`));
  worker.on('exit', (code) => lost(`usage rollup thread exited (code ${code})`));
  return {
    ready,
    close() {
      const w = worker;
      if (!w) return;
      worker = null;
      w.removeAllListeners();
      w.on('error', () => {});
      w.postMessage({ kind: 'close' } satisfies RollupThreadMessage);
      // Blocking, at shutdown only: the thread's last flush is one short transaction.
      Atomics.wait(new Int32Array(done), 0, 0, CLOSE_WAIT_MS);
      void w.terminate();
    },
  };
}
