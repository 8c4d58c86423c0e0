/**
 * Configuration of the vLLM-faithful engine. Defaults are vLLM V1's for an H100 OpenAI server
 * (max_num_batched_tokens 8192, max_num_seqs 1024, block_size 16, prefix caching on) and the per-step cost constants
 * for Llama-3.1-8B BF16 on one H100 (routing-research.md §6.2 item 5: BLIS fit plus a context-read term).
 */

/** Per-step cost constants, all in milliseconds. */
export interface VllmCostConstants {
  /** Fixed step overhead: weight read plus launch/scheduling. */
  readonly t0: number;
  /** Per uncached prefill token. */
  readonly perPrefillToken: number;
  /** Per decoding sequence in the batch. */
  readonly perDecodeSeq: number;
  /** Per 1000 tokens of logical context read by decoding sequences. */
  readonly perKiloContext: number;
  /** Per (query, key) pair of prefill attention. */
  readonly perAttentionPair: number;
}

export const LLAMA_8B_H100: VllmCostConstants = Object.freeze({
  t0: 5.75,
  perPrefillToken: 0.01725,
  perDecodeSeq: 0.006,
  perKiloContext: 0.04,
  perAttentionPair: 0.87e-6,
});

export interface VllmEngineOptions {
  /** Token budget per engine step. */
  readonly maxNumBatchedTokens?: number;
  /** Maximum running sequences. */
  readonly maxNumSeqs?: number;
  /** Tokens per KV block. */
  readonly blockSize?: number;
  /** KV capacity in blocks (29,205 × 16 = 467,280 tokens for 8B on one H100 at 0.9 memory utilisation). */
  readonly numGpuBlocks?: number;
  /** Alias of numGpuBlocks, the name the simulator's engine factory passes. */
  readonly kvBlocks?: number;
  /** Automatic prefix caching; 'off' makes every admission a full recompute. */
  readonly prefixCaching?: 'on' | 'off';
  /** Speed multiplier: 0.5 is a replica half as fast (heterogeneous fleets). */
  readonly speed?: number;
  readonly cost?: Partial<VllmCostConstants>;
  /** Sigma of the multiplicative lognormal jitter on each step time. */
  readonly jitterSigma?: number;
  readonly seed?: number;
  /** How many latency samples of each kind the snapshot keeps (oldest dropped first); 0 keeps none. */
  readonly histogramCap?: number;
}

export interface ResolvedVllmOptions {
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  readonly blockSize: number;
  readonly numGpuBlocks: number;
  readonly prefixCaching: boolean;
  readonly speed: number;
  readonly cost: VllmCostConstants;
  readonly jitterSigma: number;
  readonly seed: number;
  readonly histogramCap: number;
}

export function resolveVllmOptions(options: VllmEngineOptions): ResolvedVllmOptions {
  const positive = (name: string, v: number): number => {
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`vllm engine: ${name} must be a positive number, got ${v}`);
    return v;
  };
  return Object.freeze({
    maxNumBatchedTokens: positive('maxNumBatchedTokens', options.maxNumBatchedTokens ?? 8192),
    maxNumSeqs: positive('maxNumSeqs', options.maxNumSeqs ?? 1024),
    blockSize: positive('blockSize', options.blockSize ?? 16),
    numGpuBlocks: positive('numGpuBlocks', options.numGpuBlocks ?? options.kvBlocks ?? 29_205),
    prefixCaching: (options.prefixCaching ?? 'on') === 'on',
    speed: positive('speed', options.speed ?? 1),
    cost: Object.freeze({ ...LLAMA_8B_H100, ...options.cost }),
    jitterSigma: Math.max(0, options.jitterSigma ?? 0.03),
    seed: options.seed ?? 1,
    histogramCap: Math.max(0, Math.floor(options.histogramCap ?? 100_000)),
  });
}
