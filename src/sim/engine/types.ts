/**
 * The contract between the simulator's HTTP front (src/sim/server*) and the engines that decide *when* tokens come
 * out. The same engine code runs in two modes: real time (a Scheduler backed by timers, scaled by a time-scale
 * factor) and discrete-event (a Scheduler on a virtual clock, for policy sweeps in scripts/). Engines never touch
 * timers or Date directly; only the Scheduler.
 */

/** Time and deferred work; virtual in discrete-event mode, timers in real-time mode. Times are simulated ms. */
export interface Scheduler {
  now(): number;
  /** Runs fn at simulated time `atMs` (or as soon as possible if in the past). */
  at(atMs: number, fn: () => void): SchedulerHandle;
  cancel(handle: SchedulerHandle): void;
}
export type SchedulerHandle = { readonly id: number };

export interface EngineRequest {
  readonly id: string;
  /** Prompt token ids, used for prefix-cache block hashing. Length = prompt tokens. */
  readonly promptTokenIds: ArrayLike<number>;
  /** Number of output tokens this request will produce before it finishes (already min(max_tokens, natural)). */
  readonly outputTokens: number;
}

export interface EngineFinish {
  readonly promptTokens: number;
  /** Prompt tokens served from the prefix cache on the (last) admission. */
  readonly cachedTokens: number;
  readonly completionTokens: number;
  readonly reason: 'finished' | 'cancelled';
}

export interface EngineCallbacks {
  /** Called once per output token, in order; index 0 is the first token (its time is the TTFT). */
  onToken(index: number): void;
  onFinish(finish: EngineFinish): void;
}

/** Gauges and counters an engine exposes; the HTTP front renders them under each personality's metric names. */
export interface EngineSnapshot {
  running: number;
  waiting: number;
  /** KV cache usage, 0..1. */
  kvUsage: number;
  kvBlocksTotal: number;
  prefixQueriesTokens: number;
  prefixHitsTokens: number;
  preemptions: number;
  promptTokensTotal: number;
  generationTokensTotal: number;
  requestsFinished: number;
  /** Observed latencies in seconds since start, for histograms. Engines may cap the arrays' length. */
  ttftSeconds: readonly number[];
  itlSeconds: readonly number[];
  e2eSeconds: readonly number[];
}

export interface SimEngine {
  submit(req: EngineRequest, callbacks: EngineCallbacks): void;
  /** Cancels a queued or running request and frees its resources; onFinish is called with reason 'cancelled'. */
  cancel(id: string): void;
  snapshot(): EngineSnapshot;
  /** A restart: drops every request (finishing them as cancelled) and flushes the prefix cache. */
  restart(): void;
}
