import type { BackendState } from '../state/backend-state.js';
import { orderByCost, rotation, type DecisionContext, type Policy } from './policy.js';

/** Policies that ignore prompts: no prefix index, no predicted hit. */
const blind = {
  predictCached: () => 0,
  onDispatch: () => null,
  lateBinding: false,
} as const;

export const roundRobin: Policy = {
  ...blind,
  name: 'round_robin',
  rank(states, _req, ctx) {
    const start = ctx.memory.counter++ % Math.max(1, states.length);
    return rotation(states.length, start);
  },
};

export const random: Policy = {
  ...blind,
  name: 'random',
  rank(states, _req, ctx) {
    return rotation(states.length, Math.floor(ctx.rng() * states.length));
  },
};

/** Fewest gateway in-flight requests; exact ties drawn at random. */
export const leastRequests: Policy = {
  ...blind,
  name: 'least_requests',
  rank(states, _req, ctx) {
    return orderByCost(states.map((s) => s.inFlight), ctx.rng);
  },
};

/** Two distinct random candidates, the less loaded first (Mitzenmacher); the rest by load as fallbacks. */
export const powerOfTwo: Policy = {
  ...blind,
  name: 'power_of_two',
  rank(states, _req, ctx) {
    const n = states.length;
    if (n < 2) return rotation(n, 0);
    const a = Math.floor(ctx.rng() * n);
    let b = Math.floor(ctx.rng() * (n - 1));
    if (b >= a) b++;
    const la = (states[a] as BackendState).inFlight;
    const lb = (states[b] as BackendState).inFlight;
    const first = la <= lb ? a : b;
    const second = first === a ? b : a;
    const rest = orderByCost(states.map((s) => s.inFlight), ctx.rng).filter((i) => i !== first && i !== second);
    return [first, second, ...rest];
  },
};

/** Smooth weighted round-robin (nginx): deterministic, proportional to weights, never bursts on one backend. */
export const weighted: Policy = {
  ...blind,
  name: 'weighted',
  rank(states, _req, ctx: DecisionContext) {
    const cur = ctx.memory.currents;
    let total = 0;
    let best = -1;
    let bestCur = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < states.length; i++) {
      const s = states[i] as BackendState;
      const w = Math.max(0, s.target.weight);
      total += w;
      const c = (cur.get(s.id) ?? 0) + w;
      cur.set(s.id, c);
      if (c > bestCur) {
        bestCur = c;
        best = i;
      }
    }
    if (best < 0) return [];
    const chosen = states[best] as BackendState;
    cur.set(chosen.id, bestCur - total);
    // Fallbacks in descending current weight: the ones "due" next.
    const rest = states
      .map((s, i) => ({ i, c: cur.get(s.id) ?? 0 }))
      .filter((x) => x.i !== best)
      .sort((x, y) => y.c - x.c)
      .map((x) => x.i);
    return [best, ...rest];
  },
};
