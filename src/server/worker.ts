import cluster from 'node:cluster';
import { loadConfigFile, parseConfigText } from '../config/index.js';
import { createIpcBroadcast, createIpcTransport, createLeaseClient, type IpcPort } from '../state/index.js';
import { createUsageWriter } from '../usage/index.js';
import { joinClusterMetrics } from './cluster-metrics.js';
import { startGateway, type Gateway } from './gateway.js';
import { loadProblems } from './load-problems.js';
import { createIpcUsageWriter } from './worker-usage.js';
import { usageSyncSamples, type UsageSyncStats } from './usage-sync.js';

/** IPC messages a worker's usage rows wait at most before they are sent (what a worker's SIGKILL can lose). */
const USAGE_IPC_INTERVAL_MS = 50;

/**
 * The config text the supervisor's workers run (the last one they all applied), or null when it has none: the file
 * may have been edited since, and a worker restarted after a rejected reload must not start on the rejected file.
 */
function configFromSupervisor(port: IpcPort & { send(m: unknown): boolean }): Promise<string | null> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      const msg = m as { ig?: string; text?: unknown };
      if (msg?.ig !== 'config') return;
      process.off('message', onMessage);
      resolve(typeof msg.text === 'string' ? msg.text : null);
    };
    process.on('message', onMessage);
    port.send({ ig: 'config-request' });
  });
}

/**
 * The worker role: one gateway on the port the cluster shares, its limits leased from the supervisor (or Redis when
 * `state.redis` is set) and its usage rows handed to the supervisor. Signals are the supervisor's business: a
 * terminal's Ctrl-C reaches every process of the group, and the supervisor then drains the workers in order.
 */
export async function runWorker(file: string): Promise<void> {
  const port = process as unknown as IpcPort & { send(m: unknown, cb?: (err: Error | null) => void): boolean };
  const text = await configFromSupervisor(port);
  const cfg = text !== null ? parseConfigText(text, file) : await loadConfigFile(file);
  const st = cfg.state;
  const leases = st?.redis
    ? undefined // the gateway opens its own Redis lease client (one holder per process)
    : createLeaseClient({ transport: createIpcTransport(port), holder: `w${cluster.worker?.id ?? process.pid}`, syncMs: st?.sync_interval ?? 100, leaseTtlMs: st?.lease_ttl, fallback: null });
  const usage =
    cfg.usage === false
      ? null
      : createIpcUsageWriter({
          port,
          batchSize: cfg.usage.batch_size,
          flushIntervalMs: Math.min(cfg.usage.flush_interval, USAGE_IPC_INTERVAL_MS),
          // A reader only: compaction and catch-up are the supervisor's writer's work, never a worker's event loop.
          openReader: () => createUsageWriter({ path: (cfg.usage as { sqlite: string }).sqlite, thread: false, maintenance: false }),
        });
  const simUrls = process.env.INFERGATE_SIM_URLS ? process.env.INFERGATE_SIM_URLS.split(',').filter(Boolean) : undefined;
  // Routing state among the host's workers goes through the supervisor, unless Redis connects every replica's workers.
  const broadcast = st?.redis ? undefined : createIpcBroadcast(port);
  const responsesBroadcast = st?.redis ? undefined : createIpcBroadcast(port, 'responses');
  const gateway: Gateway = await startGateway({ configFile: file, config: cfg, simUrls, watch: false, usage, leases, broadcast, responsesBroadcast });

  let stopping = false;
  const stop = async (drainMs?: number) => {
    if (stopping) return;
    stopping = true;
    await gateway.close(drainMs);
    await usage?.drained();
    if (process.connected) process.disconnect();
    process.exit(0);
  };
  const prepared = new Map<number, () => void>();
  // The supervisor's usage sync (it owns the usage log), for this worker's /metrics.
  let share: UsageSyncStats | null = null;
  process.on('message', (m: unknown) => {
    const msg = m as { ig?: string; id?: number; text?: string; stats?: UsageSyncStats };
    if (msg?.ig === 'drain') void stop();
    else if (msg?.ig === 'usage-share' && msg.stats) {
      if (!share) gateway.telemetry.registerCollector('usage_share', () => usageSyncSamples(share!));
      share = msg.stats;
    }
    else if (msg?.ig === 'reload-prepare' && typeof msg.id === 'number' && typeof msg.text === 'string') {
      try {
        prepared.set(msg.id, gateway.prepareReload(parseConfigText(msg.text, file), file));
        port.send({ ig: 'reload-prepared', id: msg.id, ok: true });
      } catch (err) {
        port.send({ ig: 'reload-prepared', id: msg.id, ok: false, error: loadProblems(err, file).join('; ') });
      }
    } else if (msg?.ig === 'reload-commit' && typeof msg.id === 'number') {
      prepared.get(msg.id)?.();
      prepared.delete(msg.id);
    } else if (msg?.ig === 'reload-abort' && typeof msg.id === 'number') {
      prepared.delete(msg.id);
      const problems = (msg as { problems?: unknown }).problems;
      if (Array.isArray(problems)) gateway.reloadFailed(problems as string[]);
    }
    else if (msg?.ig === 'reload-failed' && Array.isArray((msg as { problems?: unknown }).problems)) gateway.reloadFailed((msg as { problems: string[] }).problems);
  });
  // /metrics answers for every worker of the host, merged by the supervisor at each scrape.
  joinClusterMetrics(gateway.telemetry, port);
  // The supervisor is gone (killed): nobody writes our rows or answers lease exchanges any more; stop at once.
  process.on('disconnect', () => void stop(1000));
  for (const sig of ['SIGINT', 'SIGHUP'] as const) process.on(sig, () => {});
  process.on('SIGTERM', () => void stop());
  port.send({ ig: 'ready', port: gateway.port });
}
