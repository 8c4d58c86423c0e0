import type { Config } from '../config/index.js';
import { ReplicaExchange } from '../routing/index.js';
import { createRedisBroadcast, type Broadcast } from '../state/index.js';
import type { Telemetry } from '../telemetry/index.js';
import type { Logger } from './logger.js';

/** `state.routing` when the config has no `state` section (workers of one host share routing by default). */
const DEFAULTS = { enabled: true, interval: 50, stale: 1000, snapshot_interval: 5000 } as const;
/** A written snapshot stays readable this many snapshot periods (a replica that starts within them catches up). */
const SNAPSHOT_TTL_PERIODS = 12;

export interface RoutingExchangeOptions {
  logger: Logger;
  telemetry: Telemetry;
  /** The channel from the caller (a worker's, through its supervisor); else Redis when `state.redis` is set. */
  given?: Broadcast | null;
}

/**
 * The process's replica exchange of routing state, or null when it has no peers to talk to (one process without
 * Redis) or `state.routing.enabled` is false. Its counters go to /metrics; it starts publishing once the router has
 * its pools and the shared snapshot is applied (`start`).
 */
export async function openRoutingExchange(cfg: Config, options: RoutingExchangeOptions): Promise<ReplicaExchange | null> {
  const rx = cfg.state?.routing ?? DEFAULTS;
  if (!rx.enabled) {
    await options.given?.close();
    return null;
  }
  let broadcast = options.given ?? null;
  if (!broadcast && cfg.state?.redis) {
    const redis = createRedisBroadcast({ url: cfg.state.redis, prefix: cfg.state.prefix, snapshotTtlMs: rx.snapshot_interval * SNAPSHOT_TTL_PERIODS });
    if (!(await redis.ready(2000))) options.logger.warn({ event: 'routing_exchange_unreachable' }, 'Redis is not reachable: routing uses this replica\'s own picture until it is');
    broadcast = redis;
  }
  if (!broadcast) return null;
  const exchange = new ReplicaExchange({ broadcast, intervalMs: rx.interval, staleMs: rx.stale, snapshotMs: rx.snapshot_interval });
  const b = broadcast.stats;
  const x = exchange.stats;
  options.telemetry.registerCollector('routing_exchange', () => [
    { name: 'infergate_routing_exchange_bytes_sent_total', value: b.bytesOut, type: 'counter', help: 'Bytes of routing updates and snapshots this process published to its peers.' },
    { name: 'infergate_routing_exchange_bytes_received_total', value: b.bytesIn, type: 'counter', help: 'Bytes of routing updates and snapshots this process received from its peers.' },
    { name: 'infergate_routing_exchange_snapshot_bytes_sent_total', value: b.snapshotBytesOut, type: 'counter', help: 'Of the bytes sent, those of snapshots written for replicas that start.' },
    { name: 'infergate_routing_exchange_batches_total', value: x.batches, type: 'counter', help: 'Batches of routing updates published.' },
    { name: 'infergate_routing_exchange_keys_sent_total', value: x.keysOut, type: 'counter', help: 'Prefix keys published (routed here, not already published within the refresh window).' },
    { name: 'infergate_routing_exchange_keys_received_total', value: x.keysIn, type: 'counter', help: 'Prefix keys received from peers and folded into the twin indexes.' },
    { name: 'infergate_routing_exchange_turns_received_total', value: x.turnsIn, type: 'counter', help: 'Finished session turns received from peers (where a session\'s next turn should go).' },
    // With workers, each loads the same fleet snapshot: the keys are copies (`max`, not N times the snapshot), and
    // `loaded` reads 1 only when every worker started from it (`min`). The counters above are each process's traffic.
    { name: 'infergate_routing_exchange_snapshot_keys', value: x.snapshotKeys, aggregator: 'max', help: 'Prefix keys this process took from the snapshot it started with.' },
    { name: 'infergate_routing_exchange_snapshot_loaded', value: x.snapshotLoaded ? 1 : 0, aggregator: 'min', help: '1 when this process started from the fleet\'s shared snapshot.' },
  ]);
  return exchange;
}
