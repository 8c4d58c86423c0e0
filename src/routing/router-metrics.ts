import type { GaugeSample } from '../telemetry/index.js';
import type { ScrapeFailure } from './backend-monitor.js';
import type { RouterStats } from './router.js';

const SCRAPE_REASONS: readonly ScrapeFailure[] = ['missing', 'status', 'timeout', 'connect'];

/**
 * The router's per-backend series for /metrics (names catalogued in telemetry/collectors.ts). Built at scrape time
 * from `Router.stats()`, so nothing is counted twice on the request path. Scrape-failure counters start at 0 for
 * every reason of a backend, so rate() works before the first failure.
 */
export function routerSamples(stats: RouterStats): GaugeSample[] {
  const out: GaugeSample[] = [{ name: 'infergate_queue_depth', value: stats.queued }];
  for (const b of stats.backends) {
    const backend = b.id;
    out.push(
      { name: 'infergate_backend_healthy', labels: { backend }, value: b.healthy ? 1 : 0 },
      { name: 'infergate_backend_in_flight_requests', labels: { backend }, value: b.inFlight },
      { name: 'infergate_backend_in_flight_tokens', labels: { backend, phase: 'prefill' }, value: Math.round(b.prefillTokens) },
      { name: 'infergate_backend_in_flight_tokens', labels: { backend, phase: 'decode' }, value: Math.round(b.decodeTokens) },
      { name: 'infergate_backend_ejections_total', labels: { backend }, value: b.ejections },
    );
    if (b.scrapeAgeMs !== null) out.push({ name: 'infergate_backend_scrape_age_seconds', labels: { backend }, value: b.scrapeAgeMs / 1000 });
    for (const reason of SCRAPE_REASONS) {
      out.push({ name: 'infergate_backend_scrape_failures_total', labels: { backend, reason }, value: b.scrapeFailures.get(reason) ?? 0 });
    }
  }
  return out;
}
