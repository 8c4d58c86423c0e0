/**
 * The lease protocol's vocabulary, shared by both authorities (the supervisor among the workers of a host, Redis
 * among replicas) and the client in every process. A counter is one capacity: a rate bucket (rpm or tpm, refilled
 * continuously over `windowMs`), a set of concurrency slots, or a quota window (tokens until the window ends).
 */
export type CounterKind = 'rate' | 'slots' | 'quota';

export interface CounterSpec {
  /** Unique across the fleet: the limiter's state key with the dimension (and, for quotas, the window id). */
  readonly key: string;
  readonly kind: CounterKind;
  /** The configured limit (units per window for rates, slots, tokens per quota window). */
  readonly cap: number;
  /** rate: the refill window (60 s for per-minute limits); quota: ms until the window ends (the state's lifetime). */
  readonly windowMs: number;
  /** Quotas only: the limiter's quota key and window id, under which the authority persists what was used. */
  readonly quota?: { readonly key: string; readonly window: string };
}

/** One counter's part of an exchange between a holder and the authority. */
export interface ExchangeItem {
  readonly spec: CounterSpec;
  /** Units the holder used since its last report (settled usage); they leave its lease for good. */
  readonly consumed: number;
  /** Unused units handed back (negative: a debt, when requests used more than they reserved). */
  readonly returned: number;
  /** What the holder's waiting requests need in all; 0 for a background top-up. */
  readonly need: number;
  /** The smallest of those requests' shortfalls: a grant below it serves nobody, so none is made. */
  readonly min: number;
  /** Units it would like on top of what it holds (need included); the authority may grant less, down to `need`. */
  readonly want: number;
  /** Units the holder still holds after this exchange's returns (lets a restarted authority re-adopt the lease). */
  readonly held: number;
  /** Units the holder holds unused (a recall of spare capacity can reach them when another holder runs short). */
  readonly spare: number;
  /** rate: units it consumed over the last window; quota: all it consumed in this window. Re-seeds a lost state. */
  readonly history: number;
}

export interface ExchangeReply {
  readonly granted: number;
  /** Capacity left at the authority after the grant (excluding what holders hold). */
  readonly level: number;
  /** Capacity is short: holders should keep no spare and ask per request, so nobody is refused while some is idle. */
  readonly scarce: boolean;
  /** The need was refused but other holders' leases hold at least that much: ask again once they have returned spare. */
  readonly retry: boolean;
  /** The authority lost its state and is being re-seeded: every holder should re-declare its counters now. */
  readonly settling?: boolean;
  /** While settling: how much longer (ms) nothing is granted. Waiting requests are held until then, not refused. */
  readonly settleLeftMs?: number;
}

/** Moves a batch of exchanges to an authority and back, in one round trip. */
export interface Transport {
  exchange(holder: string, items: readonly ExchangeItem[]): Promise<ExchangeReply[]>;
  close(): Promise<void>;
}
