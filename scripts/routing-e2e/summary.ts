/** Per-run figures from the client's records, in simulated time, defined as the discrete-event runner defines them. */
import { percentile } from '../../src/sim/des/stats.js';
import type { RunSummary } from './des-ref.js';
import type { RequestRecord, RunData } from './run.js';

export interface E2eSummary extends RunSummary {
  /** Hit rate from the simulators' own /metrics-side counters (all requests of the run, warm-up included). */
  readonly engineHitRate: number;
  /** Mean over simulators of Σ timer lateness ÷ Σ scheduled time. */
  readonly simSlowdown: number;
  readonly simLateP99RealMs: number;
  readonly sendLagP99RealMs: number;
  readonly preemptions: number;
  readonly firstError: string | null;
  readonly wallMs: number;
  /** CPU used while the schedule played, as a share of one core: gateway, the 4 sims together, load generator. */
  readonly cpuGateway: number;
  readonly cpuSims: number;
  readonly cpuDriver: number;
  /** CPU used by everything else on the machine during the run, in cores (null when unknown). */
  readonly cpuOthers: number | null;
  /** p50/p99 of the gateway's own time before the response started (server-timing), real ms. */
  readonly gatewayP50RealMs: number;
  readonly gatewayP99RealMs: number;
  /** Gateway counters over the whole run (warm-up included). */
  readonly retries: number;
  readonly ejections: number;
  readonly inFlightAfter: number;
  readonly queueWaits: number;
}

/** A refused or failed request counts as an infinite TTFT (as in the discrete-event benchmark). */
export function summarize(run: RunData, stage: number, outputTokens: number): E2eSummary {
  const rs = run.records.filter((r) => r.stage === stage);
  const ok = (r: RequestRecord) => r.outcome.error === null && r.outcome.status === 200 && r.outcome.completionTokens === outputTokens;
  const good = rs.filter(ok);
  const bad = rs.filter((r) => !ok(r));
  const ttft = [...good.map((r) => r.ttftMs), ...bad.map(() => Number.POSITIVE_INFINITY)];
  const firstArrival = Math.min(...rs.map((r) => r.arrivalMs));
  const lastEnd = Math.max(...good.map((r) => r.arrivalMs + r.e2eMs));
  let out = 0;
  let prompt = 0;
  let cached = 0;
  for (const r of good) {
    out += r.outcome.completionTokens;
    prompt += r.outcome.promptTokens;
    cached += r.outcome.cachedTokens;
  }
  let q = 0;
  let h = 0;
  let slow = 0;
  let late99 = 0;
  let pre = 0;
  for (const s of run.sims) {
    q += s.prefixQueries;
    h += s.prefixHits;
    slow += s.slowdown / run.sims.length;
    late99 = Math.max(late99, s.lateP99RealMs);
    pre += s.preemptions;
  }
  const firstBad = bad[0];
  return {
    ttftP50: percentile(ttft, 50),
    ttftP99: percentile(ttft, 99),
    e2eP99: percentile(good.map((r) => r.e2eMs), 99),
    outputTps: good.length ? (out / Math.max(1, lastEnd - firstArrival)) * 1000 : 0,
    hitRate: prompt > 0 ? cached / prompt : 0,
    completed: good.length,
    errors: bad.length,
    engineHitRate: q > 0 ? h / q : 0,
    simSlowdown: slow,
    simLateP99RealMs: late99,
    sendLagP99RealMs: run.sendLagP99RealMs,
    preemptions: pre,
    firstError: firstBad ? (firstBad.outcome.error ?? `completion_tokens ${firstBad.outcome.completionTokens}`) : null,
    wallMs: run.wallMs,
    cpuGateway: run.cpu.gateway / run.cpu.realS,
    cpuSims: run.cpu.sims / run.cpu.realS,
    cpuDriver: run.cpu.driver / run.cpu.realS,
    cpuOthers: run.cpu.others === null ? null : run.cpu.others / run.cpu.realS,
    gatewayP50RealMs: percentile(good.map((r) => r.outcome.gatewayRealMs).filter(Number.isFinite), 50),
    gatewayP99RealMs: percentile(good.map((r) => r.outcome.gatewayRealMs).filter(Number.isFinite), 99),
    retries: run.gateway.retries,
    ejections: run.gateway.ejections,
    inFlightAfter: run.gateway.inFlightAfter,
    queueWaits: run.gateway.queueWaits,
  };
}
