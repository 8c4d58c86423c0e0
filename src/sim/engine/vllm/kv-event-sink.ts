/**
 * Where the vLLM engine reports its prefix cache's changes, the way vLLM's KV cache manager collects KV events
 * (vllm/distributed/kv_events.py): blocks stored (with their token ids), blocks removed, the cache cleared. The engine
 * calls `endStep` after each step's scheduling, when vLLM takes the step's events and publishes them as one batch.
 */
export interface KvEventSink {
  /** Consecutive full blocks became cached; `tokens` holds their token ids in order (blockSize each). */
  stored(hashes: readonly number[], parent: number | null, tokens: readonly number[]): void;
  removed(hash: number): void;
  cleared(): void;
  endStep(): void;
}
