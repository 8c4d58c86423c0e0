/**
 * Per-backend quantities learned online from responses, so that predictions fit the real engine without tuning:
 * - chars per token: the prompt text's length over the backend's reported prompt_tokens (converts prefix keys to
 *   tokens);
 * - speed factor: observed TTFT over predicted TTFT, learned only from requests that barely queued, so it measures
 *   the engine's speed rather than the queue model's errors (a half-speed GPU converges to ≈2);
 * - cache trust: shrinks the twin index's capacity when backends report fewer cached tokens than predicted (the
 *   engine evicted earlier than the mirror thought), and recovers slowly when predictions hold.
 */
export class Calibration {
  charsPerToken = 4;
  speedFactor = 1;
  cacheTrust = 1;
  #logSpeed = 0;
  #ttftSamples = 0;

  observeCharsPerToken(ratio: number): void {
    if (!(ratio > 0.5 && ratio < 20)) return;
    this.charsPerToken += 0.05 * (ratio - this.charsPerToken);
  }

  /**
   * `tolerance` absorbs rounding (blocks); a further 5% absorbs chars-per-token varying between prompts, which makes
   * the key → token conversion overshoot a little without any eviction having happened.
   */
  observeCacheHit(predicted: number, reported: number, tolerance: number): void {
    if (reported + tolerance + 0.05 * predicted < predicted) this.cacheTrust = Math.max(0.25, this.cacheTrust * 0.95);
    else this.cacheTrust = Math.min(1, this.cacheTrust + 0.005);
  }

  /** observed and own in ms; queue is the predicted wait before the request's own prefill. */
  observeTtft(observedMs: number, queueMs: number, ownMs: number): void {
    if (!(observedMs > 0) || !(ownMs > 0) || queueMs > ownMs) return;
    const predicted = queueMs + ownMs;
    const step = Math.max(-0.5, Math.min(0.5, Math.log(observedMs / predicted)));
    // Faster adaptation for the first samples, then a slow EWMA that ignores single outliers.
    this.#ttftSamples++;
    const alpha = Math.max(0.05, 1 / (this.#ttftSamples + 1));
    this.#logSpeed = Math.max(-2.5, Math.min(3, this.#logSpeed + alpha * step));
    this.speedFactor = Math.exp(this.#logSpeed);
  }
}
