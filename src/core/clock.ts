import { performance } from 'node:perf_hooks';

/** Injected time source so that buckets, health backoff and the simulator can run on a virtual clock in tests. */
export interface Clock {
  /** Monotonic milliseconds (fractional). */
  now(): number;
  /** Wall-clock epoch milliseconds. */
  wallMs(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallMs: () => Date.now(),
};

/** A clock that only moves when told; for unit tests and the discrete-event simulator. */
export function createManualClock(startMs = 0, wallStartMs = 1_700_000_000_000): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = startMs;
  return {
    now: () => t,
    wallMs: () => wallStartMs + t,
    advance(ms: number) {
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}
