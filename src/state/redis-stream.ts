import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { newRedis } from './redis-client.js';

/**
 * The head of both scripts: stream id comparison (`ms-seq`; Lua numbers are doubles, exact up to 2^53 ms), XINFO STREAM
 * as a table, and the epoch, created when missing.
 */
const PRELUDE = `
local function parse(id)
  local d = string.find(id, '-', 1, true)
  if not d then return tonumber(id), 0 end
  return tonumber(string.sub(id, 1, d - 1)), tonumber(string.sub(id, d + 1))
end
local function idLess(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local function info(key)
  local raw = redis.call('XINFO', 'STREAM', key)
  local out = {}
  for i = 1, #raw, 2 do out[raw[i]] = raw[i + 1] end
  return out
end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
`;

/**
 * KEYS: stream, epoch, entry counter. ARGV: a fresh epoch (used if Redis has none), origin, payload ('' for none), the
 * caller's last entry id and number to verify ('' for none), the trim horizon (MINID, ms), the length bound (MAXLEN ~).
 * Returns {epoch, lost, id, n}. Each entry carries its number in the stream (`n`, from the counter written in the same
 * script), so a reader can tell it missed some. `lost` is 1 when the caller's last entry is gone and trimming did not
 * remove it: Redis never generated that id (it came back from older data, or a lagging replica took over), or an
 * entry numbered at or below it is still there (trimming removes the oldest first), or the id now holds another
 * origin's entry (generated again after such a rollback).
 */
const APPEND_LUA = `${PRELUDE}
local lost = 0
local at = ARGV[4] ~= '' and redis.call('XRANGE', KEYS[1], ARGV[4], ARGV[4])[1]
if at then
  -- Rolled back to older data, Redis hands out the same ids again (within the same millisecond): an entry with the
  -- caller's id is the caller's only if it has the caller's origin and number.
  local o, n = nil, nil
  for i = 1, #at[2], 2 do
    if at[2][i] == 'o' then o = at[2][i + 1] elseif at[2][i] == 'n' then n = tonumber(at[2][i + 1]) end
  end
  if o ~= ARGV[2] or n ~= tonumber(ARGV[5]) then lost = 1 end
elseif ARGV[4] ~= '' then
  if redis.call('EXISTS', KEYS[1]) == 0 or idLess(info(KEYS[1])['last-generated-id'], ARGV[4]) then
    lost = 1
  else
    local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
    if head then
      for i = 1, #head[2], 2 do
        if head[2][i] == 'n' and tonumber(head[2][i + 1]) <= tonumber(ARGV[5]) then lost = 1 end
      end
    end
  end
end
local id = false
local n = false
if ARGV[3] ~= '' then
  n = redis.call('INCR', KEYS[3])
  id = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[6], '*', 'o', ARGV[2], 'n', n, 'p', ARGV[3])
  redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[7])
end
return {epoch, lost, id, n}
`;

/** KEYS: stream, epoch. ARGV: a fresh epoch, the id read up to ('0-0' for the start), how many entries. */
const READ_LUA = `${PRELUDE}
return {epoch, redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', ARGV[3])}
`;

export interface StreamEntry {
  readonly id: string;
  readonly origin: string;
  /** Its number in the stream: one more than the entry before it unless entries in between were trimmed (NaN: none). */
  readonly n: number;
  readonly payload: string;
}

export interface RedisStreamOptions {
  url: string;
  /** `state.prefix`: the stream is `<prefix><topic>:rows`, its epoch `<prefix><topic>:epoch`, its counter `…:count`. */
  prefix?: string;
  topic: string;
  /** Entries older than this are trimmed (approximately) at each append. */
  maxAgeMs: number;
  /** At most about this many entries are kept. */
  maxLen: number;
}

export interface RedisStream {
  readonly connected: boolean;
  /** Resolves true once connected, false after the timeout. */
  ready(timeoutMs?: number): Promise<boolean>;
  /**
   * Appends a payload (none: only the epoch, and the check) and, when `verify` is given, checks that this entry
   * (the caller's last) was not lost. The epoch is created with the first call after Redis lost its data.
   */
  append(origin: string, payload: string | null, verify: { id: string; n: number } | null): Promise<{ epoch: string; lost: boolean; id: string | null; n: number }>;
  /** Up to `count` entries after `after`, with the epoch they belong to. */
  read(after: string, count: number): Promise<{ epoch: string; entries: StreamEntry[] }>;
  /** Called when the connection is (re)established: Redis may have restarted meanwhile. */
  onReconnect(fn: () => void): void;
  close(): Promise<void>;
}

type WithScripts = Redis & {
  igStreamAppend(...args: (string | number)[]): Promise<[string, number, string | null, number | null]>;
  igStreamRead(...args: (string | number)[]): Promise<[string, [string, string[]][]]>;
};

/**
 * A capped Redis stream shared by replicas, marked with an epoch: a key created beside it whenever it is missing, so
 * a reader or writer that sees a new epoch knows the stream it knew is gone (Redis restarted without its data) and
 * can read the new one from its start or write again what the old one held. Each call is one script (atomic, one
 * round trip). Like the other transports, commands fail at once while Redis is down (the caller retries).
 */
export function createRedisStream(options: RedisStreamOptions): RedisStream {
  const prefix = options.prefix ?? 'infergate:';
  const stream = `${prefix}${options.topic}:rows`;
  const epochKey = `${prefix}${options.topic}:epoch`;
  const counter = `${prefix}${options.topic}:count`;
  const redis = newRedis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A read or append carries a batch: more than the lease exchange's second on a slow link is still fine.
    commandTimeout: 5000,
    retryStrategy: (times) => Math.min(50 * times, 1000),
  }) as WithScripts;
  redis.defineCommand('igStreamAppend', { numberOfKeys: 3, lua: APPEND_LUA });
  redis.defineCommand('igStreamRead', { numberOfKeys: 2, lua: READ_LUA });
  redis.on('error', () => {});
  let connected = false;
  const reconnects: (() => void)[] = [];
  redis.on('ready', () => {
    connected = true;
    for (const f of reconnects) f();
  });
  redis.on('close', () => (connected = false));
  const fresh = () => randomBytes(8).toString('hex');

  return {
    get connected() {
      return connected;
    },
    ready(timeoutMs = 2000) {
      if (connected) return Promise.resolve(true);
      return new Promise((resolve) => {
        const onReady = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          redis.off('ready', onReady);
          resolve(false);
        }, timeoutMs);
        redis.once('ready', onReady);
      });
    },
    async append(origin, payload, verify) {
      const horizon = Math.max(0, Date.now() - options.maxAgeMs);
      const [epoch, lost, id, n] = await redis.igStreamAppend(stream, epochKey, counter, fresh(), origin, payload ?? '', verify?.id ?? '', verify?.n ?? 0, horizon, options.maxLen);
      return { epoch: String(epoch), lost: Number(lost) === 1, id: id ?? null, n: n === null ? 0 : Number(n) };
    },
    async read(after, count) {
      const [epoch, raw] = await redis.igStreamRead(stream, epochKey, fresh(), after, count);
      const entries: StreamEntry[] = [];
      for (const [id, fields] of raw) {
        let origin = '';
        let payload = '';
        let n = Number.NaN;
        for (let i = 0; i + 1 < fields.length; i += 2) {
          if (fields[i] === 'o') origin = fields[i + 1]!;
          else if (fields[i] === 'p') payload = fields[i + 1]!;
          else if (fields[i] === 'n') n = Number(fields[i + 1]);
        }
        entries.push({ id, origin, n, payload });
      }
      return { epoch: String(epoch), entries };
    },
    onReconnect(fn) {
      reconnects.push(fn);
    },
    async close() {
      redis.disconnect();
    },
  };
}
