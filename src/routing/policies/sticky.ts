import type { RequestProfile } from '../request-profile.js';
import type { BackendState } from '../state/backend-state.js';
import { peakPrefillRate } from '../twin-model.js';
import { matchAll, orderByCost, type Policy } from './policy.js';

/** llm-d's prefix-cache-affinity-filter threshold and exploration probability. */
const AFFINITY_THRESHOLD = 0.8;
const EXPLORATION = 0.01;
/** Saturation release: τ = R_peak × 14 s (routing-research.md §7.2), R_peak from the engine profile. */
const MAX_TTFT_PENALTY_MS = 14_000;
/** token-load-scorer normalisation. */
const TOKEN_LOAD_CAP = 4_194_304;

function hitFraction(state: BackendState, req: RequestProfile, matched: number): number {
  const keys = req.approxKeys();
  return keys.length === 0 ? 0 : matched / keys.length;
}

/**
 * llm-d's 2026 default for prefill-bound pools, "sticky until saturated" (§1.2): keep only endpoints whose approximate
 * prefix score is ≥ 0.8 (all if none; skip the gate 1% of the time), re-admit the others when the warm endpoint's
 * estimated prefill wait (uncached in-flight tokens / R_peak) exceeds the cold one's by more than the TTFT penalty,
 * then pick the least lookahead token load: uncached in-flight + prompt × (1 − hit).
 */
export const stickyUntilSaturated: Policy = {
  name: 'sticky_until_saturated',
  lateBinding: false,
  rank(states, req, ctx) {
    const matched = matchAll(states, req.approxKeys(), (s, k) => s.approx().has(k));
    const n = states.length;
    const warm = new Uint8Array(n);
    let anyWarm = false;
    for (let i = 0; i < n; i++) {
      if (hitFraction(states[i] as BackendState, req, matched[i] as number) >= AFFINITY_THRESHOLD) {
        warm[i] = 1;
        anyWarm = true;
      }
    }
    let gated = anyWarm && ctx.rng() >= EXPLORATION;
    if (gated) {
      const rPeak = peakPrefillRate((states[0] as BackendState).profile);
      let warmWait = Number.POSITIVE_INFINITY;
      let coldWait = Number.POSITIVE_INFINITY;
      for (let i = 0; i < n; i++) {
        const wait = (states[i] as BackendState).uncachedInFlight / rPeak;
        if (warm[i] === 1) warmWait = Math.min(warmWait, wait);
        else coldWait = Math.min(coldWait, wait);
      }
      if (coldWait !== Number.POSITIVE_INFINITY && warmWait - coldWait > MAX_TTFT_PENALTY_MS) gated = false;
    }
    const load = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = states[i] as BackendState;
      const look = s.uncachedInFlight + req.promptTokens * (1 - hitFraction(s, req, matched[i] as number));
      // Filtered-out endpoints rank after every kept one (they are failover candidates only).
      load[i] = Math.min(1, look / TOKEN_LOAD_CAP) + (gated && warm[i] === 0 ? 2 : 0);
    }
    return orderByCost(load, ctx.rng);
  },
  predictCached(state, req) {
    const keys = req.approxKeys();
    if (keys.length === 0) return 0;
    return Math.floor((state.approx().matchLength(keys) / keys.length) * req.promptTokens);
  },
  onDispatch(state, req) {
    state.approx().insertAll(req.approxKeys());
    return null;
  },
};
