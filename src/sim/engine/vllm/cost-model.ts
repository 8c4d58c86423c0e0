import type { VllmCostConstants } from './options.js';

/** What one engine step carries, accumulated while the scheduler builds the batch. */
export interface StepLoad {
  /** Uncached tokens computed as prefill in this step. */
  prefillTokens: number;
  /** Σ P_i·(C_i + P_i/2) over prefill chunks: (query, key) pairs of causal attention. */
  attentionPairs: number;
  decodeSeqs: number;
  /** Σ logical context of the decoding sequences (each reads its whole context, shared blocks included). */
  decodeContext: number;
}

export function emptyStepLoad(): StepLoad {
  return { prefillTokens: 0, attentionPairs: 0, decodeSeqs: 0, decodeContext: 0 };
}

/**
 * T_step = t0 + a·P_new + c·B_dec + b·(ΣC_dec/1000) + g·Σ P_i(C_i + P_i/2), divided by the replica's speed.
 * Jitter is applied by the caller so that this stays a pure function the tests can check exactly.
 */
export function stepTimeMs(k: VllmCostConstants, load: StepLoad, speed: number): number {
  const ms =
    k.t0 +
    k.perPrefillToken * load.prefillTokens +
    k.perDecodeSeq * load.decodeSeqs +
    k.perKiloContext * (load.decodeContext / 1000) +
    k.perAttentionPair * load.attentionPairs;
  return ms / speed;
}
