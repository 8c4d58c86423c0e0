import { request } from 'undici';
import type { Clock } from '../core/index.js';
import type { HealthState } from './health/health-state.js';
import { startPoller, type Poller } from './poller.js';
import type { BackendState } from './state/backend-state.js';
import { metricsFromText, scrapeableKind } from './state/metrics-parse.js';
import type { BackendTarget, RoutingLogger } from './types.js';

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
  readonly log?: RoutingLogger;
  /** The public model names served by this backend, for log lines. */
  readonly models?: () => string;
}

/** Why a scrape failed; the `reason` label of infergate_backend_scrape_failures_total. */
export type ScrapeFailure = 'missing' | 'status' | 'timeout' | 'connect';

/**
 * A missing /metrics (404, 405, 501: llama-server without --metrics, servers that have none) is asked again after
 * doubling delays up to this: it may appear after a restart with other flags, but polling it 4 times a second
 * forever only adds load and log noise.
 */
export const MISSING_METRICS_MAX_BACKOFF_MS = 5 * 60_000;
/** Other failures (down, timing out) back off less: the page is there, and a fresh scrape matters after a restart. */
const FAILING_MAX_BACKOFF_MS = 5_000;

class ScrapeError extends Error {
  constructor(
    readonly reason: ScrapeFailure,
    readonly status: number,
  ) {
    super(`metrics answered ${status}`);
  }
}

function failureOf(err: unknown): ScrapeFailure {
  if (err instanceof ScrapeError) return err.reason;
  const name = err instanceof Error ? err.name : '';
  return name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'connect';
}

/** A short description of a failed probe for the health log ("503", "timeout", "ECONNREFUSED"). */
function probeDetail(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timeout';
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err.message;
}

/**
 * The I/O side of one backend: scrapes its /metrics into its BackendState and probes its liveness endpoint into its
 * HealthState, both at the server's root paths compiled for its kind. Both run off the request path; a slow or
 * failed scrape only leaves the last good sample (and the gateway's own accounting) in place, so routing never
 * waits on it.
 */
export class BackendMonitor {
  readonly #pollers: Poller[] = [];
  /** Failed scrapes by reason, since start. */
  readonly scrapeFailures = new Map<ScrapeFailure, number>();
  probeFailures = 0;
  /** Consecutive failed scrapes and whether the last one found no page at all. */
  #failStreak = 0;
  #missing = false;

  constructor(target: BackendTarget, state: BackendState, health: HealthState, o: MonitorOptions) {
    const origin = target.origin ?? new URL(target.url).origin;
    const probePath = target.paths ? target.paths.probe : '/health';
    const metricsPath = target.paths ? target.paths.metrics : '/metrics';
    const kind = target.kind;
    // An engine's own key (--api-key) guards its API, never /health or /metrics, so only a probe that is an API call
    // (kind openai) sends it; credentials from the URL belong to a proxy in front of the whole server, so every poll does.
    const auth = target.authorization;
    const monitorHeaders = auth && (kind === 'openai' || auth.startsWith('Basic ')) ? { authorization: auth } : undefined;
    const fields = () => ({ backend: target.id, model: o.models?.() ?? '' });
    if (o.scrapeIntervalMs > 0 && metricsPath !== null && scrapeableKind(kind)) {
      const url = origin + metricsPath;
      this.#pollers.push(
        startPoller({
          intervalMs: o.scrapeIntervalMs,
          timeoutMs: o.scrapeTimeoutMs ?? Math.min(o.timeoutMs, Math.max(100, o.scrapeIntervalMs * 4)),
          run: async (signal) => {
            const res = await request(url, { method: 'GET', signal, ...(monitorHeaders ? { headers: monitorHeaders } : {}) });
            if (res.statusCode !== 200) {
              await res.body.dump();
              const s = res.statusCode;
              throw new ScrapeError(s === 404 || s === 405 || s === 501 ? 'missing' : 'status', s);
            }
            const text = await res.body.text();
            if (this.#missing) o.log?.info({ event: 'backend_metrics_found', ...fields(), path: metricsPath }, 'backend serves /metrics again; scraping resumes');
            this.#failStreak = 0;
            this.#missing = false;
            state.applyMetrics(metricsFromText(kind, text), o.clock.now());
            o.onScrape();
          },
          onError: (err) => {
            const reason = failureOf(err);
            this.scrapeFailures.set(reason, (this.scrapeFailures.get(reason) ?? 0) + 1);
            this.#failStreak++;
            const wasMissing = this.#missing;
            this.#missing = reason === 'missing';
            if (this.#missing && !wasMissing) {
              o.log?.warn(
                { event: 'backend_metrics_missing', ...fields(), path: metricsPath, status: (err as ScrapeError).status },
                `backend has no ${metricsPath}; routing uses the gateway's own accounting and asks again rarely (backoff up to ${MISSING_METRICS_MAX_BACKOFF_MS / 60_000} min)`,
              );
            }
          },
          nextDelayMs: () => {
            if (this.#failStreak === 0) return o.scrapeIntervalMs;
            const cap = this.#missing ? MISSING_METRICS_MAX_BACKOFF_MS : Math.max(o.scrapeIntervalMs, FAILING_MAX_BACKOFF_MS);
            return Math.min(cap, o.scrapeIntervalMs * 2 ** Math.min(this.#failStreak, 30));
          },
        }),
      );
    }
    if (o.probeIntervalMs > 0 && probePath !== null) {
      const url = origin + probePath;
      const headers = monitorHeaders;
      this.#pollers.push(
        startPoller({
          intervalMs: o.probeIntervalMs,
          timeoutMs: o.timeoutMs,
          run: async (signal) => {
            let ok = false;
            let detail = '';
            try {
              const res = await request(url, { method: 'GET', signal, ...(headers ? { headers } : {}) });
              await res.body.dump();
              ok = res.statusCode >= 200 && res.statusCode < 300;
              if (!ok) detail = `${probePath} answered ${res.statusCode}`;
            } catch (err) {
              detail = probeDetail(err);
            } finally {
              if (!ok) this.probeFailures++;
              health.onProbe(ok, o.clock.now(), detail);
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
