/**
 * Per-backend quantities learned online from responses, so that predictions fit the real engine without tuning:
 * - chars per token: the prompt text's length over the backend's reported prompt_tokens (converts prefix keys to
 *   tokens);
 * - speed factor: observed decode step time (the gap between streamed tokens) over the cost model's prediction for
 *   the batch the gateway knows is running there, sampled only while no prefill is pending on that backend so the
 *   step is decode-only and the prediction is trustworthy (a half-speed GPU converges to ≈2). TTFTs make a poor
 *   signal: they mix in queueing, which the twin predicts imperfectly, and a load-dependent error turns into a
 *   feedback loop (a busy backend looks slow, loses traffic, looks fast, floods). The factor is learned per batch
 *   size (log2 buckets, interpolated), because engines unlike the cost model's profile (llama.cpp's slots, the quick
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
  /** Speed over every batch size; what a batch size without samples of its own is priced at. */
  speedFactor = 1;
  cacheTrust = 1;
  /** Prior: prompts often share prefixes (system prompts, chats); a no-sharing workload decays it within ~100 requests. */
  reuseRate = 0.5;
  #logSpeed = 0;
  #samples = 0;
  /** log speed per batch-size bucket b (batch ≈ 2^b), and how many samples each has seen. */
  readonly #logSpeedAt = new Float64Array(SPEED_BUCKETS);
  readonly #samplesAt = new Uint32Array(SPEED_BUCKETS);

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
    const b = Math.min(SPEED_BUCKETS - 1, Math.round(Math.log2(Math.max(1, batch))));
    const n = ++this.#samplesAt[b]!;
    // A bucket's first sample starts from the overall speed, not from 1, so one early outlier does not define it.
    const start = n === 1 ? this.#logSpeed : (this.#logSpeedAt[b] as number);
    this.#logSpeedAt[b] = n === 1 ? start : ewma(start, ratio, n);
  }

  /**
   * Speed factor for a step with `batch` sequences decoding: interpolated in log2(batch) between the buckets that
   * have samples; beyond the sampled range, the nearest sampled bucket; with no samples at all, `speedFactor`.
   */
  speedAt(batch: number): number {
    const x = Math.min(SPEED_BUCKETS - 1, Math.log2(Math.max(1, batch)));
    let lo = Math.floor(x);
    let hi = Math.ceil(x);
    while (lo >= 0 && this.#samplesAt[lo] === 0) lo--;
    while (hi < SPEED_BUCKETS && this.#samplesAt[hi] === 0) hi++;
    if (lo < 0 && hi >= SPEED_BUCKETS) return this.speedFactor;
    if (lo < 0) return Math.exp(this.#logSpeedAt[hi] as number);
    if (hi >= SPEED_BUCKETS || hi === lo) return Math.exp(this.#logSpeedAt[lo] as number);
    const t = (x - lo) / (hi - lo);
    return Math.exp((this.#logSpeedAt[lo] as number) * (1 - t) + (this.#logSpeedAt[hi] as number) * t);
  }
}

/** Batch sizes 1, 2, 4, … 2048 (bucket b holds batches nearest to 2^b in log scale). */
const SPEED_BUCKETS = 12;

/** One step of the speed EWMA in log space: fast while samples are few, then slow; bounded steps and range. */
function ewma(current: number, sample: number, samples: number): number {
  const step = Math.max(-0.5, Math.min(0.5, sample - current));
  const alpha = Math.max(0.005, 1 / (samples + 1));
  return Math.max(-2.5, Math.min(3, current + alpha * step));
}
