import { systemClock, type Clock } from '../core/index.js';

/**
 * A fleet-wide retry budget (after Finagle's RetryBudget and Envoy's retry budgets): retries may add at most `ratio`
 * of the recent request rate, plus a small floor so that a quiet gateway can still fail over. When a whole fleet
 * fails, per-request retry counts alone multiply the load on it by (retries + 1); the budget caps that at
 * (1 + ratio) once the floor is spent, so a struggling fleet is not finished off by its own gateway.
 *
 * Every request deposits one; every retry (another backend, or a fallback model after a failed attempt) must
 * withdraw one. Within the sliding window the invariant is
 *
 *   withdrawals ≤ ratio · deposits + minPerSecond · windowSeconds
 *
 * Counts live in a ring of time buckets, advanced lazily from the injected clock: no timers, O(1) amortised per call.
 */
export interface RetryBudgetOptions {
  /** Retries allowed per request over the window. Default 0.2. */
  readonly ratio?: number;
  /** Retries always allowed per second of the window, whatever the request rate. Default 10. */
  readonly minPerSecond?: number;
  /** Length of the sliding window (ms). Default 10_000. */
  readonly windowMs?: number;
  /** Buckets the window is divided into (its resolution). Default 10. */
  readonly buckets?: number;
}

export interface RetryBudget {
  /** Counts one request. */
  deposit(): void;
  /** Asks for one retry: true (and counted) when the budget allows it, false when the retry must not happen. */
  tryWithdraw(): boolean;
  /** Retries still allowed now (may be fractional; never negative). */
  available(): number;
  /** Changes ratio and floor at once; a different window or bucket count restarts the counts. */
  configure(options: RetryBudgetOptions): void;
}

interface Settings {
  ratio: number;
  minPerSecond: number;
  windowMs: number;
  buckets: number;
}

function settingsOf(o: RetryBudgetOptions): Settings {
  const s = { ratio: o.ratio ?? 0.2, minPerSecond: o.minPerSecond ?? 10, windowMs: o.windowMs ?? 10_000, buckets: o.buckets ?? 10 };
  if (!(s.ratio >= 0) || !Number.isFinite(s.ratio)) throw new RangeError(`retry budget ratio must be a finite number >= 0, got ${s.ratio}`);
  if (!(s.minPerSecond >= 0) || !Number.isFinite(s.minPerSecond)) throw new RangeError(`retry budget minPerSecond must be a finite number >= 0, got ${s.minPerSecond}`);
  if (!(s.windowMs > 0) || !Number.isFinite(s.windowMs)) throw new RangeError(`retry budget windowMs must be > 0, got ${s.windowMs}`);
  if (!Number.isInteger(s.buckets) || s.buckets < 1) throw new RangeError(`retry budget buckets must be an integer >= 1, got ${s.buckets}`);
  return s;
}

export function createRetryBudget(options: RetryBudgetOptions & { readonly clock?: Clock } = {}): RetryBudget {
  const clock = options.clock ?? systemClock;
  let s = settingsOf(options);
  let bucketMs = s.windowMs / s.buckets;
  let deposits = new Float64Array(s.buckets);
  let withdrawals = new Float64Array(s.buckets);
  let totalDeposits = 0;
  let totalWithdrawals = 0;
  /** Index (time / bucketMs) of the newest bucket. */
  let head = Math.floor(clock.now() / bucketMs);

  /** Moves the window to now, emptying the buckets that fell out of it. */
  const advance = (): number => {
    const now = Math.floor(clock.now() / bucketMs);
    if (now <= head) return head % s.buckets;
    const steps = Math.min(now - head, s.buckets);
    for (let k = 1; k <= steps; k++) {
      const i = (head + k) % s.buckets;
      totalDeposits -= deposits[i] as number;
      totalWithdrawals -= withdrawals[i] as number;
      deposits[i] = 0;
      withdrawals[i] = 0;
    }
    head = now;
    // Sums of small integers stay exact; clamp anyway so float drift can never show a negative count.
    if (totalDeposits < 0) totalDeposits = 0;
    if (totalWithdrawals < 0) totalWithdrawals = 0;
    return head % s.buckets;
  };

  const allowance = (): number => s.ratio * totalDeposits + (s.minPerSecond * s.windowMs) / 1000;

  return {
    deposit() {
      const i = advance();
      deposits[i] = (deposits[i] as number) + 1;
      totalDeposits++;
    },
    tryWithdraw() {
      const i = advance();
      if (totalWithdrawals + 1 > allowance()) return false;
      withdrawals[i] = (withdrawals[i] as number) + 1;
      totalWithdrawals++;
      return true;
    },
    available() {
      advance();
      return Math.max(0, allowance() - totalWithdrawals);
    },
    configure(next) {
      const n = settingsOf(next);
      if (n.windowMs !== s.windowMs || n.buckets !== s.buckets) {
        bucketMs = n.windowMs / n.buckets;
        deposits = new Float64Array(n.buckets);
        withdrawals = new Float64Array(n.buckets);
        totalDeposits = 0;
        totalWithdrawals = 0;
        head = Math.floor(clock.now() / bucketMs);
      }
      s = n;
    },
  };
}
