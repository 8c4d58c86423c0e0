import type { UsageSink } from './sqlite-sink.js';

/** Between maintenance rounds when there is nothing to do (compaction and retention have minute-scale deadlines). */
const IDLE_MS = 1_000;
/** Between rounds while work is pending: lets batches and requests in between. */
const BUSY_MS = 5;
const REPORT_EVERY_MS = 5_000;

export interface RollupProgress {
  /** Raw rows rolled up so far (ids up to), and the newest id. */
  readonly rolledId: number;
  readonly maxId: number;
  /** True once, when a catch-up that was reported has finished. */
  readonly done: boolean;
}

export interface MaintenanceLoopOptions {
  /** Longest step; on the event loop (one core) this is the longest the loop is held. */
  budgetMs: number;
  /** Rollups being built from raw rows (an upgrade, after a crash), every few seconds while it lasts. */
  onProgress?: (p: RollupProgress) => void;
  onError?: (err: unknown) => void;
  /** Skip a round while the writer has rows to write first. */
  busy?: () => boolean;
}

/** Runs the sink's background work (sqlite-sink.ts maintain) in short rounds on timers; returns stop. */
export function startMaintenanceLoop(sink: UsageSink, o: MaintenanceLoopOptions): () => void {
  let timer: NodeJS.Timeout | null = null;
  // A catch-up is reported when it starts (whatever the process's uptime), every few seconds, and once when done.
  let reportedAt = Number.NEGATIVE_INFINITY;
  let reporting = false;
  let stopped = false;
  let failing = false;

  const round = () => {
    timer = null;
    let more = false;
    if (!o.busy?.()) {
      try {
        more = sink.maintain(o.budgetMs);
        failing = false;
      } catch (err) {
        if (!failing) o.onError?.(err); // once per failure streak; the next round tries again
        failing = true;
      }
      const { rolledId, maxId } = sink.progress;
      const now = performance.now();
      if (rolledId < maxId && more && now - reportedAt >= REPORT_EVERY_MS) {
        o.onProgress?.({ rolledId, maxId, done: false });
        reportedAt = now;
        reporting = true;
      } else if (reporting && rolledId >= maxId) {
        o.onProgress?.({ rolledId, maxId, done: true });
        reportedAt = Number.NEGATIVE_INFINITY;
        reporting = false;
      }
    }
    if (!stopped) {
      timer = setTimeout(round, more ? BUSY_MS : IDLE_MS);
      timer.unref();
    }
  };
  timer = setTimeout(round, BUSY_MS);
  timer.unref();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
