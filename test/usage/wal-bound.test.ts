import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createUsageWriter, openUsageDb } from '../../src/usage/index.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { row } from './fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-wal-bound-'));
after(() => rm(dir, { recursive: true, force: true }));
const walBytes = (path: string) => statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
const MiB = 2 ** 20;
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

/** The same rows with nobody checkpointing, for scale: the WAL then holds every page written. */
function uncheckedWal(rounds: number, perRound: number): number {
  const bare = join(dir, `never-checkpointed-${rounds}x${perRound}.db`);
  const db = openUsageDb(bare);
  db.pragma('wal_autocheckpoint = 0');
  const sink = createSqliteSink(db, { flushRows: 2048 });
  for (let r = 0; r < rounds; r++) {
    const batch: unknown[] = [];
    for (let i = 0; i < perRound; i++) pushRow(batch, rowAt(r, i));
    sink.write(batch);
  }
  sink.close();
  const bytes = walBytes(bare);
  db.close();
  return bytes;
}

/**
 * Records `rounds` bursts of `perRound` rows, `pauseMs` apart (request handling leaves the event loop between
 * bursts: batches commit, the threads run), then closes the writer; returns the WAL file's largest size meanwhile.
 */
async function sustained(thread: boolean, rounds: number, perRound: number, pauseMs: number): Promise<number> {
  const path = join(dir, `usage-${thread ? 'thread' : 'one-core'}.db`);
  const w = createUsageWriter({ path, batchSize: 256, flushIntervalMs: 20, thread, ...(thread ? { rollupFlushRows: 2048 } : {}) });
  await w.ready;
  let most = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < perRound; i++) w.record(rowAt(r, i));
    await new Promise((res) => setTimeout(res, pauseMs));
    most = Math.max(most, walBytes(path));
  }
  // Closing writes what the rollups have not folded yet (the last flush would otherwise wait for its minute).
  w.close();
  const reader = new Database(path, { readonly: true });
  const rolled = reader.prepare('SELECT rolled_id FROM usage_rollup_state').pluck().get();
  assert.equal(rolled, reader.prepare('SELECT MAX(id) FROM usage_rows').pluck().get(), 'every row rolled up');
  // Exact all the same: the totals cuboid's rows add up to every row written.
  assert.equal(reader.prepare('SELECT SUM(requests) FROM usage_rollups WHERE cuboid = 0 AND tier = 0').pluck().get(), rounds * perRound);
  reader.close();
  return most;
}

describe('usage log WAL under sustained load', () => {
  it('stays bounded while the writer thread commits rows and keeps the rollups', async () => {
    // The writer thread (the gateway's default with more than one core): raw rows, rollups, compaction and retention
    // on one connection, which checkpoints itself every 1,000 pages; the gateway hands rows over as fast as it can.
    const bound = 48 * MiB;
    const unchecked = uncheckedWal(120, 1024);
    const most = await sustained(true, 120, 1024, 25);
    assert.ok(unchecked > 2 * bound, `the rows make ${unchecked} bytes of WAL unchecked`);
    assert.ok(most < bound, `WAL peaked at ${(most / MiB).toFixed(1)} MiB (bound ${bound / MiB} MiB; ${(unchecked / MiB).toFixed(1)} MiB unchecked)`);
  });

  it('stays bounded on one core, while the maintenance thread folds and writes beside the gateway\'s commits', async () => {
    // Raw rows committed on the event loop, the maintenance thread writing rollups and checkpointing on its own
    // connection, at about 1,000 rows/s. Before its reset (wal-checkpoint.ts) this WAL grew for as long as the load
    // lasted: 208 MiB for these 50,000 rows, and growing; with it, it peaked at 78 MiB over 90,000.
    const bound = 96 * MiB;
    const most = await sustained(false, 1000, 50, 50);
    assert.ok(most < bound, `WAL peaked at ${(most / MiB).toFixed(1)} MiB (bound ${bound / MiB} MiB)`);
  });
});
