import type { PolicyName } from '../../routing/types.js';
import type { BenchSummary } from './bench-job.js';
import type { Scenario } from './bench-scenarios.js';
import { loadedFloorMs, phaseOf, type FloorSample } from './floor.js';
import { percentile } from './stats.js';

export const BASELINES: readonly PolicyName[] = [
  'round_robin',
  'random',
  'least_requests',
  'power_of_two',
  'epp_default',
  'sticky_until_saturated',
  'sglang_cache_aware',
  'lmetric',
];
export const OURS: PolicyName = 'token_aware';

export interface PolicyRow {
  readonly policy: PolicyName;
  /** Mean over seeds at 80% of round-robin's saturation. */
  readonly at80: BenchSummary;
  readonly maxQps: number;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly title: string;
  readonly sloTtftMs: number;
  readonly rrSaturationQps: number;
  readonly loadQps: number;
  readonly seeds: number;
  readonly rows: readonly PolicyRow[];
  /** What the measured requests could reach at best (floor.ts), when computed. */
  readonly floor?: FloorStats;
}

/**
 * p99 TTFT floors of a scenario's measured requests: alone on an idle replica holding their shared prefix, and the
 * same on a replica busy with the decode batch a backend runs at this load (the lightest any policy achieved): the wait
 * for the step in progress at arrival, and every prefill step carrying that batch; no queueing.
 */
export interface FloorStats {
  readonly idleP50: number;
  readonly idleP99: number;
  readonly loadedP50: number;
  readonly loadedP99: number;
  readonly decodeSeqs: number;
  readonly decodeContext: number;
  readonly samples: number;
}

export function floorStats(samples: readonly FloorSample[], speed: number, decodeSeqs: number, decodeContext: number): FloorStats {
  const idle = samples.map((f) => f.idleMs);
  const loaded = samples.map((f, i) => loadedFloorMs(f, decodeSeqs, decodeContext, speed, phaseOf(i)));
  return {
    idleP50: percentile(idle, 50),
    idleP99: percentile(idle, 99),
    loadedP50: percentile(loaded, 50),
    loadedP99: percentile(loaded, 99),
    decodeSeqs,
    decodeContext,
    samples: samples.length,
  };
}

export interface TargetCheck {
  readonly scenario: string;
  readonly name: string;
  readonly want: string;
  readonly got: string;
  readonly met: boolean;
  /** For p99 targets: the p99 it asks for against the scenario's floors. */
  readonly floorNote?: string;
}

export function meanSummary(list: readonly BenchSummary[]): BenchSummary {
  const m = (f: (s: BenchSummary) => number) => list.reduce((a, s) => a + f(s), 0) / Math.max(1, list.length);
  return {
    ttftP50: m((s) => s.ttftP50),
    ttftP99: m((s) => s.ttftP99),
    e2eP99: m((s) => s.e2eP99),
    itlP99: m((s) => s.itlP99),
    outputTps: m((s) => s.outputTps),
    hitRate: m((s) => s.hitRate),
    completed: m((s) => s.completed),
    failed: m((s) => s.failed),
    preemptions: m((s) => s.preemptions),
    decisionP99Us: m((s) => s.decisionP99Us),
    wallMs: m((s) => s.wallMs),
    meanRunning: m((s) => s.meanRunning),
    meanKvTokens: m((s) => s.meanKvTokens),
  };
}

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');

function row(r: ScenarioResult, p: PolicyName): PolicyRow | undefined {
  return r.rows.find((x) => x.policy === p);
}

function bestBaseline(r: ScenarioResult, metric: (x: PolicyRow) => number, lowerIsBetter: boolean): PolicyRow | undefined {
  const rows = r.rows.filter((x) => x.policy !== OURS && Number.isFinite(metric(x)));
  return rows.reduce<PolicyRow | undefined>((best, x) => {
    if (!best) return x;
    return lowerIsBetter ? (metric(x) < metric(best) ? x : best) : metric(x) > metric(best) ? x : best;
  }, undefined);
}

export function scenarioTable(r: ScenarioResult): string {
  const rr = row(r, 'round_robin');
  const epp = row(r, 'epp_default');
  const bestTtft = bestBaseline(r, (x) => x.at80.ttftP99, true);
  const lines = [
    `### ${r.scenario.name}: ${r.title}${r.scenario.note ? ` — ${r.scenario.note}` : ''}`,
    '',
    `Round-robin saturation (TTFT p99 ≤ ${r.sloTtftMs / 1000} s): **${f1(r.rrSaturationQps)} QPS**; the columns up to hit % are at 80% of it (${f1(r.loadQps)} QPS), mean of ${r.seeds} seed(s). Ratios are p99 TTFT of the other policy ÷ this row's (higher is better for this row).`,
    '',
    '| policy | TTFT p50 ms | TTFT p99 ms | E2E p99 s | ITL p99 ms | out tok/s | hit % | preempt | max QPS @SLO | ×RR | ×EPP | ×best baseline |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const x of r.rows) {
    const s = x.at80;
    const ratio = (other: PolicyRow | undefined) => (other ? f2(other.at80.ttftP99 / s.ttftP99) : '–');
    const name = x.policy === OURS ? `**${x.policy}**` : x.policy;
    lines.push(
      `| ${name} | ${f0(s.ttftP50)} | ${f0(s.ttftP99)} | ${f1(s.e2eP99 / 1000)} | ${f1(s.itlP99)} | ${f0(s.outputTps)} | ${f1(s.hitRate * 100)} | ${f0(s.preemptions)} | ${f1(x.maxQps)} | ${ratio(rr)} | ${ratio(epp)} | ${ratio(bestTtft)} |`,
    );
  }
  if (bestTtft) lines.push('', `Best baseline on p99 TTFT here: ${bestTtft.policy}.`);
  const fl = r.floor;
  if (fl) {
    lines.push(
      '',
      `Floor (${fl.samples} measured requests replayed by the simulator's engine, alone on an idle replica of the fleet's fastest kind that already holds the prefix each request shares with other prompts or earlier turns): TTFT p50 ${f1(fl.idleP50)} ms, p99 ${f1(fl.idleP99)} ms. On a replica busy with its share of the decode batch at this load (${f1(fl.decodeSeqs)} sequences, ${f0(fl.decodeContext / 1000)}k context tokens, the lightest any policy ran): waiting for the step in progress at arrival, every prefill step carrying that batch, still no queueing: p50 ${f1(fl.loadedP50)} ms, p99 ${f1(fl.loadedP99)} ms.`,
    );
  }
  return lines.join('\n');
}

/** The issue's targets, checked per scenario class. */
export function checkTargets(r: ScenarioResult): TargetCheck[] {
  const ours = row(r, OURS);
  if (!ours) return [];
  const out: TargetCheck[] = [];
  const name = r.scenario.name;
  const ttft = ours.at80.ttftP99;
  const vs = (p: PolicyName, factor: number, label: string) => {
    const other = row(r, p);
    if (!other) return;
    const reduction = 1 - ttft / other.at80.ttftP99;
    const wanted = other.at80.ttftP99 * factor;
    out.push({ scenario: name, name: `p99 TTFT vs ${p}`, want: label, got: `${f2(other.at80.ttftP99 / ttft)}× (${f0(reduction * 100)}% lower)`, met: ttft <= wanted, floorNote: floorNote(r, wanted) });
  };
  if (r.scenario.target === 'shared-prefix') {
    vs('round_robin', 1 / 5, '≥5× lower');
    vs('epp_default', 0.7, '≥30% lower');
    const rr = row(r, 'round_robin');
    if (rr) out.push({ scenario: name, name: 'max QPS @SLO vs round_robin', want: '≥1.5×', got: `${f2(ours.maxQps / rr.maxQps)}×`, met: ours.maxQps >= 1.5 * rr.maxQps });
  }
  if (r.scenario.target === 'prefill-heavy') {
    vs('sticky_until_saturated', 0.85, '≥15% lower');
    vs('lmetric', 0.85, '≥15% lower');
  }
  const bestT = bestBaseline(r, (x) => x.at80.ttftP99, true);
  if (bestT) out.push({ scenario: name, name: `p99 TTFT vs best baseline (${bestT.policy})`, want: '≤1.05×', got: `${f2(ttft / bestT.at80.ttftP99)}×`, met: ttft <= 1.05 * bestT.at80.ttftP99, floorNote: floorNote(r, 1.05 * bestT.at80.ttftP99) });
  const bestQ = bestBaseline(r, (x) => x.maxQps, false);
  if (bestQ) out.push({ scenario: name, name: `max QPS @SLO vs best baseline (${bestQ.policy})`, want: '≥0.95×', got: `${f2(ours.maxQps / bestQ.maxQps)}×`, met: ours.maxQps >= 0.95 * bestQ.maxQps });
  return out;
}

/** Where the p99 a target asks for stands against the scenario's floors. */
function floorNote(r: ScenarioResult, wantedMs: number): string | undefined {
  const fl = r.floor;
  if (!fl) return undefined;
  const floors = `floor ${f0(fl.idleP99)} idle / ${f0(fl.loadedP99)} loaded`;
  if (wantedMs < fl.idleP99) return `needs ≤${f0(wantedMs)} ms: **unreachable** (below the idle floor; ${floors})`;
  if (wantedMs < fl.loadedP99) return `needs ≤${f0(wantedMs)} ms: **unreachable at this load** (below the loaded floor; ${floors})`;
  return `needs ≤${f0(wantedMs)} ms (${floors})`;
}

export function targetsTable(checks: readonly TargetCheck[]): string {
  const lines = ['| scenario | target | wanted | got | met | p99 asked vs floor (ms) |', '|---|---|---|---|---|---|'];
  for (const c of checks) lines.push(`| ${c.scenario} | ${c.name} | ${c.want} | ${c.got} | ${c.met ? 'yes' : '**no**'} | ${c.floorNote ?? '–'} |`);
  return lines.join('\n');
}
