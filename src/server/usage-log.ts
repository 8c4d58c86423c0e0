import type { Config } from '../config/index.js';
import type { Telemetry } from '../telemetry/index.js';
import { createUsageWriter, pendingUsageUpgrade, type UsageWriter } from '../usage/index.js';
import type { Logger } from './logger.js';
import { openConfiguredFile } from './open-file.js';

/**
 * The host's usage log from its config section: one mapping for the single process (gateway.ts) and the supervisor
 * that writes for its workers, so every `usage` setting (retention included) holds whichever process writes. A schema
 * upgrade runs before the gateway serves and can take minutes on a large file: it is announced, then timed.
 */
export function openUsageLog(section: Exclude<Config['usage'], false>, logger: Logger, telemetry: Telemetry | null): UsageWriter {
  const upgrade = openConfiguredFile('usage.sqlite', section.sqlite, () => pendingUsageUpgrade(section.sqlite));
  const started = performance.now();
  if (upgrade) {
    logger.warn(
      { event: 'usage_schema_upgrading', file: section.sqlite, from: upgrade.from, to: upgrade.to, rows: upgrade.rows },
      `upgrading the usage database from schema ${upgrade.from} to ${upgrade.to} (${upgrade.rows} rows) before serving: about 1.5 minutes per 100 million rows`,
    );
  }
  const writer = openConfiguredFile('usage.sqlite', section.sqlite, () => createUsageWriter({
    path: section.sqlite,
    batchSize: section.batch_size,
    flushIntervalMs: section.flush_interval,
    queueMax: section.queue_max,
    onError: (err) => logger.error({ event: 'usage_write_failed', err: String(err) }, 'usage log write failed; rows stay queued and are retried'),
    onLost: (rows, reason) =>
      logger.error({ event: 'usage_rows_lost', rows, reason }, `${rows} usage row(s) dropped, never to be written (${reason}); counted in infergate_usage_rows_dropped_total`),
    ...(telemetry ? { onBatch: (rows: number, ms: number) => telemetry.recordUsageBatch(rows, ms) } : {}),
    retentionMs: section.retention,
    rollupRetentionMs: section.rollup_retention,
    // An upgraded database gets its rollups from its raw rows in the background; reports are exact meanwhile.
    onRollupProgress: (p) =>
      p.done
        ? logger.info({ event: 'usage_rollups_built', rolled_id: p.rolledId }, 'usage rollups are built from every raw row')
        : logger.info({ event: 'usage_rollups_building', rolled_id: p.rolledId, max_id: p.maxId }, `building usage rollups from raw rows: ${p.rolledId} of ${p.maxId}`),
    ...(section.writer_thread === 'auto' ? {} : { thread: section.writer_thread }),
  }));
  if (upgrade) {
    const ms = Math.round(performance.now() - started);
    logger.info({ event: 'usage_schema_upgraded', file: section.sqlite, to: upgrade.to, ms }, `usage database upgraded to schema ${upgrade.to} in ${(ms / 1000).toFixed(1)} s`);
  }
  return writer;
}
