import { performance } from 'node:perf_hooks';
import type { Scheduler, SchedulerHandle } from './engine/types.js';

interface TimerHandle extends SchedulerHandle {
  timer: NodeJS.Timeout | undefined;
}

/**
 * Real-time Scheduler: simulated ms × timeScale = real ms. `now()` is simulated ms since creation. Work scheduled in
 * the past runs on the next timer tick, so engines that schedule on absolute times catch up after timer lateness
 * instead of drifting (setTimeout cannot wait less than ~1 ms, which is many simulated ms at small time scales).
 */
export function createRealtimeScheduler(timeScale = 1): Scheduler {
  if (!(timeScale > 0) || !Number.isFinite(timeScale)) throw new RangeError(`timeScale must be > 0, got ${timeScale}`);
  const start = performance.now();
  let nextId = 0;
  const now = (): number => (performance.now() - start) / timeScale;
  return {
    now,
    at(atMs: number, fn: () => void): SchedulerHandle {
      const handle: TimerHandle = { id: ++nextId, timer: undefined };
      const delay = Math.max(0, (atMs - now()) * timeScale);
      handle.timer = setTimeout(() => {
        handle.timer = undefined;
        fn();
      }, delay);
      return handle;
    },
    cancel(handle: SchedulerHandle): void {
      const h = handle as Partial<TimerHandle>;
      if (h.timer !== undefined) {
        clearTimeout(h.timer);
        h.timer = undefined;
      }
    },
  };
}
