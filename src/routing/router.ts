import { GatewayError, systemClock, type Clock } from '../core/index.js';
import { BackendMonitor, type ScrapeFailure } from './backend-monitor.js';
import { RoutingCore, type RoutingCoreOptions } from './core.js';
import type { QueueOptions } from './gateway-queue.js';
import { HealthState, type HealthOptions, type HealthStatus, type HealthTransition } from './health/health-state.js';
import type { EngineMetrics } from './state/engine-metrics.js';
import type { AttemptTracker, BackendTarget, PoolSpec, RouteRequest, RoutingLogger } from './types.js';

/** One backend as /metrics shows it (read at scrape time, never on the request path). */
export interface BackendStats {
  readonly id: string;
  readonly status: HealthStatus;
  readonly healthy: boolean;
  /** Attempts the gateway has in flight there (its own accounting, exact). */
  readonly inFlight: number;
  /** Uncached prompt tokens of in-flight requests still before their first token. */
  readonly prefillTokens: number;
  /** Output tokens in-flight requests are still expected to generate. */
  readonly decodeTokens: number;
  /** Passive ejections since start. */
  readonly ejections: number;
  /** Since the last successful scrape of its /metrics; null when none succeeded (or it is not scraped). */
  readonly scrapeAgeMs: number | null;
  readonly scrapeFailures: ReadonlyMap<ScrapeFailure, number>;
  /** The engine's own numbers from the last scrape (queue, KV-cache use, prefix-cache counters); null before one. */
  readonly engine: EngineMetrics | null;
  /** The last time it left the rotation (ejected or probe down), why, and for how long; null when it never did. */
  readonly lastDown: { readonly status: HealthStatus; readonly reason: string; readonly atMs: number; readonly forMs: number | null } | null;
}

export interface RouterStats {
  readonly backends: readonly BackendStats[];
  /** Requests waiting in the gateway queue. */
  readonly queued: number;
}

export interface Router {
  /**
   * Ordered candidates, best first; the first one is reserved for this request until `begin` is called for it.
   * Under the token-aware policy, when every candidate is saturated the promise waits in the gateway queue.
   * Throws GatewayError 'no_healthy_backend' (503 + Retry-After) or 'rate_limited' (429 + Retry-After).
   */
  plan(pool: PoolSpec, req: RouteRequest, signal?: AbortSignal): BackendTarget[] | Promise<BackendTarget[]>;
  begin(target: BackendTarget, req: RouteRequest): AttemptTracker;
  /**
   * Releases a plan's reservation when the request will not be sent after all (optional; reservations expire). A plan
   * of this request still waiting in the queue leaves it at once, its promise rejected.
   */
  abandon(req: RouteRequest): void;
  isHealthy(id: string): boolean;
  /** Per-backend state for /metrics. */
  stats(): RouterStats;
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
  /** Health transitions and missing endpoints are logged here (one line per change). */
  readonly logger?: RoutingLogger;
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
  const monitorKeys = new Map<string, string>();
  /** Backend id → the public model names whose pools hold it, for log lines. */
  let modelsOf = new Map<string, string>();
  /** Timers that report the end of an ejection (a change time alone makes). */
  const ejectionTimers = new Map<string, NodeJS.Timeout>();
  /** Plans waiting in the gateway queue, by request: abandon() takes one out at once (its client left). */
  const waiting = new Map<RouteRequest, () => void>();
  /** Backend id → its last exit from the rotation, for the console's fleet view (written only on a transition). */
  const lastDown = new Map<string, BackendStats['lastDown']>();
  const onTransition = (id: string, t: HealthTransition): void => {
    if (t.to === 'ejected' || t.to === 'probe_down') lastDown.set(id, { status: t.to, reason: t.reason, atMs: clock.wallMs(), forMs: t.ejectedForMs ?? null });
    const fields = { event: 'backend_health', backend: id, model: modelsOf.get(id) ?? '', from: t.from, to: t.to, reason: t.reason };
    if (t.to === 'ejected' || t.to === 'probe_down') {
      const msg = t.to === 'ejected' ? `backend ejected for ${t.ejectedForMs} ms: ${t.reason}` : `backend unhealthy: ${t.reason}`;
      options.logger?.warn(t.ejectedForMs !== undefined ? { ...fields, ejected_ms: t.ejectedForMs } : fields, msg);
    } else options.logger?.info(fields, `backend ${t.to === 'healthy' ? 'healthy again' : 'back on trial (half-open)'}: ${t.reason}`);
    if (t.to === 'ejected' && t.ejectedForMs !== undefined) watchEjection(id, t.ejectedForMs + 1);
    // A backend back in rotation may take requests that wait in the queue for a usable one.
    else if (t.to === 'half_open' || t.to === 'healthy') core.pump();
  };
  /** Reports the end of an ejection when it comes; failures meanwhile may have extended it, so look again then. */
  const watchEjection = (id: string, ms: number): void => {
    clearTimeout(ejectionTimers.get(id));
    const timer = setTimeout(() => {
      ejectionTimers.delete(id);
      const h = health.get(id);
      if (!h) return;
      const now = clock.now();
      h.check(now);
      if (h.status(now) === 'ejected') watchEjection(id, h.ejectedUntil - now + 1);
    }, ms);
    timer.unref();
    ejectionTimers.set(id, timer);
  };
  const healthOf = (id: string): HealthState => {
    let h = health.get(id);
    if (!h) health.set(id, (h = new HealthState(options, (t) => onTransition(id, t))));
    return h;
  };
  const core = new RoutingCore({
    ...options.core,
    clock,
    ...(options.queue ? { queue: options.queue } : {}),
    usable: (id) => healthOf(id).isHealthy(clock.now()),
    onAttemptEnd(id, result) {
      const h = healthOf(id);
      if (result.ok) h.onSuccess(clock.now());
      else if (result.failure) h.onFailure(result.failure, clock.now());
    },
  });

  const candidatesFor = (pool: PoolSpec): readonly BackendTarget[] => {
    if (pool.targets.length === 0) throw new GatewayError('no_healthy_backend', `Model "${pool.name}" has no backends.`);
    const now = clock.now();
    // The usual case, every backend healthy, returns the pool's own array: no allocation per request.
    let healthy = 0;
    for (const t of pool.targets) if (healthOf(t.id).isHealthy(now)) healthy++;
    if (healthy === pool.targets.length) return pool.targets;
    if (healthy > 0) return pool.targets.filter((t) => healthOf(t.id).isHealthy(now));
    // Every backend is passively ejected: try the ones whose /health still answers, soonest-to-return first (a pool
    // that is entirely ejected is better probed by traffic than refused). Probe-down backends are never tried, nor
    // ones that refused a connection: every request would only be refused again (a 502 instead of this 503 with
    // Retry-After, and a retry spent before a fallback model could answer) until the probes caught up.
    const alive = pool.targets.filter((t) => {
      const h = healthOf(t.id);
      return h.status(now) !== 'probe_down' && !h.refusing(now);
    });
    if (alive.length > 0) return alive.slice().sort((a, b) => healthOf(a.id).ejectedUntil - healthOf(b.id).ejectedUntil);
    // Each is back at a good probe at the earliest, or (refused ones) when its ejection runs out.
    let waitMs = probeIntervalMs > 0 ? probeIntervalMs : Number.POSITIVE_INFINITY;
    for (const t of pool.targets) {
      const h = healthOf(t.id);
      if (h.refusing(now)) waitMs = Math.min(waitMs, h.ejectedUntil - now);
    }
    const retryAfter = Math.max(1, Math.ceil((Number.isFinite(waitMs) ? waitMs : 1000) / 1000));
    throw new GatewayError('no_healthy_backend', `No healthy backend for model "${pool.name}".`, { headers: { 'retry-after': String(retryAfter) } });
  };

  return {
    plan(pool, req, signal) {
      const candidates = candidatesFor(pool);
      // The promise is made only for a request that really waits in the queue; a dispatch decided now (nearly every
      // request) allocates nothing for it. The queue never answers within core.plan, but an answer that came before
      // the promise existed would be kept and delivered all the same.
      let settle: { resolve(o: BackendTarget[]): void; reject(e: unknown): void } | null = null;
      let early: { ok: boolean; value: unknown } | null = null;
      const result = core.plan(pool, candidates, req, {
        resolve: (order) => {
          if (signal?.aborted) core.abandon(req);
          if (settle) settle.resolve(order);
          else early = { ok: true, value: order };
        },
        reject: (err) => {
          if (settle) settle.reject(err);
          else early = { ok: false, value: err };
        },
      });
      if (Array.isArray(result)) return result;
      const handle = result;
      const promise = new Promise<BackendTarget[]>((resolve, reject) => {
        settle = { resolve, reject };
      });
      const answered = early as { ok: boolean; value: unknown } | null;
      if (answered) {
        if (answered.ok) settle!.resolve(answered.value as BackendTarget[]);
        else settle!.reject(answered.value);
      }
      const cancel = (reason: unknown) => {
        handle.cancel();
        settle?.reject(reason);
      };
      waiting.set(req, () => cancel(new GatewayError('internal', 'The request was abandoned while it waited in the queue.')));
      const onAbort = signal ? () => cancel(signal.reason) : null;
      if (signal && onAbort) {
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      const done = () => {
        waiting.delete(req);
        if (signal && onAbort) signal.removeEventListener('abort', onAbort);
      };
      void promise.then(done, done);
      return promise;
    },
    begin: (target, req) => core.begin(target, req),
    abandon(req) {
      if (waiting.size > 0) waiting.get(req)?.();
      core.abandon(req);
    },
    isHealthy: (id) => healthOf(id).isHealthy(clock.now()),
    stats() {
      const now = clock.now();
      const backends: BackendStats[] = [];
      for (const [id, m] of monitors) {
        const h = healthOf(id);
        const s = core.stateById(id);
        const status = h.status(now);
        backends.push({
          id,
          status,
          healthy: status === 'healthy' || status === 'half_open',
          inFlight: s?.inFlight ?? 0,
          prefillTokens: s?.uncachedInFlight ?? 0,
          decodeTokens: Math.max(0, s?.remainingOutput ?? 0),
          ejections: h.ejectionsTotal,
          scrapeAgeMs: s && Number.isFinite(s.metricsAt) ? Math.max(0, now - s.metricsAt) : null,
          scrapeFailures: m.scrapeFailures,
          engine: s && Number.isFinite(s.metricsAt) ? s.metrics : null,
          lastDown: lastDown.get(id) ?? null,
        });
      }
      return { backends, queued: core.queued };
    },
    setPools(pools) {
      const ids = new Set<string>();
      const names = new Map<string, string>();
      for (const pool of pools) for (const t of pool.targets) names.set(t.id, names.has(t.id) ? `${names.get(t.id)},${pool.name}` : pool.name);
      modelsOf = names;
      for (const pool of pools) {
        for (const t of pool.targets) {
          ids.add(t.id);
          const state = core.state(t);
          // A reload that changes what is polled (kind, paths, credentials) restarts the backend's monitor.
          const key = `${t.kind} ${t.origin ?? ''} ${t.paths?.probe ?? ''} ${t.paths?.metrics ?? ''} ${t.authorization ?? ''}`;
          if (monitorKeys.get(t.id) !== key) {
            monitors.get(t.id)?.stop();
            monitors.delete(t.id);
            monitorKeys.set(t.id, key);
          }
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
                ...(options.logger ? { log: options.logger } : {}),
                models: () => modelsOf.get(t.id) ?? '',
              }),
            );
          }
        }
      }
      for (const [id, m] of monitors) {
        if (ids.has(id)) continue;
        m.stop();
        monitors.delete(id);
        monitorKeys.delete(id);
        health.delete(id);
        lastDown.delete(id);
        clearTimeout(ejectionTimers.get(id));
        ejectionTimers.delete(id);
      }
      core.retain(ids);
    },
    close() {
      for (const m of monitors.values()) m.stop();
      monitors.clear();
      for (const t of ejectionTimers.values()) clearTimeout(t);
      ejectionTimers.clear();
    },
  };
}
