/**
 * Turns the per-round samples into the markdown report: medians over rounds, added latency against the direct row
 * of the same round, ratios to the floor and to Portkey, and a verdict against the targets of issues 2 and 5.
 */
import type { RoundSample } from './measure.js';
import type { ProcMemory } from './procs.js';
import { medianFinite } from './stats.js';

export interface RowResult {
  id: number;
  key: string;
  label: string;
  skipped: string | null;
  features: string;
  samples: RoundSample[];
  memory: ProcMemory | null;
  /** Why the per-chunk numbers are missing, when they are. */
  pacedProblem: string | null;
}

export interface ReportMeta {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  pinning: string;
  runtime: string;
  rounds: number;
  durations: string;
  totalSeconds: number;
  notes: string[];
}

type Field = keyof RoundSample;

/** Row numbers as printed: the A/B row (3.5) is "3b". */
const rid = (id: number): string => (Number.isInteger(id) ? String(id) : `${Math.floor(id)}b`);

const med = (r: RowResult, f: Field): number => medianFinite(r.samples.map((s) => s[f] ?? Number.NaN));

/** Median over rounds of (row − direct) for the same round: pairs measurements taken close in time. */
function added(r: RowResult, direct: RowResult | undefined, f: Field): number {
  if (!direct) return Number.NaN;
  return medianFinite(r.samples.map((s, i) => (s[f] ?? Number.NaN) - (direct.samples[i]?.[f] ?? Number.NaN)));
}

const num = (v: number, digits = 0): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const ms = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const signed = (v: number, digits = 2): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(digits)}` : '–');
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '–');

export interface Summary {
  row: RowResult;
  maxRps: number;
  maxFailed: number;
  proxyCpu: number;
  cpuPerReq: number;
  cpuRate: number;
  cpuPerReqAtRate: number;
  loopCpuPerReqAtRate: number;
  streamCpuPerReq: number;
  driverCpu: number;
  rate: number;
  p50: number;
  p99: number;
  addedP50: number;
  addedP99: number;
  streamRps: number;
  streamRate: number;
  ttfb50: number;
  ttfb99: number;
  addedTtfb50: number;
  trip50: number;
  gap99: number;
  perChunk: number;
  perChunk99: number;
  failed: number;
}

export function summarise(rows: RowResult[]): Summary[] {
  const direct = rows.find((r) => r.key === 'direct' && !r.skipped);
  return rows
    .filter((r) => !r.skipped)
    .map((row) => {
      const failed = row.samples.reduce(
        (n, s) => n + (s.maxFailed ?? 0) + (s.latFailed ?? 0) + (s.streamFailed ?? 0) + (s.ttfbFailed ?? 0) + (s.pacedFailed ?? 0),
        0,
      );
      const paced = row.pacedProblem === null;
      return {
        row,
        maxRps: med(row, 'maxRps'),
        maxFailed: med(row, 'maxFailed'),
        proxyCpu: med(row, 'proxyCpu'),
        cpuPerReq: med(row, 'cpuPerReq'),
        cpuRate: med(row, 'cpuRate'),
        cpuPerReqAtRate: med(row, 'cpuPerReqAtRate'),
        loopCpuPerReqAtRate: med(row, 'loopCpuPerReqAtRate'),
        streamCpuPerReq: med(row, 'streamCpuPerReq'),
        driverCpu: med(row, 'driverCpu'),
        rate: med(row, 'rate'),
        p50: med(row, 'p50'),
        p99: med(row, 'p99'),
        addedP50: added(row, direct, 'p50'),
        addedP99: added(row, direct, 'p99'),
        streamRps: med(row, 'streamRps'),
        streamRate: med(row, 'streamRate'),
        ttfb50: med(row, 'ttfb50'),
        ttfb99: med(row, 'ttfb99'),
        addedTtfb50: added(row, direct, 'ttfb50'),
        trip50: paced ? med(row, 'trip50') : Number.NaN,
        gap99: paced ? med(row, 'gap99') : Number.NaN,
        perChunk: paced ? added(row, direct, 'trip50') : Number.NaN,
        perChunk99: paced ? added(row, direct, 'trip99') : Number.NaN,
        failed,
      };
    });
}

function verdicts(sum: Summary[]): string[] {
  const by = (k: string) => sum.find((s) => s.row.key === k);
  const floor = by('floor');
  const lean = by('infergate');
  const gov = by('infergate-gov');
  const full = by('infergate-full');
  const pk = by('portkey');
  const out: string[] = ['| target | row | measured | verdict |', '|---|---|---|---|'];
  const line = (target: string, row: string, measured: string, ok: boolean | null) =>
    out.push(`| ${target} | ${row} | ${measured} | ${ok === null ? 'n/a' : ok ? 'met' : '**missed**'} |`);
  const check = (v: number, pass: (v: number) => boolean): boolean | null => (Number.isFinite(v) ? pass(v) : null);

  const share = (s: Summary | undefined, f: 'maxRps' | 'streamRps') => (s && floor ? s[f] / floor[f] : Number.NaN);
  const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)}% of floor` : '–');
  const vsPk = (s: Summary | undefined, f: 'maxRps' | 'streamRps') => (s && pk ? s[f] / pk[f] : Number.NaN);

  line('max req/s >= 80% of floor', '3', pct(share(lean, 'maxRps')), check(share(lean, 'maxRps'), (v) => v >= 0.8));
  const leanVsFloorP50 = lean && floor ? lean.addedP50 - floor.addedP50 : Number.NaN;
  line('added p50 within 0.3 ms of the floor at the fixed rate', '3', `${signed(leanVsFloorP50)} ms vs floor`, check(leanVsFloorP50, (v) => v <= 0.3));
  // Issue 4: the governance path (JWT verification, limits, usage log) costs under 10% of the bare gateway's throughput.
  const vsLean = (f: 'maxRps' | 'streamRps') => (gov && lean ? gov[f] / lean[f] : Number.NaN);
  const ofLean = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)}% of row 3` : '–');
  line('governance: max req/s >= 90% of the bare gateway', '4', ofLean(vsLean('maxRps')), check(vsLean('maxRps'), (v) => v >= 0.9));
  line('governance: streaming req/s >= 90% of the bare gateway', '4', ofLean(vsLean('streamRps')), check(vsLean('streamRps'), (v) => v >= 0.9));
  const govCpu = gov && lean ? lean.cpuPerReqAtRate / gov.cpuPerReqAtRate : Number.NaN;
  line('governance (CPU view, 4k req/s, all threads on one core): row 3 µs/req ÷ row 4 µs/req >= 90%', '4', ofLean(govCpu), check(govCpu, (v) => v >= 0.9));
  const govLoop = gov && lean ? lean.loopCpuPerReqAtRate / gov.loopCpuPerReqAtRate : Number.NaN;
  line('governance (event-loop CPU, 4k req/s; pinned to one core the usage log writes on the event loop, see --governance row 4t for the writer thread): row 3 ÷ row 4 >= 90%', '4', ofLean(govLoop), check(govLoop, (v) => v >= 0.9));
  line('max req/s >= 75% of floor (stretch 80%)', '5', pct(share(full, 'maxRps')), check(share(full, 'maxRps'), (v) => v >= 0.75));
  // The same targets read from CPU time per request, which other jobs on a shared machine disturb far less.
  const eff = (s: Summary | undefined, f: 'cpuPerReqAtRate' | 'streamCpuPerReq') => (s && floor ? floor[f] / s[f] : Number.NaN);
  line('(CPU view, 4k req/s) floor µs/req ÷ row µs/req >= 80%', '3', pct(eff(lean, 'cpuPerReqAtRate')), check(eff(lean, 'cpuPerReqAtRate'), (v) => v >= 0.8));
  line('(CPU view, 4k req/s) floor µs/req ÷ row µs/req >= 75%', '5', pct(eff(full, 'cpuPerReqAtRate')), check(eff(full, 'cpuPerReqAtRate'), (v) => v >= 0.75));
  line('(CPU view, streaming) floor µs/req ÷ row µs/req >= 75%', '5', pct(eff(full, 'streamCpuPerReq')), check(eff(full, 'streamCpuPerReq'), (v) => v >= 0.75));
  line('max req/s >= 8x Portkey', '5', `${num(vsPk(full, 'maxRps'), 1)}x`, check(vsPk(full, 'maxRps'), (v) => v >= 8));
  line('streaming req/s >= 75% of floor', '5', pct(share(full, 'streamRps')), check(share(full, 'streamRps'), (v) => v >= 0.75));
  line('streaming req/s >= 8x Portkey', '5', `${num(vsPk(full, 'streamRps'), 1)}x`, check(vsPk(full, 'streamRps'), (v) => v >= 8));
  for (const [s, id] of [[lean, '3'], [full, '5']] as const) {
    const d = s && floor ? s.addedTtfb50 - floor.addedTtfb50 : Number.NaN;
    line('streaming TTFB p50 within 0.3 ms of the floor', id, `${signed(d)} ms vs floor`, check(d, (v) => v <= 0.3));
  }
  const p99x = full && floor && floor.addedP99 > 0 ? full.addedP99 / floor.addedP99 : Number.NaN;
  line(
    'added p99 at the fixed rate <= 1.25x the floor',
    '5',
    `${signed(full?.addedP99 ?? Number.NaN)} ms vs floor ${signed(floor?.addedP99 ?? Number.NaN)} ms (${num(p99x, 2)}x)`,
    full && floor ? (floor.addedP99 > 0 ? p99x <= 1.25 : full.addedP99 <= floor.addedP99 + 0.05) : null,
  );
  for (const [s, id] of [[lean, '3'], [full, '5']] as const) {
    line('per-chunk added delay < 0.2 ms', id, `${signed(s?.perChunk ?? Number.NaN, 3)} ms`, check(s?.perChunk ?? Number.NaN, (v) => v < 0.2));
  }
  for (const [s, id] of [[lean, '3'], [full, '5']] as const) {
    const peak = s?.row.memory?.peakMb ?? Number.NaN;
    const end = s?.row.memory?.rssMb ?? Number.NaN;
    line('RSS < 150 MB after the run (peak in brackets)', id, `${num(end, 0)} MB (peak ${num(peak, 0)} MB)`, check(end, (v) => v < 150));
  }
  // Issue 12: the full stack in one process on one core, no Redis, against the bare Node proxy (the floor).
  const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x the floor` : '–');
  line('issue 12: full stack max req/s >= 0.80x the bare Node proxy', '5', x(share(full, 'maxRps')), check(share(full, 'maxRps'), (v) => v >= 0.8));
  line('issue 12: full stack streams/s >= 0.80x the bare Node proxy', '5', x(share(full, 'streamRps')), check(share(full, 'streamRps'), (v) => v >= 0.8));
  const fullPeak = full?.row.memory?.peakMb ?? Number.NaN;
  const floorPeak = floor?.row.memory?.peakMb ?? Number.NaN;
  line('issue 12: full stack peak RSS <= 180 MB', '5', `${num(fullPeak, 0)} MB (bare proxy ${num(floorPeak, 0)} MB)`, check(fullPeak, (v) => v <= 180));
  return out;
}

export function renderReport(rows: RowResult[], meta: ReportMeta): string {
  const sum = summarise(rows);
  const floor = sum.find((s) => s.row.key === 'floor');
  const pk = sum.find((s) => s.row.key === 'portkey');
  const lines: string[] = [];
  lines.push('# infergate overhead benchmark', '');
  lines.push(
    `${meta.date} · Node ${meta.node} · ${meta.cpu} (${meta.cores} cores) · ${meta.pinning} · ${meta.runtime} · ` +
      `${meta.rounds} interleaved round(s), per row per round: ${meta.durations} · total ${num(meta.totalSeconds, 0)} s`,
    '',
  );
  lines.push('Upstream: the simulator\'s `fast` engine (pre-serialised 16-token answer, no timers) for every phase except');
  lines.push('the per-chunk one, whose upstream (scripts/bench/paced-upstream.ts) streams 20 chunks 2 ms apart, each stamped');
  lines.push('with the CLOCK_MONOTONIC time it was written, so the client measures every chunk\'s one-way trip.');
  lines.push('Rows are interleaved (round-robin, rotated each round); each cell is the median over rounds; "added" is');
  lines.push('the median over rounds of (row − direct) measured in the same round.', '');

  lines.push('## Non-streaming', '');
  lines.push('| # | row | max req/s | vs floor | vs Portkey | proxy CPU | CPU µs/req at max | CPU µs/req at 4k/s | event loop µs/req at 4k/s | fixed rate | p50 ms | p99 ms | added p50 | added p99 | RSS MB peak / end |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of sum) {
    lines.push(
      `| ${rid(s.row.id)} | ${s.row.label} | ${int(s.maxRps)} | ${ratio(s.maxRps, floor?.maxRps ?? Number.NaN)} | ${ratio(s.maxRps, pk?.maxRps ?? Number.NaN)} | ` +
        `${s.row.key === 'direct' ? '–' : `${num(s.proxyCpu, 0)}%`} | ${num(s.cpuPerReq, 1)} | ${num(s.cpuPerReqAtRate, 1)}${Number.isFinite(s.cpuRate) && s.cpuRate < 4000 ? ` (at ${int(s.cpuRate)}/s)` : ''} | ${num(s.loopCpuPerReqAtRate, 1)} | ${int(s.rate)}/s | ${ms(s.p50, 3)} | ${ms(s.p99, 3)} | ` +
        `${s.row.key === 'direct' ? '–' : signed(s.addedP50, 3)} | ${s.row.key === 'direct' ? '–' : signed(s.addedP99, 3)} | ` +
        `${s.row.memory ? `${num(s.row.memory.peakMb, 0)} / ${num(s.row.memory.rssMb, 0)}` : '–'} |`,
    );
  }
  lines.push('');
  lines.push('## Streaming', '');
  lines.push('| # | row | stream req/s | vs floor | vs Portkey | CPU µs/req | TTFB rate | TTFB p50 ms | TTFB p99 ms | added TTFB p50 | chunk trip p50 ms | per-chunk added p50 | per-chunk added p99 | gap p99 ms |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of sum) {
    const d = s.row.key === 'direct';
    lines.push(
      `| ${rid(s.row.id)} | ${s.row.label} | ${int(s.streamRps)} | ${ratio(s.streamRps, floor?.streamRps ?? Number.NaN)} | ${ratio(s.streamRps, pk?.streamRps ?? Number.NaN)} | ${num(s.streamCpuPerReq, 1)} | ` +
        `${int(s.streamRate)}/s | ${ms(s.ttfb50, 3)} | ${ms(s.ttfb99, 3)} | ${d ? '–' : signed(s.addedTtfb50, 3)} | ${ms(s.trip50, 3)} | ` +
        `${d ? '–' : signed(s.perChunk, 3)} | ${d ? '–' : signed(s.perChunk99, 3)} | ${ms(s.gap99, 2)} |`,
    );
  }
  lines.push('');
  lines.push('## Targets (issues 2, 4, 5 and 12)', '');
  lines.push(...verdicts(sum));
  lines.push('');
  lines.push('## Rows', '');
  for (const r of rows) {
    if (r.skipped) lines.push(`${rid(r.id)}. **${r.label}**: skipped: ${r.skipped}`);
    else lines.push(`${rid(r.id)}. **${r.label}**: ${r.features}${r.pacedProblem ? ` (per-chunk columns empty: ${r.pacedProblem})` : ''}`);
  }
  lines.push('');
  lines.push('## How to read it', '');
  lines.push(`- max req/s: closed loop, 64 connections (autocannon), non-streaming chat completions. "proxy CPU" is the proxy`);
  lines.push('  process\'s CPU time over the phase (100% = its whole core); well below 100% means the driver core, not the proxy, was the limit.');
  lines.push('  "CPU µs/req at max": the proxy\'s CPU time per request served at max load. "at 4k/s": the same at an open-loop');
  lines.push('  4,000 req/s for every row (half its max when lower): one operating point for all, so a row whose max is capped');
  lines.push('  by the driver core (the floor, on two cores) is not made to look costlier by its lower batching. It is also');
  lines.push('  steadier than req/s when other jobs share the machine.');
  lines.push('- fixed rate: open loop (requests sent when due, whatever is in flight) at 1,000 req/s, or at half the row\'s max when');
  lines.push('  it cannot sustain twice that; latency from sending the request to its last body byte, client on the driver core.');
  lines.push('- stream req/s: closed loop, 64 connections, `stream: true` (18 SSE events + `[DONE]`). TTFB: open loop at 500 req/s');
  lines.push('  (or half the row\'s streaming max), time from sending to the first body byte.');
  lines.push('- chunk trip: paced streams (8 concurrent, 20 chunks × 2 ms): time from the upstream writing a chunk to the client');
  lines.push('  reading it (one monotonic clock for all processes); "per-chunk added" is that minus the direct row\'s, at p50 and p99.');
  lines.push('  "gap p99": p99 of the gaps between chunks at the client (2 ms when nothing batches or stalls).');
  lines.push('- RSS: the proxy process\'s VmHWM (peak) and VmRSS (now) from /proc at the end of the run.');
  const mem = rows.filter((r) => r.memory && Number.isFinite(r.memory.anonMb));
  if (mem.length) {
    lines.push(
      `  At the end, anonymous (heaps, malloc, SQLite's cache) + file-backed (node's code): ` +
        mem.map((r) => `row ${rid(r.id)} ${num(r.memory!.anonMb, 0)} + ${num(r.memory!.fileMb, 0)} MB, ${r.memory!.threads} threads`).join('; ') +
        '.',
    );
  }
  const driverBound = sum.filter((s) => s.row.key !== 'direct' && Number.isFinite(s.proxyCpu) && s.proxyCpu < 85);
  if (driverBound.length) {
    lines.push(`- Rows whose proxy stayed under 85% CPU at max load (${driverBound.map((s) => rid(s.row.id)).join(', ')}): their max req/s is a lower bound, set by the driver core.`);
  }
  const foreign = rows.flatMap((r) => r.samples.map((s) => s.foreignCpu ?? Number.NaN)).filter(Number.isFinite);
  if (foreign.length) {
    const worst = Math.max(...foreign);
    lines.push(
      `- Other processes on the machine (not ours) used up to ${num(worst, 0)}% of a core during the closed-loop phases` +
        `${worst > 10 ? ' (**the machine was shared: rows measured while it was busy are skewed; compare rounds in the samples below**)' : ' (a quiet machine)'}.`,
    );
  }
  const failing = sum.filter((s) => s.failed > 0);
  if (failing.length) lines.push(`- Failed requests (non-2xx or errors, all phases and rounds): ${failing.map((s) => `row ${rid(s.row.id)}: ${s.failed}`).join(', ')}.`);
  for (const n of meta.notes) lines.push(`- ${n}`);
  lines.push('');
  lines.push('<details><summary>Per-round samples</summary>', '');
  lines.push('```json');
  lines.push(JSON.stringify(rows.filter((r) => !r.skipped).map((r) => ({ row: rid(r.id), samples: r.samples.map(round3) })), null, 1));
  lines.push('```', '', '</details>', '');
  return lines.join('\n');
}

function round3(s: RoundSample): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) if (typeof v === 'number') out[k] = Math.round(v * 1000) / 1000;
  return out;
}
