import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createUsageWriter, openUsageDb } from '../../src/usage/index.js';
import { startCheckpointer } from '../../src/usage/checkpointer.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { row } from './fixtures.js';
import { eventually } from '../helpers/harness.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-checkpoint-'));
after(() => rm(dir, { recursive: true, force: true }));
const walBytes = (path: string) => statSync(`${path}-wal`).size;
const STEPS = 12;
const PER_STEP = 8192;
const rowAt = (step: number, i: number) => row({ id: `r${step}-${i}`, subject: `user-${i % 50}` });

describe('usage log checkpoints when rows are written on the event loop', () => {
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
    // The gateway connection's own commits only: the rollup thread (a second writer on the file, maintenance) is off.
    const w = createUsageWriter({ path, batchSize: 512, flushIntervalMs: 60_000, thread: false, maintenance: false });
    await w.ready; // the checkpoint thread is up
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

  it('hands checkpoints back to the connection when the thread fails, so the WAL cannot grow without bound', async () => {
    const db = openUsageDb(join(dir, 'fallback.db'));
    const errors: unknown[] = [];
    // The thread cannot open this path and dies at start.
    const c = startCheckpointer(db, join(dir, 'missing-dir', 'usage.db'), (e) => errors.push(e));
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
    await c.ready;
    await eventually(() => errors.length > 0, 5000);
    assert.match(String(errors[0]), /checkpoint thread .*main thread/);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    c.committed(100_000); // nothing to ask once the thread is gone
    c.close();
    db.close();
  });
});
