import cluster, { type Worker } from 'node:cluster';
import { readFile } from 'node:fs/promises';
import { parseConfigText, problemLines, watchConfigFile, type Config } from '../config/index.js';
import { createMemoryQuotaStore, createSqliteQuotaStore, type QuotaStore } from '../limits/index.js';
import { createBroadcastHub, createMemoryAuthority, serveLeases, type IpcPort } from '../state/index.js';
import type { UsageRow, UsageWriter } from '../usage/index.js';
import { openUsageLog } from './usage-log.js';
import type { Logger } from './logger.js';
import { openConfiguredFile } from './open-file.js';
import { createMetricsCollector } from './cluster-metrics.js';
import { createReloadFanout } from './supervisor-reload.js';
import { startUsageSync, type UsageSync } from './usage-sync.js';

export interface SupervisorOptions {
  file: string;
  cfg: Config;
  workers: number;
  /** Embedded simulated backends started by the supervisor, passed to every worker. */
  simUrls: readonly string[];
  logger: Logger;
  /** Called once every worker listens, with the shared port. */
  onReady?: (port: number) => void;
  /** Called with each config every worker applied (the supervisor's own log level follows it). */
  onReloaded?: (next: Config) => void;
}

export interface Supervisor {
  /** Drains every worker, writes every usage row they handed over, and resolves when all is closed. */
  stop(): Promise<void>;
  /** server.drain of the config the workers run now (a reload may have changed it since the start). */
  drainMs(): number;
  /** Before a forced exit: writes the usage rows and quota counters the workers handed over, synchronously. */
  abandon(): void;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 30_000;
/** A worker that lived this long before dying resets the backoff: it was a crash, not a crash loop. */
const STABLE_MS = 10_000;

/**
 * The supervisor role (`server.workers` > 1): forks the workers that share the listening port, is the lease
 * authority among them (limits, concurrency and quotas exact across workers, no extra service) and the one writer of
 * the host's usage log and quota counters. Restarts a dead worker with exponential backoff, fans out reloads (all
 * workers swap to the same config or none does) and drains all of them on stop.
 */
export async function startSupervisor(opts: SupervisorOptions): Promise<Supervisor> {
  const { cfg, logger } = opts;
  const quota: QuotaStore =
    cfg.usage === false
      ? createMemoryQuotaStore()
      : openConfiguredFile('usage.sqlite', cfg.usage.sqlite, () =>
          createSqliteQuotaStore({ path: (cfg.usage as { sqlite: string }).sqlite, onError: (err) => logger.error({ event: 'quota_store_error', err: String(err) }, 'quota write-back failed') }),
        );
  const authority = createMemoryAuthority({ leaseTtlMs: cfg.state?.lease_ttl ?? 5000, quota });
  let usage: UsageWriter | null = null;
  if (cfg.usage !== false) {
    usage = openUsageLog(cfg.usage, logger, null);
    await usage.ready;
  }
  // The host's usage log is shared with the other replicas from here, its one writer.
  const usageSync: UsageSync | null = usage && cfg.state?.redis && cfg.state.usage.share ? await startUsageSync(usage, cfg.state, logger) : null;

  let stopping = false;
  let failures = 0;
  let port = 0;
  const ready = new Set<number>();
  let announced = false;
  const detach = new Map<number, () => void>();
  // Relays routing updates among the workers when no Redis connects them (routing/replica/exchange.ts).
  const routingHub = cfg.state?.redis ? null : createBroadcastHub();
  const startedAt = new Map<number, number>();
  const readyWorkers = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && ready.has(w.id));
  const reloads = createReloadFanout({ logger, workers: readyWorkers });
  // A worker's /metrics answers for the host: the supervisor collects every ready worker's metrics and merges them.
  const metrics = createMetricsCollector({ logger, workers: readyWorkers });

  // The config every worker runs: what the supervisor started with, then each reload all workers applied. A worker
  // forked after a reload the workers refused (or after the file was broken by an edit) gets this text, not the file.
  // server.drain of the config the workers run: a reload changes it in the workers, so the kill budget follows.
  let drainMs = cfg.server.drain;
  let goodText: string | null = await readFile(opts.file, 'utf8').then(
    (text) => {
      parseConfigText(text, opts.file);
      return text;
    },
    () => null,
  );

  cluster.setupPrimary({ silent: false });
  const fork = () => {
    const w = cluster.fork({ INFERGATE_SIM_URLS: opts.simUrls.join(','), INFERGATE_ROLE: 'worker' });
    startedAt.set(w.id, Date.now());
    const stopLeases = serveLeases(authority, w as unknown as IpcPort);
    const stopRelay = routingHub?.attach(w as unknown as IpcPort);
    detach.set(w.id, () => {
      stopLeases();
      stopRelay?.();
    });
    w.on('message', (m: unknown) => {
      if (typeof m !== 'object' || m === null) return;
      const msg = m as { ig?: string; rows?: UsageRow[]; port?: number };
      if (metrics.onMessage(w, m)) return;
      if (msg.ig === 'usage' && msg.rows && usage) for (const row of msg.rows) usage.record(row);
      else if (msg.ig === 'config-request') w.send({ ig: 'config', text: goodText });
      else if (msg.ig === 'ready') {
        ready.add(w.id);
        if (port === 0 && typeof msg.port === 'number') port = msg.port;
        // Announced once: a worker restarted later rejoins without the banner (and the token) printed again.
        if (ready.size === opts.workers && !announced) {
          announced = true;
          opts.onReady?.(port);
        }
      } else reloads.onMessage(w, m);
    });
    return w;
  };

  cluster.on('exit', (w, code, signal) => {
    ready.delete(w.id);
    metrics.onExit(w);
    detach.get(w.id)?.();
    detach.delete(w.id);
    // Its leases come back now rather than after the TTL (slots of requests that died with it, unreported usage).
    authority.drop(`w${w.id}`);
    if (stopping) return;
    const lived = Date.now() - (startedAt.get(w.id) ?? 0);
    failures = lived > STABLE_MS ? 1 : failures + 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (failures - 1));
    // A clean exit (someone stopped that worker alone: it drained and left) is worth a warning, not a crash's error.
    const fields = { event: 'worker_exited', worker: w.id, code, signal, restart_in_ms: delay };
    if (code === 0) logger.warn(fields, `worker ${w.id} exited cleanly; restarting in ${delay} ms`);
    else logger.error(fields, `worker ${w.id} exited; restarting in ${delay} ms`);
    setTimeout(() => {
      if (!stopping) fork();
    }, delay).unref();
  });
  for (let i = 0; i < opts.workers; i++) fork();
  // The workers serve /metrics: each is handed the usage sync's counters every second.
  const shareTimer = usageSync
    ? setInterval(() => {
        const stats = usageSync.stats();
        for (const w of Object.values(cluster.workers ?? {})) if (w && ready.has(w.id) && w.isConnected()) w.send({ ig: 'usage-share', stats }, () => {});
      }, 1000).unref()
    : null;

  // Reloads: the supervisor reads and validates the file once and hands every worker the same text.
  const reload = async () => {
    let text: string;
    let next: Config;
    try {
      text = await readFile(opts.file, 'utf8');
      next = parseConfigText(text, opts.file);
    } catch (err) {
      const problems = problemLines(err);
      logger.error({ event: 'config_reload_failed', file: opts.file, problems }, 'config reload failed; keeping the last good config');
      // The workers serve /metrics and the console: they count the failure and show it (they never saw the text).
      for (const w of Object.values(cluster.workers ?? {})) if (w && ready.has(w.id) && w.isConnected()) w.send({ ig: 'reload-failed', problems }, () => {});
      return;
    }
    if (await reloads.run(text)) {
      goodText = text;
      drainMs = next.server.drain;
      opts.onReloaded?.(next);
    }
  };
  const watcher = watchConfigFile(opts.file, () => void reload());
  const onHup = () => void reload();
  process.on('SIGHUP', onHup);

  return {
    drainMs: () => drainMs,
    abandon() {
      usage?.close();
      quota.close();
    },
    async stop() {
      stopping = true;
      if (shareTimer) clearInterval(shareTimer);
      watcher.close();
      process.off('SIGHUP', onHup);
      const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
      const budget = drainMs + 5000;
      await Promise.all(
        live.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              const kill = setTimeout(() => w.process.kill('SIGKILL'), budget);
              w.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              w.send({ ig: 'drain' });
            }),
        ),
      );
      // Every row the workers handed over is committed (and shipped) before exit; quota counters are written back.
      await usageSync?.close();
      usage?.close();
      quota.close();
    },
  };
}
