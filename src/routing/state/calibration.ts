/**
 * Per-backend quantities learned online from responses, so that predictions fit the real engine without tuning:
 * - chars per token: the prompt text's length over the backend's reported prompt_tokens (converts prefix keys to
 *   tokens);
 * - speed factor: observed decode step time (the gap between streamed tokens) over the cost model's prediction for
 *   the batch the gateway knows is running there, sampled only while no prefill is pending on that backend so the
 *   step is decode-only and the prediction is trustworthy (a half-speed GPU converges to ≈2). TTFTs make a poor
 *   signal: they mix in queueing, which the twin predicts imperfectly, and a load-dependent error turns into a
 *   feedback loop (a busy backend looks slow, loses traffic, looks fast, floods);
 * - reuse rate: the share of prompt tokens served from cache, a proxy for how likely a cached block is to be used
 *   again (it prices evicting blocks: worthless on a no-sharing workload, costly on a shared-prefix one);
 * - cache trust: shrinks the twin index's capacity when backends report fewer cached tokens than predicted (the
 *   engine evicted earlier than the mirror thought), and recovers slowly when predictions hold.
 */
export class Calibration {
  charsPerToken = 4;
  speedFactor = 1;
  cacheTrust = 1;
  /** Prior: prompts often share prefixes (system prompts, chats); a no-sharing workload decays it within ~100 requests. */
  reuseRate = 0.5;
  #logSpeed = 0;
  #samples = 0;

  observeCharsPerToken(ratio: number): void {
    if (!(ratio > 0.5 && ratio < 20)) return;
    this.charsPerToken += 0.05 * (ratio - this.charsPerToken);
  }

  /**
   * `tolerance` absorbs rounding (blocks); a further 5% absorbs chars-per-token varying between prompts, which makes
   * the key → token conversion overshoot a little without any eviction having happened.
   */
  observeCacheHit(predicted: number, reported: number, tolerance: number, promptTokens: number): void {
    if (promptTokens > 0) this.reuseRate += 0.02 * (Math.min(1, reported / promptTokens) - this.reuseRate);
    if (reported + tolerance + 0.05 * predicted < predicted) this.cacheTrust = Math.max(0.25, this.cacheTrust * 0.95);
    else this.cacheTrust = Math.min(1, this.cacheTrust + 0.005);
  }

  /** One decode step observed (ms between tokens of a decoding request) against the model's prediction (ms). */
  observeStep(observedMs: number, predictedMs: number): void {
    if (!(observedMs > 0) || !(predictedMs > 0)) return;
    const step = Math.max(-0.5, Math.min(0.5, Math.log(observedMs / predictedMs) - this.#logSpeed));
    // Many samples arrive per second; a slow EWMA averages out jitter and the odd prefill-carrying step.
    this.#samples++;
    const alpha = Math.max(0.005, 1 / (this.#samples + 1));
    this.#logSpeed = Math.max(-2.5, Math.min(3, this.#logSpeed + alpha * step));
    this.speedFactor = Math.exp(this.#logSpeed);
  }
}
