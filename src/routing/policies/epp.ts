import type { RequestProfile } from '../request-profile.js';
import type { BackendState } from '../state/backend-state.js';
import { matchAll, orderByCost, type Policy } from './policy.js';

/**
 * The Gateway API Inference Extension endpoint picker's default profile (routing-research.md §1.1):
 * score = 2·queue + 2·kv + 3·prefix, max-score picker with a random tie-break.
 * - queue: (maxQ − Q)/(maxQ − minQ) over the candidates from scraped num_requests_waiting (all equal → 1);
 * - kv: 1 − scraped kv_cache_usage_perc;
 * - prefix: matched/total over the approximate index (first 256 × 64-char blocks, per-server LRU of routed
 *   prompts, updated for the chosen endpoint after routing).
 * It sees the engine only through scrapes (50 ms by default), which is the point of comparing against it.
 */
export const eppDefault: Policy = {
  name: 'epp_default',
  lateBinding: false,
  rank(states, req, ctx) {
    const keys = req.approxKeys();
    const matched = matchAll(states, keys, (s, k) => s.approx().has(k));
    let minQ = Number.POSITIVE_INFINITY;
    let maxQ = Number.NEGATIVE_INFINITY;
    for (const s of states) {
      const q = s.metrics.waiting ?? 0;
      if (q < minQ) minQ = q;
      if (q > maxQ) maxQ = q;
    }
    const neg = new Float64Array(states.length);
    for (let i = 0; i < states.length; i++) {
      const s = states[i] as BackendState;
      const q = s.metrics.waiting ?? 0;
      const queue = maxQ === minQ ? 1 : (maxQ - q) / (maxQ - minQ);
      const kv = 1 - Math.min(1, Math.max(0, s.metrics.kvUsage ?? 0));
      const prefix = keys.length === 0 ? 0 : (matched[i] as number) / keys.length;
      // orderByCost sorts ascending, so negate the score.
      neg[i] = -(2 * queue + 2 * kv + 3 * prefix);
    }
    return orderByCost(neg, ctx.rng);
  },
  predictCached(state: BackendState, req: RequestProfile) {
    const keys = req.approxKeys();
    if (keys.length === 0) return 0;
    return Math.floor((state.approx().matchLength(keys) / keys.length) * req.promptTokens);
  },
  onDispatch(state, req) {
    state.approx().insertAll(req.approxKeys());
    return null;
  },
};
