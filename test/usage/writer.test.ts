import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { createRequestCtx, type Principal } from '../../src/core/index.js';
import { createUsageWriter, openUsageDb, rowFromCtx, USAGE_SCHEMA_VERSION } from '../../src/usage/index.js';
import { row } from './fixtures.js';
import { eventually } from '../helpers/harness.js';

const require = createRequire(import.meta.url);

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
  it('hands full batches to the writer thread at once and commits them off the event loop', async () => {
    const path = dbPath();
    const batches: number[] = [];
    const w = createUsageWriter({ path, batchSize: 10, flushIntervalMs: 60_000, onBatch: (rows) => batches.push(rows) , thread: true });
    for (let i = 0; i < 25; i++) w.record(row({ id: `r${i}` }));
    assert.equal(w.stats().queueLength, 25, 'nothing is committed on the recording call');
    await eventually(() => w.stats().rowsWritten === 20);
    assert.deepEqual([w.stats().batches, w.stats().queueLength], [2, 5]);
    assert.equal(count(path), 20, 'committed rows are visible to other connections');
    await eventually(() => batches.length === 2);
    assert.deepEqual(batches, [10, 10]);
    w.close();
    assert.equal(count(path), 25);
  });

  for (const thread of [true, false]) it(`stores every column of every row intact, in order, across multi-row statements and their remainder (${thread ? 'writer thread' : 'event loop'})`, () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 37, flushIntervalMs: 60_000, thread });
    const rows = Array.from({ length: 37 }, (_, i) =>
      row({
        id: `req-${i}`,
        timeMs: 1_700_000_000_000 + i,
        subject: `s${i}`,
        team: i % 2 ? null : `t${i}`,
        stream: i % 3 === 0,
        status: 200 + i,
        errorCode: i % 5 ? null : 'e',
        promptTokens: i,
        completionTokens: 2 * i,
        cachedTokens: 3 * i,
        ttftMs: i % 4 ? i / 4 : null,
        latencyMs: i + 0.5,
      }),
    );
    for (const r of rows) w.record(r);
    w.close();
    const db = new Database(path, { readonly: true });
    const got = db.prepare('SELECT request_id, time_ms, subject, team, stream, status, error_code, prompt_tokens, completion_tokens, cached_tokens, ttft_ms, latency_ms FROM usage ORDER BY id').all();
    db.close();
    assert.deepEqual(
      got,
      rows.map((r) => ({
        request_id: r.id,
        time_ms: r.timeMs,
        subject: r.subject,
        team: r.team,
        stream: r.stream ? 1 : 0,
        status: r.status,
        error_code: r.errorCode,
        prompt_tokens: r.promptTokens,
        completion_tokens: r.completionTokens,
        cached_tokens: r.cachedTokens,
        ttft_ms: r.ttftMs,
        latency_ms: r.latencyMs,
      })),
    );
  });

  it('writes a partial batch after the flush interval', async () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 100, flushIntervalMs: 20 , thread: true });
    w.record(row());
    await eventually(() => w.stats().rowsWritten === 1, 2000, 5);
    assert.equal(w.stats().batches, 1);
    await eventually(() => w.stats().lastBatchMs > 0);
    w.close();
  });

  for (const thread of [true, false]) it(`makes a query see every row recorded before it (${thread ? 'writer thread' : 'event loop'})`, () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 1000, flushIntervalMs: 60_000, thread });
    for (let i = 0; i < 37; i++) w.record(row({ id: `r${i}` }));
    assert.equal(w.query({ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, groupBy: [] }).rows[0]?.requests, 37);
    w.close();
  });

  for (const thread of [true, false]) it(`flushes every queued row on close (${thread ? 'writer thread' : 'event loop'})`, () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 7, flushIntervalMs: 60_000, thread });
    for (let i = 0; i < 1000; i++) w.record(row({ id: `r${i}` }));
    w.close();
    w.close(); // idempotent
    assert.equal(count(path), 1000);
    assert.throws(() => w.record(row()), /closed/);
  });

  it('makes the recording call wait for a slow disk instead of dropping rows (backpressure)', async () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 10, queueMax: 50, flushIntervalMs: 60_000 , thread: true });
    // Another process-like holder of the write lock, for less time than the writer thread's busy timeout: a slow
    // disk, not a failing one. It lives on its own thread because this one is about to block.
    const locker = new Worker(
      `const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
       const { parentPort, workerData } = require('node:worker_threads');
       const db = new Database(workerData);
       db.exec('BEGIN EXCLUSIVE');
       parentPort.postMessage('locked');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
       db.exec('COMMIT');
       db.close();`,
      { eval: true, workerData: path },
    );
    await once(locker, 'message');
    const start = performance.now();
    for (let i = 0; i < 120; i++) w.record(row({ id: `r${i}` }));
    const waited = performance.now() - start;
    const s = w.stats();
    assert.ok(s.syncFlushes >= 1, 'the queue filled up and the recording call waited');
    assert.ok(waited > 100, `waited ${waited.toFixed(0)} ms for the lock to go`);
    assert.equal(s.rowsDropped, 0);
    assert.equal(s.writeErrors, 0, 'a slow disk is not an error');
    w.close();
    assert.equal(count(path), 120);
    await once(locker, 'exit');
  });

  it('keeps rows while the database is locked, reports the failure, and writes them once it is free', async () => {
    const path = dbPath();
    const errors: unknown[] = [];
    const w = createUsageWriter({ path, batchSize: 5, queueMax: 20, flushIntervalMs: 10, onError: (e) => errors.push(e) , thread: true });
    const locker = new Database(path);
    locker.exec('BEGIN EXCLUSIVE');
    for (let i = 0; i < 8; i++) w.record(row({ id: `r${i}` }));
    // The writer thread waits out its busy timeout (1 s) before it calls the database unavailable.
    await eventually(() => w.stats().writeErrors > 0 && errors.length > 0, 5000);
    assert.match(String(errors[0]), /usage log write failed: database is locked/);
    assert.equal(w.stats().queueLength, 8, 'rows are kept in memory');
    for (let i = 8; i < 40; i++) w.record(row({ id: `r${i}` }));
    const kept = w.stats().queueLength;
    const dropped = w.stats().rowsDropped;
    assert.ok(kept >= 20 && kept < 20 + 5, `bounded by queueMax plus the open batch: ${kept}`);
    assert.equal(kept + dropped, 40, 'beyond the bound rows are counted, never silently lost');
    assert.ok(errors.some((e) => /queue at 20 rows/.test(String(e))), 'drops are reported');
    locker.exec('COMMIT');
    locker.close();
    await eventually(() => w.stats().queueLength === 0, 5000);
    w.close();
    assert.ok(w.stats().rowsDropped <= 40 - 20);
    assert.equal(count(path), 40 - w.stats().rowsDropped, 'every row kept was written once the lock went');
  });

  it('reports rows dropped while writes fail once, then with the count since, and the rest at close: not one line per flush', async () => {
    const path = dbPath();
    const lost: Array<[number, string]> = [];
    const errors: unknown[] = [];
    const w = createUsageWriter({ path, batchSize: 5, queueMax: 20, flushIntervalMs: 10, onError: (e) => errors.push(e), onLost: (r, why) => void lost.push([r, why]), thread: false });
    const locker = new Database(path);
    locker.exec('BEGIN EXCLUSIVE');
    try {
      // Rows keep coming over many flush intervals while the database refuses them: each flush sheds past the bound.
      for (let round = 0; round < 8; round++) {
        for (let i = 0; i < 10; i++) w.record(row({ id: `r${round}-${i}` }));
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(w.stats().rowsDropped >= 40, `rows were dropped: ${w.stats().rowsDropped}`);
      assert.equal(lost.length, 1, 'the first drop is reported at once, later ones wait for the next report');
      assert.match(lost[0]![1], /queue at 20 rows/);
      assert.ok(!errors.some((e) => /not written/.test(String(e))), 'a drop is not reported as a write failure whose rows are retried');
    } finally {
      w.close();
      locker.exec('ROLLBACK');
      locker.close();
    }
    assert.equal(lost.reduce((n, [r]) => n + r, 0), w.stats().rowsDropped, 'close reports what was dropped since');
  });

  it('on the event loop, writes full batches on the recording call and partial ones after the interval', async () => {
    const path = dbPath();
    const w = createUsageWriter({ path, batchSize: 10, flushIntervalMs: 20, thread: false });
    await w.ready;
    for (let i = 0; i < 25; i++) w.record(row({ id: `r${i}` }));
    assert.deepEqual([w.stats().rowsWritten, w.stats().batches, w.stats().queueLength], [20, 2, 5]);
    await eventually(() => w.stats().rowsWritten === 25, 2000, 5);
    w.close();
    assert.equal(count(path), 25);
  });

  it('on the event loop, keeps rows while the database is locked without waiting on the lock per request', async () => {
    const path = dbPath();
    const errors: unknown[] = [];
    const w = createUsageWriter({ path, batchSize: 5, queueMax: 20, flushIntervalMs: 200, onError: (e) => errors.push(e), thread: false });
    const locker = new Database(path);
    locker.exec('BEGIN EXCLUSIVE');
    const start = performance.now();
    for (let i = 0; i < 40; i++) w.record(row({ id: `r${i}` }));
    const took = performance.now() - start;
    assert.equal(w.stats().writeErrors, 1, 'one refused write, then no retry within the interval');
    assert.ok(took < 150, `recording 40 rows took ${took.toFixed(0)} ms: one busy timeout at most`);
    assert.match(String(errors[0]), /database is locked/);
    assert.equal(w.stats().queueLength, 20, 'bounded by queueMax');
    assert.equal(w.stats().rowsDropped, 20, 'beyond the bound rows are counted, never silently lost');
    locker.exec('COMMIT');
    locker.close();
    await eventually(() => w.stats().queueLength === 0, 3000);
    w.close();
    assert.equal(count(path), 20);
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
