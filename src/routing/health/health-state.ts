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

/** One change of status, with why it happened (for the log line operators read). */
export interface HealthTransition {
  readonly from: HealthStatus;
  readonly to: HealthStatus;
  readonly reason: string;
  /** For `to: 'ejected'`: how long the ejection lasts (ms). */
  readonly ejectedForMs?: number;
}

/**
 * One backend's health, as a small state machine driven by passive outcomes and active probes:
 *
 *   healthy ──(connect error, or N consecutive failures)──► ejected (for base·2^k ms, capped)
 *   ejected ──(time passes; or, if it was ejected for refusing connections, a probe succeeds)──► half_open
 *   half_open ──success──► healthy (backoff reset)      half_open ──failure──► ejected (k+1)
 *   any ──(M failed probes)──► probe_down ──(M' good probes)──► half_open
 *
 * 429 is the backend saying "busy", not "broken": it neither ejects nor counts as a success.
 *
 * Every change of `status` is reported once to `onChange`. Changes caused by an event are reported by that event's
 * call; the one caused by time alone (an ejection running out) when `check(now)` is called at or after
 * `ejectedUntil` (the router sets a timer for it).
 */
export class HealthState {
  readonly #o: Required<HealthOptions>;
  readonly #onChange: ((t: HealthTransition) => void) | undefined;
  #consecutiveFailures = 0;
  #ejections = 0;
  #ejectedUntil = Number.NEGATIVE_INFINITY;
  /** Length of the last ejection (a running one is extended by it). */
  #ejectedForMs = 0;
  #halfOpen = false;
  #probeFailures = 0;
  #probeSuccesses = 0;
  #probeDown = false;
  #ejectedForConnect = false;
  #reported: HealthStatus = 'healthy';
  /** Passive ejections since start (a counter for /metrics; `#ejections` is the backoff exponent). */
  ejectionsTotal = 0;

  constructor(options: HealthOptions = {}, onChange?: (t: HealthTransition) => void) {
    this.#o = {
      ejectAfter: options.ejectAfter ?? 3,
      baseEjectMs: options.baseEjectMs ?? 1000,
      maxEjectMs: options.maxEjectMs ?? 30_000,
      unhealthyThreshold: options.unhealthyThreshold ?? 2,
      healthyThreshold: options.healthyThreshold ?? 2,
    };
    this.#onChange = onChange;
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

  /**
   * Ejected because it refused a connection (nothing listens there): known down, not worth a request until a probe
   * answers or the ejection runs out, even when every backend of its pool is out.
   */
  refusing(now: number): boolean {
    return this.#ejectedForConnect && now < this.#ejectedUntil;
  }

  /** Time when an ejected backend is tried again (for Retry-After when nothing is healthy). */
  get ejectedUntil(): number {
    return this.#ejectedUntil;
  }

  onSuccess(now: number): void {
    // The hot path: every successful attempt lands here, and almost always there is nothing to reset.
    if (this.#consecutiveFailures === 0 && !this.#halfOpen && this.#ejections === 0) return;
    this.#consecutiveFailures = 0;
    this.#halfOpen = false;
    this.#ejections = 0;
    this.#report(now, 'a request succeeded');
  }

  onFailure(failure: AttemptFailure, now: number): void {
    if (failure === 'status_429') return;
    this.#consecutiveFailures++;
    if (now < this.#ejectedUntil) {
      // Already out (requests that were in flight, or sent because every backend is out): the same failures that
      // would eject it extend the running ejection by its own length, but they are not a further ejection. Counted
      // and doubled, the 20 resets of one crash under load were 6 ejections on /metrics and a 32 s backoff.
      if (failure === 'connect' || this.#consecutiveFailures >= this.#o.ejectAfter) {
        if (failure === 'connect') this.#ejectedForConnect = true;
        this.#consecutiveFailures = 0;
        this.#ejectedUntil = Math.max(this.#ejectedUntil, now + this.#ejectedForMs);
      }
      return;
    }
    const wasHalfOpen = this.status(now) === 'half_open';
    if (failure === 'connect' || wasHalfOpen || this.#consecutiveFailures >= this.#o.ejectAfter) {
      const reason =
        failure === 'connect'
          ? 'connection refused or failed'
          : wasHalfOpen
            ? `trial request failed (${failure})`
            : `${this.#consecutiveFailures} consecutive failures (last: ${failure})`;
      this.#ejectedForConnect = failure === 'connect';
      this.#eject(now, reason);
    }
  }

  /** One /health probe's outcome; `detail` says what failed ("503", "timeout", ...) for the log. */
  onProbe(ok: boolean, now: number, detail = ''): void {
    if (ok) {
      this.#probeFailures = 0;
      this.#probeSuccesses++;
      if (this.#probeDown && this.#probeSuccesses >= this.#o.healthyThreshold) {
        // Seen down and then answering again (a restart): on trial now. An ejection that was running when it went
        // down (its in-flight requests reset by the crash) would otherwise keep a restarted backend out for up to
        // eject_max after it is back.
        this.#probeDown = false;
        this.#halfOpen = true;
        if (this.#ejectedUntil > now) this.#ejectedUntil = now;
        this.#report(now, `${this.#probeSuccesses} good probe${this.#probeSuccesses === 1 ? '' : 's'}`);
      }
      // A backend ejected for refusing connections (restarting) is tried again as soon as /health answers, instead
      // of waiting out its backoff. One ejected for 5xx or timeouts may be alive but sick: it serves its backoff.
      if (!this.#probeDown && this.#ejectedForConnect && now < this.#ejectedUntil) {
        this.#ejectedUntil = now;
        this.#halfOpen = true;
        this.#report(now, 'probe answered after refused connections');
      }
    } else {
      this.#probeSuccesses = 0;
      this.#probeFailures++;
      if (this.#probeFailures >= this.#o.unhealthyThreshold && !this.#probeDown) {
        this.#probeDown = true;
        this.#report(now, `${this.#probeFailures} failed probes${detail ? ` (last: ${detail})` : ''}`);
      }
    }
  }

  /** Reports a change that time alone caused (an ejection that ran out). */
  check(now: number): void {
    this.#report(now, 'ejection over; the next request is a trial');
  }

  #eject(now: number, reason: string): void {
    const ms = Math.min(this.#o.maxEjectMs, this.#o.baseEjectMs * 2 ** this.#ejections);
    this.#ejectedForMs = ms;
    this.#ejections++;
    this.ejectionsTotal++;
    this.#ejectedUntil = now + ms;
    this.#halfOpen = true;
    this.#consecutiveFailures = 0;
    this.#report(now, reason, ms);
  }

  #report(now: number, reason: string, ejectedForMs?: number): void {
    const to = this.status(now);
    const from = this.#reported;
    // Failures while already ejected extend the ejection without being a new transition: one log line per change.
    if (to === from) return;
    this.#reported = to;
    this.#onChange?.({ from, to, reason, ...(ejectedForMs !== undefined && to === 'ejected' ? { ejectedForMs } : {}) });
  }
}
