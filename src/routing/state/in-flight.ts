/** The gateway's record of one attempt on one backend, from dispatch to end. Mutated in place on the hot path. */
export interface InFlight {
  readonly promptTokens: number;
  readonly promptChars: number;
  /** Prefix-cache hit the dispatching policy predicted (tokens). */
  readonly cachedPred: number;
  /** Uncached prompt tokens predicted at dispatch (released at the first token, like llm-d's in-flight load). */
  readonly uncached: number;
  /** Uncached tokens the twin believes are still to be prefilled (drained by elapsed time, FCFS). */
  prefillLeft: number;
  /** Attention pairs of the remaining prefill. */
  attnLeft: number;
  readonly expectedOutput: number;
  /** Hard cap on output (max_tokens), or Infinity. */
  readonly maxOutput: number;
  decoded: number;
  readonly dispatchedAt: number;
  firstTokenAt: number;
  lastTokenAt: number;
  /** Twin-index keys pinned for this request, or null. */
  readonly keys: readonly number[] | null;
  /** Twin blocks reserved for its generated tokens. */
  reservedBlocks: number;
  ended: boolean;
  /**
   * The open speed-calibration window (backend-state.ts): since when (-1: not started), the decode steps seen in it,
   * and their predicted step times and batch sizes summed.
   */
  calFrom: number;
  calSteps: number;
  calPredictedMs: number;
  calBatch: number;
}

/**
 * Output still expected. Past its expected length a request is not about to stop: output lengths are heavy-tailed,
 * and one that has run long tends to run longer, so it keeps at least half of what it has produced, up to max_tokens.
 */
export function remainingOutput(r: InFlight): number {
  const left = Math.max(r.expectedOutput - r.decoded, 0.5 * r.decoded);
  return Math.max(0, Math.min(left, r.maxOutput - r.decoded));
}

/** Tokens the request holds in the KV cache right now (prompt plus generated). */
export function residentTokens(r: InFlight): number {
  return r.promptTokens + r.decoded;
}
