import type { UsageDb } from './db.js';

/** Pause between passes while the gateway keeps appending. */
const AGAIN_MS = 10;
const MAX_PASSES = 20;
/** A WAL longer than this after a complete pass is emptied (see pass). */
const RESET_ABOVE_BYTES = 32 * 2 ** 20;
/** How long that reset may wait for a commit or a read to finish (the gateway's commits wait for it meanwhile). */
const RESET_WAIT_MS = 10;

export interface WalCheckpoints {
  /** Starts a run of passes unless one is under way. */
  request(): void;
  /** Drops a pass still to come (the connection is about to close). */
  stop(): void;
}

/**
 * WAL checkpoints for a usage log whose rows are committed on the gateway's event loop (one core), run on the
 * maintenance thread's connection so that the copy and its fsyncs never hold the event loop. `failing` is called once
 * per failure streak; the next request tries again, and the WAL keeps every row meanwhile.
 *
 * PASSIVE passes copy what they can without waiting for, or blocking, the gateway's writes. The WAL is reused from
 * its start only after a pass has copied every frame, so a pass that raced new commits is followed by short ones
 * (each copies only what was appended meanwhile) until one catches up.
 */
export function createWalCheckpoints(db: UsageDb, failing: (message: string) => void): WalCheckpoints {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const busyMs = db.pragma('busy_timeout', { simple: true }) as number;
  let pending: NodeJS.Timeout | null = null;
  let failed = false;

  function pass(left: number): void {
    pending = null;
    let done = true;
    try {
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
      done = r === undefined || r.checkpointed >= r.log;
      // A complete pass does not by itself let the WAL start over: the next writer must also begin before anyone
      // appends again, which the maintenance thread's and the gateway's interleaved commits rarely allow (under a
      // steady 1,000 rows/s the file grew by ~2.4 KiB per row, past 140 MiB in a minute). Once it is long, a TRUNCATE
      // checkpoint empties it: all but what was appended meanwhile is already copied, so it holds commits back for
      // little more than the reset, or gives up after RESET_WAIT_MS and is tried again at the next request.
      if (done && r !== undefined && r.log * pageSize > RESET_ABOVE_BYTES) {
        db.pragma(`busy_timeout = ${RESET_WAIT_MS}`);
        try {
          db.pragma('wal_checkpoint(TRUNCATE)');
        } finally {
          db.pragma(`busy_timeout = ${busyMs}`);
        }
      }
      failed = false;
    } catch (err) {
      if (!failed) failing(err instanceof Error ? err.message : String(err));
      failed = true;
    }
    if (!done && left > 1) pending = setTimeout(pass, AGAIN_MS, left - 1);
  }

  return {
    request() {
      if (pending === null) pass(MAX_PASSES);
    },
    stop() {
      if (pending !== null) clearTimeout(pending);
      pending = null;
    },
  };
}
