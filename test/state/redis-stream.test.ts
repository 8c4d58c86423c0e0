import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createRedisStream, type RedisStream } from '../../src/state/index.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * The capped, epoch-marked stream that carries usage rows between replicas (state/redis-stream.ts), against a real
 * redis-server: what it reports when entries were trimmed (by design) and when they were lost (Redis forgot them).
 */
describe('redis stream with an epoch', () => {
  let redis: TestRedis;
  let admin: Redis;
  const streams: RedisStream[] = [];
  const open = async (topic: string, maxLen = 100_000) => {
    const s = createRedisStream({ url: redis.url, prefix: 't:', topic, maxAgeMs: 3_600_000, maxLen });
    streams.push(s);
    assert.ok(await s.ready(5000));
    return s;
  };

  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  after(async () => {
    for (const s of streams) await s.close();
    admin.disconnect();
    await redis.close();
  });

  test('appends, reads after an id, and keeps one epoch while the data lives', async () => {
    const s = await open('a');
    const first = await s.append('r1', 'one', null);
    const second = await s.append('r2', 'two', null);
    assert.equal(second.epoch, first.epoch);
    // Each writer checks its own last entry (an entry with that id from another origin would mean it was lost).
    assert.equal((await s.append('r1', null, { id: first.id!, n: first.n })).lost, false);
    const all = await s.read('0-0', 10);
    assert.deepEqual(all.entries.map((e) => [e.origin, e.n, e.payload]), [['r1', 1, 'one'], ['r2', 2, 'two']]);
    const rest = await s.read(first.id!, 10);
    assert.deepEqual(rest.entries.map((e) => e.payload), ['two']);
    // Nothing to append: only the epoch (and the check) come back.
    const idle = await s.append('r2', null, { id: second.id!, n: second.n });
    assert.equal(idle.id, null);
    assert.equal(idle.lost, false);
  });

  test('an entry trimmed by the length bound is not lost for its writer, and a reader sees by the numbers what it missed', async () => {
    const s = await open('b', 10);
    const one = await s.append('w', 'p0', null);
    const firstId = one.id!;
    let last = one;
    // MAXLEN ~ trims whole nodes of 100 entries: write well past one.
    for (let i = 1; i < 350; i++) last = await s.append('w', `p${i}`, null);
    assert.ok((await admin.xlen('t:b:rows')) < 350);
    assert.equal((await s.append('w', null, { id: firstId, n: one.n })).lost, false, 'trimmed, not lost');
    assert.equal((await s.append('w', null, { id: last.id!, n: last.n })).lost, false, 'there');
    // A reader that had read only entry 1 gets next an entry numbered well past 2: it knows how many it missed.
    const next = (await s.read(firstId, 1)).entries[0]!;
    assert.ok(next.n > 2 && next.n === 350 - (await admin.xlen('t:b:rows')) + 1, `next is entry ${next.n}`);
  });

  test('a stream rolled back to older data with its epoch (a failover to a lagging replica) reports the writer\'s entry lost', async () => {
    const s = await open('c');
    const a = await s.append('w', 'x', null);
    // What a lagging replica holds: the stream and its counter as they were after entry a.
    const stream = await admin.dumpBuffer('t:c:rows');
    const counter = await admin.get('t:c:count');
    const b = await s.append('w', 'y', { id: a.id!, n: a.n });
    assert.equal(b.lost, false);
    await admin.restore('t:c:rows', 0, stream!, 'REPLACE');
    await admin.set('t:c:count', counter!);
    assert.equal((await s.append('w', null, { id: b.id!, n: b.n })).lost, true, 'never generated there');
    // Another replica wrote before the check: b's id is below the stream's newest now, but entry a (numbered below b) is there.
    await s.append('other', 'z', null);
    assert.equal((await s.append('w', null, { id: b.id!, n: b.n })).lost, true, 'a hole');
    assert.equal((await s.append('w', null, { id: a.id!, n: a.n })).lost, false, 'a survived');
  });

  test('an entry id handed out again after a rollback (the same millisecond) holds another entry: the writer\'s is lost', async () => {
    const s = await open('d');
    const a = await s.append('w', 'x', null);
    const stream = await admin.dumpBuffer('t:d:rows');
    const counter = await admin.get('t:d:count');
    const b = await s.append('w', 'y', { id: a.id!, n: a.n });
    await admin.restore('t:d:rows', 0, stream!, 'REPLACE');
    await admin.set('t:d:count', counter!);
    // What another replica's append gets when it lands in b's millisecond: b's id, b's number, its own origin.
    await admin.xadd('t:d:rows', b.id!, 'o', 'other', 'n', String(b.n), 'p', 'z');
    assert.equal((await s.append('w', null, { id: b.id!, n: b.n })).lost, true, 'the id is there, the entry is not w\'s');
    assert.equal((await s.append('w', null, { id: a.id!, n: a.n })).lost, false, 'a survived');
  });

  test('a restart without persistence brings a new epoch', async () => {
    const s = await open('d');
    const a = await s.append('w', 'x', null);
    await redis.restart();
    let fresh: { epoch: string; lost: boolean } | null = null;
    for (let i = 0; i < 100 && !fresh; i++) {
      fresh = await s.append('w', 'again', { id: a.id!, n: a.n }).catch(() => null);
      if (!fresh) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(fresh);
    assert.notEqual(fresh.epoch, a.epoch);
    assert.equal(fresh.lost, true);
  });
});
