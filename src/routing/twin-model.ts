/**
 * The gateway's model of how long an engine step takes, used to turn token counts into predicted time. Same
 * structure as the simulator's cost model (routing-research.md §6.2 item 5), but here the constants are only a prior
 * for a vLLM-like engine: each backend's predictions are scaled by a speed factor learned online from its observed
 * TTFTs (state/backend-state.ts), so a slower GPU or a bigger model is absorbed without configuration.
 */
export interface EngineProfile {
  /** Fixed per-step overhead (ms). */
  readonly t0: number;
  /** ms per uncached prefill token. */
  readonly perPrefillToken: number;
  /** ms per decoding sequence per step. */
  readonly perDecodeSeq: number;
  /** ms per 1000 tokens of context read by decoding sequences per step. */
  readonly perKiloContext: number;
  /** ms per (query, key) pair of prefill attention. */
  readonly perAttentionPair: number;
  /** The engine's per-step token budget (vLLM max_num_batched_tokens). */
  readonly stepTokenBudget: number;
}

/** A vLLM ≥0.8 serving an 8B model on one H100: the profile the simulator also uses by default. */
export const DEFAULT_ENGINE_PROFILE: EngineProfile = Object.freeze({
  t0: 5.75,
  perPrefillToken: 0.01725,
  perDecodeSeq: 0.006,
  perKiloContext: 0.04,
  perAttentionPair: 0.87e-6,
  stepTokenBudget: 8192,
});

/** Duration of one decode-only step for a batch. */
export function decodeStepMs(p: EngineProfile, decodeSeqs: number, decodeContext: number): number {
  return p.t0 + p.perDecodeSeq * decodeSeqs + p.perKiloContext * (decodeContext / 1000);
}

/**
 * Time to push `tokens` of prefill through an engine that is also decoding `decodeSeqs` sequences: the work is
 * split into steps of (budget − decodes) tokens, and every step also pays the decode batch.
 * `attentionPairs` is the (query, key) pairs of the prompts involved.
 */
export function prefillMs(p: EngineProfile, tokens: number, attentionPairs: number, decodeSeqs: number, decodeContext: number): number {
  if (tokens <= 0) return 0;
  const chunk = Math.max(256, p.stepTokenBudget - decodeSeqs);
  const steps = Math.ceil(tokens / chunk);
  return steps * decodeStepMs(p, decodeSeqs, decodeContext) + p.perPrefillToken * tokens + p.perAttentionPair * attentionPairs;
}

/** Attention pairs of computing `uncached` tokens after `cached` ones: Σ over new tokens of their key count. */
export function attentionPairs(cached: number, uncached: number): number {
  return uncached * (cached + uncached / 2);
}

/** Peak prefill rate (tokens/ms) of an otherwise idle engine: the R_peak that sticky-until-saturated calibrates. */
export function peakPrefillRate(p: EngineProfile): number {
  const b = p.stepTokenBudget;
  return b / (p.t0 + p.perPrefillToken * b + p.perAttentionPair * attentionPairs(0, b));
}
