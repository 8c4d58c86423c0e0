/**
 * Per-backend quantities learned online from responses, so that predictions fit the real engine without tuning:
 * - chars per token: the prompt text's length over the backend's reported prompt_tokens (converts prefix keys to
 *   tokens);
 * - speed factor: observed decode step time (the gap between streamed tokens) over the cost model's prediction for
 *   the batch the gateway knows is running there, sampled only while no prefill is pending on that backend so the
 *   step is decode-only and the prediction is trustworthy (a half-speed GPU converges to ≈2). TTFTs make a poor
 *   signal: they mix in queueing, which the twin predicts imperfectly, and a load-dependent error turns into a
 *   feedback loop (a busy backend looks slow, loses traffic, looks fast, floods). The factor is learned as a function
 *   of batch size (a line in log2(batch), refitted by every sample), because engines unlike the cost model's profile (llama.cpp's slots, the quick
 *   start's simulator, smaller GPUs) slow down with their batch more steeply than it predicts: a single factor then
 *   learns load, not speed, and a backend that went idle kept the factor of its busy past, looked slower than a busy
 *   twin and was starved while the other piled up (issue 10). Per batch size, an idle backend is priced at what it
 *   measured when it was lightly loaded;
 * - reuse rate: the share of prompt tokens served from cache, a proxy for how likely a cached block is to be used
 *   again (it prices evicting blocks: worthless on a no-sharing workload, costly on a shared-prefix one);
 * - cache trust: shrinks the twin index's capacity when backends report fewer cached tokens than predicted (the
 *   engine evicted earlier than the mirror thought), and recovers slowly when predictions hold.
 */
export class Calibration {
  charsPerToken = 4;
  /** Speed over every batch size (the EWMA of every sample); what is used before the first sample. */
  speedFactor = 1;
  cacheTrust = 1;
  /** Prior: prompts often share prefixes (system prompts, chats); a no-sharing workload decays it within ~100 requests. */
  reuseRate = 0.5;
  #logSpeed = 0;
  #samples = 0;
  /**
   * log speed as a line in log2(batch), fitted by exponentially weighted least squares over the recent samples:
   * decayed sums of weight, x, y, x², xy. Every sample moves the whole line, so no batch size keeps a value from a
   * past that later samples contradict (a table per batch size did: one stray sample at a size never seen again
   * priced that size for good).
   */
  #w = 0;
  #sx = 0;
  #sy = 0;
  #sxx = 0;
  #sxy = 0;
  #intercept = 0;
  #slope = 0;

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

  /**
   * One decode step observed (ms between tokens of a decoding request) against the model's prediction (ms), with
   * `batch` sequences decoding.
   */
  observeStep(observedMs: number, predictedMs: number, batch = 1): void {
    if (!(observedMs > 0) || !(predictedMs > 0)) return;
    const ratio = Math.log(observedMs / predictedMs);
    // Many samples arrive per second; a slow EWMA averages out jitter and the odd prefill-carrying step.
    this.#samples++;
    this.#logSpeed = ewma(this.#logSpeed, ratio, this.#samples);
    this.speedFactor = Math.exp(this.#logSpeed);
    const x = Math.log2(Math.max(1, batch));
    // One sample moves the line by a bounded amount, like the EWMA's bounded step.
    const expected = this.#w > 0 ? this.#intercept + this.#slope * x : ratio;
    const y = expected + Math.max(-0.5, Math.min(0.5, ratio - expected));
    const keep = 1 - SPEED_FORGET;
    this.#w = this.#w * keep + 1;
    this.#sx = this.#sx * keep + x;
    this.#sy = this.#sy * keep + y;
    this.#sxx = this.#sxx * keep + x * x;
    this.#sxy = this.#sxy * keep + x * y;
    const mx = this.#sx / this.#w;
    const my = this.#sy / this.#w;
    // The ridge keeps the slope near 0 until samples span batch sizes; bounds keep one surge from tilting it wildly.
    const slope = (this.#sxy / this.#w - mx * my) / (this.#sxx / this.#w - mx * mx + SPEED_RIDGE);
    this.#slope = Math.max(-0.5, Math.min(1, slope));
    this.#intercept = my - this.#slope * mx;
  }

  /**
   * Speed factor for a step with `batch` sequences decoding, from the fitted line (within the EWMA's range); with no
   * samples yet, `speedFactor`.
   */
  speedAt(batch: number): number {
    if (this.#w === 0) return this.speedFactor;
    const y = this.#intercept + this.#slope * Math.log2(Math.max(1, batch));
    return Math.exp(Math.max(-2.5, Math.min(3, y)));
  }
}

/** Weight a sample loses per later sample: the fit spans about the last 1/SPEED_FORGET samples. */
const SPEED_FORGET = 1 / 200;
/** Variance of log2(batch) added to the fit's denominator (a prior of no slope). */
const SPEED_RIDGE = 0.25;

/** One step of the speed EWMA in log space: fast while samples are few, then slow; bounded steps and range. */
function ewma(current: number, sample: number, samples: number): number {
  const step = Math.max(-0.5, Math.min(0.5, sample - current));
  const alpha = Math.max(0.005, 1 / (samples + 1));
  return Math.max(-2.5, Math.min(3, current + alpha * step));
}
