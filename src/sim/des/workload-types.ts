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

/** A client session: its turns are serialised (a turn is sent only after the previous answer ended). */
export interface SimSession {
  readonly key: string;
  readonly turns: readonly SimTurn[];
  /** Warm-up sessions run like the others but are left out of the statistics. */
  readonly measured: boolean;
}

export type WorkloadKind = 'shared-prefix' | 'prefill-heavy' | 'chat' | 'decode-heavy' | 'control';

export interface Workload {
  readonly name: string;
  readonly title: string;
  readonly kind: WorkloadKind;
  readonly sessions: readonly SimSession[];
  readonly requests: number;
  readonly meanTurns: number;
  /**
   * Multi-turn workloads run inference-perf's way: requests arrive by the arrival process at the offered rate and
   * arrival k goes to session slot k mod this many (a slot takes the next session when its current one is done; a
   * turn that arrives while the slot's previous turn is still running waits for it). So the offered rate is exact,
   * and the time between a session's turns (its think time) is slots / rate. null: every session is one request.
   */
  readonly sessionSlots: number | null;
  /** TTFT p99 objective used for "max QPS at SLO". */
  readonly sloTtftMs: number;
  /** Arrival process of sessions: Poisson, or Gamma gaps with this coefficient of variation (> 1 = bursty). */
  readonly arrivalCv: number;
}
