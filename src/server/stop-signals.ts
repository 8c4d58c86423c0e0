import type { Logger } from 'pino';

/**
 * A repeat of a stop signal within this long of the first is the same keypress or the same `docker stop`, delivered
 * again by a wrapper: Ctrl-C on `npm start` reaches the gateway from the terminal and once more relayed by tsx, a
 * few milliseconds apart. A person who means "now" presses again later than that.
 */
const RELAYED_WITHIN_MS = 1000;

export interface StopHandlers {
  /** The graceful stop (drain, close); the process exits when it resolves. */
  drain(signal: string): Promise<void>;
  /** A second signal: cut what is still running, keep what has ended (usage rows, quota charges), and exit. */
  abandon(): void;
  /** What `shutdown_started` says beside the signal. */
  fields(): Record<string, unknown>;
  /** Its message, e.g. `draining in-flight requests (up to 30000 ms)`. */
  describe(): string;
}

/** SIGTERM and SIGINT: the first drains, a second one (not a relayed copy of the first) exits at once. */
export function onStopSignals(logger: Logger, h: StopHandlers): void {
  let firstAt = -1;
  const stop = async (signal: string) => {
    if (firstAt >= 0) {
      if (performance.now() - firstAt < RELAYED_WITHIN_MS) return;
      logger.warn({ event: 'shutdown_forced', signal }, `${signal} again: exiting now`);
      h.abandon();
      process.exit(1);
    }
    firstAt = performance.now();
    logger.info({ event: 'shutdown_started', signal, ...h.fields() }, `${signal}: ${h.describe()}`);
    await h.drain(signal);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
