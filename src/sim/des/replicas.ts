import type { Clock } from '../../core/index.js';
import { RoutingCore, type RoutingCoreOptions } from '../../routing/core.js';
import { ReplicaExchange, type ReplicaExchangeOptions } from '../../routing/replica/exchange.js';
import { createRng } from '../../routing/rng.js';
import type { VirtualScheduler } from './virtual-scheduler.js';

/** Gateway replicas behind a round-robin front, each with its own RoutingCore, optionally exchanging state (issue 13). */
export interface ReplicaFrontOptions {
  readonly gateways: number;
  /** The replica exchange: batch period, peer-load staleness bound and one-way delivery delay (virtual ms). Null: none. */
  readonly exchange: { readonly intervalMs: number; readonly staleMs: number; readonly delayMs: number } | null;
}

type Broadcast = ReplicaExchangeOptions['broadcast'];

/**
 * N routing cores in virtual time: request i goes to core i mod N, like a round-robin load balancer in front of N
 * gateway processes. With an exchange, each core's ReplicaExchange (the gateway's code) publishes every intervalMs on
 * the scheduler, and a batch reaches the other cores delayMs later, as it would through Redis.
 */
export function createReplicaFront(
  sched: VirtualScheduler,
  clock: Clock,
  seed: number,
  base: Omit<RoutingCoreOptions, 'clock' | 'rng' | 'replica'>,
  o: ReplicaFrontOptions,
): { readonly cores: readonly RoutingCore[]; next(): RoutingCore; stop(): void } {
  const n = Math.max(1, o.gateways);
  const listeners: ((p: string) => void)[][] = Array.from({ length: n }, () => []);
  let bytes = 0;
  const broadcast = (g: number): Broadcast => ({
    publish(payload) {
      bytes += payload.length;
      const at = sched.now() + (o.exchange?.delayMs ?? 0);
      for (let h = 0; h < n; h++) if (h !== g) for (const l of listeners[h] ?? []) sched.at(at, () => l(payload));
    },
    onMessage: (fn) => void listeners[g]?.push(fn),
    offerSnapshot: async () => {},
    loadSnapshot: async () => null,
    stats: { bytesOut: 0, bytesIn: 0, messagesOut: 0, messagesIn: 0, snapshotsWritten: 0, snapshotBytesOut: 0 },
    close: async () => {},
  });
  const exchanges = o.exchange && n > 1 ? Array.from({ length: n }, (_, g) => new ReplicaExchange({ broadcast: broadcast(g), intervalMs: o.exchange!.intervalMs, staleMs: o.exchange!.staleMs, snapshotMs: 60_000, clock })) : null;
  // Core 0 draws from the single-gateway run's random stream, so N = 1 is exactly the runner without a front.
  const cores = Array.from({ length: n }, (_, g) => new RoutingCore({ ...base, clock, rng: createRng(seed * 2654435761 + g * 7919), ...(exchanges ? { replica: exchanges[g] } : {}) }));
  let stopped = false;
  if (exchanges) {
    const tick = (): void => {
      if (stopped) return;
      for (const x of exchanges) x.flush();
      sched.at(sched.now() + o.exchange!.intervalMs, tick);
    };
    sched.at(o.exchange!.intervalMs, tick);
  }
  let i = 0;
  return {
    cores,
    next: () => cores[i++ % n] as RoutingCore,
    stop() {
      stopped = true;
      void bytes;
    },
  };
}
