import { timerDelay } from '../core/index.js';

/**
 * A periodic async task that never overlaps itself and never throws: the next run is scheduled only after the
 * previous one settled, each run gets its own timeout signal, and errors are handed to `onError`. Timers are
 * unref'd so pollers never keep the process alive. Used for /metrics scrapes and /health probes.
 */
export interface Poller {
  stop(): void;
}

export function startPoller(options: {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly run: (signal: AbortSignal) => Promise<void>;
  readonly onError?: (err: unknown) => void;
  /** Delay before the next run, asked after each one settled (backoff); default `intervalMs`. */
  readonly nextDelayMs?: () => number;
}): Poller {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const tick = async (): Promise<void> => {
    timer = null;
    if (stopped) return;
    try {
      await options.run(AbortSignal.timeout(timerDelay(options.timeoutMs)));
    } catch (err) {
      options.onError?.(err);
    }
    schedule(options.nextDelayMs ? options.nextDelayMs() : options.intervalMs);
  };
  const schedule = (ms: number): void => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), timerDelay(ms));
    timer.unref();
  };
  // Random first delay so that a fleet of backends is not scraped in lockstep.
  schedule(Math.random() * options.intervalMs);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
