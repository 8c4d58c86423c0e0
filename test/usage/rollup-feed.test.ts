import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openUsageDb, type UsageDb } from '../../src/usage/index.js';
import { COL, VALUES_PER_ROW } from '../../src/usage/row-layout.js';
import { CUBOID, TIER } from '../../src/usage/rollup-shape.js';
import { createSqliteSink, pushRow, type PackedRows } from '../../src/usage/sqlite-sink.js';
import { row, T0 } from './fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-feed-'));
after(() => rm(dir, { recursive: true, force: true }));
let n = 0;

/** The gateway's side (raw rows, packed for the fold) and the maintenance thread's (the fold), on one file. */
function pair() {
  const path = join(dir, `feed-${++n}.db`);
  const gatewayDb = openUsageDb(path);
  const threadDb = openUsageDb(path);
  const gateway = createSqliteSink(gatewayDb, { rollups: false, packRows: true, now: () => T0 });
  const thread = createSqliteSink(threadDb, { now: () => T0, catchUpAtClose: true });
  return {
    gateway,
    thread,
    threadDb,
    close: () => (gatewayDb.close(), threadDb.close()),
  };
}

let seq = 0;
function batch(rows: number, status = (i: number) => (i % 10 === 0 ? 500 : 200)): unknown[] {
  const values: unknown[] = [];
  for (let i = 0; i < rows; i++) {
    seq++;
    pushRow(values, row({ id: `req_${seq}`, timeMs: T0 + seq, status: status(i), ttftMs: i % 3 === 0 ? null : 40, latencyMs: 90 + (i % 7) }));
  }
  return values;
}

/** Requests and errors the minute rollups of the totals cuboid hold, and the rows rolled up. */
function rolled(db: UsageDb) {
  const sums = db.prepare('SELECT SUM(requests) AS requests, SUM(errors) AS errors FROM usage_rollups WHERE cuboid = ? AND tier = ?').get(CUBOID.none, TIER.minute) as {
    requests: number | null;
    errors: number | null;
  };
  const rolledId = db.prepare('SELECT rolled_id FROM usage_rollup_state').pluck().get() as number;
  return { requests: sums.requests ?? 0, errors: sums.errors ?? 0, rolledId };
}
const raw = (db: UsageDb) => db.prepare('SELECT COUNT(*) AS requests, SUM(status >= 400) AS errors FROM usage_rows').get() as { requests: number; errors: number };

describe('the rollup fold fed with packed rows', () => {
  it('packs each committed batch with its ids, names as ids and no ttft as NO_TTFT', () => {
    const p = pair();
    try {
      const first = p.gateway.write(batch(40))!;
      const second = p.gateway.write(batch(3))!;
      assert.deepEqual([first.firstId, first.rows, second.firstId, second.rows], [1, 40, 41, 3]);
      assert.equal(first.values.length, 40 * VALUES_PER_ROW);
      const names = p.threadDb.prepare('SELECT id FROM usage_names WHERE name = ?').pluck();
      assert.equal(first.values[COL.subject], names.get('alice'));
      assert.equal(first.values[COL.team], names.get('research'));
      assert.equal(first.values[COL.key], 0, 'no key');
      assert.equal(first.values[COL.ttftMs], -1, 'no ttft');
      assert.equal(first.values[VALUES_PER_ROW + COL.ttftMs], 40);
      assert.equal(first.values[COL.status], 500);
    } finally {
      p.close();
    }
  });

  it('folds the fed rows without reading them back', () => {
    const p = pair();
    try {
      const packed = p.gateway.write(batch(100, () => 200))!;
      // Fed rows that say 503 where the database says 200: the rollups can only count errors if the fold used them.
      for (let at = 0; at < packed.values.length; at += VALUES_PER_ROW) packed.values[at + COL.status] = 503;
      p.thread.feed(packed);
      p.thread.close();
      assert.deepEqual(rolled(p.threadDb), { requests: 100, errors: 100, rolledId: 100 });
    } finally {
      p.close();
    }
  });

  it('reads back rows it was not fed, ignores a feed after a gap or of rows already folded, and counts every row once', () => {
    const p = pair();
    try {
      const lostMessage = p.gateway.write(batch(100))!;
      const afterGap = p.gateway.write(batch(100))!;
      p.thread.feed(afterGap); // rows 1–100 were never fed: this cannot be folded yet
      for (let i = 0; i < 100 && p.thread.maintain(1000); i++);
      p.thread.feed(lostMessage); // late: read back already
      p.thread.feed(afterGap);
      const next = p.gateway.write(batch(50))!;
      p.thread.feed(next);
      p.thread.close();
      const r = raw(p.threadDb);
      assert.deepEqual(rolled(p.threadDb), { requests: r.requests, errors: r.errors, rolledId: 250 });
      assert.equal(r.requests, 250);
    } finally {
      p.close();
    }
  });

  it('folds only the part of a feed past what it read back', () => {
    const p = pair();
    try {
      const a = p.gateway.write(batch(100))!;
      const b = p.gateway.write(batch(100))!;
      for (let i = 0; i < 100 && p.thread.maintain(1000); i++); // reads back ids 1–200
      const c = p.gateway.write(batch(100))!;
      // Ids 151–300: 151–200 were read back, 201–300 are new.
      const values = new Float64Array(150 * VALUES_PER_ROW);
      values.set(b.values.subarray(50 * VALUES_PER_ROW));
      values.set(c.values, 50 * VALUES_PER_ROW);
      // Marked 503 as fed: only the new part may count, and only from the feed.
      for (let at = 0; at < values.length; at += VALUES_PER_ROW) values[at + COL.status] = 503;
      const overlapping: PackedRows = { firstId: 151, rows: 150, values };
      p.thread.feed(overlapping);
      p.thread.close();
      const readBack = p.threadDb.prepare('SELECT SUM(status >= 400) FROM usage_rows WHERE id <= 200').pluck().get() as number;
      assert.equal(raw(p.threadDb).requests, 300);
      assert.deepEqual(rolled(p.threadDb), { requests: 300, errors: readBack + 100, rolledId: 300 });
      assert.equal(a.firstId, 1);
    } finally {
      p.close();
    }
  });
});
