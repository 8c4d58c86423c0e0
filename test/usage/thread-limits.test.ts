import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createUsageWriter, openUsageDb } from '../../src/usage/index.js';
import { startUsageThread, USAGE_THREAD_LIMITS, type UsageThreadName } from '../../src/usage/thread-start.js';
import { SLOT_COUNT, type MaintenanceThreadData, type ThreadData } from '../../src/usage/writer-protocol.js';
import { eventually } from '../helpers/harness.js';
import { row } from './fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-thread-limits-'));
after(() => rm(dir, { recursive: true, force: true }));

const count = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT COUNT(*) FROM usage').pluck().get() as number;
  } finally {
    db.close();
  }
};

describe("usage log threads' V8 heap limits", () => {
  it('starts each thread with its own young and old generation limits', async () => {
    const path = join(dir, 'limits.db');
    openUsageDb(path).close();
    const data: Record<UsageThreadName, ThreadData | MaintenanceThreadData> = {
      'writer-thread': { path, shared: new SharedArrayBuffer(SLOT_COUNT * 8), retryMs: 100, retentionMs: 0, rollupRetentionMs: 0 },
      'maintenance-thread': { path, maintain: true, done: new SharedArrayBuffer(4), fed: new SharedArrayBuffer(4), retentionMs: 0, rollupRetentionMs: 0 },
    };
    for (const name of Object.keys(data) as UsageThreadName[]) {
      const w = startUsageThread(name, data[name]);
      const [ready] = (await once(w, 'message')) as [{ kind: string }];
      assert.equal(ready.kind, 'ready', `${name} started within its limits`);
      const limits = w.resourceLimits!;
      assert.equal(limits.maxYoungGenerationSizeMb, USAGE_THREAD_LIMITS[name].maxYoungGenerationSizeMb, name);
      assert.equal(limits.maxOldGenerationSizeMb, USAGE_THREAD_LIMITS[name].maxOldGenerationSizeMb, name);
      // Far below what a thread gets by default (the main thread's sizes): the point of the limits.
      assert.ok(limits.maxYoungGenerationSizeMb! <= 6 && limits.maxOldGenerationSizeMb! <= 256, name);
      await w.terminate();
    }
  });

  it('a writer thread that runs out of memory fails loudly and every row is still written, on the event loop', async () => {
    const path = join(dir, 'oom.db');
    const errors: string[] = [];
    // The writer's thread does not keep a process alive (it is unref'd): this test's waits must.
    const alive = setInterval(() => {}, 1000);
    after(() => clearInterval(alive));
    const w = createUsageWriter({
      path,
      batchSize: 50,
      flushIntervalMs: 60_000,
      thread: true,
      threadLimits: { maxYoungGenerationSizeMb: 3, maxOldGenerationSizeMb: 32 },
      onError: (e) => errors.push(String(e)),
    });
    await w.ready;
    for (let i = 0; i < 20; i++) w.record(row({ id: `before-${i}` }));
    // A peer batch larger than the thread's heap: the thread dies decoding it, with the batches posted after it
    // (100 rows) not committed: they are written on the event loop instead.
    const huge = Array.from({ length: 48 }, (_, i) => `${i}`.padEnd(1 << 20, 'x'));
    const ingest = w.ingest({ values: huge, state: {} });
    for (let i = 20; i < 120; i++) w.record(row({ id: `before-${i}` }));
    await assert.rejects(ingest, /out of memory|memory limit/i);
    await eventually(() => errors.some((e) => /ERR_WORKER_OUT_OF_MEMORY|memory limit/.test(e) && /main thread/.test(e)), 10_000);
    for (let i = 0; i < 30; i++) w.record(row({ id: `after-${i}` }));
    w.close();
    assert.equal(count(path), 150, 'the rows handed to the thread before it died and the ones after');
  });
});
