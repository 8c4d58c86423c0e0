import { performance } from 'node:perf_hooks';
import type { Clock } from '../../core/index.js';
import { RoutingCore, type Timers } from '../../routing/core.js';
import type { QueueOptions } from '../../routing/gateway-queue.js';
import type { Policy } from '../../routing/policies/index.js';
import { createRng } from '../../routing/rng.js';
import type { BackendTarget, PolicyName, PoolSpec, RouteRequest } from '../../routing/types.js';
import type { VllmEngineRequest } from '../engine/vllm.js';
import { createFleet, gaugesToMetrics, type BackendSpec } from './fleet.js';
import { createSeededRng, gamma } from './random.js';
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
  /** Restart one backend at `atMs`; it refuses traffic for `downMs` and comes back with an empty cache. */
  readonly restart?: { readonly backend: number; readonly atMs: number; readonly downMs: number };
  readonly queue?: QueueOptions;
  /** Overrides the workload's arrival burstiness (coefficient of variation of the gaps; 1 = Poisson). */
  readonly arrivalCv?: number;
  /** Diagnostics: called for every finished request. */
  readonly onRequest?: (info: RequestInfo) => void;
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
  const core = new RoutingCore({ clock, timers, rng: createRng(o.seed * 2654435761), ...(o.policies ? { policies: o.policies } : {}), ...(o.queue ? { queue: o.queue } : {}) });
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
  let remaining = o.workload.requests;
  let nextId = 0;
  let maxQueued = 0;

  const send = (target: BackendTarget, req: RouteRequest, session: SimSession, turn: number, out: Outcome, attempt: number): void => {
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
    const started = performance.now();
    const r = core.plan(pool, candidates, req, {
      resolve: (order) => {
        const first = order[0];
        if (first) send(first, req, session, turn, out, attempt);
      },
      reject: () => {
        if (out.measured) failed++;
        next(session, turn);
      },
    });
    decisionUs.push((performance.now() - started) * 1000);
    if (Array.isArray(r)) {
      const first = r[0];
      if (first) send(first, req, session, turn, out, attempt);
    } else maxQueued = Math.max(maxQueued, core.queued);
  };

  interface Slot {
    session: SimSession | null;
    next: number;
    busy: boolean;
    backlog: number;
  }
  const slotCount = o.workload.sessionSlots;
  const slots: Slot[] = slotCount ? Array.from({ length: slotCount }, () => ({ session: null, next: 0, busy: false, backlog: 0 })) : [];
  const slotOf = new Map<SimSession, Slot>();
  let cursor = 0;
  let arrived = 0;

  const start = (session: SimSession, turn: number): void => {
    const t = session.turns[turn];
    if (!t) return;
    const now = sched.now();
    const out: Outcome = { measured: session.measured, arrivalMs: now, firstMs: -1, lastTokenMs: now };
    if (session.measured) firstMeasuredArrival = Math.min(firstMeasuredArrival, now);
    const req: RouteRequest = { endpoint: 'completions', promptTokens: t.promptIds.length, promptText: t.promptText, maxTokens: t.maxTokens, sessionKey: session.key };
    route(req, session, turn, out, 0);
  };

  /** A slot sends its session's next turn, moving to a new session when the current one is done. */
  const sendNext = (slot: Slot): void => {
    if (!slot.session || slot.next >= slot.session.turns.length) {
      const s = o.workload.sessions[cursor++];
      if (!s) {
        // Out of sessions: this arrival and any queued behind it on the slot have nothing to send.
        remaining -= 1 + slot.backlog;
        slot.backlog = 0;
        return;
      }
      slot.session = s;
      slot.next = 0;
      slotOf.set(s, slot);
    }
    slot.busy = true;
    start(slot.session, slot.next++);
  };

  const arrive = (): void => {
    if (!slotCount) {
      const s = o.workload.sessions[cursor++];
      if (s) start(s, 0);
      return;
    }
    const slot = slots[arrived++ % slotCount] as Slot;
    if (slot.busy) slot.backlog++;
    else sendNext(slot);
  };

  const next = (session: SimSession, _turn: number): void => {
    remaining--;
    const slot = slotOf.get(session);
    if (!slot || slot.session !== session) return;
    slot.busy = false;
    if (slot.backlog > 0) {
      slot.backlog--;
      sendNext(slot);
    }
  };

  // Arrivals: unit-mean gaps (exponential, or Gamma for bursty workloads) scaled to the offered rate.
  const arrivals = createSeededRng(o.seed * 7919 + 17);
  const rate = (slotCount ? o.qps : o.qps / o.workload.meanTurns) / 1000;
  const cv = o.arrivalCv ?? o.workload.arrivalCv;
  const count = slotCount ? o.workload.requests : o.workload.sessions.length;
  let t = 0;
  for (let i = 0; i < count; i++) {
    const gap = cv === 1 ? -Math.log(1 - arrivals.next()) : gamma(arrivals, 1 / (cv * cv)) * cv * cv;
    t += gap / rate;
    sched.at(t, arrive);
  }

  const scrapeMs = o.scrapeIntervalMs ?? (o.policy === 'epp_default' ? 50 : 250);
  const scrape = (): void => {
    const now = sched.now();
    fleet.forEach((m, i) => {
      if (!down.has(i)) core.state(targets[i] as BackendTarget).applyMetrics(gaugesToMetrics(m.engine.gauges()), now);
    });
    core.pump();
    if (remaining > 0) sched.at(now + scrapeMs, scrape);
  };
  sched.at(0, scrape);

  if (o.restart) {
    const { backend, atMs, downMs } = o.restart;
    sched.at(atMs, () => {
      down.add(backend);
      fleet[backend]?.engine.restart();
    });
    sched.at(atMs + downMs, () => down.delete(backend));
  }

  sched.run();
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
  };
}
