import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createUsageWriter } from '../../src/usage/index.js';
import { eventually } from '../helpers/harness.js';
import { variedRow } from '../usage/rollup-rows.js';
import { chat, startGatewayProc, tempConfig } from './proc.js';

const count = (path: string, sql: string): number => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

// The supervisor writes the host's usage log for its workers: every `usage` setting must hold there as in one
// process. Its writer used to be built without retention, so with `server.workers` raw rows were kept forever.
test('server.workers: 2 prunes raw usage rows past usage.retention, as one process does', async () => {
  const { dir, file } = await tempConfig((d) => ({
    server: { listen: '127.0.0.1:0', workers: 2, drain: '2s' },
    auth: 'none',
    sim: { replicas: 1, engine: 'fast' },
    usage: { sqlite: join(d, 'usage.db'), flush_interval: '50ms', retention: '1h' },
    telemetry: { log_level: 'warn', metrics: false },
  }));
  const path = join(dir, 'usage.db');
  // Rows from three days ago, rolled up by the writer that stored them.
  const old = createUsageWriter({ path, thread: false });
  const threeDaysAgo = Date.now() - 3 * 86_400_000;
  for (let i = 1; i <= 500; i++) old.record({ ...variedRow(i, threeDaysAgo), timeMs: threeDaysAgo + i });
  old.close();
  assert.equal(count(path, 'SELECT count(*) AS n FROM usage'), 500);

  const gw = await startGatewayProc(dir, file);
  try {
    assert.equal(await chat(gw.url), 200);
    await eventually(() => count(path, `SELECT count(*) AS n FROM usage WHERE time_ms < ${Date.now() - 3_600_000}`) === 0, 30_000, 200);
    await eventually(() => count(path, 'SELECT count(*) AS n FROM usage') >= 1, 10_000, 100);
    // The old traffic is still in the rollups: reports over those days keep it.
    assert.ok(count(path, 'SELECT count(*) AS n FROM usage_rollups') > 0);
  } finally {
    await gw.cleanup();
  }
});
