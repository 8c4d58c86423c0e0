import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createOutputEstimator, createTokenCounter, openUsageDb } from '../../src/usage/index.js';
import { Lru } from '../../src/usage/lru.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { row } from './fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-caches-'));
after(() => rm(dir, { recursive: true, force: true }));

describe('caches keyed by caller input are bounded by bytes', () => {
  it('an Lru with a byte budget drops the least recent keys past it and never keeps a key larger than the budget', () => {
    const lru = new Lru<string, number>(1000, 1024);
    for (let i = 0; i < 100; i++) lru.set(`${i}`.padStart(100, 'x'), i); // 200 bytes each
    assert.ok(lru.bytes <= 1024, `${lru.bytes} bytes`);
    assert.equal(lru.size, 5);
    assert.equal(lru.get('99'.padStart(100, 'x')), 99, 'the newest stay');
    lru.set('y'.repeat(10_000), 1);
    assert.equal(lru.get('y'.repeat(10_000)), undefined);
    assert.equal(lru.size, 5);
  });

  it('megabyte model names neither grow the token counter nor the output estimator past their budget', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const counter = createTokenCounter();
    const outputs = createOutputEstimator();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100; i++) {
      const model = `${i}-${'m'.repeat(1024 * 1024)}`; // a 1 MiB name
      counter.observePrompt(model, counter.countText(model, 'hello world'), 3);
      outputs.observe(model, 10);
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    // Held by entry count alone, the 100 names would keep 100 MiB alive; by bytes, none of them is kept.
    assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 2 ** 20).toFixed(0)} MiB`);
  });

  it('the usage log writes rows with very long names correctly without caching them', () => {
    const db = openUsageDb(join(dir, 'long.db'));
    const sink = createSqliteSink(db);
    const long = 'n'.repeat(300_000);
    for (let i = 0; i < 3; i++) {
      const batch: unknown[] = [];
      pushRow(batch, row({ id: `r${i}`, requestedModel: `${long}${i}`, subject: 'alice' }));
      sink.write(batch);
    }
    sink.close();
    const got = db.prepare('SELECT length(requested_model) AS n FROM usage ORDER BY id').pluck().all();
    assert.deepEqual(got, [300_001, 300_001, 300_001]);
    db.close();
  });
});
