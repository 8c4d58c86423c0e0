/**
 * Expected output length per model, learned from completed requests: with max_tokens, the EWMA of
 * completion/max_tokens (1 for ignore_eos benchmarks, ~0.25 for reasoning with a 32k cap); without it, the EWMA of
 * completion tokens. Cheap, online, and far better than a fixed "1.5 × input" guess.
 */
export class OutputEstimator {
  #ratio = 1;
  #mean = 256;
  #ratioSamples = 0;
  #meanSamples = 0;

  expected(maxTokens: number | null): number {
    if (maxTokens !== null && maxTokens > 0) return Math.max(1, Math.min(maxTokens, maxTokens * this.#ratio));
    return Math.max(1, this.#mean);
  }

  observe(maxTokens: number | null, completionTokens: number): void {
    if (!(completionTokens >= 0)) return;
    if (maxTokens !== null && maxTokens > 0) {
      this.#ratioSamples++;
      const a = Math.max(0.02, 1 / this.#ratioSamples);
      this.#ratio += a * (Math.min(1, completionTokens / maxTokens) - this.#ratio);
    } else {
      this.#meanSamples++;
      const a = Math.max(0.02, 1 / this.#meanSamples);
      this.#mean += a * (completionTokens - this.#mean);
    }
  }
}
