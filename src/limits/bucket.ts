/**
 * Token-bucket arithmetic with lazy refill: a bucket holds `level` units, refills continuously at `cap` per minute
 * up to `cap`, and is only brought up to date when touched. No timers, so a million idle keys cost no CPU.
 * Levels may go negative when a request used more than it reserved: later requests then wait for the debt.
 */
export const WINDOW_MS = 60_000;

export interface BucketState {
  /** Request-bucket level (rpm) and token-bucket level (tpm). */
  requests: number;
  tokens: number;
  /** Monotonic ms the levels were last brought up to date. */
  updatedMs: number;
  inFlight: number;
  /** Capacities the levels refer to (from the rule), so idleness can be judged without the rule. */
  rpm: number | null;
  tpm: number | null;
}

export function freshBucket(rpm: number | null, tpm: number | null, nowMs: number): BucketState {
  return { requests: rpm ?? 0, tokens: tpm ?? 0, updatedMs: nowMs, inFlight: 0, rpm, tpm };
}

function refill(level: number, cap: number | null, elapsedMs: number): number {
  if (cap === null) return 0;
  return Math.min(cap, level + (elapsedMs * cap) / WINDOW_MS);
}

/** A reload that changes a capacity keeps what was consumed: the level moves by the change (a new limit starts full). */
function rebase(level: number, oldCap: number | null, newCap: number | null): number {
  if (newCap === null) return 0;
  if (oldCap === null) return newCap;
  return level + newCap - oldCap;
}

/** Brings a bucket up to `nowMs` under (possibly reloaded) capacities. */
export function advance(b: BucketState, rpm: number | null, tpm: number | null, nowMs: number): void {
  const elapsed = Math.max(0, nowMs - b.updatedMs);
  b.requests = refill(rpm === b.rpm ? b.requests : rebase(b.requests, b.rpm, rpm), rpm, elapsed);
  b.tokens = refill(tpm === b.tpm ? b.tokens : rebase(b.tokens, b.tpm, tpm), tpm, elapsed);
  b.rpm = rpm;
  b.tpm = tpm;
  b.updatedMs = Math.max(b.updatedMs, nowMs);
}

/** Milliseconds until the bucket holds `need` (0 when it already does). */
export function msUntil(level: number, need: number, cap: number): number {
  return level >= need ? 0 : ((need - level) * WINDOW_MS) / cap;
}

/** Whether the bucket carries no information any more: full, with nothing in flight. Such keys can be dropped. */
export function isIdle(b: BucketState, nowMs: number): boolean {
  if (b.inFlight > 0) return false;
  const elapsed = Math.max(0, nowMs - b.updatedMs);
  return (b.rpm === null || refill(b.requests, b.rpm, elapsed) >= b.rpm) && (b.tpm === null || refill(b.tokens, b.tpm, elapsed) >= b.tpm);
}
