/** One request of a simulated client: token ids for the engine, rendered text for the gateway. */
export interface SimTurn {
  readonly promptIds: Int32Array;
  readonly promptText: string;
  readonly outputTokens: number;
  /** Ids of the answer when the next turn resends it (so the engine can prefix-cache generated blocks). */
  readonly outputIds: Int32Array | null;
  /** max_tokens the client sends (null: none). */
  readonly maxTokens: number | null;
}

/** A client session: turn i+1 is sent `thinkMs[i]` after turn i's answer ended (closed loop within a session). */
export interface SimSession {
  readonly key: string;
  readonly turns: readonly SimTurn[];
  readonly thinkMs: readonly number[];
}

export type WorkloadKind = 'shared-prefix' | 'prefill-heavy' | 'chat' | 'decode-heavy' | 'control';

/** How a run warms up before it measures: one pass over a fixed prompt set, or a stretch of time. */
export type Warmup = { readonly kind: 'pass' } | { readonly kind: 'time'; readonly ms: number };

/**
 * A workload is an endless, deterministic sequence of sessions: `session(i)` is the same for every run and policy,
 * so identical seeds give identical arrivals. Runs are time-based (warm-up, then a measured window of arrivals at
 * the offered rate), because a finite burst of requests never shows saturation: a fleet absorbs any burst if given
 * long enough to drain it.
 */
export interface Workload {
  readonly name: string;
  readonly title: string;
  readonly kind: WorkloadKind;
  session(i: number): SimSession;
  /** Size of the fixed prompt set when sessions cycle through one (shared-prefix benchmarks), else null. */
  readonly poolSize: number | null;
  /**
   * Mean turns per session. Sessions arrive at (offered rate / meanTurns), so that in steady state requests arrive at
   * the offered rate whatever the latency (open arrivals of sessions, closed loop inside each session, as
   * inference-perf's think-time catalog workloads do).
   */
  readonly meanTurns: number;
  readonly warmup: Warmup;
  /** Length of the measured window of arrivals (ms). */
  readonly measureMs: number;
  /** TTFT p99 objective used for "max QPS at SLO". */
  readonly sloTtftMs: number;
  /** Arrival process: Poisson (1), or Gamma gaps with this coefficient of variation (> 1 = bursty). */
  readonly arrivalCv: number;
}
