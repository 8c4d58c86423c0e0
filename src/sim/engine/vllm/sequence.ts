import type { EngineCallbacks, EngineRequest } from '../types.js';

/** An engine request that may also carry the token ids it will generate, so its output blocks can be prefix-cached
 * (the next turn of a chat resends them). Without them, output blocks occupy KV but are never hit. */
export interface VllmEngineRequest extends EngineRequest {
  readonly outputTokenIds?: ArrayLike<number>;
}

export type SequenceState = 'waiting' | 'running' | 'done';

/**
 * One request inside the engine (vLLM's Request): tokens to compute are always (prompt + emitted outputs) − computed,
 * so a decode step computes 1 token and a preempted request recomputes everything (minus prefix-cache hits).
 */
export interface Sequence {
  readonly id: string;
  readonly cb: EngineCallbacks;
  readonly promptIds: ArrayLike<number>;
  readonly outputIds: ArrayLike<number> | null;
  readonly prompt: number;
  /** Output tokens to emit before finishing. */
  readonly target: number;
  readonly arrivalMs: number;
  state: SequenceState;
  computed: number;
  output: number;
  /** KV blocks held, in token order. */
  blocks: number[];
  /** Chain keys of the prompt's full blocks (shared, cached per prompt array). */
  promptKeys: readonly number[];
  /** Chain keys of later full blocks (spanning into or inside the output), computed on demand. */
  extraKeys: number[];
  /** Leading blocks already registered in the prefix cache. */
  registered: number;
  /** Tokens scheduled in the step in progress (0 when not scheduled). */
  scheduled: number;
  /** Prefix-cache hit of the latest admission, reported as cached_tokens. */
  cachedTokens: number;
  firstTokenMs: number;
  lastTokenMs: number;
}

export function tokensToCompute(s: Sequence): number {
  return s.prompt + s.output - s.computed;
}
