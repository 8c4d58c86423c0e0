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
  /**
   * Candidates whose cost is within this fraction of the best are treated as ties and drawn at random among the
   * about equally loaded ones (orderByCost's TIE_LOAD_BAND on in-flight requests).
   */
  readonly tieEpsilon?: number;
  /** A backend is saturated when its queued prefill exceeds this many engine steps' token budgets. */
  readonly saturationSteps?: number;
  /**
   * Also hold requests in the gateway while the projected KV demand of every candidate would overflow. Off by
   * default: vLLM preempts decoding requests to admit new ones, which costs E2E but not TTFT, so holding in the
   * gateway measured worse TTFT tails at the knee; turn it on when preemption (wasted recompute) costs more.
   */
  readonly holdOnKvOverflow?: boolean;
  /**
   * Where new cache growth may go. A request that would write a new prefix on a backend (one holding less than half
   * of the best hit any candidate has) may only do so on backends whose prefix-cache occupancy is within this
   * fraction of capacity of the emptiest candidate's, unless every such backend is saturated. It is SGLang's "cold
   * requests go to the smallest tree" with a band against herding, and a cache-occupancy analogue of CHWBL's bounded
   * load. Why it is needed: the cost above prices time, and a new prefix costs less time on a fast or lightly loaded
   * replica, so without a bound new prefixes pile onto those replicas' caches while others stay empty; once the
   * favoured caches overflow they evict prefixes that are reused later, and each such miss is a full-prefill TTFT in
   * the tail. Expected-time pricing undervalues that because the misses come later and land in the tail. Infinity
   * turns the bound off.
   */
  readonly cacheShareSlack?: number;
  /**
   * Bounded load on the gateway's own in-flight count, the one load signal that is exact for every backend: a
   * candidate with more than `(1 + inFlightBound) × the other candidates' mean + inFlightSlack` requests in flight
   * ranks after every candidate within that bound (CHWBL's bounded load). The cost above prices load only through
   * the twin's model, so whatever the model gets wrong about a backend (an engine that slows with its batch unlike
   * the profile, requests queued inside the engine that the twin believes prefilled, a stale calibration) can
   * otherwise pile load onto one backend while an identical one idles. Infinity turns the bound off.
   */
  readonly inFlightBound?: number;
  readonly inFlightSlack?: number;
}

const DEFAULTS: Required<TokenAwareOptions> = {
  decodeHorizonSteps: 16,
  interferenceWeight: 0.03,
  tieEpsilon: 0.02,
  saturationSteps: 2,
  holdOnKvOverflow: false,
  cacheShareSlack: 0.1,
  inFlightBound: 0.5,
  inFlightSlack: 8,
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
  /** The request would grow this backend's cache while it holds more than its share of the fleet's (see cacheShareSlack). */
  readonly overShare: boolean;
  /** The backend has more requests in flight than the pool's bound allows (see inFlightBound). */
  readonly overLoad: boolean;
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

  /** Queued prefill beyond the configured number of engine steps (state already advanced to now). */
  const isSaturated = (s: BackendState): boolean => s.pendingTokens >= o.saturationSteps * s.profile.stepTokenBudget;

  const costs = (states: readonly BackendState[], req: RequestProfile, now: number): CandidateCost[] => {
    const keys = req.keys();
    const matched = matchAll(states, keys, (s, k) => s.twin().has(k));
    // Victims of a prefill stall: a backend's decoding requests, but never fewer than the fleet's average. Below
    // average, fewer victims would keep pulling long prompts onto the backend with the fewest (and so the
    // longest-context) sequences, piling KV up there until it preempts.
    let avgVictims = 0;
    let minOccupancy = 1;
    if (scratchCached.length < states.length) {
      scratchCached = new Float64Array(states.length * 2);
      scratchOccupancy = new Float64Array(states.length * 2);
    }
    const cachedAll = scratchCached;
    const occupancy = scratchOccupancy;
    let bestCached = 0;
    let inFlight = 0;
    for (let i = 0; i < states.length; i++) {
      const s = states[i] as BackendState;
      inFlight += s.inFlight;
      avgVictims += s.decoding;
      occupancy[i] = s.cacheOccupancy();
      minOccupancy = Math.min(minOccupancy, occupancy[i] as number);
      const c = cachedOn(s, matched[i] as number, req);
      cachedAll[i] = c;
      if (c > bestCached) bestCached = c;
    }
    avgVictims /= Math.max(1, states.length);
    const occupancyBound = minOccupancy + o.cacheShareSlack;
    // Each candidate is held to the mean of the others (with two backends: the other one), so the bound also holds
    // in small pools, where a bound on the mean including itself lets one backend carry three times its twin's load.
    const others = Math.max(1, states.length - 1);
    let open = 0;
    const out: CandidateCost[] = [];
    for (let i = 0; i < states.length; i++) {
      const s = states[i] as BackendState;
      const cached = cachedAll[i] as number;
      const uncached = req.promptTokens - cached;
      const ttftMs = s.predictTtftMs(now, cached, uncached, req.expectedOutput);
      const ctx = req.promptTokens + req.expectedOutput / 2;
      // The batch this request decodes in holds the requests decoding now and those ahead of it that have not
      // produced a token yet: they join it first. Counting only the former hid every request waiting inside an
      // engine (its queue, or a long TTFT under load), so a backend with hundreds of them looked as cheap as an idle
      // one until their first tokens arrived, and load oscillated between identical backends.
      const decodeMs = Math.min(req.expectedOutput, o.decodeHorizonSteps) * s.decodeStepMs(1 + s.pendingCount, ctx + s.pendingPromptTokens);
      // The stall this prompt's prefill adds to decoding requests: only the part beyond an ordinary step counts, so
      // short prompts cost nothing and a cache miss on a long prompt costs its extra work once per victim.
      const ownWork = (uncached * s.profile.perPrefillToken + s.profile.perAttentionPair * uncached * (cached + uncached / 2)) * s.speed();
      const interferenceMs = Math.max(s.decoding, avgVictims) * Math.max(0, ownWork - s.decodeStepMs());
      const evictionMs = s.evictionCostMs(uncached, req.expectedOutput);
      const total = ttftMs + decodeMs + o.interferenceWeight * interferenceMs + evictionMs;
      const holdsPrefix = bestCached > 0 && cached * 2 >= bestCached;
      const overShare = !holdsPrefix && (occupancy[i] as number) > occupancyBound;
      if (!overShare && !isSaturated(s)) open++;
      const overLoad = s.inFlight > ((inFlight - s.inFlight) / others) * (1 + o.inFlightBound) + o.inFlightSlack;
      out.push({ cached, ttftMs, decodeMs, interferenceMs, evictionMs, overShare, overLoad, total });
    }
    // The bound steers where caches grow; it never makes a request queue behind saturated backends while others could
    // serve it now.
    if (open === 0) return out.map((x) => (x.overShare ? { ...x, overShare: false } : x));
    return out;
  };

  return {
    name: 'token_aware',
    lateBinding: true,
    rank(states, req, ctx) {
      const c = costs(states, req, ctx.now);
      if (scratchInFlight.length < states.length) scratchInFlight = new Float64Array(states.length * 2);
      for (let i = 0; i < states.length; i++) scratchInFlight[i] = (states[i] as BackendState).inFlight;
      // Over-share and over-loaded candidates stay in the order (as failover targets) but after every eligible one.
      // Among candidates the cost cannot tell apart (no engine metrics, short prompts, non-streamed answers that give
      // no token timings) the draw skips those clearly more loaded: a coin toss there let the in-flight gap between
      // identical backends drift like a random walk.
      return orderByCost(
        c.map((x) => (x.overLoad ? OVER_LOAD : 0) + (x.overShare ? OVER_SHARE : 0) + x.total),
        ctx.rng,
        o.tieEpsilon,
        scratchInFlight,
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
      if (isSaturated(state)) return true;
      if (!o.holdOnKvOverflow) return false;
      const cached = cachedOn(state, state.twin().matchLength(req.keys()), req);
      return state.kvOverflows(req.promptTokens - cached, req.expectedOutput);
    },
    explain: costs,
  };
}

export const tokenAware = createTokenAware();

// Per-candidate scratch for one scoring pass (synchronous, so one pair serves every call), grown on demand.
let scratchCached = new Float64Array(64);
let scratchOccupancy = new Float64Array(64);
let scratchInFlight = new Float64Array(64);

/** Added to an over-share candidate's cost: larger than any predicted latency, so it ranks after eligible ones. */
const OVER_SHARE = 1e9;
/** Added to an over-loaded candidate's cost: it ranks after every candidate within the in-flight bound. */
const OVER_LOAD = 4e9;

/**
 * Predicted prefix hit on a backend: the KV events' match when they are live, else the twin's matched keys, plus the previous turn's answer on the backend that
 * generated it, as long as that backend still holds the previous prompt.
 */
function cachedOn(s: BackendState, matchedKeys: number, req: RequestProfile): number {
  // The engine's own KV events, while live, are its cache: they replace the twin's guess (and its session credit).
  if (s.kv?.usable(req)) return s.kv.cachedTokens(req);
  const base = s.cachedTokensFor(matchedKeys, req.promptTokens);
  const c = req.continuation;
  if (!c || c.backendId !== s.id || matchedKeys < c.afterKeys) return base;
  const cap = s.engineBlockSize * Math.floor((req.promptTokens - 1) / s.engineBlockSize);
  return Math.min(cap, base + c.outputTokens);
}
