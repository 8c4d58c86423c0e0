import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';

const load = createRequire(import.meta.url);
let RedisClass: typeof Redis | null = null;

/**
 * A new ioredis connection. The package is loaded on first use, not at import: a gateway without `state.redis` (the
 * quick start, one host) never loads it, which keeps about 8 MB of code and Node modules out of every process.
 */
export function newRedis(url: string, options: RedisOptions): Redis {
  RedisClass ??= (load('ioredis') as typeof import('ioredis')).Redis;
  return new RedisClass(url, options);
}
