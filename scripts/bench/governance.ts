/**
 * `--governance`: issue 4's figure on its own, measured with less noise than the interleaved table allows. Rows 3
 * (bare gateway) and 4 (JWT + limits + usage log), each started fresh per round in alternating order, are warmed,
 * then measured alone: CPU per request at a fixed 4,000 req/s over a long window (process total and event-loop
 * thread), and max req/s in a closed loop. The medians over rounds and their ratios go to bench/results/governance.md.
 */
import { closedLoop, fixedRate } from './loadgen.js';
import { readCpuSeconds, stopChild } from './procs.js';
import type { RowDef, RowEnv } from './rows.js';
import { CHAT_BODY, CHAT_PATH } from './workload.js';

export interface GovernanceSample {
  readonly loopUs: number;
  readonly processUs: number;
  readonly maxRps: number;
}

const RATE = 4000;
/** Row 4.5 is row 4 with the writer thread forced on: shown as 4t. */
const rowName = (d: RowDef): string => (Number.isInteger(d.id) ? String(d.id) : `${Math.floor(d.id)}t`);

async function measure(def: RowDef, env: RowEnv, cpuSeconds: number, maxSeconds: number): Promise<GovernanceSample> {
  const run = await def.start(env);
  try {
    const pid = run.child!.pid;
    await fixedRate(run.fast, CHAT_PATH, CHAT_BODY, RATE, 2);
    const l0 = readCpuSeconds(pid, pid);
    const p0 = readCpuSeconds(pid);
    const r = await fixedRate(run.fast, CHAT_PATH, CHAT_BODY, RATE, cpuSeconds);
    const l1 = readCpuSeconds(pid, pid);
    const p1 = readCpuSeconds(pid);
    const n = Math.max(1, r.latencies.length);
    const max = await closedLoop(run.fast, CHAT_PATH, CHAT_BODY, 64, maxSeconds);
    return {
      loopUs: l0 === null || l1 === null ? Number.NaN : ((l1 - l0) * 1e6) / n,
      processUs: p0 === null || p1 === null ? Number.NaN : ((p1 - p0) * 1e6) / n,
      maxRps: max.rps,
    };
  } finally {
    await stopChild(run.child!, 10_000);
  }
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function runGovernanceAb(
  lean: RowDef,
  governed: RowDef,
  threaded: RowDef,
  env: RowEnv,
  o: { rounds: number; cpuSeconds: number; maxSeconds: number; log: (s: string) => void; header: string },
): Promise<string> {
  const rows = [lean, governed, threaded];
  const samples = new Map<RowDef, GovernanceSample[]>(rows.map((r) => [r, []]));
  for (let round = 0; round < o.rounds; round++) {
    const order = round % 2 === 0 ? rows : [...rows].reverse();
    for (const def of order) {
      o.log(`governance A/B round ${round + 1}/${o.rounds}: row ${rowName(def)}`);
      samples.get(def)!.push(await measure(def, env, o.cpuSeconds, o.maxSeconds));
    }
  }
  const med = (def: RowDef, k: keyof GovernanceSample) => median(samples.get(def)!.map((s) => s[k]));
  const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
  const lines = [
    '# Governance cost (issue 4): bare gateway vs JWT + limits + usage log',
    '',
    o.header,
    '',
    `Rows 3 and 4 of bench/results/overhead.md (same configs), each started fresh for every round (${o.rounds} rounds, alternating order), ` +
      `warmed for 2 s at ${RATE.toLocaleString('en-US')} req/s, then measured alone: CPU time per request over ${o.cpuSeconds} s at a fixed ` +
      `${RATE.toLocaleString('en-US')} req/s (the whole process, and the event-loop thread alone from /proc/PID/task/PID/stat), then max req/s ` +
      `in a ${o.maxSeconds} s closed loop of 64 connections. Cells are medians over rounds. The process is pinned to one core, so its ` +
      'usage log writes its batches on the event loop (`writer_thread: auto` with one core); the third row forces the writer thread on (`writer_thread: true`), ' +
      'whose event-loop figure is what limits throughput when that thread has a core of its own (its process total still pays SQLite on the same core).',
    '',
    '| row | event loop µs/req | process µs/req (one core) | max req/s (one core) |',
    '|---|---:|---:|---:|',
  ];
  for (const def of rows) {
    lines.push(`| ${rowName(def)}. ${def.label} | ${med(def, 'loopUs').toFixed(1)} | ${med(def, 'processUs').toFixed(1)} | ${Math.round(med(def, 'maxRps')).toLocaleString('en-US')} |`);
  }
  const loop = med(lean, 'loopUs') / med(threaded, 'loopUs');
  const proc = med(lean, 'processUs') / med(governed, 'processUs');
  const rps = med(governed, 'maxRps') / med(lean, 'maxRps');
  const verdict = (v: number) => (Number.isFinite(v) ? (v >= 0.9 ? 'met' : '**missed**') : 'n/a');
  lines.push(
    '',
    '| target: governance costs under 10% of throughput | governed ÷ bare | verdict |',
    '|---|---:|---|',
    `| with a core for the writer thread (throughput bound by the event loop): row 3 µs ÷ row 4t event-loop µs | ${pct(loop)} | ${verdict(loop)} |`,
    `| everything on one core: row 3 µs ÷ row 4 µs | ${pct(proc)} | ${verdict(proc)} |`,
    `| everything on one core: max req/s, row 4 ÷ row 3 | ${pct(rps)} | ${verdict(rps)} |`,
    '',
    'Per round (event loop µs, process µs, max req/s):',
    '',
  );
  for (const def of rows) {
    lines.push(`- row ${rowName(def)}: ${samples.get(def)!.map((s) => `${s.loopUs.toFixed(1)} / ${s.processUs.toFixed(1)} / ${Math.round(s.maxRps)}`).join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}
