import { GatewayError, systemClock, type Clock } from '../core/index.js';
import { BackendMonitor } from './backend-monitor.js';
import { RoutingCore, type RoutingCoreOptions } from './core.js';
import type { QueueOptions } from './gateway-queue.js';
import { HealthState, type HealthOptions } from './health/health-state.js';
import type { AttemptTracker, BackendTarget, PoolSpec, RouteRequest } from './types.js';

export interface Router {
  /**
   * Ordered candidates, best first; the first one is reserved for this request until `begin` is called for it.
   * Under the token-aware policy, when every candidate is saturated the promise waits in the gateway queue.
   * Throws GatewayError 'no_healthy_backend' (503 + Retry-After) or 'rate_limited' (429 + Retry-After).
   */
  plan(pool: PoolSpec, req: RouteRequest, signal?: AbortSignal): BackendTarget[] | Promise<BackendTarget[]>;
  begin(target: BackendTarget, req: RouteRequest): AttemptTracker;
  /** Releases a plan's reservation when the request will not be sent after all (optional; reservations expire). */
  abandon(req: RouteRequest): void;
  isHealthy(id: string): boolean;
  /** Called on every config swap with all pools: monitors start/stop for added/removed URLs; state of kept ids survives. */
  setPools(pools: readonly PoolSpec[]): void;
  close(): void;
}

export interface RouterOptions extends HealthOptions {
  readonly clock?: Clock;
  /** /health probe period (ms); 0 disables active probes. Default 5000. */
  readonly probeIntervalMs?: number;
  /** /metrics scrape period (ms); 0 disables scraping. Default 250. */
  readonly scrapeIntervalMs?: number;
  /** Timeout of one probe or scrape (ms). Default 2000. */
  readonly monitorTimeoutMs?: number;
  /** Timeout of one /health probe (ms). Default monitorTimeoutMs. */
  readonly probeTimeoutMs?: number;
  /** Timeout of one /metrics scrape (ms). Default four scrape intervals, at least 100, at most monitorTimeoutMs. */
  readonly scrapeTimeoutMs?: number;
  readonly queue?: QueueOptions;
  /** Advanced: policy overrides, engine profile, chars per block, rng (see RoutingCoreOptions). */
  readonly core?: Omit<RoutingCoreOptions, 'clock' | 'onAttemptEnd' | 'queue'>;
}

/**
 * The gateway's router: RoutingCore (policies, live state, gateway queue) plus health and the I/O that feeds them.
 */
export function createRouter(options: RouterOptions = {}): Router {
  const clock = options.clock ?? systemClock;
  const probeIntervalMs = options.probeIntervalMs ?? 5000;
  const scrapeIntervalMs = options.scrapeIntervalMs ?? 250;
  const monitorTimeoutMs = options.monitorTimeoutMs ?? 2000;
  const health = new Map<string, HealthState>();
  const monitors = new Map<string, BackendMonitor>();
  const healthOf = (id: string): HealthState => {
    let h = health.get(id);
    if (!h) health.set(id, (h = new HealthState(options)));
    return h;
  };
  const core = new RoutingCore({
    ...options.core,
    clock,
    ...(options.queue ? { queue: options.queue } : {}),
    onAttemptEnd(id, result) {
      const h = healthOf(id);
      if (result.ok) h.onSuccess();
      else if (result.failure) h.onFailure(result.failure, clock.now());
    },
  });

  const candidatesFor = (pool: PoolSpec): readonly BackendTarget[] => {
    if (pool.targets.length === 0) throw new GatewayError('no_healthy_backend', `Model "${pool.name}" has no backends.`);
    const now = clock.now();
    const live = pool.targets.filter((t) => healthOf(t.id).isHealthy(now));
    if (live.length > 0) return live;
    // Every backend is passively ejected: try the ones whose /health still answers, soonest-to-return first (a pool
    // that is entirely ejected is better probed by traffic than refused). Probe-down backends are never tried.
    const alive = pool.targets.filter((t) => healthOf(t.id).status(now) !== 'probe_down');
    if (alive.length > 0) return alive.slice().sort((a, b) => healthOf(a.id).ejectedUntil - healthOf(b.id).ejectedUntil);
    const retryAfter = Math.max(1, Math.ceil(probeIntervalMs / 1000));
    throw new GatewayError('no_healthy_backend', `No healthy backend for model "${pool.name}".`, { headers: { 'retry-after': String(retryAfter) } });
  };

  return {
    plan(pool, req, signal) {
      const candidates = candidatesFor(pool);
      let handle: { cancel(): void } | null = null;
      let settle: { resolve(o: BackendTarget[]): void; reject(e: unknown): void } | null = null;
      const promise = new Promise<BackendTarget[]>((resolve, reject) => {
        settle = { resolve, reject };
      });
      const result = core.plan(pool, candidates, req, {
        resolve: (order) => {
          if (signal?.aborted) core.abandon(req);
          settle?.resolve(order);
        },
        reject: (err) => settle?.reject(err),
      });
      if (Array.isArray(result)) return result;
      handle = result;
      if (signal) {
        const onAbort = () => {
          handle?.cancel();
          settle?.reject(signal.reason);
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
        void promise.then(
          () => signal.removeEventListener('abort', onAbort),
          () => signal.removeEventListener('abort', onAbort),
        );
      }
      return promise;
    },
    begin: (target, req) => core.begin(target, req),
    abandon: (req) => core.abandon(req),
    isHealthy: (id) => healthOf(id).isHealthy(clock.now()),
    setPools(pools) {
      const ids = new Set<string>();
      for (const pool of pools) {
        for (const t of pool.targets) {
          ids.add(t.id);
          const state = core.state(t);
          if (!monitors.has(t.id)) {
            monitors.set(
              t.id,
              new BackendMonitor(t, state, healthOf(t.id), {
                clock,
                scrapeIntervalMs,
                probeIntervalMs,
                timeoutMs: options.probeTimeoutMs ?? monitorTimeoutMs,
                scrapeTimeoutMs: options.scrapeTimeoutMs ?? Math.min(monitorTimeoutMs, Math.max(100, scrapeIntervalMs * 4)),
                onScrape: () => core.pump(),
              }),
            );
          }
        }
      }
      for (const [id, m] of monitors) {
        if (ids.has(id)) continue;
        m.stop();
        monitors.delete(id);
        health.delete(id);
      }
      core.retain(ids);
    },
    close() {
      for (const m of monitors.values()) m.stop();
      monitors.clear();
    },
  };
}
