import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createUsageWriter, openUsageDb } from '../../src/usage/index.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { eventually } from '../helpers/harness.js';
import { row } from './fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-wal-bound-'));
after(() => rm(dir, { recursive: true, force: true }));
const walBytes = (path: string) => statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
const ROUNDS = 120;
const PER_ROUND = 1024;
const MiB = 2 ** 20;
/**
 * The bound: SQLite's checkpoint threshold (1,000 pages of 16 KiB) three times over, whatever the number of rows
 * written (the same rows make several hundred MiB of WAL when nothing checkpoints).
 */
const WAL_BOUND = 48 * MiB;
/** Live traffic: a row's time is when its request started, up to a minute before it is recorded. */
const rowAt = (round: number, i: number) =>
  row({
    id: `r${round}-${i}`,
    timeMs: Date.now() - ((i * 7919) % 60_000),
    // 200 subjects with two keys each, on four models and eight backends (the benchmark's fleet).
    subject: `user-${i % 200}`,
    keyId: `key-${i % 400}`,
    requestedModel: `model-${(i >> 3) % 4}`,
    backend: `http://b${(i >> 5) % 8}:8000`,
    status: i % 31 === 0 ? 502 : 200,
    latencyMs: 10 + (i % 4000),
    ttftMs: 5 + (i % 700),
  });

describe('usage log WAL under sustained load', () => {
  it('stays bounded while the writer thread commits rows and keeps the rollups', async () => {
    // The same rows with nobody checkpointing, for scale: the WAL then holds every page written.
    const bare = join(dir, 'never-checkpointed.db');
    const db = openUsageDb(bare);
    db.pragma('wal_autocheckpoint = 0');
    const sink = createSqliteSink(db, { flushRows: 2048 });
    for (let r = 0; r < ROUNDS; r++) {
      const batch: unknown[] = [];
      for (let i = 0; i < PER_ROUND; i++) pushRow(batch, rowAt(r, i));
      sink.write(batch);
    }
    sink.close();
    const unbounded = walBytes(bare);
    db.close();

    // The gateway's writer thread (its default with more than one core): raw rows, rollups, compaction and retention
    // on its connection while the gateway records rows as fast as it can hand them over. (The one-core writer, raw
    // rows on the event loop beside the rollup thread, does not stay bounded under this load: bench/NOTES.md.)
    const path = join(dir, 'usage.db');
    const w = createUsageWriter({ path, batchSize: 256, flushIntervalMs: 20, thread: true, rollupFlushRows: 2048 });
    await w.ready;
    let most = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < PER_ROUND; i++) w.record(rowAt(r, i));
      // Request handling leaves the event loop between bursts: batches commit, both threads run.
      await new Promise((res) => setTimeout(res, 25));
      most = Math.max(most, walBytes(path));
    }
    w.flush();
    const reader = new Database(path, { readonly: true });
    const rolled = reader.prepare('SELECT rolled_id FROM usage_rollup_state').pluck();
    const maxId = reader.prepare('SELECT MAX(id) FROM usage_rows').pluck();
    await eventually(() => {
      most = Math.max(most, walBytes(path));
      return rolled.get() === maxId.get();
    }, 60_000, 50);
    // Exact all the same: the totals cuboid's rows add up to every row written.
    assert.equal(reader.prepare('SELECT SUM(requests) FROM usage_rollups WHERE cuboid = 0 AND tier = 0').pluck().get(), ROUNDS * PER_ROUND);
    reader.close();
    w.close();
    assert.ok(unbounded > 2 * WAL_BOUND, `the rows make ${unbounded} bytes of WAL unchecked`);
      assert.ok(most < WAL_BOUND, `WAL peaked at ${(most / MiB).toFixed(1)} MiB under load (bound ${WAL_BOUND / MiB} MiB; ${(unbounded / MiB).toFixed(1)} MiB unchecked)`);
  });
});
