import { remainingOutput as remaining, type InFlight } from './in-flight.js';

/**
 * Projects one backend's KV demand into the future. vLLM admits a request while blocks are free now and preempts
 * the newest running request (discarding its work) when decodes later outgrow the cache, so the question for a new
 * request is the *peak* of future demand: every live request grows by one token per step until it finishes and
 * frees its private blocks. Sorting live requests by remaining output, the peak is at one of their finishing
 * times τ_k: demand(τ_k) = resident − freed(before k) + alive(k)·τ_k + the new request's prompt and growth.
 *
 * The sort is cached and redone only when requests join or leave: decoding shrinks every remaining count by the
 * same amount each step, so the order barely moves, and a decision costs O(in-flight) per backend.
 */
export class KvProjection {
  readonly #live = new Set<InFlight>();
  #sorted: InFlight[] | null = null;

  add(r: InFlight): void {
    this.#live.add(r);
    this.#sorted = null;
  }

  remove(r: InFlight): void {
    if (this.#live.delete(r)) this.#sorted = null;
  }

  /** Peak future demand (tokens) if a request with `ownNew` uncached prompt tokens and `ownOutput` output joins. */
  peak(resident: number, ownNew: number, ownOutput: number): number {
    if (!this.#sorted) this.#sorted = [...this.#live].sort((a, b) => remaining(a) - remaining(b));
    const sorted = this.#sorted;
    let best = resident + ownNew;
    let freed = 0;
    let alive = sorted.length;
    for (const r of sorted) {
      const tau = remaining(r);
      const d = resident - freed + alive * tau + ownNew + Math.min(tau, ownOutput);
      if (d > best) best = d;
      freed += r.uncached + r.decoded;
      alive--;
    }
    return Math.max(best, resident - freed + ownNew + ownOutput);
  }
}
