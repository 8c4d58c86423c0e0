import { request } from 'undici';
import type { Clock } from '../core/index.js';
import type { HealthState } from './health/health-state.js';
import { startPoller, type Poller } from './poller.js';
import type { BackendState } from './state/backend-state.js';
import { metricsFromText, scrapeableKind } from './state/metrics-parse.js';
import type { BackendTarget } from './types.js';

export interface MonitorOptions {
  readonly clock: Clock;
  /** /metrics scrape period; 0 disables scraping. */
  readonly scrapeIntervalMs: number;
  /** /health probe period; 0 disables probing. */
  readonly probeIntervalMs: number;
  readonly timeoutMs: number;
  /** Timeout of one scrape; default four scrape intervals, at least 100ms, at most `timeoutMs`. */
  readonly scrapeTimeoutMs?: number;
  /** Called after a scrape changed the state (capacity may have freed). */
  readonly onScrape: () => void;
}

/**
 * The I/O side of one backend: scrapes its /metrics into its BackendState and probes /health into its HealthState.
 * Both run off the request path; a slow or failed scrape only leaves the last good sample (and the gateway's own
 * accounting) in place, so routing never waits on it.
 */
export class BackendMonitor {
  readonly #pollers: Poller[] = [];
  scrapeFailures = 0;
  probeFailures = 0;

  constructor(target: BackendTarget, state: BackendState, health: HealthState, o: MonitorOptions) {
    const base = target.url.replace(/\/+$/, '');
    const kind = target.kind;
    if (o.scrapeIntervalMs > 0 && scrapeableKind(kind)) {
      this.#pollers.push(
        startPoller({
          intervalMs: o.scrapeIntervalMs,
          timeoutMs: o.scrapeTimeoutMs ?? Math.min(o.timeoutMs, Math.max(100, o.scrapeIntervalMs * 4)),
          run: async (signal) => {
            const res = await request(`${base}/metrics`, { method: 'GET', signal });
            if (res.statusCode !== 200) {
              await res.body.dump();
              throw new Error(`metrics ${res.statusCode}`);
            }
            state.applyMetrics(metricsFromText(kind, await res.body.text()), o.clock.now());
            o.onScrape();
          },
          onError: () => {
            this.scrapeFailures++;
          },
        }),
      );
    }
    if (o.probeIntervalMs > 0) {
      this.#pollers.push(
        startPoller({
          intervalMs: o.probeIntervalMs,
          timeoutMs: o.timeoutMs,
          run: async (signal) => {
            let ok = false;
            try {
              const res = await request(`${base}/health`, { method: 'GET', signal });
              await res.body.dump();
              ok = res.statusCode >= 200 && res.statusCode < 300;
            } finally {
              if (!ok) this.probeFailures++;
              health.onProbe(ok, o.clock.now());
            }
          },
        }),
      );
    }
  }

  stop(): void {
    for (const p of this.#pollers) p.stop();
  }
}
