import type { AttemptFailure } from '../types.js';

export interface HealthOptions {
  /** Consecutive passive failures (5xx, timeouts, resets) before ejection; a refused connection ejects at once. */
  readonly ejectAfter?: number;
  /** First ejection length; each further ejection without a recovery in between doubles it. */
  readonly baseEjectMs?: number;
  readonly maxEjectMs?: number;
  /** Consecutive failed /health probes that mark a backend down, and successes that bring it back. */
  readonly unhealthyThreshold?: number;
  readonly healthyThreshold?: number;
}

export type HealthStatus = 'healthy' | 'ejected' | 'half_open' | 'probe_down';

/**
 * One backend's health, as a small state machine driven by passive outcomes and active probes:
 *
 *   healthy ──(connect error, or N consecutive failures)──► ejected (for base·2^k ms, capped)
 *   ejected ──(time passes; or, if it was ejected for refusing connections, a probe succeeds)──► half_open
 *   half_open ──success──► healthy (backoff reset)      half_open ──failure──► ejected (k+1)
 *   any ──(M failed probes)──► probe_down ──(M' good probes)──► healthy
 *
 * 429 is the backend saying "busy", not "broken": it neither ejects nor counts as a success.
 */
export class HealthState {
  readonly #o: Required<HealthOptions>;
  #consecutiveFailures = 0;
  #ejections = 0;
  #ejectedUntil = Number.NEGATIVE_INFINITY;
  #halfOpen = false;
  #probeFailures = 0;
  #probeSuccesses = 0;
  #probeDown = false;
  #ejectedForConnect = false;

  constructor(options: HealthOptions = {}) {
    this.#o = {
      ejectAfter: options.ejectAfter ?? 3,
      baseEjectMs: options.baseEjectMs ?? 1000,
      maxEjectMs: options.maxEjectMs ?? 30_000,
      unhealthyThreshold: options.unhealthyThreshold ?? 2,
      healthyThreshold: options.healthyThreshold ?? 2,
    };
  }

  status(now: number): HealthStatus {
    if (this.#probeDown) return 'probe_down';
    if (now < this.#ejectedUntil) return 'ejected';
    if (this.#halfOpen) return 'half_open';
    return 'healthy';
  }

  isHealthy(now: number): boolean {
    const s = this.status(now);
    return s === 'healthy' || s === 'half_open';
  }

  /** Time when an ejected backend is tried again (for Retry-After when nothing is healthy). */
  get ejectedUntil(): number {
    return this.#ejectedUntil;
  }

  onSuccess(): void {
    this.#consecutiveFailures = 0;
    this.#halfOpen = false;
    this.#ejections = 0;
  }

  onFailure(failure: AttemptFailure, now: number): void {
    if (failure === 'status_429') return;
    this.#consecutiveFailures++;
    const wasHalfOpen = this.status(now) === 'half_open';
    if (failure === 'connect' || wasHalfOpen || this.#consecutiveFailures >= this.#o.ejectAfter) {
      this.#ejectedForConnect = failure === 'connect';
      this.#eject(now);
    }
  }

  onProbe(ok: boolean, now: number): void {
    if (ok) {
      this.#probeFailures = 0;
      this.#probeSuccesses++;
      if (this.#probeDown && this.#probeSuccesses >= this.#o.healthyThreshold) {
        this.#probeDown = false;
        this.#halfOpen = true;
      }
      // A backend ejected for refusing connections (restarting) is tried again as soon as /health answers, instead
      // of waiting out its backoff. One ejected for 5xx or timeouts may be alive but sick: it serves its backoff.
      if (!this.#probeDown && this.#ejectedForConnect && now < this.#ejectedUntil) {
        this.#ejectedUntil = now;
        this.#halfOpen = true;
      }
    } else {
      this.#probeSuccesses = 0;
      this.#probeFailures++;
      if (this.#probeFailures >= this.#o.unhealthyThreshold) this.#probeDown = true;
    }
  }

  #eject(now: number): void {
    const ms = Math.min(this.#o.maxEjectMs, this.#o.baseEjectMs * 2 ** this.#ejections);
    this.#ejections++;
    this.#ejectedUntil = now + ms;
    this.#halfOpen = true;
    this.#consecutiveFailures = 0;
  }
}
