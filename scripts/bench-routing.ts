/**
 * Discrete-event routing benchmark (issue 3): every policy over the same simulated fleet of vLLM-faithful engines and
 * the same seeded arrivals. Per scenario: find round-robin's saturation QPS (TTFT p99 ≤ SLO), run every policy at
 * 80% of it (3 seeds), search each policy's max QPS at SLO, then print the tables and write bench/results/routing.md.
 *
 *   npm run bench:routing                 full run (≈10–15 min on 2 cores)
 *   npm run bench:routing -- --quick      4 scenarios, 6 policies, 1 seed, only token_aware's max QPS (≈2 min)
 *   options: --scale=0.5 (workload size) --only=a,b  --policies=x,y  --seeds=N  --workers=N  --no-sweep  --variant='{"decodeHorizonSteps":8}'
 *            --out=path
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { TokenAwareOptions } from '../src/routing/policies/index.js';
import type { PolicyName } from '../src/routing/types.js';
import type { BenchJob, BenchSummary } from '../src/sim/des/bench-job.js';
import { BenchPool } from '../src/sim/des/bench-pool.js';
import { BASELINES, checkTargets, floorStats, meanSummary, OURS, scenarioTable, targetsTable, type PolicyRow, type ScenarioResult, type TargetCheck } from '../src/sim/des/bench-report.js';
import { SCENARIOS, type Scenario } from '../src/sim/des/bench-scenarios.js';
import { catalogEntry } from '../src/sim/des/catalog.js';
import { measureDecisions } from '../src/sim/des/bench-decision.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    policies: { type: 'string' },
    seeds: { type: 'string' },
    scale: { type: 'string' },
    workers: { type: 'string', default: '2' },
    'no-sweep': { type: 'boolean', default: false },
    variant: { type: 'string' },
    out: { type: 'string', default: 'bench/results/routing.md' },
  },
});

const quick = args.quick === true;
const scale = Number(args.scale ?? 1);
const seeds = Number(args.seeds ?? (quick ? 1 : 3));
// Quick mode keeps the baselines that matter for the targets; the load-only ones are close to round-robin.
const QUICK_POLICIES: PolicyName[] = ['round_robin', 'epp_default', 'sticky_until_saturated', 'sglang_cache_aware', 'lmetric', OURS];
const policies: PolicyName[] = args.policies ? (args.policies.split(',') as PolicyName[]) : quick ? QUICK_POLICIES : [...BASELINES, OURS];
if (!policies.includes('round_robin')) policies.unshift('round_robin');
const variant: TokenAwareOptions | undefined = args.variant ? (JSON.parse(args.variant) as TokenAwareOptions) : undefined;
const only = args.only ? new Set(args.only.split(',')) : null;
const scenarios = SCENARIOS.filter((s) => (only ? only.has(s.name) : !quick || s.quick));

const pool = new BenchPool(Math.max(1, Number(args.workers)));
const started = performance.now();

function job(sc: Scenario, policy: PolicyName, qps: number, seed: number, floor = false): BenchJob {
  return { scenario: sc.name, scale, policy, qps, seed, ...(variant && policy === OURS ? { tokenAware: variant } : {}), ...(floor ? { floor: true } : {}) };
}

/**
 * Highest QPS whose TTFT p99 meets the SLO, one seed: step from `start` by ×factor until the answer flips, then
 * bisect geometrically `steps` times. Resolution ≈ factor^(1/2^steps).
 */
async function maxQpsAtSlo(sc: Scenario, policy: PolicyName, sloMs: number, start: number, factor: number, steps: number): Promise<number> {
  const ok = async (q: number) => {
    const s: BenchSummary = await pool.run(job(sc, policy, q, 1));
    return s.completed > 0 && s.ttftP99 <= sloMs;
  };
  let lo = 0;
  let hi = Number.POSITIVE_INFINITY;
  let q = start;
  if (await ok(q)) {
    lo = q;
    for (let i = 0; i < 6 && hi === Number.POSITIVE_INFINITY; i++) {
      q *= factor;
      if (await ok(q)) lo = q;
      else hi = q;
    }
  } else {
    hi = q;
    for (let i = 0; i < 6 && lo === 0; i++) {
      q /= factor;
      if (await ok(q)) lo = q;
      else hi = q;
    }
  }
  if (lo === 0 || hi === Number.POSITIVE_INFINITY) return lo;
  for (let i = 0; i < steps; i++) {
    const mid = Math.sqrt(lo * hi);
    if (await ok(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

async function runScenario(sc: Scenario): Promise<ScenarioResult> {
  const w = catalogEntry(sc.workload).build(scale);
  const slo = w.sloTtftMs;
  const rrSat = await maxQpsAtSlo(sc, 'round_robin', slo, sc.qpsHint, 1.5, quick ? 2 : 3);
  const load = 0.8 * rrSat;
  // Round-robin's first seed also replays its measured requests alone on an idle replica: the scenario's floor.
  const at80 = policies.map((p) => Promise.all(Array.from({ length: seeds }, (_, i) => pool.run(job(sc, p, load, i + 1, p === 'round_robin' && i === 0)))));
  // Quick mode sweeps only token_aware; the full run sweeps it and the cache-aware baselines (the load-only ones
  // saturate with round-robin, whose knee is already known).
  const sweep = (p: PolicyName) => !args['no-sweep'] && (p === OURS || (!quick && QUICK_POLICIES.includes(p)));
  const sweeps = policies.map((p) => (p === 'round_robin' ? Promise.resolve(rrSat) : sweep(p) ? maxQpsAtSlo(sc, p, slo, rrSat, 1.25, quick ? 1 : 2) : Promise.resolve(Number.NaN)));
  const rows: PolicyRow[] = [];
  let floorRun: BenchSummary | undefined;
  for (let i = 0; i < policies.length; i++) {
    const runs = await (at80[i] as Promise<BenchSummary[]>);
    floorRun ??= runs.find((x) => x.floor !== undefined);
    rows.push({ policy: policies[i] as PolicyName, at80: meanSummary(runs), maxQps: await (sweeps[i] as Promise<number>) });
  }
  const lightest = (f: (s: BenchSummary) => number) => Math.min(...rows.map((x) => f(x.at80)));
  const floor = floorRun?.floor && floorRun.floor.length > 0 ? floorStats(floorRun.floor, floorRun.floorSpeed ?? 1, lightest((s) => s.meanRunning), lightest((s) => s.meanKvTokens)) : undefined;
  return { scenario: sc, title: w.title, sloTtftMs: slo, rrSaturationQps: rrSat, loadQps: load, seeds, rows, ...(floor ? { floor } : {}) };
}

try {
  const results: ScenarioResult[] = [];
  const checks: TargetCheck[] = [];
  // Scenarios run one after another; inside each, all runs share the worker pool.
  for (const sc of scenarios) {
    const t0 = performance.now();
    const r = await runScenario(sc);
    results.push(r);
    checks.push(...checkTargets(r));
    console.log(`\n${scenarioTable(r)}\n(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const latency = [8, 64].map((n) => measureDecisions(n));
  const elapsed = (performance.now() - started) / 1000;
  const decision = results.flatMap((r) => r.rows.filter((x) => x.policy === OURS).map((x) => x.at80.decisionP99Us));
  const latencyLine = latency.map((l) => `${l.backends} backends: p50 ${l.p50Us.toFixed(0)} µs, p99 ${l.p99Us.toFixed(0)} µs`).join('; ');
  const header = [
    '# Routing benchmark (discrete-event, simulated vLLM 8B/H100 replicas)',
    '',
    `Generated by \`npm run bench:routing${quick ? ' -- --quick' : ''}\` in ${elapsed.toFixed(0)} s. Fleet: 8 simulated replicas (vLLM V1 scheduler, 8192-token budget, 29,205 × 16-token KV blocks, prefix caching, per-step cost model of routing-research.md §6.2). Every policy sees the same seeded arrivals, prompts and engine jitter. token_aware runs with the gateway's defaults${variant ? ` overridden by ${JSON.stringify(variant)}` : ''}; the endpoint picker scrapes every 50 ms, token_aware every 250 ms.`,
    '',
    `token_aware decision time (plan: prefix hashing of a 7.2k-token prompt + scoring + reservation, warm state, wall clock): ${latencyLine}. Inside the runs above (8 backends, with GC of the simulator around it), p99 per scenario: ${decision.map((d) => d.toFixed(0)).join(', ')} µs.`,
    '',
    'Method: each scenario first finds round-robin\'s saturation (max QPS whose TTFT p99 stays within the workload\'s SLO: ×1.5 steps, then bisection), runs every policy at 80% of it on the same seeded arrivals, then searches each cache-aware policy\'s own max QPS at SLO (one seed, ×1.25 steps then two bisections, so ±6%). Runs are time-based: warm-up (one pass over the prompt set, or a fixed time for session workloads) then a measured window of arrivals, drained to the end. Requests the gateway refuses (429) count as infinite TTFT. The targets are the issue\'s: shared-prefix rows are checked against round-robin and the endpoint picker, prefill-heavy rows against sticky-until-saturated and LMetric, every row against the best baseline.',
    '',
    'Floors (what is physically reachable): round-robin\'s first run at 80% load also replays its measured requests (up to 2,000, evenly spread) one at a time through the same engine code, on an idle replica of the fleet\'s fastest kind that already holds the prefix each request shares with *other* content sent before it (another prompt\'s blocks, or an earlier turn\'s prompt and answer; a prompt\'s own earlier copy does not count, because the cycled prompt sets do not fit the fleet\'s KV cache). That gives the idle floor. The loaded floor adds what a replica carrying its share of the decode batch at that load costs even without any queueing: the wait for the step in progress at arrival and the decode batch in every prefill step (cost model of routing-research.md §6.2). The last column of the Targets table compares the p99 a TTFT target asks for with both: below the idle floor no router can reach it; below the loaded floor none can at this load.',
    '',
    '## Targets',
    '',
    targetsTable(checks),
    '',
    `Met ${checks.filter((c) => c.met).length} of ${checks.length}.`,
    '',
    '## Per scenario',
    '',
  ].join('\n');
  const md = `${header}${results.map(scenarioTable).join('\n\n')}\n`;
  console.log(`\n## Targets\n\n${targetsTable(checks)}\n\nMet ${checks.filter((c) => c.met).length} of ${checks.length}. Decisions: ${latencyLine}. Total ${elapsed.toFixed(0)} s.`);
  if (!only && !args.policies && !variant) {
    mkdirSync(dirname(args.out as string), { recursive: true });
    writeFileSync(args.out as string, md);
    console.log(`wrote ${args.out}`);
  }
} finally {
  pool.close();
}
