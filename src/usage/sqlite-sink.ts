import type { UsageDb } from './db.js';
import { createMaintenance, type RetentionOptions } from './maintenance.js';
import { COL, NAME_AT, NO_TTFT, ROW_COLUMNS, VALUES_PER_ROW } from './row-layout.js';
import { createPartCounter } from './rollup-shape.js';
import { createRollupWriter, type RollupFlushOptions } from './rollup-writer.js';
import { PEER_VALUES_PER_ROW } from './peer-rows.js';

export { pushRow, VALUES_PER_ROW } from './row-layout.js';

const IS_NAME = Array.from({ length: VALUES_PER_ROW }, (_, i) => NAME_AT.includes(i));
// Rows per INSERT statement: one statement call per 16 rows costs about a fifth less CPU per row than one per row
// (binding and stepping overhead), and 16 × 18 parameters stay far below SQLite's limit.
const ROWS_PER_INSERT = 16;
// OR ROLLBACK: a statement that writes several rows and may fail halfway (NOT NULL) needs a statement journal inside a
// transaction, the original of every page it touches, so that its failure undoes it alone. SQLite keeps that journal
// in memory up to 64 KiB, four 16 KiB pages, so every batch spilled it into a new file in /var/tmp (open, unlink,
// a write per page): 17% of the batch's CPU. A failure here fails the whole batch anyway (guarded() below), so the
// statement rolls back the transaction itself and needs no journal.
const insertSql = (rows: number) =>
  `INSERT OR ROLLBACK INTO usage_rows ${ROW_COLUMNS} VALUES ${Array.from({ length: rows }, () => `(${'?,'.repeat(VALUES_PER_ROW - 1)}?)`).join(',')}`;
/**
 * The name → id cache is bounded by entries and by bytes (names come from callers: a model name can be megabytes
 * until something upstream refuses it). Past either bound it starts over; a miss costs one indexed lookup.
 */
const NAME_CACHE_MAX = 50_000;
const NAME_CACHE_BYTES = 4 * 1024 * 1024;
/** A name longer than this is looked up every time rather than held. */
const NAME_CACHE_LONGEST = 1024;

/** A committed batch as the rollup fold reads it (SinkOptions.packRows): ids `firstId` … `firstId + rows - 1`. */
export interface PackedRows {
  readonly firstId: number;
  readonly rows: number;
  /** The batch layout (row-layout.ts), names as usage_names ids (0 for none), ttft NO_TTFT for none, request id 0. */
  readonly values: Float64Array;
}

export interface UsageSink {
  /**
   * Writes a flat batch (see pushRow) in one transaction; throws when SQLite refuses (nothing is written). Returns the
   * rows packed for the fold with `packRows`, else null.
   */
  write(values: readonly unknown[]): PackedRows | null;
  /** Folds rows another connection committed and packed (`write` with packRows) instead of reading them back. */
  feed(rows: PackedRows): void;
  /**
   * Background work, in steps of a few milliseconds up to `budgetMs`: folding rows not yet rolled up (an upgraded
   * database, a crash), compaction of minute rollups into hours and days, retention, incremental vacuum.
   * True while more is pending. Throws what SQLite throws; the next call starts again.
   */
  maintain(budgetMs: number): boolean;
  /**
   * Peers' rows (peer-rows.ts), each inserted unless its origin key is already there, and `state` stored in
   * usage_sync, in one transaction; folds only the rows inserted. Returns how many were. Throws like write().
   */
  ingest(values: readonly unknown[], state: Readonly<Record<string, string>>): number;
  /** Writes the rollups of every row written so far (at close). */
  close(): void;
  readonly progress: { rolledId: number; maxId: number };
}

export interface SinkOptions extends RetentionOptions, RollupFlushOptions {
  /** Wall clock (tests move it). */
  now?: () => number;
  /** False: raw rows only, no rollups kept (the usage benchmark's A/B of the writer's cost). Default true. */
  rollups?: boolean;
  /** `write` returns the committed rows packed for a fold elsewhere (the maintenance thread's). Default false. */
  packRows?: boolean;
}

/**
 * The usage log's only writer of usage_rows, usage_rollups and usage_audit. Names become usage_names ids through a
 * cache. An id learnt inside a transaction that then fails may have been rolled back with it, so a failure empties
 * the cache; ids are otherwise stable, so any connection's cache stays right.
 */
export function createSqliteSink(db: UsageDb, options: SinkOptions = {}): UsageSink {
  const now = options.now ?? Date.now;
  const insertOne = db.prepare(insertSql(1));
  const insertMany = db.prepare(insertSql(ROWS_PER_INSERT));
  const findName = db.prepare<[string], { id: number }>('SELECT id FROM usage_names WHERE name = ?');
  const addName = db.prepare<[string]>('INSERT INTO usage_names (name) VALUES (?)');
  const names = new Map<string, number>();
  let nameBytes = 0;
  const one = new Array<unknown>(VALUES_PER_ROW);
  const many = new Array<unknown>(ROWS_PER_INSERT * VALUES_PER_ROW);
  const insertPeer = db.prepare(
    `INSERT OR IGNORE INTO usage_rows ${ROW_COLUMNS.replace(/\)\s*$/, ', origin_id, origin_row)')} VALUES (${'?,'.repeat(PEER_VALUES_PER_ROW - 1)}?)`,
  );
  const putState = db.prepare<[string, string]>('INSERT INTO usage_sync (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  const peer = new Array<unknown>(PEER_VALUES_PER_ROW);
  const nextPart = createPartCounter();
  const rollups = createRollupWriter(db, now, nextPart, options);
  const maintenance = createMaintenance(db, { ...options, now, nextPart });

  function nameId(name: string): number {
    let id = names.get(name);
    if (id === undefined) {
      id = findName.get(name)?.id ?? Number(addName.run(name).lastInsertRowid);
      if (name.length <= NAME_CACHE_LONGEST) {
        if (names.size >= NAME_CACHE_MAX || nameBytes + name.length * 2 > NAME_CACHE_BYTES) {
          names.clear();
          nameBytes = 0;
        }
        names.set(name, id);
        nameBytes += name.length * 2;
      }
    }
    return id;
  }

  const packRows = options.packRows === true;
  /**
   * Copies `params.length` values from `values[from]` into the reused parameter array, names as ids; and into
   * `packed`, when given, at the same offset, as numbers.
   */
  function fill(params: unknown[], values: readonly unknown[], from: number, packed: Float64Array | null = null): unknown[] {
    for (let j = 0, col = 0; j < params.length; j++) {
      const v = values[from + j];
      const x = IS_NAME[col] && typeof v === 'string' ? nameId(v) : v;
      params[j] = x;
      if (packed !== null) packed[from + j] = typeof x === 'number' ? x : col === COL.ttftMs ? NO_TTFT : 0;
      if (++col === VALUES_PER_ROW) col = 0;
    }
    return params;
  }

  const rollupsOn = options.rollups ?? true;
  const write = db.transaction((values: readonly unknown[]): PackedRows | null => {
    const folding = rollupsOn && rollups.beginBatch();
    const rows = values.length / VALUES_PER_ROW;
    const packed = packRows ? new Float64Array(values.length) : null;
    let lastId = 0;
    let i = 0;
    for (; i + many.length <= values.length; i += many.length) {
      // Spread, not the array: better-sqlite3 reads an array argument element by element through the V8 API, ~0.4 µs
      // a row more than taking the values as arguments.
      lastId = Number(insertMany.run(...fill(many, values, i, packed)).lastInsertRowid);
      if (folding) for (let at = 0; at < many.length; at += VALUES_PER_ROW) rollups.fold(many, at);
    }
    for (; i < values.length; i += VALUES_PER_ROW) {
      lastId = Number(insertOne.run(...fill(one, values, i, packed)).lastInsertRowid);
      if (folding) rollups.fold(one, 0);
    }
    if (rollupsOn) rollups.endBatch(rows);
    // New rowids are the largest plus one, in order, under the write lock this transaction holds: consecutive.
    return packed === null || rows === 0 ? null : { firstId: lastId - rows + 1, rows, values: packed };
  });

  const ingest = db.transaction((values: readonly unknown[], state: Readonly<Record<string, string>>) => {
    let inserted = 0;
    if (values.length > 0) {
      const folding = rollupsOn && rollups.beginBatch();
      for (let i = 0; i < values.length; i += PEER_VALUES_PER_ROW) {
        fill(one, values, i);
        for (let j = 0; j < VALUES_PER_ROW; j++) peer[j] = one[j];
        peer[VALUES_PER_ROW] = nameId(String(values[i + VALUES_PER_ROW]));
        peer[VALUES_PER_ROW + 1] = values[i + VALUES_PER_ROW + 1];
        // Rows already there change nothing: ids stay consecutive, so the fold's id check holds for those inserted.
        if (insertPeer.run(peer).changes === 0) continue;
        inserted++;
        if (folding) rollups.fold(peer, 0);
      }
      if (rollupsOn) rollups.endBatch(inserted);
    }
    for (const key in state) putState.run(key, state[key]!);
    return inserted;
  });

  /** Runs a write transaction; a failure forgets what it may have taught the caches. */
  function guarded<T>(run: () => T): T {
    let out: T;
    try {
      out = run();
    } catch (err) {
      names.clear();
      nameBytes = 0;
      rollups.settle(false);
      throw err;
    }
    rollups.settle(true);
    return out;
  }

  return {
    progress: rollups.progress,
    // IMMEDIATE: the write lock is taken (or waited for, busy timeout) before the name lookups read anything. A
    // deferred transaction that has read cannot wait for another writer's lock; it fails at once.
    write: (values) => guarded(() => write.immediate(values)),
    feed: (rows) => rollups.feed(rows.firstId, rows.rows, rows.values),
    ingest: (values, state) => guarded(() => ingest.immediate(values, state)),
    maintain(budgetMs) {
      const until = performance.now() + budgetMs;
      let more = true;
      while (more && performance.now() < until) {
        more = rollups.catchUp(now());
        if (!more && rollups.caughtUp()) more = maintenance.step();
      }
      return more;
    },
    close: () => rollups.flush(),
  };
}
