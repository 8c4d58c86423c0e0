/**
 * Real-time end-to-end routing benchmark (issue 3): the actual gateway process in front of 4 simulated vLLM backends
 * (the vLLM-faithful engine, 8B/H100 cost model) on loopback, time-scaled, once per policy, on identical seeded
 * arrivals of a b2b-saas-like shared-prefix workload; compared with the discrete-event run of the very same requests.
 *
 * Load: 80% of round-robin's saturation, found by the discrete-event run of the same requests on the same fleet (a
 * second); `--ladder` also measures it in real time with a 4-stage round-robin ladder (+≈45 s).
 *
 *   npm run bench:routing:e2e               5 policies + a no-sharing control (3 policies), time scale 0.75, ≈ 3.5 min
 *   npm run bench:routing:e2e -- --quick    round_robin, epp_default, token_aware, shorter window, ≈ 70 s
 *   options: --time-scale=0.75 --qps=N (simulated QPS offered, skips the search) --load=0.8 --ladder --policies=a,b
 *            --runtime=compiled|tsx --seed=1 --no-control --no-session-hints --max-slowdown=0.1 --out=path
 *            --repeat=N (each policy N times, interleaved; the row is the median run) --from-json=bench/tmp/routing-e2e/last-run.json
 *            (re-render the report of the last run)
 * A run whose simulators lag more than --max-slowdown behind real time (other jobs on the machine) is run once more
 * (at most twice per invocation); the discarded run is listed in the report.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { installCleanup } from './bench/procs.js';
import type { PolicyName } from '../src/routing/types.js';
import { desRun, desSaturation, type DesOptions, type RunSummary } from './routing-e2e/des-ref.js';
import { prepareRuntime, supportsRoutingSection, type RoutingSection } from './routing-e2e/procs.js';
import { runSchedule, type RunSettings, type ScheduledRequest } from './routing-e2e/run.js';
import { summarize, type E2eSummary } from './routing-e2e/summary.js';
import { arrivals, buildWorkload, ladderArrivals, type E2eWorkload, type SharedPrefixSpec } from './routing-e2e/workload.js';
import { renderReport, printTable, type PolicyResult, type ReportInput } from './routing-e2e/report.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    ladder: { type: 'boolean', default: false },
    'time-scale': { type: 'string' },
    qps: { type: 'string' },
    load: { type: 'string', default: '0.8' },
    policies: { type: 'string' },
    runtime: { type: 'string', default: 'compiled' },
    seed: { type: 'string', default: '1' },
    'no-control': { type: 'boolean', default: false },
    'no-session-hints': { type: 'boolean', default: false },
    'max-slowdown': { type: 'string', default: '0.1' },
    repeat: { type: 'string', default: '1' },
    out: { type: 'string' },
    'from-json': { type: 'string' },
  },
});

const quick = args.quick === true;
const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const TMP = resolve(ROOT, 'bench/tmp/routing-e2e');
const OUT = resolve(ROOT, args.out ?? 'bench/results/routing-e2e.md');
const T = Number(args['time-scale'] ?? 0.75);
const SEED = Number(args.seed);
const LOAD = Number(args.load);
const REPLICAS = 4;
/** About a quarter of an 8B/H100's KV (29,205 blocks): the prompt set below then puts b2b-saas's pressure on the fleet. */
const KV_BLOCKS = 8000;
const MODEL = 'sim-llama-8b';
/** The gateway's default scrape period (real ms), used when its config has no `routing:` section. */
const GATEWAY_SCRAPE_REAL_MS = 250;
/** Scrape periods of bench/results/routing.md, simulated ms: the endpoint picker 50 ms, every other policy 250 ms. */
const desScrapeMs = (p: PolicyName): number => (p === 'epp_default' ? 50 : 250);
const DES_SEEDS = 5;
/** A run whose simulators lagged more than this (Σ lateness ÷ Σ step time) is run again, a bounded number of times. */
const MAX_SLOWDOWN = Number(args['max-slowdown']);
const REPEAT = Math.max(1, Math.floor(Number(args.repeat)));
const RERUN_BUDGET = (quick ? 1 : 2) * REPEAT;
const POLICIES: PolicyName[] = args.policies
  ? (args.policies.split(',') as PolicyName[])
  : quick
    ? ['round_robin', 'epp_default', 'token_aware']
    : ['round_robin', 'least_requests', 'epp_default', 'sglang_cache_aware', 'token_aware'];
if (!POLICIES.includes('round_robin')) POLICIES.unshift('round_robin');
const CONTROL_POLICIES: readonly PolicyName[] = ['round_robin', 'least_requests', 'token_aware'];

const SHARED: SharedPrefixSpec = {
  name: 'b2b-saas-mini',
  title: 'b2b-saas-like shared prefixes for 4 replicas (31×5, 6000+1200 in, 250 out)',
  groups: 31,
  perGroup: 5,
  systemTokens: 6000,
  questionTokens: 1200,
  outputTokens: 250,
  measureMs: quick ? 10_000 : 20_000,
  sloTtftMs: 2000,
  seed: 101,
  shared: true,
};
/** The control: same sizes, nothing shared, prompts never repeat (400 unique, more than a run sends). */
const CONTROL: SharedPrefixSpec = {
  ...SHARED,
  name: 'no-sharing',
  title: 'no-sharing control (unique 7200-token prompts, 250 out)',
  groups: 80,
  shared: false,
  warmupMs: 4000,
  measureMs: 14_000,
};

const log = (s: string): void => {
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${s}\n`);
};
const started = performance.now();

const pc = (x: number): string => `${(x * 100).toFixed(0)}%`;

function fmtSummary(s: RunSummary): string {
  return `TTFT p50 ${s.ttftP50.toFixed(0)} p99 ${s.ttftP99.toFixed(0)} ms, E2E p99 ${(s.e2eP99 / 1000).toFixed(2)} s, ${s.outputTps.toFixed(0)} tok/s, hit ${(s.hitRate * 100).toFixed(1)}%, ${s.completed} ok, ${s.errors} err`;
}

async function main(): Promise<void> {
  if (args['from-json']) {
    const raw = JSON.parse(readFileSync(args['from-json'], 'utf8')) as ReportInput;
    // Files from before --repeat existed have no per-run lists.
    const input: ReportInput = {
      ...raw,
      repeat: raw.repeat ?? 1,
      command: raw.command ?? '',
      results: raw.results.map((r) => ({ ...r, rows: r.rows.map((x) => ({ ...x, e2eRuns: x.e2eRuns ?? [x.e2e] })) })),
    };
    for (const r of input.results) printTable(r.w, r.rows);
    writeFileSync(OUT, renderReport(input));
    log(`re-rendered ${OUT} from ${args['from-json']}`);
    return;
  }
  installCleanup();
  mkdirSync(TMP, { recursive: true });
  const rt = prepareRuntime(ROOT, TMP, args.runtime === 'tsx' ? 'tsx' : 'compiled', log);
  // With a `routing:` section, the gateway's periods are scaled with the time scale, so that in simulated time they are
  // the discrete-event benchmark's (scrape 250 ms, 50 ms for epp_default; probes 5 s; queue wait 30 s).
  const scaledRouting = (p: PolicyName): RoutingSection => ({
    scrape: { interval: Math.max(1, Math.round(desScrapeMs(p) * T)) },
    health: { probe_interval: Math.round(5000 * T) },
    queue: { max_wait: Math.round(30_000 * T) },
  });
  const scaled = supportsRoutingSection(rt, TMP, scaledRouting('round_robin'));
  log(
    scaled
      ? `gateway: routing.scrape.interval scaled to ${Math.round(desScrapeMs('round_robin') * T)} ms real (${Math.round(desScrapeMs('epp_default') * T)} ms for epp_default)`
      : `gateway: no routing: section in this build; scraping every ${GATEWAY_SCRAPE_REAL_MS} ms real = ${(GATEWAY_SCRAPE_REAL_MS / T).toFixed(0)} ms simulated`,
  );
  const simScrapeMs = (p: PolicyName): number => (scaled ? Math.max(1, Math.round(desScrapeMs(p) * T)) / T : GATEWAY_SCRAPE_REAL_MS / T);
  const settings: RunSettings = {
    routing: (p) => (scaled ? scaledRouting(p) : null),
    rt,
    tmp: TMP,
    replicas: REPLICAS,
    sim: { timeScale: T, kvBlocks: KV_BLOCKS, speed: 1, model: MODEL },
    sessionHints: args['no-session-hints'] !== true,
    log,
  };
  // The discrete-event reference scrapes as the gateway does in simulated time (per policy).
  const desFor = (p: PolicyName): DesOptions => ({ replicas: REPLICAS, kvBlocks: KV_BLOCKS, scrapeMs: simScrapeMs(p) });
  const des = desFor('round_robin');
  const shared = buildWorkload(SHARED);

  // Load: 80% of round-robin's saturation. The discrete-event run of the same requests gives it in a second; the full
  // run then checks it in real time with a short round-robin ladder around it.
  const desSat = desSaturation(shared, SEED, des, 16);
  log(`discrete-event round-robin saturation (TTFT p99 ≤ ${SHARED.sloTtftMs} ms): ${desSat.toFixed(1)} QPS`);
  let sat = desSat;
  let ladder: ReportInput['ladder'] = null;
  if (args.qps) sat = Number(args.qps) / LOAD;
  else if (args.ladder === true) {
    const factors = [0.7, 0.85, 1.0, 1.15];
    const stages = factors.map((f) => ({ qps: desSat * f, ms: 12_000 }));
    log(`real-time round-robin ladder: ${stages.map((s) => s.qps.toFixed(1)).join(', ')} QPS, ${(stages[0]?.ms ?? 0) / 1000} s (simulated) each`);
    const run = await runSchedule(settings, shared, 'round_robin', ladderArrivals(shared, stages, SEED));
    const rows = stages.map((st, k) => ({ qps: st.qps, summary: summarize(run, k, SHARED.outputTokens) }));
    for (const r of rows) log(`  RR @ ${r.qps.toFixed(1)} QPS: ${fmtSummary(r.summary)}`);
    let best = 0;
    for (const r of rows) if (r.summary.errors === 0 && r.summary.ttftP99 <= SHARED.sloTtftMs) best = Math.max(best, r.qps);
    ladder = { rows, wallMs: run.wallMs };
    if (best > 0) sat = best;
    else log('  no ladder stage met the SLO; keeping the discrete-event saturation');
  }
  const qps = sat * LOAD;
  log(`offered load: ${qps.toFixed(2)} QPS (simulated) = ${(qps / T).toFixed(1)} requests/s real`);

  const workloads: { w: E2eWorkload; policies: PolicyName[]; qps: number }[] = [{ w: shared, policies: POLICIES, qps }];
  if (args['no-control'] !== true && !quick) {
    // The control runs at 80% of its own round-robin saturation (discrete-event value: no time for a second ladder).
    const control = buildWorkload(CONTROL);
    const controlSat = desSaturation(control, SEED, des, 12);
    log(`control: discrete-event round-robin saturation ${controlSat.toFixed(1)} QPS`);
    workloads.push({ w: control, policies: POLICIES.filter((p) => CONTROL_POLICIES.includes(p)), qps: controlSat * LOAD });
  }

  const results: ReportInput['results'][number][] = [];
  const discarded: ReportInput['discarded'][number][] = [];
  for (const { w, policies, qps: load } of workloads) {
    const schedule: ScheduledRequest[] = arrivals(w, load, SEED).map((a) => ({ atMs: a.atMs, prompt: a.prompt, stage: a.measured ? 0 : null }));
    const lastMs = schedule.at(-1)?.atMs ?? 0;
    log(`${w.spec.name} @ ${load.toFixed(2)} QPS: ${schedule.length} requests (${schedule.filter((s) => s.stage === 0).length} measured) over ${(lastMs / 1000).toFixed(0)} s simulated = ${((lastMs * T) / 1000).toFixed(0)} s real per policy`);
    const rows: PolicyResult[] = [];
    // With --repeat, every policy runs REPEAT times, the order reversed on every other pass so that a drift in the
    // machine's load does not always hit the same policy; the row shows the run with the median p99 TTFT.
    const runs = new Map<PolicyName, E2eSummary[]>();
    for (let rep = 0; rep < REPEAT; rep++) {
      const order = rep % 2 === 0 ? policies : [...policies].reverse();
      for (const policy of order) {
        let run = await runSchedule(settings, w, policy, schedule);
        let e2e: E2eSummary = summarize(run, 0, w.spec.outputTokens);
        if (e2e.simSlowdown > MAX_SLOWDOWN && discarded.length < RERUN_BUDGET) {
          // Reported, not hidden: the discarded run's figures go into the report.
          log(`  ${policy.padEnd(22)} sims ${(e2e.simSlowdown * 100).toFixed(1)}% slow (others used ${e2e.cpuOthers === null ? '?' : (e2e.cpuOthers * 100).toFixed(0)}% of a core): TTFT p99 ${e2e.ttftP99.toFixed(0)} ms; running it again`);
          discarded.push({ workload: w.spec.name, policy, summary: e2e });
          run = await runSchedule(settings, w, policy, schedule);
          e2e = summarize(run, 0, w.spec.outputTokens);
        }
        log(`  ${policy.padEnd(22)} e2e: ${fmtSummary(e2e)}; sims ${(e2e.simSlowdown * 100).toFixed(1)}% slow, late p99 ${e2e.simLateP99RealMs.toFixed(1)} ms; CPU gw ${pc(e2e.cpuGateway)} sims ${pc(e2e.cpuSims)} driver ${pc(e2e.cpuDriver)} others ${e2e.cpuOthers === null ? '?' : pc(e2e.cpuOthers)}; ${(run.wallMs / 1000).toFixed(0)} s`);
        log(`  ${''.padEnd(22)} gateway: ${e2e.retries} retries, ${e2e.ejections} ejections, ${e2e.queueWaits} queued, ${e2e.inFlightAfter} in flight after the run; ${e2e.preemptions} preemptions in the sims`);
        writeFileSync(resolve(TMP, `gateway-metrics-${w.spec.name}-${policy}-${rep}.txt`), run.gateway.text);
        if (e2e.firstError) log(`  ${''.padEnd(22)} first error: ${e2e.firstError}`);
        runs.set(policy, [...(runs.get(policy) ?? []), e2e]);
      }
    }
    for (const policy of policies) {
      const all = runs.get(policy) ?? [];
      const sorted = [...all].sort((x, y) => x.ttftP99 - y.ttftP99);
      const e2e = sorted[Math.floor((sorted.length - 1) / 2)] as E2eSummary;
      const ref = desRun(w, policy, load, SEED, desFor(policy));
      // The same requests' discrete-event runs on other seeds (arrivals and jitter): how much one run can vary.
      const spread = Array.from({ length: DES_SEEDS }, (_, k) => desRun(w, policy, load, SEED + k, desFor(policy)));
      log(`  ${policy.padEnd(22)} des: ${fmtSummary(ref)}`);
      rows.push({ policy, e2e, e2eRuns: all, des: ref, desSeeds: spread.map((x) => ({ ttftP99: x.ttftP99, hitRate: x.hitRate })) });
    }
    results.push({ w, rows, qps: load });
  }

  const wallS = (performance.now() - started) / 1000;
  const input: ReportInput = {
    quick,
    timeScale: T,
    replicas: REPLICAS,
    kvBlocks: KV_BLOCKS,
    scrapeRealMs: GATEWAY_SCRAPE_REAL_MS,
    scrapeScaled: scaled,
    runtime: rt.kind,
    desSaturation: desSat,
    saturation: sat,
    saturationSource: args.qps ? 'given' : ladder ? 'ladder' : 'des',
    load: LOAD,
    qps,
    ladder,
    results,
    wallS,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    discarded,
    maxSlowdown: MAX_SLOWDOWN,
    sessionHints: settings.sessionHints,
    desSeeds: DES_SEEDS,
    repeat: REPEAT,
    command: process.argv.slice(2).filter((a) => !a.startsWith('--out')).join(' '),
  };
  for (const r of results) printTable(r.w, r.rows);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, renderReport(input));
  // The figures as JSON, so the report can be re-rendered (`--from-json`) without running again.
  writeFileSync(resolve(TMP, 'last-run.json'), JSON.stringify({ ...input, results: input.results.map((r) => ({ ...r, w: { spec: r.w.spec } })) }));
  log(`wrote ${OUT} in ${wallS.toFixed(0)} s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
