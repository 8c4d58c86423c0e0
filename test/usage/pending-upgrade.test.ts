import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUsageWriter, openUsageDb, pendingUsageUpgrade, USAGE_SCHEMA_VERSION } from '../../src/usage/index.js';
import { variedRow } from './rollup-rows.js';

// What a gateway announces before it upgrades a usage database (the upgrade runs before it serves and takes minutes
// on a large file): nothing for a new or current file, the versions and the row count for an older one.
test('pendingUsageUpgrade reports an older schema and its rows, and nothing for a new or current file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ig-upgrade-'));
  try {
    const path = join(dir, 'usage.db');
    assert.equal(pendingUsageUpgrade(path), null, 'no file yet');
    const w = createUsageWriter({ path, thread: false, maintenance: false });
    for (let i = 1; i <= 42; i++) w.record(variedRow(i));
    w.close();
    assert.equal(pendingUsageUpgrade(path), null, 'current schema');
    const db = openUsageDb(path);
    db.exec(`UPDATE usage_schema SET version = ${USAGE_SCHEMA_VERSION - 2}`);
    db.close();
    assert.deepEqual(pendingUsageUpgrade(path), { from: USAGE_SCHEMA_VERSION - 2, to: USAGE_SCHEMA_VERSION, rows: 42 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
