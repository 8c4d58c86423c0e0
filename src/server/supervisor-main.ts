import type { Config } from '../config/index.js';
import { createTelemetry } from '../telemetry/index.js';
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
  const telemetry = createTelemetry({ metrics: false, tracing: false, log: { level: opts.cfg.telemetry.log_level, pretty: opts.cfg.telemetry.log_pretty, sharedOutput: true } });
  const logger = telemetry.logger;
  const supervisor = await startSupervisor({
    file: opts.file,
    cfg: opts.cfg,
    workers: opts.workers,
    simUrls: opts.simUrls,
    logger,
    onReady: (port) => {
      const base = `http://localhost:${port}`;
      const lines = [`infergate listening on ${base}/v1 (${opts.workers} workers, config ${opts.file})`];
      if (opts.token) lines.push(`  development token (sub=dev, scopes "models:* admin", valid 24h):\n    export INFERGATE_TOKEN=${opts.token}`);
      process.stdout.write(lines.join('\n') + '\n');
    },
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`${signal}: draining ${opts.workers} workers (up to ${opts.cfg.server.drain} ms)\n`);
    await supervisor.stop();
    await opts.onStopped?.();
    await telemetry.shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
