import type { Config } from '../config/index.js';
import { createTelemetry } from '../telemetry/index.js';
import { bannerText, clientBase } from './banner.js';
import { onStopSignals } from './stop-signals.js';
import { startSupervisor } from './supervisor.js';

export interface RunSupervisorOptions {
  file: string;
  cfg: Config;
  workers: number;
  simUrls: readonly string[];
  /** Printed with the banner (the quick start's development token), when there is one. */
  token: string | null;
  /** Closes what the process started besides the workers (the embedded simulated backends). */
  onStopped?: () => Promise<void>;
}

/** `infergate` with `server.workers` > 1: the supervisor process, its banner and its signals. */
export async function runSupervisor(opts: RunSupervisorOptions): Promise<void> {
  let stopping = false;
  const telemetry = createTelemetry({ metrics: false, tracing: false, log: { level: opts.cfg.telemetry.log_level, pretty: opts.cfg.telemetry.log_pretty, sharedOutput: true } });
  const logger = telemetry.logger;
  const supervisor = await startSupervisor({
    file: opts.file,
    cfg: opts.cfg,
    workers: opts.workers,
    simUrls: opts.simUrls,
    logger,
    onReloaded: (next) => telemetry.setLogLevel(next.telemetry.log_level),
    onReady: (port) => {
      if (stopping) return; // a signal during the start: the drain is under way, there is nothing to announce
      const { cfg } = opts;
      const models = cfg.models.map((m) => m.name);
      if (cfg.sim && opts.simUrls.length > 0 && !models.includes(cfg.sim.model)) models.push(cfg.sim.model);
      process.stdout.write(
        bannerText({ base: clientBase(cfg.server.listen.host, port), file: opts.file, workers: opts.workers, simUrls: opts.simUrls, models, token: opts.token, authOff: cfg.auth === 'none' }),
      );
    },
  });
  onStopSignals(logger, {
    fields: () => ({ workers: opts.workers, drain_ms: supervisor.drainMs() }),
    describe: () => `draining ${opts.workers} workers (up to ${supervisor.drainMs()} ms)`,
    abandon: () => supervisor.abandon(),
    drain: async () => {
      stopping = true;
      await supervisor.stop();
      await opts.onStopped?.();
      await telemetry.shutdown();
    },
  });
}
