/**
 * `--split`: what each feature row 5 (the full stack) adds to row 3 (the bare gateway) costs on its own. Every round
 * starts row 3, one row per feature (row 3 with only that feature on: JWT auth, limits, the usage log, metrics, the
 * request log line) and row 5, side by side on the same pinned core, warms them, then cycles through them in short
 * windows as `--governance` does (one row driven at a time, the order rotating): CPU time per request at a fixed
 * 4,000 req/s, then CPU time per request and req/s in a closed loop of 64 connections. A feature's cost is its row's
 * figure minus the row-3 window of the same cycle, so the VM's drift cancels out; the report gives the medians over
 * windows, and the sum of the features against row 5 − row 3 (what the features cost together, interactions and GC
 * included).
 */
import { closedLoop, fixedRate } from './loadgen.js';
import { readCpuSeconds, stopChild } from './procs.js';
import { medianFinite, quantile } from './stats.js';
import { splitRow, SPLIT_FEATURES, type RowDef, type RowEnv, type RunningRow, type SplitFeature } from './rows.js';
import { CHAT_BODY, CHAT_PATH, CHAT_STREAM_BODY } from './workload.js';

const RATE = 4000;

interface Sample {
  /** Process CPU µs per request at RATE. */
  readonly rateUs: number;
  /** Process CPU µs per request in the closed loop, and its req/s. */
  readonly maxUs: number;
  readonly maxRps: number;
  /** Process CPU µs per stream in a closed loop of streamed completions, and its streams/s. */
  readonly streamUs: number;
  readonly streamRps: number;
}

const FEATURE_LABEL: Record<SplitFeature, string> = {
  auth: 'JWT auth (HS256, token cache warm)',
  limits: 'limits (rpm, tpm, concurrency; six x-ratelimit-* headers)',
  usage: 'usage log (SQLite, on the event loop: one core)',
  metrics: 'Prometheus metrics',
  log: 'request log line (info, to a file)',
};

async function window(run: RunningRow, cpuSeconds: number, maxSeconds: number): Promise<Sample> {
  const pid = run.child!.pid;
  const cpu = () => readCpuSeconds(pid) ?? Number.NaN;
  const r0 = cpu();
  const fixed = await fixedRate(run.fast, CHAT_PATH, CHAT_BODY, RATE, cpuSeconds);
  const r1 = cpu();
  const max = await closedLoop(run.fast, CHAT_PATH, CHAT_BODY, 64, maxSeconds);
  const m1 = cpu();
  const streams = await closedLoop(run.fast, CHAT_PATH, CHAT_STREAM_BODY, 64, maxSeconds);
  const s1 = cpu();
  return {
    rateUs: ((r1 - r0) * 1e6) / Math.max(1, fixed.latencies.length),
    maxUs: ((m1 - r1) * 1e6) / Math.max(1, max.ok),
    maxRps: max.rps,
    streamUs: ((s1 - m1) * 1e6) / Math.max(1, streams.ok),
    streamRps: streams.rps,
  };
}

export async function runFeatureSplit(
  env: RowEnv,
  o: { rounds: number; windows: number; cpuSeconds: number; maxSeconds: number; log: (s: string) => void; header: string },
): Promise<string> {
  const bare = splitRow(3, 'split-bare', 'row 3: bare gateway', []);
  const single = SPLIT_FEATURES.map((f, i) => splitRow(3.1 + i / 10, `split-${f}`, `row 3 + ${FEATURE_LABEL[f]}`, [f]));
  const full = splitRow(5, 'split-full', 'row 5: full stack', SPLIT_FEATURES);
  const rows: RowDef[] = [bare, ...single, full];
  const samples = new Map<RowDef, Sample[]>(rows.map((r) => [r, []]));
  // Per window: row − bare, for each row but bare.
  const added = new Map<RowDef, { rateUs: number[]; maxUs: number[]; streamUs: number[] }>(rows.slice(1).map((r) => [r, { rateUs: [], maxUs: [], streamUs: [] }]));
  for (let round = 0; round < o.rounds; round++) {
    o.log(`feature split round ${round + 1}/${o.rounds}: starting ${rows.length} gateways`);
    const runs = new Map<RowDef, RunningRow>();
    try {
      for (const def of rows) runs.set(def, await def.start(env));
      for (const def of rows) await fixedRate(runs.get(def)!.fast, CHAT_PATH, CHAT_BODY, RATE, 2);
      for (let w = 0; w < o.windows; w++) {
        const order = rows.map((_, i) => rows[(i + w + round) % rows.length]!);
        const got = new Map<RowDef, Sample>();
        for (const def of order) {
          const s = await window(runs.get(def)!, o.cpuSeconds, o.maxSeconds);
          got.set(def, s);
          samples.get(def)!.push(s);
        }
        const b = got.get(bare)!;
        for (const [def, a] of added) {
          a.rateUs.push(got.get(def)!.rateUs - b.rateUs);
          a.maxUs.push(got.get(def)!.maxUs - b.maxUs);
          a.streamUs.push(got.get(def)!.streamUs - b.streamUs);
        }
      }
    } finally {
      for (const run of runs.values()) await stopChild(run.child!, 10_000);
    }
  }
  const med = (xs: number[]) => medianFinite(xs);
  const mid = (xs: number[]) => {
    const f = xs.filter(Number.isFinite);
    return f.length ? `${quantile(f, 0.25).toFixed(1)} – ${quantile(f, 0.75).toFixed(1)}` : 'n/a';
  };
  const lines = [
    '# What each feature of the full stack costs (row 3 → row 5)',
    '',
    o.header,
    '',
    `${o.rounds} rounds; each starts the ${rows.length} gateways below fresh, side by side, pinned to the same core, warms each for 2 s at ` +
      `${RATE.toLocaleString('en-US')} req/s, then runs ${o.windows} windows. In a window each gateway in turn (rotating order, the others idle) ` +
      `gets ${o.cpuSeconds} s at a fixed ${RATE.toLocaleString('en-US')} req/s, then ${o.maxSeconds} s closed loops of 64 connections, non-streamed and streamed; CPU is the ` +
      "whole process's (/proc/PID/stat) per request served. \"Added\" is the gateway's figure minus row 3's in the same window, median " +
      'over windows (middle half of windows beside it). Chat completions, the fast simulator (16 tokens; a stream is 19 events).',
    '',
    '| gateway | CPU µs/req at 4k/s | added | middle half | CPU µs/req at max | added | middle half | max req/s | CPU µs/stream | added | middle half | streams/s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const def of rows) {
    const s = samples.get(def)!;
    const a = added.get(def);
    const cell = (xs: number[] | undefined) => (xs ? med(xs).toFixed(1) : '–');
    lines.push(
      `| ${def.label} | ${med(s.map((x) => x.rateUs)).toFixed(1)} | ${cell(a?.rateUs)} | ${a ? mid(a.rateUs) : '–'} | ` +
        `${med(s.map((x) => x.maxUs)).toFixed(1)} | ${cell(a?.maxUs)} | ${a ? mid(a.maxUs) : '–'} | ${Math.round(med(s.map((x) => x.maxRps))).toLocaleString('en-US')} | ` +
        `${med(s.map((x) => x.streamUs)).toFixed(1)} | ${cell(a?.streamUs)} | ${a ? mid(a.streamUs) : '–'} | ${Math.round(med(s.map((x) => x.streamRps))).toLocaleString('en-US')} |`,
    );
  }
  // The features one by one, summed per window, against row 5 − row 3 of the same window.
  const windows = added.get(full)!.rateUs.length;
  const sums = { rateUs: [] as number[], maxUs: [] as number[], streamUs: [] as number[] };
  for (let w = 0; w < windows; w++) {
    for (const k of ['rateUs', 'maxUs', 'streamUs'] as const) sums[k].push(single.reduce((n, d) => n + added.get(d)![k][w]!, 0));
  }
  lines.push(
    '',
    `Sum of the five features alone: ${med(sums.rateUs).toFixed(1)} µs/req at 4k/s, ${med(sums.maxUs).toFixed(1)} at max, ` +
      `${med(sums.streamUs).toFixed(1)} per stream; row 5 − row 3: ${med(added.get(full)!.rateUs).toFixed(1)}, ` +
      `${med(added.get(full)!.maxUs).toFixed(1)} and ${med(added.get(full)!.streamUs).toFixed(1)}.`,
    '',
    'Per window (CPU µs/req at 4k/s / at max / per stream, req/s):',
    '',
  );
  for (const def of rows) {
    lines.push(`- ${def.label}: ${samples.get(def)!.map((s) => `${s.rateUs.toFixed(1)} / ${s.maxUs.toFixed(1)} / ${s.streamUs.toFixed(1)}, ${Math.round(s.maxRps)}`).join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}
