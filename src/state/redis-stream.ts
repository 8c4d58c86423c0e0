import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** Compares two stream ids (`ms-seq`) in Lua; numbers are doubles, exact up to 2^53 ms. */
const ID_LESS = `
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
local function maxDeleted(key)
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'max-deleted-entry-id' then return info[i + 1] end
  end
  return '0-0'
end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
`;

/**
 * KEYS: stream, epoch. ARGV: a fresh epoch (used if Redis has none), origin, payload ('' for none), the caller's last
 * entry id to verify ('' for none), the trim horizon (MINID, ms), the length bound (MAXLEN ~).
 * Returns {epoch, lost, id}: `lost` is 1 when the caller's last entry is gone although nothing trimmed it (Redis lost
 * the tail of its data: a restart without persistence or between fsyncs, a failover to a lagging replica).
 */
const APPEND_LUA = `${ID_LESS}
local lost = 0
if ARGV[4] ~= '' and #redis.call('XRANGE', KEYS[1], ARGV[4], ARGV[4]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 or idLess(maxDeleted(KEYS[1]), ARGV[4]) then lost = 1 end
end
local id = false
if ARGV[3] ~= '' then
  id = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[5], '*', 'o', ARGV[2], 'p', ARGV[3])
  redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[6])
end
return {epoch, lost, id}
`;

/**
 * KEYS: stream, epoch. ARGV: a fresh epoch, the id read up to ('0-0' for the start), how many entries, '1' to check for
 * a gap. Returns {epoch, gap, entries}: `gap` is 1 when entries after that id were trimmed before being read.
 */
const READ_LUA = `${ID_LESS}
local gap = 0
if ARGV[4] == '1' and ARGV[2] ~= '0-0' and redis.call('EXISTS', KEYS[1]) == 1 and idLess(ARGV[2], maxDeleted(KEYS[1])) then gap = 1 end
return {epoch, gap, redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', ARGV[3])}
`;

export interface StreamEntry {
  readonly id: string;
  readonly origin: string;
  readonly payload: string;
}

export interface RedisStreamOptions {
  url: string;
  /** `state.prefix`: the stream is `<prefix><topic>:rows`, its epoch `<prefix><topic>:epoch`. */
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
  append(origin: string, payload: string | null, verify: string | null): Promise<{ epoch: string; lost: boolean; id: string | null }>;
  /** Up to `count` entries after `after`, with the epoch they belong to; `checkGap`: report trimmed unread entries. */
  read(after: string, count: number, checkGap: boolean): Promise<{ epoch: string; gap: boolean; entries: StreamEntry[] }>;
  /** Called when the connection is (re)established: Redis may have restarted meanwhile. */
  onReconnect(fn: () => void): void;
  close(): Promise<void>;
}

type WithScripts = Redis & {
  igStreamAppend(...args: (string | number)[]): Promise<[string, number, string | null]>;
  igStreamRead(...args: (string | number)[]): Promise<[string, number, [string, string[]][]]>;
};

/**
 * A capped Redis stream shared by replicas, marked with an epoch: a key created beside it whenever it is missing, so
 * a reader or writer that sees a new epoch knows the stream it knew is gone (Redis restarted without its data) and
 * can read the new one from its start or write again what the old one held. Each call is one script (atomic, one
 * round trip). Like the other transports, commands fail at once while Redis is down (the caller retries).
 */
export function createRedisStream(options: RedisStreamOptions): RedisStream {
  const prefix = options.prefix ?? 'infergate:';
  const keys = [`${prefix}${options.topic}:rows`, `${prefix}${options.topic}:epoch`];
  const redis = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A read or append carries a batch: more than the lease exchange's second on a slow link is still fine.
    commandTimeout: 5000,
    retryStrategy: (times) => Math.min(50 * times, 1000),
  }) as WithScripts;
  redis.defineCommand('igStreamAppend', { numberOfKeys: 2, lua: APPEND_LUA });
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
      const [epoch, lost, id] = await redis.igStreamAppend(...keys, fresh(), origin, payload ?? '', verify ?? '', horizon, options.maxLen);
      return { epoch: String(epoch), lost: Number(lost) === 1, id: id ?? null };
    },
    async read(after, count, checkGap) {
      const [epoch, gap, raw] = await redis.igStreamRead(...keys, fresh(), after, count, checkGap ? '1' : '0');
      const entries: StreamEntry[] = [];
      for (const [id, fields] of raw) {
        let origin = '';
        let payload = '';
        for (let i = 0; i + 1 < fields.length; i += 2) {
          if (fields[i] === 'o') origin = fields[i + 1]!;
          else if (fields[i] === 'p') payload = fields[i + 1]!;
        }
        entries.push({ id, origin, payload });
      }
      return { epoch: String(epoch), gap: Number(gap) === 1, entries };
    },
    onReconnect(fn) {
      reconnects.push(fn);
    },
    async close() {
      redis.disconnect();
    },
  };
}
