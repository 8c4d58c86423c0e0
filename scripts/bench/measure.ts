/**
 * The measurement phases, run once per row per round, and the per-round numbers they produce.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { closedLoop, fixedRate, pacedStreams, type Target } from './loadgen.js';
import { DRIVER_CPU, foreignCpuSeconds, foreignCpuSnapshot, readCpuSeconds } from './procs.js';
import { median, quantile } from './stats.js';
import { CHAT_BODY, CHAT_PATH, CHAT_STREAM_BODY, PACED_STREAM_BODY } from './workload.js';

export interface Durations {
  /** Seconds per phase per row per round. */
  max: number;
  fixed: number;
  /** CPU cost per request at the same rate for every row. */
  cpu: number;
  streamMax: number;
  ttfb: number;
  paced: number;
  warmup: number;
}

/**
 * The full run warms each row for 8 s (plus 4 s streamed) before the first round: measured on one pinned core, the
 * full stack needs ~6 s of closed-loop load before V8 has optimised its hot path (234, 138, 118, then 92-97 µs per
 * request in consecutive 2 s windows), and a 2 s warm-up left that work inside the measured rounds.
 */
export const FULL: Durations = { max: 1.5, fixed: 2, cpu: 1.2, streamMax: 1.2, ttfb: 1.2, paced: 1.2, warmup: 8 };
export const QUICK: Durations = { max: 1.5, fixed: 1.5, cpu: 1, streamMax: 1, ttfb: 1, paced: 1, warmup: 1 };

export const CONNECTIONS = 64;
/** The fixed open-loop rates; a row that cannot sustain twice the rate is measured at half its max instead. */
export const FIXED_RATE = 1000;
export const STREAM_FIXED_RATE = 500;
/**
 * The rate at which every row's CPU per request is compared. At max load each row runs at its own throughput, and
 * per-request costs fall as batching rises, so a row limited by the driver core (the floor, on two cores) looks
 * worse than it is. At one shared rate below every Node row's saturation the comparison is like for like.
 */
export const CPU_RATE = 4000;
export const PACED_CONCURRENCY = 8;

export interface RoundSample {
  maxRps?: number;
  maxFailed?: number;
  /** Proxy CPU use during the closed-loop phase, % of one core. */
  proxyCpu?: number;
  /** Proxy CPU time per request served in the closed-loop phase (µs): robust when other jobs share the machine. */
  cpuPerReq?: number;
  /** Driver core (load generator + simulator) busy during the closed-loop phase, %. */
  driverCpu?: number;
  /** CPU used by processes that are not ours during the closed-loop phases, % of one core (the larger of the two). */
  foreignCpu?: number;
  rate?: number;
  achievedRate?: number;
  /** The rate of the CPU phase, and the proxy's CPU time per request there (µs): every row at one operating point. */
  cpuRate?: number;
  cpuPerReqAtRate?: number;
  /** The same, main thread only. */
  loopCpuPerReqAtRate?: number;
  p50?: number;
  p99?: number;
  latFailed?: number;
  streamRps?: number;
  streamFailed?: number;
  streamProxyCpu?: number;
  streamCpuPerReq?: number;
  streamRate?: number;
  ttfb50?: number;
  ttfb99?: number;
  ttfbFailed?: number;
  /** Paced streams: one-way trip of a chunk, upstream write → client read (ms), p50 and p99. */
  trip50?: number;
  trip99?: number;
  /** Chunk inter-arrival gaps at the client (ms): median and p99 (the upstream writes one every PACED_DELAY_MS). */
  gap50?: number;
  gap99?: number;
  chunks?: number;
  pacedStreams?: number;
  pacedFailed?: number;
}

/** Busy and total jiffies of one core, from /proc/stat. */
function cpuBusy(cpu: number): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`cpu${cpu} `));
    if (!line) return null;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user, nice, system: the time processes are charged with. irq/softirq (the kernel moving our own loopback
    // packets, charged to no process) and steal are left out, so "foreign" below means other processes only.
    const busy = (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy, total };
  } catch {
    return null;
  }
}

/** Runs `fn` and measures the proxy's CPU (% of one core) and the driver core's busy % meanwhile. */
async function withCpu<T>(
  pid: number | null,
  fn: () => Promise<T>,
): Promise<{ result: T; proxyCpu?: number; proxySeconds?: number; driverCpu?: number; foreignCpu?: number }> {
  const c0 = pid === null ? null : readCpuSeconds(pid);
  const d0 = cpuBusy(DRIVER_CPU);
  const f0 = foreignCpuSnapshot();
  const t0 = performance.now();
  const result = await fn();
  const wall = (performance.now() - t0) / 1000;
  const c1 = pid === null ? null : readCpuSeconds(pid);
  const d1 = cpuBusy(DRIVER_CPU);
  const f1 = foreignCpuSnapshot();
  return {
    result,
    proxyCpu: c0 !== null && c1 !== null ? ((c1 - c0) / wall) * 100 : undefined,
    proxySeconds: c0 !== null && c1 !== null ? c1 - c0 : undefined,
    driverCpu: d0 && d1 && d1.total > d0.total ? ((d1.busy - d0.busy) / (d1.total - d0.total)) * 100 : undefined,
    // Another job sharing the cores skews every number: say how much CPU other processes took meanwhile.
    foreignCpu: ((f) => (f === null ? undefined : (f / wall) * 100))(foreignCpuSeconds(f0, f1)),
  };
}

export async function phaseMax(fast: Target, pid: number | null, seconds: number, s: RoundSample): Promise<void> {
  const { result, proxyCpu, proxySeconds, driverCpu, foreignCpu } = await withCpu(pid, () => closedLoop(fast, CHAT_PATH, CHAT_BODY, CONNECTIONS, seconds));
  s.maxRps = result.rps;
  if (proxySeconds !== undefined && result.ok > 0) s.cpuPerReq = (proxySeconds * 1e6) / result.ok;
  s.maxFailed = result.failed;
  s.proxyCpu = proxyCpu;
  s.driverCpu = driverCpu;
  s.foreignCpu = foreignCpu;
}

export async function phaseCpu(fast: Target, pid: number | null, rate: number, seconds: number, s: RoundSample): Promise<void> {
  // The main thread alone too: the event loop is what caps a proxy's throughput when its helper threads (infergate's
  // usage writer, V8's GC helpers) have other cores to run on.
  const loop0 = pid === null ? null : readCpuSeconds(pid, pid);
  const { result: r, proxySeconds } = await withCpu(pid, () => fixedRate(fast, CHAT_PATH, CHAT_BODY, rate, seconds));
  const loop1 = pid === null ? null : readCpuSeconds(pid, pid);
  s.cpuRate = rate;
  if (proxySeconds !== undefined && r.latencies.length > 0) s.cpuPerReqAtRate = (proxySeconds * 1e6) / r.latencies.length;
  if (loop0 !== null && loop1 !== null && r.latencies.length > 0) s.loopCpuPerReqAtRate = ((loop1 - loop0) * 1e6) / r.latencies.length;
}

export async function phaseFixed(fast: Target, rate: number, seconds: number, s: RoundSample): Promise<void> {
  const r = await fixedRate(fast, CHAT_PATH, CHAT_BODY, rate, seconds);
  s.rate = rate;
  s.achievedRate = r.achievedRate;
  s.p50 = quantile(r.latencies, 0.5);
  s.p99 = quantile(r.latencies, 0.99);
  s.latFailed = r.failed;
}

export async function phaseStreamMax(fast: Target, pid: number | null, seconds: number, s: RoundSample): Promise<void> {
  const { result, proxyCpu, proxySeconds, foreignCpu } = await withCpu(pid, () => closedLoop(fast, CHAT_PATH, CHAT_STREAM_BODY, CONNECTIONS, seconds));
  s.streamRps = result.rps;
  if (proxySeconds !== undefined && result.ok > 0) s.streamCpuPerReq = (proxySeconds * 1e6) / result.ok;
  s.streamFailed = result.failed;
  s.streamProxyCpu = proxyCpu;
  if (foreignCpu !== undefined) s.foreignCpu = Math.max(s.foreignCpu ?? 0, foreignCpu);
}

export async function phaseTtfb(fast: Target, rate: number, seconds: number, s: RoundSample): Promise<void> {
  const r = await fixedRate(fast, CHAT_PATH, CHAT_STREAM_BODY, rate, seconds);
  s.streamRate = rate;
  s.ttfb50 = quantile(r.ttfb, 0.5);
  s.ttfb99 = quantile(r.ttfb, 0.99);
  s.ttfbFailed = r.failed;
}

export async function phasePaced(paced: Target, seconds: number, s: RoundSample): Promise<void> {
  const r = await pacedStreams(paced, CHAT_PATH, PACED_STREAM_BODY, PACED_CONCURRENCY, seconds);
  const gaps: number[] = [];
  for (const a of r.streams) for (let i = 1; i < a.length; i++) gaps.push(a[i]! - a[i - 1]!);
  s.trip50 = quantile(r.trips, 0.5);
  s.trip99 = quantile(r.trips, 0.99);
  s.gap50 = quantile(gaps, 0.5);
  s.gap99 = quantile(gaps, 0.99);
  s.chunks = median(r.streams.map((a) => a.length));
  s.pacedStreams = r.streams.length;
  s.pacedFailed = r.failed;
}
