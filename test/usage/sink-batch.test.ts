import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { openUsageDb } from '../../src/usage/index.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { CUBOID, TIER } from '../../src/usage/rollup-shape.js';
import { row, T0 } from './fixtures.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD = join(ROOT, 'test', 'usage', 'temp-file-child.ts');
const dir = await mkdtemp(join(tmpdir(), 'infergate-sink-'));
after(() => rm(dir, { recursive: true, force: true }));

const batchOf = (from: number, count: number, at?: { index: number; bad: Partial<Parameters<typeof row>[0]> }) => {
  const values: unknown[] = [];
  for (let i = 0; i < count; i++) pushRow(values, row({ id: `req_${from + i}`, timeMs: T0 + from + i, ...(at && at.index === i ? at.bad : {}) }));
  return values;
};

describe('usage sink batches', () => {
  it('a row SQLite refuses fails its whole batch, leaves no row and no rollup of it, and the next batch writes', () => {
    const db = openUsageDb(join(dir, 'refused.db'));
    try {
      const sink = createSqliteSink(db, { now: () => T0 });
      sink.write(batchOf(0, 40));
      // Row 37 sits in the third 16-row statement, after two statements of this batch have been written.
      assert.throws(() => sink.write(batchOf(40, 40, { index: 37, bad: { id: null as unknown as string } })), /NOT NULL/);
      assert.equal(db.inTransaction, false);
      sink.write(batchOf(80, 40));
      const ids = (db.prepare('SELECT request_id FROM usage ORDER BY id').pluck().all() as string[]).map((s) => Number(s.slice(4)));
      assert.deepEqual(ids, [...Array.from({ length: 40 }, (_, i) => i), ...Array.from({ length: 40 }, (_, i) => 80 + i)]);
      for (let i = 0; i < 1000 && sink.maintain(1000); i++);
      sink.close();
      const requests = db.prepare('SELECT SUM(requests) FROM usage_rollups WHERE cuboid = ? AND tier = ?').pluck().get(CUBOID.none, TIER.minute);
      assert.equal(requests, 80, 'the rollups count the rows written, not the refused batch');
    } finally {
      db.close();
    }
  });

  it('commits a batch without creating a temporary file (the statement journal stays out of the file system)', async () => {
    const tmp = join(dir, 'sqlite-tmp');
    await mkdir(tmp);
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, join(dir, 'temp.db'), '20'], {
      cwd: ROOT,
      env: { ...process.env, SQLITE_TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
    const { rows, created } = JSON.parse(out) as { rows: number; created: string[] };
    assert.equal(rows, 5120);
    assert.deepEqual(created, [], "no file was created in SQLite's temporary directory while batches were committed");
  });
});
