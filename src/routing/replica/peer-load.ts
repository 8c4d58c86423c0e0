import type { BackendState } from '../state/backend-state.js';
import { LOAD_FIELDS } from './codec.js';

const N = LOAD_FIELDS.length;

/**
 * Other replicas' in-flight load on one backend, folded into its BackendState's load fields so that every policy
 * and the gateway queue see the fleet's load without a code path of their own. Each peer's vector replaces its
 * previous one (the difference is added); a peer not heard from for the staleness bound is taken out again.
 * `own()` is what this replica itself has there: the fields minus the peers' sum.
 */
export class PeerLoad {
  readonly #peers = new Map<string, { v: Float64Array; at: number }>();
  readonly #sum = new Float64Array(N);

  set(state: BackendState, peer: string, values: readonly number[], now: number): void {
    const prev = this.#peers.get(peer);
    const v = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      const x = Number(values[i]);
      v[i] = Number.isFinite(x) && x > 0 ? x : 0;
    }
    this.#apply(state, v, prev?.v ?? null);
    this.#peers.set(peer, { v, at: now });
  }

  /** Takes out the load of peers last heard from before `cutoff`. */
  expire(state: BackendState, cutoff: number): void {
    for (const [peer, p] of this.#peers) {
      if (p.at >= cutoff) continue;
      this.#apply(state, new Float64Array(N), p.v);
      this.#peers.delete(peer);
    }
  }

  own(state: BackendState): number[] {
    const out = new Array<number>(N);
    for (let i = 0; i < N; i++) out[i] = Math.max(0, (state[LOAD_FIELDS[i] as (typeof LOAD_FIELDS)[number]] as number) - (this.#sum[i] as number));
    return out;
  }

  get peers(): number {
    return this.#peers.size;
  }

  #apply(state: BackendState, next: Float64Array, prev: Float64Array | null): void {
    for (let i = 0; i < N; i++) {
      const d = (next[i] as number) - (prev ? (prev[i] as number) : 0);
      if (d === 0) continue;
      const f = LOAD_FIELDS[i] as (typeof LOAD_FIELDS)[number];
      state[f] = Math.max(0, state[f] + d);
      this.#sum[i] = Math.max(0, (this.#sum[i] as number) + d);
    }
  }
}
