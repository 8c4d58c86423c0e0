import { performance } from 'node:perf_hooks';
import { GatewayError, type Clock } from '../../core/index.js';
import { RoutingCore, type Timers } from '../../routing/core.js';
import type { QueueOptions } from '../../routing/gateway-queue.js';
import type { Policy } from '../../routing/policies/index.js';
import type { BackendTarget, PolicyName, PoolSpec, RouteRequest } from '../../routing/types.js';
import type { VllmEngineRequest } from '../engine/vllm.js';
import { createFleet, gaugesToMetrics, type BackendSpec } from './fleet.js';
import { idleTtft, SharedPrefixTracker, type FloorSample } from './floor.js';
import { createSeededRng, gamma } from './random.js';
import { createReplicaFront, type ReplicaFrontOptions } from './replicas.js';
import { LogHistogram } from './stats.js';
import { VirtualScheduler } from './virtual-scheduler.js';
import type { SimSession, Workload } from './workload-types.js';

export interface RunOptions {
  readonly workload: Workload;
  readonly policy: PolicyName;
  /** Policy objects replacing the built-ins by name (variants under test). */
  readonly policies?: Partial<Record<PolicyName, Policy>>;
  /** Offered load in requests per second (turns, for multi-turn workloads). */
  readonly qps: number;
  readonly seed: number;
  readonly backends: readonly BackendSpec[];
  /** Scrape period; defaults to each policy's own (50 ms for the endpoint picker, 250 ms otherwise). */
  readonly scrapeIntervalMs?: number;
  /** Restart one backend `atFraction` into the measured window; it refuses traffic for `downMs`, then comes back cold. */
  readonly restart?: { readonly backend: number; readonly atFraction: number; readonly downMs: number };
  readonly queue?: QueueOptions;
  /** Overrides the workload's arrival burstiness (coefficient of variation of the gaps; 1 = Poisson). */
  readonly arrivalCv?: number;
  /** Diagnostics: called for every finished request. */
  readonly onRequest?: (info: RequestInfo) => void;
  /** Also compute the unloaded floor of (up to this many of) the measured requests (floor.ts). */
  readonly floorSamples?: number;
  /** Several gateway replicas behind a round-robin front, with or without the replica exchange (default: one gateway). */
  readonly front?: ReplicaFrontOptions;
}

export interface RequestInfo {
  readonly measured: boolean;
  readonly backend: number;
  readonly arrivalMs: number;
  readonly ttftMs: number;
  readonly e2eMs: number;
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly outputTokens: number;
}

export interface RunResult {
  readonly ttftMs: number[];
  readonly e2eMs: number[];
  readonly itl: LogHistogram;
  readonly completed: number;
  readonly failed: number;
  readonly outputTokens: number;
  readonly promptTokens: number;
  readonly cachedTokens: number;
  /** From the first measured arrival to the last measured completion. */
  readonly windowMs: number;
  readonly preemptions: number;
  readonly simMs: number;
  readonly events: number;
  /** Wall-clock time spent in routing decisions (plan), per decision, in µs. */
  readonly decisionUs: number[];
  readonly maxQueued: number;
  /** Mean decoding batch and KV-resident tokens per backend over the measured window (sampled at scrapes). */
  readonly meanRunning: number;
  readonly meanKvTokens: number;
  /** Unloaded floor of the measured requests, when asked for (floorSamples). */
  readonly floor: FloorSample[];
  /** Speed of the fleet's fastest replica (the floor's idle replica). */
  readonly floorSpeed: number;
}

interface Outcome {
  readonly measured: boolean;
  readonly arrivalMs: number;
  firstMs: number;
  lastTokenMs: number;
}

/**
 * One discrete-event run: a fleet of simulated vLLM engines on a virtual clock, sessions arriving by a seeded process,
 * every request routed by the real RoutingCore (same policies, state, queue and tracker as the gateway), scrapes fed
 * from the engines' gauges. Same seed ⇒ same arrivals, contents and engine jitter for every policy.
 */
export function runSimulation(o: RunOptions): RunResult {
  const sched = new VirtualScheduler();
  const fleet = createFleet(sched, o.backends, o.seed);
  const targets: BackendTarget[] = fleet.map((m) => ({ id: m.id, url: m.id, kind: 'vllm', weight: 1, model: 'sim' }));
  const clock: Clock = { now: () => sched.now(), wallMs: () => 1_700_000_000_000 + sched.now() };
  const timers: Timers = {
    after(ms, fn) {
      const h = sched.at(sched.now() + ms, fn);
      return () => sched.cancel(h);
    },
  };
  const front = createReplicaFront(sched, clock, o.seed, { timers, ...(o.policies ? { policies: o.policies } : {}), ...(o.queue ? { queue: o.queue } : {}) }, o.front ?? { gateways: 1, exchange: null });
  const pool: PoolSpec = { name: o.workload.name, policy: o.policy, targets };
  const down = new Set<number>();
  const ttftMs: number[] = [];
  const e2eMs: number[] = [];
  const itl = new LogHistogram();
  const decisionUs: number[] = [];
  let completed = 0;
  let failed = 0;
  let outputTokens = 0;
  let promptTokens = 0;
  let cachedTokens = 0;
  let firstMeasuredArrival = Number.POSITIVE_INFINITY;
  let lastMeasuredEnd = 0;
  let nextId = 0;
  let maxQueued = 0;

  const send = (core: RoutingCore, target: BackendTarget, req: RouteRequest, session: SimSession, turn: number, out: Outcome, attempt: number): void => {
    const idx = targets.indexOf(target);
    const member = fleet[idx];
    if (!member) throw new Error('unknown target');
    const t = session.turns[turn];
    if (!t) return;
    const tracker = core.begin(target, req);
    const ereq: VllmEngineRequest = t.outputIds
      ? { id: `r${nextId++}`, promptTokenIds: t.promptIds, outputTokens: t.outputTokens, outputTokenIds: t.outputIds }
      : { id: `r${nextId++}`, promptTokenIds: t.promptIds, outputTokens: t.outputTokens };
    member.engine.submit(ereq, {
      onToken(i) {
        const now = sched.now();
        if (i === 0) {
          tracker.firstToken();
          if (out.firstMs < 0) out.firstMs = now;
        } else if (out.measured) itl.add(now - out.lastTokenMs);
        out.lastTokenMs = now;
        tracker.tokens(1);
      },
      onFinish(f) {
        const now = sched.now();
        if (f.reason === 'finished') {
          tracker.end({ ok: true, promptTokens: f.promptTokens, cachedTokens: f.cachedTokens, completionTokens: f.completionTokens });
          o.onRequest?.({ measured: out.measured, backend: idx, arrivalMs: out.arrivalMs, ttftMs: out.firstMs - out.arrivalMs, e2eMs: now - out.arrivalMs, promptTokens: f.promptTokens, cachedTokens: f.cachedTokens, outputTokens: f.completionTokens });
          if (out.measured) {
            completed++;
            ttftMs.push(out.firstMs - out.arrivalMs);
            e2eMs.push(now - out.arrivalMs);
            outputTokens += f.completionTokens;
            promptTokens += f.promptTokens;
            cachedTokens += f.cachedTokens;
            lastMeasuredEnd = Math.max(lastMeasuredEnd, now);
          }
          next(session, turn);
          return;
        }
        tracker.end({ ok: false, failure: 'reset' });
        // The gateway retries only before the first byte reached the client.
        if (out.firstMs < 0 && attempt < 2) route(req, session, turn, out, attempt + 1);
        else {
          if (out.measured) failed++;
          next(session, turn);
        }
      },
    });
  };

  const route = (req: RouteRequest, session: SimSession, turn: number, out: Outcome, attempt: number): void => {
    const candidates = targets.filter((_, i) => !down.has(i));
    const core = front.next();
    const started = performance.now();
    // A request the gateway refuses (429: queue full or waited too long) counts as failed with an unbounded TTFT, so
    // that shedding load can never make a policy's latency percentiles look better.
    const refuse = (): void => {
      if (out.measured) {
        failed++;
        ttftMs.push(Number.POSITIVE_INFINITY);
      }
      next(session, turn);
    };
    let r: ReturnType<RoutingCore['plan']> | null = null;
    try {
      r = core.plan(pool, candidates, req, {
        resolve: (order) => {
          const first = order[0];
          if (first) send(core, first, req, session, turn, out, attempt);
        },
        reject: refuse,
      });
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      refuse();
    }
    decisionUs.push((performance.now() - started) * 1000);
    if (Array.isArray(r)) {
      const first = r[0];
      if (first) send(core, first, req, session, turn, out, attempt);
    } else if (r) maxQueued = Math.max(maxQueued, core.queued);
  };

  // Session arrival times: unit-mean gaps (exponential, or Gamma for bursty workloads) scaled so that requests
  // arrive at the offered rate; the warm-up is one pass over a prompt set or a stretch of time, then a measured
  // window. Turns after the first follow their predecessor's end by the session's think time.
  const w = o.workload;
  const arrivals = createSeededRng(o.seed * 7919 + 17);
  const rate = o.qps / w.meanTurns / 1000;
  const cv = o.arrivalCv ?? w.arrivalCv;
  const times: number[] = [];
  let warmupEnd = w.warmup.kind === 'time' ? w.warmup.ms : Number.POSITIVE_INFINITY;
  for (let t = 0; ; ) {
    t += (cv === 1 ? -Math.log(1 - arrivals.next()) : gamma(arrivals, 1 / (cv * cv)) * cv * cv) / rate;
    if (w.warmup.kind === 'pass' && times.length === (w.poolSize ?? 0)) warmupEnd = t;
    if (t > warmupEnd + w.measureMs) break;
    times.push(t);
  }
  const measureEnd = warmupEnd + w.measureMs;
  const isMeasured = (now: number) => now >= warmupEnd && now <= measureEnd;
  // Turns are counted as they are scheduled; the run ends when none is left (scrapes stop then).
  let remaining = times.length;
  let cursor = 0;
  const shared = o.floorSamples ? new SharedPrefixTracker() : null;
  const floorInputs: { ids: Int32Array; shared: number }[] = [];
  let gaugeSamples = 0;
  let runningSum = 0;
  let kvSum = 0;

  const start = (session: SimSession, turn: number): void => {
    const t = session.turns[turn];
    if (!t) return;
    const now = sched.now();
    const out: Outcome = { measured: isMeasured(now), arrivalMs: now, firstMs: -1, lastTokenMs: now };
    if (out.measured) firstMeasuredArrival = Math.min(firstMeasuredArrival, now);
    if (shared) {
      const n = shared.observe(t.promptIds, t.outputIds);
      if (out.measured) floorInputs.push({ ids: t.promptIds, shared: n });
    }
    const req: RouteRequest = { endpoint: 'completions', promptTokens: t.promptIds.length, promptText: t.promptText, maxTokens: t.maxTokens, sessionKey: session.key };
    route(req, session, turn, out, 0);
  };

  /** A turn ended (or failed): the session's next turn follows after its think time, unless the window is over. */
  const next = (session: SimSession, turn: number): void => {
    remaining--;
    if (turn + 1 >= session.turns.length) return;
    const at = sched.now() + (session.thinkMs[turn] ?? 0);
    if (at > measureEnd) return;
    remaining++;
    sched.at(at, () => start(session, turn + 1));
  };

  for (const t of times) sched.at(t, () => start(w.session(cursor++), 0));

  const scrapeMs = o.scrapeIntervalMs ?? (o.policy === 'epp_default' ? 50 : 250);
  const scrape = (): void => {
    const now = sched.now();
    const inWindow = isMeasured(now);
    if (inWindow) gaugeSamples++;
    fleet.forEach((m, i) => {
      if (down.has(i)) return;
      const g = m.engine.gauges();
      if (inWindow) {
        runningSum += g.running / fleet.length;
        kvSum += (g.kvUsage * g.kvBlocksTotal * g.blockSize) / fleet.length;
      }
      const metrics = gaugesToMetrics(g);
      for (const core of front.cores) core.state(targets[i] as BackendTarget).applyMetrics(metrics, now);
    });
    for (const core of front.cores) core.pump();
    if (remaining > 0) sched.at(now + scrapeMs, scrape);
    else front.stop();
  };
  sched.at(0, scrape);

  if (o.restart) {
    const { backend, atFraction, downMs } = o.restart;
    const atMs = warmupEnd + atFraction * w.measureMs;
    sched.at(atMs, () => {
      down.add(backend);
      fleet[backend]?.engine.restart();
    });
    sched.at(atMs + downMs, () => down.delete(backend));
  }

  sched.run();
  const floorSpeed = Math.max(...o.backends.map((b) => b.speed ?? 1));
  const floor: FloorSample[] = [];
  if (o.floorSamples && floorInputs.length > 0) {
    const stride = Math.max(1, floorInputs.length / o.floorSamples);
    for (let i = 0; i < floorInputs.length; i += stride) {
      const f = floorInputs[Math.floor(i)] as { ids: Int32Array; shared: number };
      floor.push(idleTtft(f.ids, f.shared, floorSpeed, o.seed * 31 + Math.floor(i)));
    }
  }
  let preemptions = 0;
  for (const m of fleet) preemptions += m.engine.gauges().preemptions;
  return {
    ttftMs,
    e2eMs,
    itl,
    completed,
    failed,
    outputTokens,
    promptTokens,
    cachedTokens,
    windowMs: Math.max(1, lastMeasuredEnd - firstMeasuredArrival),
    preemptions,
    simMs: sched.now(),
    events: sched.processed,
    decisionUs,
    maxQueued,
    meanRunning: gaugeSamples > 0 ? runningSum / gaugeSamples : 0,
    meanKvTokens: gaugeSamples > 0 ? kvSum / gaugeSamples : 0,
    floor,
    floorSpeed,
  };
}
