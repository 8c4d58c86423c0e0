import type { Redis } from 'ioredis';
import { newRedis } from './redis-client.js';
import { EXCHANGE_LUA } from './redis-script.js';
import type { ExchangeItem, ExchangeReply, Transport } from './types.js';

export interface RedisTransportOptions {
  url: string;
  /** Prefix of every key this gateway writes (several gateways can share one Redis). */
  prefix?: string;
  leaseTtlMs: number;
  /** A command that takes longer fails (the client then counts Redis as unreachable). */
  commandTimeoutMs?: number;
  /**
   * After Redis lost its data, how long nothing is granted while holders re-declare their usage: at least the
   * period in which every holder re-declares (ten sync intervals for idle counters).
   */
  settleMs?: number;
  /** Called on each change of reachability. */
  onStatus?: (connected: boolean) => void;
}

type WithExchange = Redis & { igExchange(...args: (string | number)[]): Promise<number[]> };

/**
 * Redis (or Valkey) as the lease authority among replicas: one EVALSHA per exchange (ioredis loads the script once
 * and falls back to EVAL when a restarted server forgot it). Commands are not queued while Redis is down: they fail
 * at once, so the lease client falls back to its configured mode instead of holding requests.
 */
export function createRedisTransport(options: RedisTransportOptions): Transport & { readonly connected: boolean; ready(timeoutMs?: number): Promise<boolean> } {
  const prefix = options.prefix ?? 'infergate:';
  const redis = newRedis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    // Reconnect quickly and keep trying: the limiter serves from its fallback meanwhile.
    retryStrategy: (times) => Math.min(50 * times, 1000),
    lazyConnect: false,
  }) as WithExchange;
  redis.defineCommand('igExchange', { lua: EXCHANGE_LUA });
  let connected = false;
  /** The Redis data epoch last seen: a new one means Redis lost its data (see redis-script.ts). */
  let epoch = '';
  const set = (c: boolean) => {
    if (c === connected) return;
    connected = c;
    options.onStatus?.(c);
  };
  redis.on('ready', () => set(true));
  redis.on('close', () => set(false));
  // Errors surface as failed exchanges and reconnects; without a listener ioredis would print each one.
  redis.on('error', () => {});

  return {
    get connected() {
      return connected;
    },
    /** Resolves true once connected, false if that takes longer than the timeout (the client starts in fallback). */
    ready(timeoutMs = 2000) {
      if (connected) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          redis.off('ready', onReady);
          resolve(false);
        }, timeoutMs);
        const onReady = () => {
          clearTimeout(timer);
          resolve(true);
        };
        redis.once('ready', onReady);
      });
    },
    async exchange(holder: string, items: readonly ExchangeItem[]): Promise<ExchangeReply[]> {
      const args: (string | number)[] = [items.length + 2, `${prefix}epoch`, `${prefix}settling`];
      for (const it of items) args.push(prefix + it.spec.key);
      args.push(holder, options.leaseTtlMs, epoch, options.settleMs ?? options.leaseTtlMs);
      for (const it of items) {
        args.push(it.spec.kind, it.spec.cap, Math.max(1, Math.round(it.spec.windowMs)), it.consumed, it.returned, it.need, it.want, it.min, it.held, it.spare, it.history);
      }
      const flat = (await redis.igExchange(...args)) as unknown as (number | string)[];
      epoch = String(flat[items.length * 4]);
      const settleLeftMs = Number(flat[items.length * 4 + 1]);
      const settling = settleLeftMs > 0;
      const out: ExchangeReply[] = new Array(items.length);
      for (let i = 0; i < items.length; i++) {
        out[i] = { granted: Number(flat[i * 4]), level: Number(flat[i * 4 + 1]), scarce: flat[i * 4 + 2] === 1, retry: flat[i * 4 + 3] === 1, settling, settleLeftMs };
      }
      return out;
    },
    async close() {
      redis.disconnect();
    },
  };
}
