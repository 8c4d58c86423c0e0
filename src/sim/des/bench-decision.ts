import { performance } from 'node:perf_hooks';
import { createManualClock } from '../../core/index.js';
import { RoutingCore } from '../../routing/core.js';
import { createRng } from '../../routing/rng.js';
import type { AttemptTracker, BackendTarget, PolicyName, RouteRequest } from '../../routing/types.js';
import { catalogEntry } from './catalog.js';
import { percentile } from './stats.js';

export interface DecisionLatency {
  readonly backends: number;
  readonly promptTokens: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

/**
 * Wall-clock cost of one routing decision (plan: prefix hashing, scoring every backend, reserving the winner) with
 * `backends` backends carrying live state: b2b-saas prompts (7.2k tokens, 29k characters), a few hundred requests
 * in flight, warm prefix indexes. The first decisions warm the JIT and are not counted.
 */
export function measureDecisions(backends: number, policy: PolicyName = 'token_aware', decisions = 4000): DecisionLatency {
  const clock = createManualClock();
  const core = new RoutingCore({ clock, rng: createRng(1) });
  const targets: BackendTarget[] = Array.from({ length: backends }, (_, i) => ({ id: `b${i}`, url: `b${i}`, kind: 'vllm', weight: 1, model: 'm' }));
  const pool = { name: 'm', policy, targets };
  const w = catalogEntry('b2b-saas').build(1);
  const live: { t: AttemptTracker; tokens: number }[] = [];
  const times: number[] = [];
  const warmup = 1000;
  for (let i = 0; i < warmup + decisions; i++) {
    const turn = w.session(i).turns[0];
    if (!turn) break;
    const req: RouteRequest = { endpoint: 'completions', promptTokens: turn.promptIds.length, promptText: turn.promptText, maxTokens: turn.maxTokens, sessionKey: null };
    clock.advance(20);
    const started = performance.now();
    const order = core.plan(pool, targets, req, { resolve() {}, reject() {} });
    const elapsed = performance.now() - started;
    if (i >= warmup) times.push(elapsed * 1000);
    if (!Array.isArray(order) || !order[0]) continue;
    const t = core.begin(order[0], req);
    t.firstToken();
    t.tokens(1);
    live.push({ t, tokens: turn.promptIds.length });
    if (live.length > 40 * backends) {
      const done = live.shift();
      done?.t.end({ ok: true, promptTokens: done.tokens, cachedTokens: 0, completionTokens: 1 });
    }
  }
  return { backends, promptTokens: 7200, p50Us: percentile(times, 50), p99Us: percentile(times, 99) };
}
