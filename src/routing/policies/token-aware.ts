import type { RequestProfile } from '../request-profile.js';
import type { BackendState } from '../state/backend-state.js';
import { matchAll, orderByCost, type Policy } from './policy.js';

export interface TokenAwareOptions {
  /**
   * Steps of the request's own decode that count in its cost (its E2E share). Not the whole output: the batch a
   * request joins changes every step as others finish and the router steers new arrivals, so a backend's current
   * step time only predicts the near future.
   */
  readonly decodeHorizonSteps?: number;
  /** Weight of the delay this request's prefill imposes on the backend's decoding requests (ms per ms). */
  readonly interferenceWeight?: number;
  /** Candidates whose cost is within this fraction of the best are treated as ties and drawn at random. */
  readonly tieEpsilon?: number;
  /** A backend is saturated when its queued prefill exceeds this many engine steps' token budgets. */
  readonly saturationSteps?: number;
  /**
   * Also hold requests in the gateway while the projected KV demand of every candidate would overflow. Off by
   * default: vLLM preempts decoding requests to admit new ones, which costs E2E but not TTFT, so holding in the
   * gateway measured worse TTFT tails at the knee; turn it on when preemption (wasted recompute) costs more.
   */
  readonly holdOnKvOverflow?: boolean;
}

const DEFAULTS: Required<TokenAwareOptions> = {
  decodeHorizonSteps: 16,
  interferenceWeight: 0.03,
  tieEpsilon: 0.02,
  saturationSteps: 2,
  holdOnKvOverflow: false,
};

export interface TokenAwarePolicy extends Policy {
  /** True when the backend should not take more work now (the gateway queue holds requests instead). */
  saturated(state: BackendState, req: RequestProfile, now: number): boolean;
  /** Predicted cost terms for one candidate (exposed for tests and the benchmark's diagnostics). */
  explain(states: readonly BackendState[], req: RequestProfile, now: number): CandidateCost[];
}

export interface CandidateCost {
  readonly cached: number;
  readonly ttftMs: number;
  readonly decodeMs: number;
  readonly interferenceMs: number;
  readonly evictionMs: number;
  readonly total: number;
}

/**
 * The default policy (routing-research.md §7.1): for every candidate, predict the request's TTFT there (queued
 * prefill ahead of it + its own uncached prefill, both from the cost model scaled by the backend's learned speed,
 * plus any wait for KV space), add its near-term decode time on that batch and a small charge for the stall its
 * prefill causes to the backend's decoding requests, and take the minimum. Prefix affinity is not a rule here: a
 * warm backend wins exactly while its predicted TTFT is lower, so hot prefixes spill over when their replica queues
 * up, and cold prefixes go where the least work is queued.
 */
export function createTokenAware(options: TokenAwareOptions = {}): TokenAwarePolicy {
  const o = { ...DEFAULTS, ...options };

  const costs = (states: readonly BackendState[], req: RequestProfile, now: number): CandidateCost[] => {
    const keys = req.keys();
    const matched = matchAll(states, keys, (s, k) => s.twin().has(k));
    // Victims of a prefill stall: a backend's decoding requests, but never fewer than the fleet's average. Below
    // average, fewer victims would keep pulling long prompts onto the backend with the fewest (and so the
    // longest-context) sequences, piling KV up there until it preempts.
    let avgVictims = 0;
    for (const s of states) avgVictims += s.decoding;
    avgVictims /= Math.max(1, states.length);
    const out: CandidateCost[] = [];
    for (let i = 0; i < states.length; i++) {
      const s = states[i] as BackendState;
      const cached = cachedOn(s, matched[i] as number, req);
      const uncached = req.promptTokens - cached;
      const ttftMs = s.predictTtftMs(now, cached, uncached, req.expectedOutput);
      const ctx = req.promptTokens + req.expectedOutput / 2;
      const decodeMs = Math.min(req.expectedOutput, o.decodeHorizonSteps) * s.decodeStepMs(1, ctx);
      // The stall this prompt's prefill adds to decoding requests: only the part beyond an ordinary step counts, so
      // short prompts cost nothing and a cache miss on a long prompt costs its extra work once per victim.
      const ownWork = (uncached * s.profile.perPrefillToken + s.profile.perAttentionPair * uncached * (cached + uncached / 2)) * s.calibration.speedFactor;
      const interferenceMs = Math.max(s.decoding, avgVictims) * Math.max(0, ownWork - s.decodeStepMs());
      const evictionMs = s.evictionCostMs(uncached, req.expectedOutput);
      const total = ttftMs + decodeMs + o.interferenceWeight * interferenceMs + evictionMs;
      out.push({ cached, ttftMs, decodeMs, interferenceMs, evictionMs, total });
    }
    return out;
  };

  return {
    name: 'token_aware',
    lateBinding: true,
    rank(states, req, ctx) {
      const c = costs(states, req, ctx.now);
      return orderByCost(
        c.map((x) => x.total),
        ctx.rng,
        o.tieEpsilon,
      );
    },
    predictCached(state, req) {
      return cachedOn(state, state.twin().matchLength(req.keys()), req);
    },
    onDispatch(state, req) {
      const keys = req.keys();
      return keys.length > 0 ? keys : null;
    },
    saturated(state, req, now) {
      state.advance(now);
      if (state.pendingTokens >= o.saturationSteps * state.profile.stepTokenBudget) return true;
      if (!o.holdOnKvOverflow) return false;
      const cached = cachedOn(state, state.twin().matchLength(req.keys()), req);
      return state.kvOverflows(req.promptTokens - cached, req.expectedOutput);
    },
    explain: costs,
  };
}

export const tokenAware = createTokenAware();

/**
 * Predicted prefix hit on a backend: the twin's matched keys, plus the previous turn's answer on the backend that
 * generated it, as long as that backend still holds the previous prompt.
 */
function cachedOn(s: BackendState, matchedKeys: number, req: RequestProfile): number {
  const base = s.cachedTokensFor(matchedKeys, req.promptTokens);
  const c = req.continuation;
  if (!c || c.backendId !== s.id || matchedKeys < c.afterKeys) return base;
  const cap = s.engineBlockSize * Math.floor((req.promptTokens - 1) / s.engineBlockSize);
  return Math.min(cap, base + c.outputTokens);
}
