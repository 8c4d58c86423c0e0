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
}

const DEFAULTS: Required<TokenAwareOptions> = {
  decodeHorizonSteps: 32,
  interferenceWeight: 0.02,
  tieEpsilon: 0.02,
  saturationSteps: 2,
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
    const out: CandidateCost[] = [];
    for (let i = 0; i < states.length; i++) {
      const s = states[i] as BackendState;
      const cached = s.cachedTokensFor(matched[i] as number, req.promptTokens);
      const uncached = req.promptTokens - cached;
      const ttftMs = s.predictTtftMs(now, cached, uncached);
      const ctx = req.promptTokens + req.expectedOutput / 2;
      const decodeMs = Math.min(req.expectedOutput, o.decodeHorizonSteps) * s.decodeStepMs(1, ctx);
      const ownWork = (uncached * s.profile.perPrefillToken + s.profile.perAttentionPair * uncached * (cached + uncached / 2)) * s.calibration.speedFactor;
      const interferenceMs = s.decoding * ownWork;
      const total = ttftMs + decodeMs + o.interferenceWeight * interferenceMs;
      out.push({ cached, ttftMs, decodeMs, interferenceMs, total });
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
      return state.cachedTokensFor(state.twin().matchLength(req.keys()), req.promptTokens);
    },
    onDispatch(state, req) {
      const keys = req.keys();
      return keys.length > 0 ? keys : null;
    },
    saturated(state, req, now) {
      state.advance(now);
      if (state.pendingTokens >= o.saturationSteps * state.profile.stepTokenBudget) return true;
      return state.kvWaitMs(req.promptTokens) > 0;
    },
    explain: costs,
  };
}

export const tokenAware = createTokenAware();
