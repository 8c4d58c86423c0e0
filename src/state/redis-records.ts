import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { newRedis } from './redis-client.js';

/**
 * A small set of records (id → opaque text) shared by every replica through Redis, with a change sequence so each
 * replica can ask "anything new since N?" in one cheap round trip, and a data epoch so a Redis that lost its data is
 * noticed and re-seeded from the replicas' copies. Gateway-managed API keys ride on it (server/ adapts them); nothing
 * here knows what a record means. Each record carries a version (its update time): a write of an older version never
 * replaces a newer one when re-seeding, so a replica's stale copy cannot resurrect a revoked key.
 *
 * Keys under `<prefix><name>:`: `rec` (hash id → text), `ver` (hash id → version), `chg` (sorted set id by the
 * sequence of its last change), `seq`, `epoch`, `side` (hash id → a number only ever raised, e.g. last-used times:
 * not a change others need to hear about).
 */
export interface RecordSetOptions {
  url: string;
  prefix?: string;
  name: string;
  commandTimeoutMs?: number;
}

export interface StoredRecord {
  readonly id: string;
  readonly text: string;
  readonly version: number;
  /** The `side` number of the record (0 when none). */
  readonly side: number;
}

export interface RedisRecordSet {
  /** Every record, and the sequence they are current at. */
  load(): Promise<{ records: StoredRecord[]; seq: number }>;
  /**
   * Records changed after `seq` (null when none: the common case, one round trip). After Redis lost its data, this
   * replica's copies are written back (older versions never replace newer ones) and every record comes back.
   */
  changesSince(seq: number): Promise<{ records: StoredRecord[]; seq: number } | null>;
  /** Writes one record; `insert` fails (resolves null) when the id exists. Resolves the new sequence. */
  write(id: string, text: string, version: number, mode: 'insert' | 'update'): Promise<number | null>;
  /** Writes a record unless Redis holds the same or a newer version (an import, a re-seed). */
  restore(id: string, text: string, version: number): Promise<void>;
  /** Raises side numbers (never lowers them). */
  raise(values: readonly { id: string; value: number }[]): Promise<void>;
  ready(timeoutMs?: number): Promise<boolean>;
  close(): void;
}

// KEYS: rec, ver, chg, seq, epoch. Every script makes sure an epoch exists, so a Redis that restarted empty gets a
// new one whoever touches it first.
const EPOCH = `if redis.call('EXISTS', KEYS[5]) == 0 then redis.call('SET', KEYS[5], ARGV[1]) end`;
const WRITE_LUA = `${EPOCH}
if ARGV[5] == 'insert' and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return -1 end
if ARGV[5] == 'restore' then
  local v = redis.call('HGET', KEYS[2], ARGV[2])
  if v and tonumber(v) >= tonumber(ARGV[4]) then return 0 end
end
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[3], seq, ARGV[2])
return seq`;
// KEYS: the five above and side. ARGV: new epoch, since (-1: everything). Returns epoch, seq, then id, text,
// version, side for each changed record.
const CHANGES_LUA = `${EPOCH}
local out = { redis.call('GET', KEYS[5]), tonumber(redis.call('GET', KEYS[4]) or '0') }
local since = tonumber(ARGV[2])
if out[2] <= since then return out end
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. since, '+inf')
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[1], id) or ''
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or '0'
  out[#out + 1] = redis.call('HGET', KEYS[6], id) or '0'
end
return out`;
const RAISE_LUA = `for i = 1, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if not v or tonumber(v) < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0`;

type WithScripts = Redis & {
  igRecWrite(...args: (string | number)[]): Promise<number>;
  igRecChanges(...args: (string | number)[]): Promise<(string | number)[]>;
  igRecRaise(...args: (string | number)[]): Promise<number>;
};

export function createRedisRecordSet(options: RecordSetOptions): RedisRecordSet {
  const base = `${options.prefix ?? 'infergate:'}${options.name}:`;
  const keys = ['rec', 'ver', 'chg', 'seq', 'epoch'].map((k) => base + k);
  const side = `${base}side`;
  // Like the lease transport: commands fail at once while Redis is down (the caller decides what that means).
  const redis = newRedis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    retryStrategy: (times) => Math.min(50 * times, 1000),
  }) as WithScripts;
  redis.on('error', () => {});
  redis.defineCommand('igRecWrite', { numberOfKeys: 5, lua: WRITE_LUA });
  redis.defineCommand('igRecChanges', { numberOfKeys: 6, lua: CHANGES_LUA });
  redis.defineCommand('igRecRaise', { numberOfKeys: 1, lua: RAISE_LUA });
  /** This replica's copy of every record (text and version): what re-seeds a Redis that lost its data. */
  const mirror = new Map<string, { text: string; version: number }>();
  let epoch: string | null = null;
  const newEpoch = () => `${Date.now()}:${randomBytes(4).toString('hex')}`;

  async function read(since: number): Promise<{ epoch: string; seq: number; records: StoredRecord[] }> {
    const flat = await redis.igRecChanges(...keys, side, newEpoch(), since);
    const records: StoredRecord[] = [];
    for (let i = 2; i + 3 < flat.length; i += 4) {
      const text = String(flat[i + 1]);
      if (text !== '') records.push({ id: String(flat[i]), text, version: Number(flat[i + 2]), side: Number(flat[i + 3]) });
    }
    return { epoch: String(flat[0]), seq: Number(flat[1]), records };
  }

  function remember(records: readonly StoredRecord[]): void {
    for (const r of records) mirror.set(r.id, { text: r.text, version: r.version });
  }

  const write = (id: string, text: string, version: number, mode: 'insert' | 'update' | 'restore') =>
    redis.igRecWrite(...keys, newEpoch(), id, text, version, mode);

  async function loadAll(): Promise<{ records: StoredRecord[]; seq: number }> {
    const r = await read(-1);
    epoch = r.epoch;
    remember(r.records);
    return { records: r.records, seq: r.seq };
  }

  return {
    load: loadAll,
    async changesSince(seq) {
      const r = await read(seq);
      if (epoch !== null && r.epoch !== epoch) {
        // Redis lost its data: put back what this replica knows (others do the same; newer versions win), then
        // everything comes back as changed.
        for (const [id, m] of mirror) await write(id, m.text, m.version, 'restore');
        return loadAll();
      }
      epoch = r.epoch;
      if (r.records.length === 0) return r.seq > seq ? { records: [], seq: r.seq } : null;
      remember(r.records);
      return { records: r.records, seq: r.seq };
    },
    async write(id, text, version, mode) {
      const seq = await write(id, text, version, mode);
      if (seq < 0) return null;
      mirror.set(id, { text, version });
      return seq;
    },
    async restore(id, text, version) {
      await write(id, text, version, 'restore');
    },
    async raise(values) {
      if (values.length === 0) return;
      await redis.igRecRaise(side, ...values.flatMap((v) => [v.id, v.value]));
    },
    ready(timeoutMs = 2000) {
      if (redis.status === 'ready') return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        redis.once('ready', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    close() {
      redis.disconnect();
    },
  };
}
