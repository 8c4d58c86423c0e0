import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createUsageWriter, openUsageDb } from '../../src/usage/index.js';
import { startMaintenanceThread } from '../../src/usage/maintenance-runner.js';
import { startUsageThread } from '../../src/usage/thread-start.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { row } from './fixtures.js';
import { eventually } from '../helpers/harness.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-maintenance-thread-'));
after(() => rm(dir, { recursive: true, force: true }));
const walBytes = (path: string) => statSync(`${path}-wal`).size;
/** This process's OS threads (a worker thread adds its own, and under tsx a module-hooks thread). */
const osThreads = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
const STEPS = 12;
const PER_STEP = 8192;
const rowAt = (step: number, i: number) => row({ id: `r${step}-${i}`, subject: `user-${i % 50}` });

describe('usage log maintenance thread, when rows are written on the event loop', () => {
  it('is the one thread the usage log adds: checkpoints, rollups and background work share one isolate', async () => {
    const path = join(dir, 'one-thread.db');
    openUsageDb(path).close();
    // What one usage thread adds to this process, for scale (tsx's hooks thread included when run from sources).
    let before = osThreads();
    const one = startUsageThread('maintenance-thread', { path, maintain: true, done: new SharedArrayBuffer(4), retentionMs: 0, rollupRetentionMs: 0 });
    await once(one, 'message');
    const perThread = osThreads() - before;
    await one.terminate();
    assert.ok(perThread >= 1, `a usage thread adds ${perThread} OS thread(s)`);

    before = osThreads();
    // One batch of 500 rows: with smaller batches the thread could fold the first ones in one round and the last few
    // in the next, fewer than rollupFlushRows, which then wait for the 60 s flush (the test timed out on a loaded CI).
    const w = createUsageWriter({ path, batchSize: 500, flushIntervalMs: 60_000, thread: false, rollupFlushRows: 100 });
    await w.ready;
    assert.equal(osThreads() - before, perThread, 'one usage thread on one core (it was two: rollups, checkpoints)');
    assert.equal(w.db.pragma('wal_autocheckpoint', { simple: true }), 0, 'the gateway connection does not checkpoint');
    try {
      // And that thread keeps the rollups. A flush refused while the thread's round holds the write lock (a loaded
      // machine) keeps its rows for the next attempt, so the rows are flushed until they are in.
      for (let i = 0; i < 500; i++) w.record(rowAt(0, i));
      await eventually(() => {
        w.flush();
        return w.db.prepare('SELECT count(*) FROM usage').pluck().get() === 500;
      }, 20_000);
      await eventually(() => w.db.prepare('SELECT rolled_id FROM usage_rollup_state').pluck().get() === 500, 20_000);
    } finally {
      w.close(); // also on failure: its flush timer would keep the test process alive
    }
  });

  it('leaves them to a thread: the gateway connection never checkpoints, yet the WAL stays small', async () => {
    // The same rows with nobody checkpointing, for scale: the WAL then holds every page written.
    const bare = join(dir, 'never-checkpointed.db');
    const db = openUsageDb(bare);
    db.pragma('wal_autocheckpoint = 0');
    const write = createSqliteSink(db).write;
    for (let step = 0; step < STEPS; step++) {
      const batch: unknown[] = [];
      for (let i = 0; i < PER_STEP; i++) pushRow(batch, rowAt(step, i));
      write(batch);
    }
    const unbounded = walBytes(bare);
    db.close();

    const path = join(dir, 'one-core.db');
    // The gateway connection's own commits only: the thread checkpoints and keeps no rollups (a second writer on the
    // file; another process maintains it).
    const w = createUsageWriter({ path, batchSize: 512, flushIntervalMs: 60_000, thread: false, maintenance: false });
    await w.ready; // the maintenance thread is up
    assert.equal(w.db.pragma('wal_autocheckpoint', { simple: true }), 0, 'the gateway connection does not checkpoint');
    for (let step = 0; step < STEPS; step++) {
      for (let i = 0; i < PER_STEP; i++) w.record(rowAt(step, i));
      // Request handling leaves the event loop between bursts; the thread checkpoints meanwhile.
      await new Promise((r) => setTimeout(r, 50));
    }
    w.flush();
    const bounded = walBytes(path);
    w.close();
    assert.ok(bounded < unbounded / 3, `WAL ${bounded} bytes with the checkpoint thread, ${unbounded} without`);
    const reader = new Database(path, { readonly: true });
    assert.equal(reader.prepare('SELECT COUNT(*) FROM usage').pluck().get(), STEPS * PER_STEP, 'every row is there');
    reader.close();
  });

  for (const maintain of [true, false]) {
    it(`hands checkpoints${maintain ? ' and maintenance' : ''} back to the event loop when the thread fails, so the WAL cannot grow without bound`, async () => {
      const db = openUsageDb(join(dir, `fallback-${maintain}.db`));
      const sink = createSqliteSink(db, { rollups: false, packRows: maintain });
      const errors: unknown[] = [];
      let lost = 0;
      // The thread cannot open this path and dies at start.
      const t = startMaintenanceThread(db, {
        path: join(dir, 'missing-dir', 'usage.db'),
        maintain,
        sink,
        retentionMs: 0,
        rollupRetentionMs: 0,
        onError: (e) => errors.push(e),
        onLost: () => lost++,
      });
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
      await t.ready;
      await eventually(() => errors.length > 0, 5000);
      assert.match(String(errors[0]), /maintenance thread .*main thread/);
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
      // The rollups and background work move to the event loop only when the thread kept them.
      assert.equal(lost, maintain ? 1 : 0);
      t.committed(100_000); // nothing to ask once the thread is gone
      // Committed batches are folded here now, from their packed copies (when this process keeps the rollups).
      const values: unknown[] = [];
      for (let i = 0; i < 40; i++) pushRow(values, rowAt(0, i));
      t.committed(40, sink.write(values));
      sink.close();
      const rolled = db.prepare('SELECT rolled_id FROM usage_rollup_state').pluck().get();
      assert.equal(rolled, maintain ? 40 : 0);
      t.close();
      assert.equal(errors.length, 1, 'reported once');
      db.close();
    });
  }
});
