import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { newRedis } from './redis-client.js';
import { newBroadcastStats, type Broadcast } from './broadcast.js';

export interface RedisBroadcastOptions {
  url: string;
  /** Key prefix shared with the leases (`state.prefix`): gateways with different prefixes never hear each other. */
  prefix?: string;
  /** How long a written snapshot stays readable (ms). */
  snapshotTtlMs: number;
  /** What the channel carries (default `routing`): each topic has its own pub/sub channel and snapshot. */
  topic?: string;
}

/**
 * Redis pub/sub among replicas: one connection publishes (and holds the snapshot), one subscribes (a subscribed
 * connection can do nothing else). Like the lease transport, commands fail at once while Redis is down instead of
 * queueing: a routing update is worth nothing late. Each message starts with the sender's id so a replica skips its
 * own.
 */
export function createRedisBroadcast(options: RedisBroadcastOptions): Broadcast & { ready(timeoutMs?: number): Promise<boolean> } {
  const prefix = options.prefix ?? 'infergate:';
  const topic = options.topic ?? 'routing';
  const channel = `${prefix}${topic}:updates`;
  const snapshotKey = `${prefix}${topic}:snapshot`;
  const lockKey = `${prefix}${topic}:snapshot:writer`;
  const self = randomBytes(6).toString('hex');
  const head = `${self}|`;
  const opts = { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1000, retryStrategy: (n: number) => Math.min(50 * n, 1000) };
  const pub = newRedis(options.url, opts);
  // The subscriber must queue its SUBSCRIBE until connected, and re-subscribes by itself after a reconnect.
  const sub = newRedis(options.url, { ...opts, enableOfflineQueue: true });
  pub.on('error', () => {});
  sub.on('error', () => {});
  const stats = newBroadcastStats();
  const listeners: ((payload: string) => void)[] = [];
  let connected = false;
  pub.on('ready', () => (connected = true));
  pub.on('close', () => (connected = false));
  void sub.subscribe(channel).catch(() => {});
  sub.on('message', (_ch: string, message: string) => {
    if (message.startsWith(head)) return;
    const bar = message.indexOf('|');
    if (bar < 0) return;
    stats.bytesIn += message.length;
    stats.messagesIn++;
    const payload = message.slice(bar + 1);
    for (const l of listeners) l(payload);
  });

  return {
    stats,
    ready(timeoutMs = 2000) {
      if (connected) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        pub.once('ready', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    publish(payload) {
      if (!connected) return;
      const message = head + payload;
      stats.bytesOut += message.length;
      stats.messagesOut++;
      pub.publish(channel, message).catch(() => {});
    },
    onMessage(fn) {
      listeners.push(fn);
    },
    async offerSnapshot(build, everyMs) {
      if (!connected) return;
      try {
        // One writer per period across the fleet: whoever takes the short-lived writer key writes.
        if ((await pub.set(lockKey, self, 'PX', Math.max(1, Math.round(everyMs * 0.9)), 'NX')) !== 'OK') return;
        const text = build();
        await pub.set(snapshotKey, text, 'PX', options.snapshotTtlMs);
        stats.bytesOut += text.length;
        stats.snapshotBytesOut += text.length;
        stats.snapshotsWritten++;
      } catch {
        // Redis went away: the next period tries again.
      }
    },
    async loadSnapshot() {
      try {
        const text = await pub.get(snapshotKey);
        if (text !== null) stats.bytesIn += text.length;
        return text;
      } catch {
        return null;
      }
    },
    async close() {
      pub.disconnect();
      sub.disconnect();
    },
  };
}
