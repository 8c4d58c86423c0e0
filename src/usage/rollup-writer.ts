import type { UsageDb } from './db.js';
import { VALUES_PER_ROW } from './row-layout.js';
import { RollupFold, type CuboidMarks } from './rollup-fold.js';
import { ROLLUP_INSERT, type RollupRow } from './rollup-shape.js';

/** Fold at most this many rows before writing them as rollups (memory: ~20 bytes a row). */
const FLUSH_ROWS = 65_536;
/** Distinct groups held before writing (memory bound when every row is its own group). */
const FLUSH_GROUPS = 32_768;
/**
 * Rows older than this in the fold are written at the next batch. Reports add the rows not yet rolled up from the
 * raw table (the "tail"), so this bounds how many raw rows a report reads, not what it sees.
 */
const FLUSH_MS = 60_000;
/** Rows read back per catch-up step (upgrade backfill, after a crash or a failed write). */
const CATCH_UP_ROWS = 20_000;
/**
 * Rows per query within a step. The rows of one query are alive until they are all folded, and on one core the
 * maintenance thread reads a second of traffic at a time (thousands of rows) into a 6 MB young generation
 * (thread-start.ts): a collection during the read copied and promoted every row. In chunks, a row is garbage as soon
 * as it is folded.
 */
const READ_CHUNK = 512;

export interface RollupWriter {
  /** Inside a batch transaction, before its rows are inserted: whether to fold them as they go (`fold`). */
  beginBatch(): boolean;
  /** Folds one row just inserted (values from `p[at]`, names as ids). Only between beginBatch() true and endBatch(). */
  fold(p: readonly unknown[], at: number): void;
  /**
   * Folds rows committed by another connection, packed by its sink, instead of reading them back: those past what is
   * folded already, when they follow it without a gap (otherwise catch-up reads them). Writes the fold when due.
   */
  feed(firstId: number, rows: number, values: Float64Array): void;
  /** Inside the transaction, after the inserts: checks the ids and writes the folded rows when due. */
  endBatch(rows: number): void;
  /** After the transaction: `committed` false when it was rolled back. */
  settle(committed: boolean): void;
  /**
   * One step of catching up with rows not yet rolled up (after an upgrade, a crash, a failed write), or writing an
   * idle fold that is due. True when there is more to do.
   */
  catchUp(nowMs: number): boolean;
  /** Whether every committed row is folded or rolled up (compaction waits for it). */
  caughtUp(): boolean;
  /** Writes whatever is folded (at close). */
  flush(): void;
  readonly progress: { rolledId: number; maxId: number };
}

/**
 * Keeps usage_rollups equal to the raw rows. The invariant, stored in the same transactions as the rows it speaks
 * of: rollup rows hold exactly the raw rows with ids up to usage_rollup_state.rolled_id. Rows written since are
 * folded in memory (the fold) and written as rollups every FLUSH_MS, in the transaction of a batch of raw rows, which
 * also moves rolled_id. A crash loses only the fold, and the rows it held are still in usage_rows past rolled_id: they
 * are read back and folded again (catchUp), as every row of a database upgraded from v2 is, in the background.
 */
export interface RollupFlushOptions {
  /** Folded rows that make a flush due (default 65,536); tests make it small to flush often. */
  flushRows?: number;
  /**
   * Distinct groups that make a flush due (default 32,768). The rollup thread keeps this lower: its flush holds the
   * write lock, and the gateway's own commits wait for it on the event loop.
   */
  flushGroups?: number;
  /** At close, read and write the rows not read yet when they are few (the rollup thread, which folds by reading). */
  catchUpAtClose?: boolean;
  /** Age of the oldest folded row that makes a flush due (default 60 s). */
  flushMs?: number;
}

export function createRollupWriter(db: UsageDb, now: () => number, nextPart: () => number, options: RollupFlushOptions = {}): RollupWriter {
  const flushRows = options.flushRows ?? FLUSH_ROWS;
  const flushMs = options.flushMs ?? FLUSH_MS;
  const flushGroups = options.flushGroups ?? FLUSH_GROUPS;
  const rolledId = db.prepare<[], number>('SELECT rolled_id FROM usage_rollup_state').pluck();
  const setRolled = db.prepare<[number]>('UPDATE usage_rollup_state SET rolled_id = ?');
  const maxIdStmt = db.prepare<[], number | null>('SELECT MAX(id) FROM usage_rows').pluck();
  const marksStmt = db.prepare<[], { cuboid: number; hoursDone: number; daysDone: number }>(
    'SELECT cuboid, hours_done_ms AS hoursDone, days_done_ms AS daysDone FROM usage_rollup_marks',
  );
  const insert = db.prepare(ROLLUP_INSERT);
  // The same positions as a batch row: request_id … latency_ms, then the id. The fold never reads the request id:
  // NULL in its place, so no string is made per row read back.
  const unrolled = db
    .prepare<[number, number]>(
      `SELECT NULL, time_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id, endpoint_id,
         stream, status, error_code_id, prompt_tokens, completion_tokens, cached_tokens, token_source_id, ttft_ms, latency_ms, id
       FROM usage_rows WHERE id > ? ORDER BY id LIMIT ?`,
    )
    .raw();

  const fold = new RollupFold(rolledId.get() ?? 0);
  let maxId = maxIdStmt.get() ?? 0;
  let foldedSince = 0;
  let inline = false;
  /** The fold no longer matches the database (another writer, a failed flush): rebuilt from rolled_id. */
  let poisoned = false;
  const progress = { rolledId: fold.baseId, maxId };

  const NO_MARKS: CuboidMarks = { hoursDone: 0, daysDone: 0 };
  const due = () => fold.rows >= flushRows || fold.groups >= flushGroups || (fold.rows > 0 && now() - foldedSince >= flushMs);
  // Rows that were there before this writer started (an upgrade, a crash) are written as soon as they are all read;
  // rows that arrive later wait until a flush is due, as folded ones do (one partial row per group per flush).
  const backlogTo = maxId;

  /** Writes the fold; inside a transaction. */
  function write(): void {
    if ((rolledId.get() ?? 0) !== fold.baseId) {
      poisoned = true; // someone else moved rolled_id: what we hold may be in the rollups already
      return;
    }
    const marks = new Map(marksStmt.all().map((m) => [m.cuboid, m]));
    const to = fold.lastId;
    for (const r of fold.drain((c) => marks.get(c) ?? NO_MARKS)) {
      r.push(nextPart());
      insert.run(r);
    }
    setRolled.run(to);
  }

  function reset(): void {
    fold.clear(rolledId.get() ?? 0);
    maxId = maxIdStmt.get() ?? 0;
    poisoned = false;
    inline = false;
  }

  const commit = db.transaction((rows: RollupRow[], base: number, to: number) => {
    if ((rolledId.get() ?? 0) !== base) {
      poisoned = true;
      return;
    }
    for (const r of rows) {
      r.push(nextPart());
      insert.run(r);
    }
    setRolled.run(to);
  });
  /**
   * Writes the fold from the background (catch-up, the rollup thread): drained and encoded before the transaction, so
   * the write lock (which the gateway's own commits wait for) is held only for the inserts. The marks are read
   * outside it too: compaction runs on this same connection, between these calls.
   */
  function writeNow(): void {
    const base = fold.baseId;
    const to = fold.lastId;
    const marks = new Map(marksStmt.all().map((m) => [m.cuboid, m]));
    commit.immediate(fold.drain((c) => marks.get(c) ?? NO_MARKS), base, to);
  }

  /** writeNow; a fold that failed to write, or turned out stale, is rebuilt from rolled_id. */
  function writeOrReset(): void {
    try {
      writeNow();
    } catch (err) {
      reset();
      throw err;
    }
    if (poisoned) reset();
  }

  return {
    progress,
    beginBatch() {
      inline = !poisoned && fold.lastId === maxId;
      if (inline && fold.rows === 0) foldedSince = now();
      return inline;
    },
    fold: (p, at) => fold.add(p, at),
    endBatch(rows) {
      const after = maxIdStmt.get() ?? 0;
      if (inline) {
        // Ids are max + 1 in order under the write lock; anything else means another writer was in between.
        if (after - rows !== fold.lastId) poisoned = true;
        else fold.lastId = after;
      }
      maxId = after;
      if (!poisoned && due()) write();
    },
    settle(committed) {
      inline = false;
      if (!committed || poisoned) reset();
      progress.rolledId = fold.baseId;
      progress.maxId = maxId;
    },
    feed(firstId, rows, values) {
      const last = firstId + rows - 1;
      // Read back already (a round ran between the commit and this message), or a gap only catch-up can fill.
      if (poisoned || fold.lastId >= last || fold.lastId < firstId - 1) return;
      if (fold.rows === 0) foldedSince = now();
      for (let at = (fold.lastId - firstId + 1) * VALUES_PER_ROW; at < values.length; at += VALUES_PER_ROW) fold.add(values, at);
      fold.lastId = last;
      if (last > maxId) maxId = last;
      if (due()) writeOrReset();
      progress.rolledId = fold.baseId;
      progress.maxId = maxId;
    },
    catchUp(nowMs) {
      if (poisoned) reset();
      if (fold.lastId >= maxId) maxId = maxIdStmt.get() ?? 0;
      const behind = fold.lastId < maxId;
      if (behind) {
        if (fold.rows === 0) foldedSince = nowMs;
        for (let left = CATCH_UP_ROWS; left > 0; left -= READ_CHUNK) {
          const rows = unrolled.all(fold.lastId, Math.min(READ_CHUNK, left)) as unknown[][];
          for (const r of rows) {
            fold.add(r, 0);
            fold.lastId = r[VALUES_PER_ROW] as number;
          }
          if (rows.length < READ_CHUNK) break;
        }
      }
      // A catch-up of the backlog that reaches the newest row writes at once (an upgrade's rollups are complete as
      // soon as read); a catch-up of live traffic (the rollup thread's) writes when due.
      if (due() || (behind && fold.lastId >= maxId && fold.baseId < backlogTo)) writeOrReset();
      progress.rolledId = fold.baseId;
      progress.maxId = maxId;
      return fold.lastId < maxId;
    },
    caughtUp: () => !poisoned && fold.lastId >= maxId,
    flush() {
      // Rows not read yet (the rollup thread at close): read them if they are few; a long backlog is left to the
      // next start, past rolled_id, where reports read them raw meanwhile.
      if (options.catchUpAtClose && !poisoned) {
        maxId = maxIdStmt.get() ?? 0;
        if (maxId - fold.lastId <= FLUSH_ROWS) {
          while (fold.lastId < maxId) {
            const rows = unrolled.all(fold.lastId, CATCH_UP_ROWS) as unknown[][];
            if (rows.length === 0) break;
            for (const r of rows) {
              fold.add(r, 0);
              fold.lastId = r[VALUES_PER_ROW] as number;
            }
          }
        }
      }
      if (fold.rows === 0) return;
      try {
        writeNow();
      } catch {
        reset(); // the rows are still past rolled_id: the next start folds them again
      }
    },
  };
}

