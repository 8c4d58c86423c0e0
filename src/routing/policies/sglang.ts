import type { RequestProfile } from '../request-profile.js';
import type { BackendState } from '../state/backend-state.js';
import { matchAll, orderByCost, type Policy } from './policy.js';

/** sgl-model-gateway defaults. */
const CACHE_THRESHOLD = 0.3;
const BALANCE_ABS = 64;
const BALANCE_REL = 1.5;

function treeCached(state: BackendState, req: RequestProfile, matched: number): number {
  const chars = Math.min(req.promptChars, matched * req.charsPerBlock);
  return req.promptChars === 0 ? 0 : Math.floor((chars / req.promptChars) * req.promptTokens);
}

/**
 * SGLang router `cache_aware` (§1.4): if in-flight counts are imbalanced (max − min > 64 and max > 1.5·min) go to
 * the least loaded; otherwise the longest prefix match in the per-worker text tree if it covers > 30% of the prompt,
 * else the least loaded. The prompt is inserted into the chosen worker's tree either way.
 */
export const sglangCacheAware: Policy = {
  name: 'sglang_cache_aware',
  lateBinding: false,
  rank(states, req, ctx) {
    const loads = states.map((s) => s.inFlight);
    const byLoad = orderByCost(loads, ctx.rng);
    const min = Math.min(...loads);
    const max = Math.max(...loads);
    if (max - min > BALANCE_ABS && max > BALANCE_REL * min) return byLoad;
    const matched = matchAll(states, req.keys(), (s, k) => s.tree().has(k));
    let best = -1;
    let bestMatch = 0;
    for (let i = 0; i < states.length; i++) {
      const m = matched[i] as number;
      if (m > bestMatch || (m === bestMatch && best >= 0 && (loads[i] as number) < (loads[best] as number))) {
        best = i;
        bestMatch = m;
      }
    }
    const ratio = req.promptChars === 0 ? 0 : Math.min(1, (bestMatch * req.charsPerBlock) / req.promptChars);
    if (best < 0 || ratio <= CACHE_THRESHOLD) return byLoad;
    return [best, ...byLoad.filter((i) => i !== best)];
  },
  predictCached(state, req) {
    return treeCached(state, req, state.tree().matchLength(req.keys()));
  },
  onDispatch(state, req) {
    state.tree().insertAll(req.keys());
    return null;
  },
};

/**
 * LMetric (arXiv 2603.15202, as in SGLang and Dynamo): cost = new prefill tokens on the worker × (its in-flight
 * requests + 1); the minimum wins. No thresholds, so nothing to tune.
 */
export const lmetric: Policy = {
  name: 'lmetric',
  lateBinding: false,
  rank(states, req, ctx) {
    const matched = matchAll(states, req.keys(), (s, k) => s.tree().has(k));
    const costs = states.map((s, i) => (req.promptTokens - treeCached(s, req, matched[i] as number)) * (s.inFlight + 1));
    return orderByCost(costs, ctx.rng);
  },
  predictCached(state, req) {
    return treeCached(state, req, state.tree().matchLength(req.keys()));
  },
  onDispatch(state, req) {
    state.tree().insertAll(req.keys());
    return null;
  },
};
