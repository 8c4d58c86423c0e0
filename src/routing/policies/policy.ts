import type { Rng } from '../rng.js';
import type { RequestProfile } from '../request-profile.js';
import type { BackendState } from '../state/backend-state.js';
import type { PolicyName } from '../types.js';
import { prefixLength } from '../prefix/prefix-length.js';

/** Per-pool memory a policy may keep between decisions (round-robin position, smooth-weighted currents). */
export interface PoolMemory {
  counter: number;
  readonly currents: Map<string, number>;
}

export function createPoolMemory(): PoolMemory {
  return { counter: 0, currents: new Map() };
}

export interface DecisionContext {
  readonly now: number;
  readonly rng: Rng;
  readonly memory: PoolMemory;
}

/**
 * A balancer: a pure function of (backend states, request, context) → candidate order, best first. The same objects
 * run in the gateway and in the discrete-event benchmark; they never touch clocks, timers or I/O.
 */
export interface Policy {
  readonly name: PolicyName;
  /** Indices into `states`, best first, every index exactly once. */
  rank(states: readonly BackendState[], req: RequestProfile, ctx: DecisionContext): number[];
  /** Prefix hit (tokens) this policy believes `state` has for the request (drives in-flight prefill accounting). */
  predictCached(state: BackendState, req: RequestProfile): number;
  /** Index bookkeeping once the request is bound to `state`; returns twin keys to pin while in flight, if any. */
  onDispatch(state: BackendState, req: RequestProfile): readonly number[] | null;
  /** Whether requests may wait in the gateway queue when every candidate is saturated (late binding). */
  readonly lateBinding: boolean;
}

/**
 * Orders candidates by ascending cost; among those within `epsilon` (relative) of the minimum, the first is drawn at
 * random so that equivalent backends share load instead of the first one in config order taking every tie. With
 * `tieBreak` (a load count per candidate), the draw leaves out tied candidates whose count exceeds the lowest tied
 * one's by more than TIE_LOAD_BAND: ties then cannot let that count drift apart (a coin toss would), and the draw
 * stays random among backends that are about equally loaded.
 */
export function orderByCost(costs: ArrayLike<number>, rng: Rng, epsilon = 0, tieBreak?: ArrayLike<number>): number[] {
  const n = costs.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => (costs[a] as number) - (costs[b] as number));
  if (n < 2) return idx;
  const min = costs[idx[0] as number] as number;
  const bound = min + Math.abs(min) * epsilon;
  let ties = 1;
  while (ties < n && (costs[idx[ties] as number] as number) <= bound) ties++;
  if (ties > 1 && tieBreak) {
    let low = Number.POSITIVE_INFINITY;
    for (let k = 0; k < ties; k++) low = Math.min(low, tieBreak[idx[k] as number] as number);
    const limit = low * (1 + TIE_LOAD_BAND.ratio) + TIE_LOAD_BAND.slack;
    // Move the tied candidates within the band to the front (stable), then draw among them.
    let kept = 0;
    for (let k = 0; k < ties; k++) {
      const i = idx[k] as number;
      if ((tieBreak[i] as number) > limit) continue;
      idx.splice(k, 1);
      idx.splice(kept++, 0, i);
    }
    ties = kept;
  }
  if (ties > 1) {
    const pick = Math.floor(rng() * ties);
    const chosen = idx[pick] as number;
    idx.splice(pick, 1);
    idx.unshift(chosen);
  }
  return idx;
}

/** How far above the least-loaded tied candidate another tied one may be and still be drawn: 10% plus two requests. */
export const TIE_LOAD_BAND = Object.freeze({ ratio: 0.1, slack: 2 });

/** Rotation of [0, n) starting at `start`. */
export function rotation(n: number, start: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) % n;
  return out;
}

/**
 * Leading keys each backend holds. Keys are chained and engines evict a request's last blocks first, so the keys a
 * backend holds form a prefix of the prompt's chain: a galloping search finds its length in O(log n) lookups per
 * backend instead of walking a 100k-character prompt block by block.
 */
export function matchAll(states: readonly BackendState[], keys: readonly number[], has: (s: BackendState, key: number) => boolean): Int32Array {
  const matched = new Int32Array(states.length);
  for (let i = 0; i < states.length; i++) {
    const s = states[i] as BackendState;
    matched[i] = prefixLength(keys, (k) => has(s, k));
  }
  return matched;
}
