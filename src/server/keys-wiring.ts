import { existsSync } from 'node:fs';
import { AuthConfigError, createSqliteKeyStore, openKeyRegistry, sqliteKeysPath, type KeyRegistry, type KeyStore } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { redactUrl } from '../core/index.js';
import type { Clock } from '../core/index.js';
import type { Logger } from './logger.js';
import { openConfiguredFile } from './open-file.js';
import { createRedisKeyStore } from './redis-key-store.js';

export interface KeyStoreChoice {
  store: KeyStore;
  maxStaleMs?: number;
  /** Where the keys are, for log lines and the CLI (never a password). */
  where: string;
}

/**
 * The `keys` section's store: the replicas' Redis when `state.redis` is set (and `keys.store` is `auto`), else the
 * SQLite file. Redis that holds no key yet gets the SQLite file's keys once (an upgrade from a shared volume), so
 * switching a fleet to Redis loses none. Null when keys are off, or when it is the SQLite file (the default store).
 */
export async function chooseKeyStore(cfg: Config, options: { baseDir: string; logger?: Logger; redisUrl?: string }): Promise<KeyStoreChoice | null> {
  if (cfg.keys === false) return null;
  const url = options.redisUrl ?? (cfg.keys.store === 'auto' ? cfg.state?.redis : undefined);
  if (url === undefined) return null;
  const prefix = cfg.state?.prefix ?? 'infergate:';
  const store = createRedisKeyStore({ url, prefix });
  const where = `redis ${redactUrl(url)} (${prefix}apikeys:)`;
  if (await store.ready(2000)) {
    const file = sqliteKeysPath(cfg.keys, options.baseDir);
    if ((await store.loadAll()).rows.length === 0 && existsSync(file)) {
      const local = createSqliteKeyStore(file);
      const { rows } = await local.loadAll();
      local.close();
      await store.importRows(rows);
      if (rows.length > 0) options.logger?.info({ event: 'keys_imported', count: rows.length, from: file }, `copied ${rows.length} API keys from ${file} into Redis`);
    }
  } else {
    options.logger?.error({ event: 'keys_store_unreachable', store: where }, 'the API key store (Redis) is not reachable at start: gateway keys are refused until it is');
  }
  return { store, maxStaleMs: cfg.keys.max_stale, where };
}

/** The key registry of the `keys` section, opened once per process (it outlives config reloads), or null when off. */
export async function openKeys(cfg: Config, options: { clock: Clock; logger: Logger; baseDir: string }): Promise<KeyRegistry | null> {
  if (cfg.keys === false) return null;
  try {
    const file = sqliteKeysPath(cfg.keys, options.baseDir);
    const store = (await chooseKeyStore(cfg, options)) ?? { store: openConfiguredFile('keys.sqlite', file, () => createSqliteKeyStore(file)) };
    // A store that is down fails every poll (4 a second): one line per 10 s, with how many were not logged.
    let loggedAt = Number.NEGATIVE_INFINITY;
    let unlogged = 0;
    return await openKeyRegistry(cfg.keys, {
      baseDir: options.baseDir,
      clock: options.clock,
      store,
      onError: (err) => {
        const t = options.clock.now();
        if (t - loggedAt < 10_000) return void unlogged++;
        options.logger.error({ event: 'keys_store_error', err: String(err), repeats: unlogged }, 'API key store read or write failed; retried at the next interval');
        loggedAt = t;
        unlogged = 0;
      },
    });
  } catch (err) {
    if (err instanceof AuthConfigError) throw new Error(`keys.${err.path.join('.')}: ${err.message}`);
    throw err;
  }
}

