/**
 * The discrete-event reference for the end-to-end run: the same prompts, the same arrivals, the same engine code and
 * fleet shape, on a virtual clock, with the gateway's RoutingCore in-process (src/sim/des/runner.ts). What the
 * real-time run should reproduce, up to real-time effects (timer lag, loopback and gateway overhead, scrape timing).
 */
import { runSimulation } from '../../src/sim/des/runner.js';
import { percentile } from '../../src/sim/des/stats.js';
import type { PolicyName } from '../../src/routing/types.js';
import type { E2eWorkload } from './workload.js';

export interface RunSummary {
  readonly ttftP50: number;
  readonly ttftP99: number;
  readonly e2eP99: number;
  readonly outputTps: number;
  readonly hitRate: number;
  readonly completed: number;
  readonly errors: number;
}

export interface DesOptions {
  readonly replicas: number;
  readonly kvBlocks: number;
  /** Scrape period in simulated ms (the e2e run's real period divided by the time scale). */
  readonly scrapeMs: number;
}

export function desRun(w: E2eWorkload, policy: PolicyName, qps: number, seed: number, o: DesOptions, measureMs?: number): RunSummary {
  const workload = measureMs === undefined ? w.des : { ...w.des, measureMs };
  const r = runSimulation({
    workload,
    policy,
    qps,
    seed,
    backends: Array.from({ length: o.replicas }, () => ({ numGpuBlocks: o.kvBlocks })),
    scrapeIntervalMs: o.scrapeMs,
  });
  return {
    ttftP50: percentile(r.ttftMs, 50),
    ttftP99: percentile(r.ttftMs, 99),
    e2eP99: percentile(r.e2eMs, 99),
    outputTps: (r.outputTokens / r.windowMs) * 1000,
    hitRate: r.promptTokens > 0 ? r.cachedTokens / r.promptTokens : 0,
    completed: r.completed,
    errors: r.failed,
  };
}

/**
 * Round-robin's saturation on the virtual clock: the highest QPS whose TTFT p99 stays within the SLO (×1.25 steps
 * from `start`, then two geometric bisections).
 */
export function desSaturation(w: E2eWorkload, seed: number, o: DesOptions, start: number): number {
  const ok = (q: number): boolean => {
    const s = desRun(w, 'round_robin', q, seed, o);
    return s.completed > 0 && s.errors === 0 && s.ttftP99 <= w.spec.sloTtftMs;
  };
  let lo = 0;
  let hi = Number.POSITIVE_INFINITY;
  let q = start;
  if (ok(q)) {
    lo = q;
    for (let i = 0; i < 8 && hi === Number.POSITIVE_INFINITY; i++) {
      q *= 1.25;
      if (ok(q)) lo = q;
      else hi = q;
    }
  } else {
    hi = q;
    for (let i = 0; i < 8 && lo === 0; i++) {
      q /= 1.25;
      if (ok(q)) lo = q;
      else hi = q;
    }
  }
  if (!Number.isFinite(hi) || lo === 0) return lo || q;
  for (let i = 0; i < 2; i++) {
    const mid = Math.sqrt(lo * hi);
    if (ok(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
