/**
 * `--governance`: issue 4's figure on its own, measured with less noise than the interleaved table allows. This shared
 * VM's speed drifts by ±10% over tens of seconds, more than the difference being measured, so rows are not measured
 * one after the other: every round starts rows 3 (bare gateway), 4 (JWT + limits + usage log) and 4t (row 4 with the
 * writer thread forced on) fresh, side by side on the same core, warms them, then cycles through them in short
 * windows (one row driven at a time, the order rotating): CPU per request at a fixed 4,000 req/s (process total and
 * event-loop thread), then max req/s in a closed loop. Each window of row 4 or 4t is compared with the row-3 window
 * next to it, so drift cancels out; the medians of those ratios, and of the raw values, go to
 * bench/results/governance.md.
 */
import { closedLoop, fixedRate } from './loadgen.js';
import { readCpuSeconds, stopChild } from './procs.js';
import { medianFinite, quantile } from './stats.js';
import type { RowDef, RowEnv, RunningRow } from './rows.js';
import { CHAT_BODY, CHAT_PATH } from './workload.js';

export interface GovernanceSample {
  readonly loopUs: number;
  readonly processUs: number;
  readonly maxRps: number;
}

const RATE = 4000;
/** Row 4.5 is row 4 with the writer thread forced on: shown as 4t. */
const rowName = (d: RowDef): string => (Number.isInteger(d.id) ? String(d.id) : `${Math.floor(d.id)}t`);

async function cpuWindow(run: RunningRow, seconds: number): Promise<Pick<GovernanceSample, 'loopUs' | 'processUs'>> {
  const pid = run.child!.pid;
  const l0 = readCpuSeconds(pid, pid);
  const p0 = readCpuSeconds(pid);
  const r = await fixedRate(run.fast, CHAT_PATH, CHAT_BODY, RATE, seconds);
  const l1 = readCpuSeconds(pid, pid);
  const p1 = readCpuSeconds(pid);
  const n = Math.max(1, r.latencies.length);
  return {
    loopUs: l0 === null || l1 === null ? Number.NaN : ((l1 - l0) * 1e6) / n,
    processUs: p0 === null || p1 === null ? Number.NaN : ((p1 - p0) * 1e6) / n,
  };
}

export async function runGovernanceAb(
  lean: RowDef,
  governed: RowDef,
  threaded: RowDef,
  env: RowEnv,
  o: { rounds: number; windows: number; cpuSeconds: number; maxSeconds: number; log: (s: string) => void; header: string },
): Promise<string> {
  const rows = [lean, governed, threaded];
  const samples = new Map<RowDef, GovernanceSample[]>(rows.map((r) => [r, []]));
  // Per window pair: governed ÷ bare, for CPU (bare µs ÷ governed µs) and for max req/s.
  const ratios = { loop: [] as number[], proc: [] as number[], rps: [] as number[] };
  for (let round = 0; round < o.rounds; round++) {
    o.log(`governance A/B round ${round + 1}/${o.rounds}: starting rows ${rows.map(rowName).join(', ')}`);
    const runs = new Map<RowDef, RunningRow>();
    try {
      for (const def of rows) runs.set(def, await def.start(env));
      for (const def of rows) await fixedRate(runs.get(def)!.fast, CHAT_PATH, CHAT_BODY, RATE, 2);
      for (let w = 0; w < o.windows; w++) {
        // Rotating order, so no row always runs right after another one's load.
        const order = rows.map((_, i) => rows[(i + w + round) % rows.length]!);
        const got = new Map<RowDef, GovernanceSample>();
        for (const def of order) {
          const run = runs.get(def)!;
          const cpu = await cpuWindow(run, o.cpuSeconds);
          const max = await closedLoop(run.fast, CHAT_PATH, CHAT_BODY, 64, o.maxSeconds);
          const sample = { ...cpu, maxRps: max.rps };
          got.set(def, sample);
          samples.get(def)!.push(sample);
        }
        const bare = got.get(lean)!;
        ratios.loop.push(bare.loopUs / got.get(threaded)!.loopUs);
        ratios.proc.push(bare.processUs / got.get(governed)!.processUs);
        ratios.rps.push(got.get(governed)!.maxRps / bare.maxRps);
      }
    } finally {
      for (const run of runs.values()) await stopChild(run.child!, 10_000);
    }
  }
  const med = (def: RowDef, k: keyof GovernanceSample) => medianFinite(samples.get(def)!.map((s) => s[k]));
  const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
  const lines = [
    '# Governance cost (issue 4): bare gateway vs JWT + limits + usage log',
    '',
    o.header,
    '',
    `Rows 3 and 4 of bench/results/overhead.md (same configs) and 4t, row 4 with the writer thread forced on. ${o.rounds} rounds; each starts ` +
      `the three rows fresh, side by side, pinned to the same core, warms each for 2 s at ${RATE.toLocaleString('en-US')} req/s, then runs ` +
      `${o.windows} windows. In a window each row in turn (rotating order, the others idle) gets ${o.cpuSeconds} s at a fixed ` +
      `${RATE.toLocaleString('en-US')} req/s (CPU time per request: the whole process, and the event-loop thread alone, from ` +
      `/proc/PID/task/PID/stat) and then a ${o.maxSeconds} s closed loop of 64 connections (max req/s). The first table gives medians ` +
      'of the raw values; the verdicts use the median of per-window ratios, each against the row-3 window next to it, which cancels ' +
      "this VM's drift. Row 4, pinned to one core, writes its usage batches on the event loop (`writer_thread: auto` with one core); " +
      "row 4t's event-loop figure is what limits throughput when the writer thread has a core of its own (its process total still pays " +
      'SQLite on the same core).',
    '',
    '| row | event loop µs/req | process µs/req (one core) | max req/s (one core) |',
    '|---|---:|---:|---:|',
  ];
  for (const def of rows) {
    lines.push(`| ${rowName(def)}. ${def.label} | ${med(def, 'loopUs').toFixed(1)} | ${med(def, 'processUs').toFixed(1)} | ${Math.round(med(def, 'maxRps')).toLocaleString('en-US')} |`);
  }
  const loop = medianFinite(ratios.loop);
  const proc = medianFinite(ratios.proc);
  const rps = medianFinite(ratios.rps);
  const spread = (xs: number[]) => {
    const finite = xs.filter(Number.isFinite);
    return finite.length ? `${pct(quantile(finite, 0.25))}–${pct(quantile(finite, 0.75))}` : 'n/a';
  };
  const verdict = (v: number) => (Number.isFinite(v) ? (v >= 0.9 ? 'met' : '**missed**') : 'n/a');
  lines.push(
    '',
    '| target: governance costs under 10% of throughput | governed ÷ bare (median of windows) | middle half of windows | verdict |',
    '|---|---:|---:|---|',
    `| with a core for the writer thread (throughput bound by the event loop): row 3 µs ÷ row 4t event-loop µs | ${pct(loop)} | ${spread(ratios.loop)} | ${verdict(loop)} |`,
    `| everything on one core: row 3 µs ÷ row 4 µs | ${pct(proc)} | ${spread(ratios.proc)} | ${verdict(proc)} |`,
    `| everything on one core: max req/s, row 4 ÷ row 3 | ${pct(rps)} | ${spread(ratios.rps)} | ${verdict(rps)} |`,
    '',
    'Per window (event loop µs, process µs, max req/s):',
    '',
  );
  for (const def of rows) {
    lines.push(`- row ${rowName(def)}: ${samples.get(def)!.map((s) => `${s.loopUs.toFixed(1)} / ${s.processUs.toFixed(1)} / ${Math.round(s.maxRps)}`).join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}
