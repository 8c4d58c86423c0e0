import { createTokenAware, type TokenAwareOptions } from '../../routing/policies/index.js';
import type { PolicyName } from '../../routing/types.js';
import { catalogEntry } from './catalog.js';
import { runSimulation } from './runner.js';
import type { FloorSample } from './floor.js';
import { scenario } from './bench-scenarios.js';
import { percentile } from './stats.js';
import type { Workload } from './workload-types.js';

/** One benchmark run, as sent to a worker process. Plain data (it crosses IPC). */
export interface BenchJob {
  readonly scenario: string;
  readonly scale: number;
  readonly policy: PolicyName;
  readonly qps: number;
  readonly seed: number;
  readonly tokenAware?: TokenAwareOptions;
  /** Also compute the unloaded floor of the measured requests (floor.ts). */
  readonly floor?: boolean;
}

export interface BenchSummary {
  readonly ttftP50: number;
  readonly ttftP99: number;
  readonly e2eP99: number;
  readonly itlP99: number;
  readonly outputTps: number;
  readonly hitRate: number;
  readonly completed: number;
  readonly failed: number;
  readonly preemptions: number;
  readonly decisionP99Us: number;
  readonly wallMs: number;
  /** Mean decoding batch and KV-resident tokens per backend over the measured window. */
  readonly meanRunning: number;
  readonly meanKvTokens: number;
  /** Floor samples of the measured requests (only when the job asked for them) and the idle replica's speed. */
  readonly floor?: readonly FloorSample[];
  readonly floorSpeed?: number;
}

const workloads = new Map<string, Workload>();

function workloadFor(name: string, scale: number): Workload {
  const key = `${name}@${scale}`;
  let w = workloads.get(key);
  if (!w) {
    w = catalogEntry(name).build(scale);
    workloads.set(key, w);
  }
  return w;
}

export function runJob(job: BenchJob): BenchSummary {
  const started = performance.now();
  const sc = scenario(job.scenario);
  const workload = workloadFor(sc.workload, job.scale);
  const r = runSimulation({
    workload,
    policy: job.policy,
    ...(job.tokenAware ? { policies: { token_aware: createTokenAware(job.tokenAware) } } : {}),
    qps: job.qps,
    seed: job.seed,
    backends: sc.backends,
    ...(sc.arrivalCv !== undefined ? { arrivalCv: sc.arrivalCv } : {}),
    ...(sc.restart ? { restart: sc.restart } : {}),
    ...(job.floor ? { floorSamples: 2000 } : {}),
  });
  return {
    ttftP50: percentile(r.ttftMs, 50),
    ttftP99: percentile(r.ttftMs, 99),
    e2eP99: percentile(r.e2eMs, 99),
    itlP99: r.itl.percentile(99),
    outputTps: (r.outputTokens / r.windowMs) * 1000,
    hitRate: r.promptTokens > 0 ? r.cachedTokens / r.promptTokens : 0,
    completed: r.completed,
    failed: r.failed,
    preemptions: r.preemptions,
    decisionP99Us: percentile(r.decisionUs, 99),
    wallMs: performance.now() - started,
    meanRunning: r.meanRunning,
    meanKvTokens: r.meanKvTokens,
    ...(job.floor ? { floor: r.floor, floorSpeed: r.floorSpeed } : {}),
  };
}
