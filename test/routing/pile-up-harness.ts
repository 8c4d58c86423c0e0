import type { Clock } from '../../src/core/index.js';
import { RoutingCore, type Timers } from '../../src/routing/core.js';
import { createRng } from '../../src/routing/rng.js';
import type { BackendTarget, PolicyName, PoolSpec, RouteRequest } from '../../src/routing/types.js';
import { VirtualScheduler } from '../../src/sim/des/virtual-scheduler.js';
import { createSimpleEngine, type SimEngine } from '../../src/sim/index.js';

export interface PileUpOptions {
  readonly policy: PolicyName;
  /** Requests per second, evenly spaced. */
  readonly qps: number;
  readonly seconds: number;
  /** Streamed requests report every token (the gateway's SSE relay); non-streamed only their end. */
  readonly stream: boolean;
  readonly seed?: number;
  /** Also feed the engines' gauges to routing as scrapes every 250 ms (a backend with /metrics). */
  readonly scrape?: boolean;
  readonly prompt?: string;
  readonly outputTokens?: number;
}

export interface PileUpResult {
  /** Requests dispatched to each backend. */
  readonly counts: number[];
  /** Largest share of requests one backend got. */
  readonly maxShare: number;
  /** Largest in-flight count seen on one backend, and the largest gap between the two. */
  readonly peakInFlight: number;
  readonly peakGap: number;
}

/**
 * The quick start's fleet on a virtual clock: two identical simulated vLLM backends with the simple engine (the one
 * `npm start` runs, whose latency grows with its load), the same short prompt for every request, and the real
 * RoutingCore deciding, fed the way the gateway feeds it (first token, tokens, end with usage).
 */
export function runPileUp(o: PileUpOptions): PileUpResult {
  const sched = new VirtualScheduler();
  const clock: Clock = { now: () => sched.now(), wallMs: () => 1_700_000_000_000 + sched.now() };
  const timers: Timers = {
    after(ms, fn) {
      const h = sched.at(sched.now() + ms, fn);
      return () => sched.cancel(h);
    },
  };
  const engines: SimEngine[] = [createSimpleEngine(sched), createSimpleEngine(sched)];
  const targets: BackendTarget[] = engines.map((_, i) => ({ id: `http://sim-${i}:8000`, url: `http://sim-${i}:8000`, kind: 'vllm', weight: 1, model: 'sim' }));
  const core = new RoutingCore({ clock, timers, rng: createRng(o.seed ?? 7) });
  const pool: PoolSpec = { name: 'sim-llama-8b', policy: o.policy, targets };
  const prompt = o.prompt ?? '<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n';
  const promptIds = Array.from({ length: Math.max(1, Math.round(prompt.length / 4)) }, (_, i) => i + 1);
  const output = o.outputTokens ?? 16;
  const counts = targets.map(() => 0);
  const inFlight = targets.map(() => 0);
  let peakInFlight = 0;
  let peakGap = 0;
  let next = 0;

  const send = (target: BackendTarget, req: RouteRequest): void => {
    const i = targets.indexOf(target);
    counts[i] = (counts[i] as number) + 1;
    inFlight[i] = (inFlight[i] as number) + 1;
    peakInFlight = Math.max(peakInFlight, ...inFlight);
    peakGap = Math.max(peakGap, Math.abs((inFlight[0] as number) - (inFlight[1] as number)));
    const tracker = core.begin(target, req);
    (engines[i] as SimEngine).submit(
      { id: `r${next++}`, promptTokenIds: promptIds, outputTokens: output },
      {
        onToken(index) {
          if (!o.stream) return;
          if (index === 0) tracker.firstToken();
          tracker.tokens(1);
        },
        onFinish(f) {
          inFlight[i] = (inFlight[i] as number) - 1;
          if (!o.stream) {
            tracker.firstToken();
            tracker.tokens(f.completionTokens);
          }
          tracker.end({ ok: true, promptTokens: f.promptTokens, cachedTokens: f.cachedTokens, completionTokens: f.completionTokens });
        },
      },
    );
  };

  const gap = 1000 / o.qps;
  const total = Math.round(o.qps * o.seconds);
  for (let k = 0; k < total; k++) {
    sched.at(k * gap, () => {
      const req: RouteRequest = { endpoint: 'chat', promptTokens: promptIds.length, promptText: prompt, maxTokens: null, sessionKey: null };
      const r = core.plan(pool, targets, req, { resolve: (order) => order[0] && send(order[0], req), reject: () => {} });
      if (Array.isArray(r) && r[0]) send(r[0], req);
    });
  }
  if (o.scrape) {
    for (let t = 0; t < o.seconds * 1000 + 5000; t += 250) {
      sched.at(t, () =>
        engines.forEach((e, i) => {
          const g = e.snapshot();
          core.state(targets[i] as BackendTarget).applyMetrics(
            {
              running: g.running,
              waiting: g.waiting,
              kvUsage: g.kvUsage,
              kvCapacityTokens: g.kvBlocksTotal * 16,
              blockSize: 16,
              prefixQueriesTokens: g.prefixQueriesTokens,
              prefixHitsTokens: g.prefixHitsTokens,
              promptTokensTotal: g.promptTokensTotal,
              generationTokensTotal: g.generationTokensTotal,
            },
            sched.now(),
          );
        }),
      );
    }
  }
  sched.run();
  const sum = counts.reduce((a, b) => a + b, 0);
  return { counts, maxShare: Math.max(...counts) / sum, peakInFlight, peakGap };
}
