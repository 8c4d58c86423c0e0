import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { client, eventually, startSims, startTestGateway } from '../helpers/harness.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * Usage across replicas: three in-process gateways on one real Redis, each with its own SQLite usage log. Every
 * replica's /admin/usage must show the fleet's requests exactly (no row lost, none counted twice) after traffic to
 * each, across a Redis restart that loses the stream, and for a replica that starts later.
 */
describe('usage shared by replicas through Redis', () => {
  let redis: TestRedis;
  let sims: SimServer[];
  let dir: string;
  const gws: Gateway[] = [];
  let sent = 0;

  const start = (name: string) =>
    startTestGateway([{ name: 'llama', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }], {
      sections: {
        // b writes on its event loop (the one-core writer: raw rows there, rollups folded by a thread of their own).
        usage: { sqlite: join(dir, `${name}.db`), flush_interval: '20ms', ...(name === 'b' ? { writer_thread: false } : {}) },
        state: { redis: redis.url, sync_interval: '50ms', usage: { interval: '30ms' } },
      },
    });

  before(async () => {
    redis = await startRedis();
    sims = await startSims(1);
    dir = await mkdtemp(join(tmpdir(), 'infergate-usage-share-'));
    for (const n of ['a', 'b', 'c']) gws.push(await start(n));
  });
  after(async () => {
    for (const g of gws) await g.close(100);
    await Promise.all(sims.map((s) => s.close()));
    await redis.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** `counts[i]` chat completions to gateway i, as user `subject`. */
  async function traffic(counts: readonly number[], subject: string): Promise<void> {
    await Promise.all(
      counts.map(async (n, i) => {
        const ai = client(gws[i]!, { defaultHeaders: { 'x-request-id': `fixed-${subject}` } });
        for (let k = 0; k < n; k++) {
          await ai.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: `${subject} ${k}` }], user: subject });
        }
        sent += n;
      }),
    );
  }

  /** Requests and tokens of the last hour as one replica's /admin/usage reports them. */
  async function totals(g: Gateway): Promise<{ requests: number; tokens: number }> {
    const res = await fetch(`${g.url}/admin/usage?from=1h`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data: Array<{ requests: number; prompt_tokens: number; completion_tokens: number }> };
    const requests = body.data.reduce((n, r) => n + r.requests, 0);
    const tokens = body.data.reduce((n, r) => n + r.prompt_tokens + r.completion_tokens, 0);
    return { requests, tokens };
  }

  /** Waits until every replica reports `sent` requests and the same tokens; asserts none ever reports more. */
  async function fleetAgrees(among: readonly Gateway[] = gws): Promise<{ requests: number; tokens: number }> {
    const agreed = await eventually(async () => {
      const all = await Promise.all(among.map(totals));
      for (const t of all) assert.ok(t.requests <= sent, `a replica counts ${t.requests} of ${sent} requests`);
      if (!all.every((t) => t.requests === sent && t.tokens === all[0]!.tokens)) return null;
      return all[0]!;
    }, 15_000, 50);
    return agreed!;
  }

  test('every replica\'s /admin/usage shows the requests sent to all of them, exactly', async () => {
    await traffic([7, 11, 13], 'first');
    const t = await fleetAgrees();
    assert.equal(t.requests, 31);
    assert.ok(t.tokens > 0);
    // Every request carried the same client request id: the origin key, not the request id, tells rows apart.
  });

  test('a Redis restart that loses the stream loses no row and counts none twice', async () => {
    await traffic([5, 0, 4], 'before');
    await fleetAgrees();
    await redis.restart();
    await traffic([3, 6, 2], 'after');
    await fleetAgrees();
    // The totals can agree (the new rows arrived) before the rows re-sent after the rewind have all come back: the
    // duplicates they bring are counted as they arrive, so the counters are waited for, and the totals checked again.
    await eventually(async () => {
      const m = await (await fetch(`${gws[0]!.url}/metrics`)).text();
      return /infergate_usage_share_rewinds_total [1-9]/.test(m) && /infergate_usage_share_rows_duplicate_total [1-9]/.test(m);
    }, 15_000, 50);
    await fleetAgrees();
  });

  test('a replica that starts later backfills what the stream holds', async () => {
    gws.push(await start('d'));
    await traffic([1, 1, 1, 2], 'late');
    await fleetAgrees();
  });

  test('a stream rolled back to older data with its epoch (a failover to a lagging replica) is shipped again', async () => {
    // Replica c is away while a, b and d serve; then Redis goes back to its data from before (what a lagging replica
    // that takes over holds: the stream and its counter, the same epoch) and every connection drops. c comes back to
    // an epoch it knows and entries that are gone: only the shippers' check of their last entry brings them back.
    await gws[2]!.close(100);
    const away = gws.filter((_, i) => i !== 2);
    const admin = new Redis(redis.url);
    try {
      const stream = await admin.dumpBuffer('infergate:usage:rows');
      const counter = await admin.get('infergate:usage:count');
      await traffic([3, 4, 0, 2], 'away');
      await fleetAgrees(away);
      await admin.restore('infergate:usage:rows', 0, stream!, 'REPLACE');
      await admin.set('infergate:usage:count', counter!);
      await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    } finally {
      admin.disconnect();
    }
    gws[2] = await start('c');
    await traffic([1, 1, 1, 1], 'back');
    await fleetAgrees();
  });

  test('rollups written at close hold every row once, and each row is stored once per replica', async () => {
    await traffic([2, 3, 4, 5], 'last');
    await fleetAgrees();
    for (const g of gws) await g.close(100);
    for (const name of ['a', 'b', 'c', 'd']) {
      const db = new Database(join(dir, `${name}.db`), { readonly: true });
      try {
        const rows = (db.prepare('SELECT COUNT(*) AS n, MAX(id) AS max FROM usage_rows').get() as { n: number; max: number });
        assert.equal(rows.n, sent, `${name}: raw rows`);
        const rolled = db.prepare('SELECT rolled_id FROM usage_rollup_state').pluck().get() as number;
        assert.equal(rolled, rows.max, `${name}: every row rolled up`);
        const inRollups = db.prepare('SELECT SUM(requests) FROM usage_rollups WHERE cuboid = 255').pluck().get() as number;
        assert.equal(inRollups, sent, `${name}: requests in the full cuboid's rollups`);
        const origins = db.prepare('SELECT COUNT(DISTINCT origin_id) FROM usage_rows WHERE origin_id IS NOT NULL').pluck().get() as number;
        assert.equal(origins, 3, `${name}: rows from its three peers`);
      } finally {
        db.close();
      }
    }
    gws.length = 0;
  });
});

describe('a replica away for longer than the stream holds', () => {
  test('knows from the entries\' numbers that it missed some, and says so', async () => {
    const redis = await startRedis();
    const sims = await startSims(1);
    const dir = await mkdtemp(join(tmpdir(), 'infergate-usage-gap-'));
    const start = (name: string) =>
      startTestGateway([{ name: 'llama', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }], {
        sections: { usage: { sqlite: join(dir, `${name}.db`), flush_interval: '20ms' }, state: { redis: redis.url, usage: { interval: '30ms' } } },
      });
    const x = await start('x');
    let y = await start('y');
    const chat = async (g: Gateway, n: number) => {
      for (let i = 0; i < n; i++) await client(g).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: `hi ${i}` }] });
    };
    const metric = async (g: Gateway, name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${g.url}/metrics`)).text())?.[1] ?? -1);
    const requests = async (g: Gateway) =>
      ((await (await fetch(`${g.url}/admin/usage?from=1h`)).json()) as { data: Array<{ requests: number }> }).data.reduce((n, r) => n + r.requests, 0);
    try {
      await chat(x, 3);
      await chat(y, 2);
      await eventually(async () => (await requests(y)) === 5 && (await requests(x)) === 5, 15_000, 50);
      await y.close(100);
      await chat(x, 4);
      await eventually(async () => (await metric(x, 'infergate_usage_share_rows_shipped_total')) === 7, 15_000, 50);
      // What trimming by age does to entries nobody has read for stream_max_age.
      const admin = new Redis(redis.url);
      await admin.xtrim('infergate:usage:rows', 'MAXLEN', 0);
      admin.disconnect();
      y = await start('y');
      await chat(x, 1);
      await eventually(async () => (await requests(y)) === 6, 15_000, 50);
      assert.equal(await metric(y, 'infergate_usage_share_gaps_total'), 1);
      assert.equal(await requests(x), 10);
    } finally {
      await x.close(100);
      await y.close(100);
      await sims[0]!.close();
      await redis.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
