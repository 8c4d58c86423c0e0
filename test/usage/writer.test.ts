import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { createRequestCtx, type Principal } from '../../src/core/index.js';
import { createUsageWriter, openUsageDb, rowFromCtx, USAGE_SCHEMA_VERSION } from '../../src/usage/index.js';
import { row } from './fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-usage-'));
after(() => rm(dir, { recursive: true, force: true }));
let n = 0;
const dbPath = () => join(dir, `usage-${++n}.db`);
const count = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS c FROM usage').get() as { c: number }).c;
  } finally {
    db.close();
  }
};

describe('usage writer', () => {
  it('writes nothing on the recording call and full batches on the next loop turn', async () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 10, flushIntervalMs: 60_000 });
    for (let i = 0; i < 25; i++) w.record(row({ id: `r${i}` }));
    assert.equal(w.stats().rowsWritten, 0, 'record() never writes by itself');
    await tick();
    await tick();
    await tick();
    assert.deepEqual([w.stats().rowsWritten, w.stats().batches, w.stats().queueLength], [20, 2, 5]);
    w.close();
    assert.equal(count(path), 25);
  });

  it('writes a partial batch after the flush interval', async () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 100, flushIntervalMs: 20 });
    w.record(row());
    await sleep(60);
    assert.equal(w.stats().rowsWritten, 1);
    assert.equal(w.stats().batches, 1);
    assert.ok(w.stats().lastBatchMs >= 0);
    w.close();
  });

  it('flushes every queued row on close', () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 7, flushIntervalMs: 60_000 });
    for (let i = 0; i < 1000; i++) w.record(row({ id: `r${i}` }));
    w.close();
    w.close(); // idempotent
    assert.equal(count(path), 1000);
    assert.throws(() => w.record(row()), /closed/);
  });

  it('writes synchronously when the queue is full instead of dropping rows', () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 10, queueMax: 50, flushIntervalMs: 60_000 });
    for (let i = 0; i < 120; i++) w.record(row({ id: `r${i}` }));
    const s = w.stats();
    assert.equal(s.syncFlushes, 2);
    assert.equal(s.rowsWritten, 100);
    assert.equal(s.rowsDropped, 0);
    w.close();
    assert.equal(count(path), 120);
  });

  it('keeps rows while the database is locked, reports the failure, and writes them once it is free', async () => {
    const path = dbPath();
    const errors: unknown[] = [];
    const w = createUsageWriter({ path, batchSize: 5, queueMax: 20, flushIntervalMs: 10, onError: (e) => errors.push(e) });
    const locker = new Database(path);
    locker.exec('BEGIN EXCLUSIVE');
    for (let i = 0; i < 8; i++) w.record(row({ id: `r${i}` }));
    await sleep(100);
    assert.ok(w.stats().writeErrors > 0 && errors.length > 0, 'the failure is visible');
    assert.equal(w.stats().queueLength, 8, 'rows are kept in memory');
    for (let i = 8; i < 30; i++) w.record(row({ id: `r${i}` }));
    assert.equal(w.stats().queueLength, 19, 'bounded by queueMax');
    assert.equal(w.stats().rowsDropped, 11, 'beyond the bound rows are counted, never silently lost');
    locker.exec('COMMIT');
    locker.close();
    await sleep(120);
    assert.equal(w.stats().queueLength, 0);
    w.close();
    assert.equal(count(path), 19);
  });

  it('migrates a new database once and reopens an existing one', () => {
    const path = dbPath();
    openUsageDb(path).close();
    const db = openUsageDb(path);
    assert.equal((db.prepare('SELECT version FROM usage_schema').get() as { version: number }).version, USAGE_SCHEMA_VERSION);
    assert.equal((db.prepare('SELECT COUNT(*) AS c FROM usage_schema').get() as { c: number }).c, 1);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it('builds a row from a finished request context', () => {
    const ctx = createRequestCtx('req_x', 1000, 1_700_000_000_000);
    const principal: Principal = { subject: 'bob', team: null, scopes: new Set() };
    Object.assign(ctx, { principal, endpoint: 'chat', requestedModel: 'm', status: 429, errorCode: 'rate_limit_exceeded', firstByteMs: null, endMs: 1012 });
    const r = rowFromCtx(ctx, 5000);
    assert.deepEqual([r.subject, r.team, r.status, r.latencyMs, r.ttftMs, r.tokenSource, r.promptTokens], ['bob', null, 429, 12, null, null, 0]);
  });
});
