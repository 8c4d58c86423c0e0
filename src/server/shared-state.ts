import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import { redactUrl } from '../core/index.js';
import { createLeaseClient, createRedisTransport, type LeaseClient, type LeaseMode } from '../state/index.js';
import type { Telemetry } from '../telemetry/index.js';
import type { Logger } from './logger.js';
import { resolveWorkers } from './worker-count.js';

export interface SharedStateOptions {
  logger: Logger;
  telemetry: Telemetry;
  /** Leases handed in by the caller (a worker's, over IPC to its supervisor); else Redis when configured. */
  given?: LeaseClient | null;
}

/**
 * The process's shared limit state, if any: the given lease client, or one over Redis when `state.redis` is set,
 * with a log line and a metric on every transition between Redis and the fallback. Null: limits are this
 * process's own (the single-process limiter).
 */
export async function openSharedState(cfg: Config, options: SharedStateOptions): Promise<LeaseClient | null> {
  const { logger, telemetry } = options;
  let leases = options.given ?? null;
  let transitions = 0;
  if (!leases && cfg.state?.redis) {
    const st = cfg.state;
    // Settling after Redis lost its data: long enough for every holder to re-declare (idle ones do every ten sync
    // intervals) even on a starved machine, at least half a lease TTL.
    const settleMs = Math.max(12 * st.sync_interval, st.lease_ttl / 2);
    const transport = createRedisTransport({ url: st.redis!, prefix: st.prefix, leaseTtlMs: st.lease_ttl, settleMs });
    // Every worker of a replica holds its own lease client: the share is per process, so a replica of N workers
    // together still enforces 1/replicas.
    const processes = st.replicas * resolveWorkers(cfg.server.workers);
    const onMode = (mode: LeaseMode, err?: unknown) => {
      transitions++;
      if (mode === 'fallback') {
        logger.error(
          { event: 'state_unreachable', mode: st.on_unreachable, err: err === undefined ? undefined : String(err) },
          st.on_unreachable === 'share'
            ? `Redis is unreachable: enforcing 1/${processes} of every limit in this process (${st.replicas} replicas × ${processes / st.replicas} workers) until it is back`
            : 'Redis is unreachable: serving only what leases already hold, refusing beyond it (503) until it is back',
        );
      } else {
        logger.info({ event: 'state_reconnected' }, 'Redis is reachable again: limits are shared across replicas');
      }
    };
    leases = createLeaseClient({
      transport,
      // Unique per lease client (several gateways may share a process in tests and embeddings).
      holder: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
      syncMs: st.sync_interval,
      leaseTtlMs: st.lease_ttl,
      fallback: st.on_unreachable === 'share' ? { mode: 'share', share: 1 / processes } : { mode: 'refuse' },
      onMode,
    });
    if (!(await transport.ready(2000))) {
      // Start anyway (in the fallback): a gateway that cannot start because Redis is down would be worse.
      logger.error({ event: 'state_unreachable', url: redactUrl(st.redis!) }, 'Redis is not reachable at start; limits use the fallback until it is');
    }
  }
  if (!leases) return null;
  const l = leases;
  telemetry.registerCollector('state', () => [
    // Each worker has its own lease client, in the same mode as the others while all is well: summed it would read
    // N. `min`: 1 only while every worker shares, so an alert on `== 0` fires when any of them is on the fallback
    // (`first` or `max` would hide a worker stuck there behind its siblings). The counters below are each worker's own.
    { name: 'infergate_state_shared', value: l.mode === 'shared' ? 1 : 0, aggregator: 'min', help: '1 while limits are shared through their authority (Redis or the supervisor), 0 while on the fallback.' },
    { name: 'infergate_state_transitions_total', value: transitions, type: 'counter', help: 'Changes between the shared authority and the fallback.' },
    { name: 'infergate_state_exchanges_total', value: l.stats.exchanges, type: 'counter', help: 'Lease exchanges with the authority (usage reports, returns, grants).' },
    { name: 'infergate_state_exchange_failures_total', value: l.stats.failures, type: 'counter', help: 'Lease exchanges that failed (authority unreachable).' },
  ]);
  return leases;
}

