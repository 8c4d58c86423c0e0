import { isAbsolute, resolve } from 'node:path';
import type { Clock } from '../../core/index.js';
import type { KeysConfig } from '../../config/index.js';
import { ensureDevSecretSync, readSecretFileSync } from '../dev-secret.js';
import { AuthConfigError } from '../key-material.js';
import { createKeyRegistry, type KeyRegistry } from './registry.js';
import { createSqliteKeyStore, type KeyStore } from './sqlite-store.js';

export interface OpenKeysOptions {
  /** Relative paths resolve against this directory (the gateway's working directory). */
  baseDir?: string;
  clock?: Clock;
  onError?: (err: unknown) => void;
  /**
   * Another store than the section's SQLite file (server/ hands in the Redis one when `state.redis` is set), with
   * the staleness bound it needs.
   */
  store?: { store: KeyStore; maxStaleMs?: number };
}

/** The pepper from `keys.pepper` or `keys.pepper_file` (created when `generate_if_missing`), at least 32 bytes. */
export function readPepper(cfg: KeysConfig, baseDir: string): Uint8Array {
  let text = cfg.pepper;
  if (text === undefined) {
    const file = isAbsolute(cfg.pepper_file!) ? cfg.pepper_file! : resolve(baseDir, cfg.pepper_file!);
    try {
      text = cfg.generate_if_missing ? ensureDevSecretSync(file) : readSecretFileSync(file);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new AuthConfigError(`cannot read pepper_file ${file} (${typeof code === 'string' ? code : 'error'})`, ['pepper_file']);
    }
  }
  const bytes = new TextEncoder().encode(text);
  if (bytes.length < 32) throw new AuthConfigError('the pepper must be at least 32 bytes', ['pepper']);
  return bytes;
}

/** The section's SQLite file, relative paths resolved against `baseDir`. */
export function sqliteKeysPath(cfg: KeysConfig, baseDir: string): string {
  return isAbsolute(cfg.sqlite) ? cfg.sqlite : resolve(baseDir, cfg.sqlite);
}

/** Opens the key store of a validated `keys` section (or the one given) and loads every key. */
export function openKeyRegistry(cfg: KeysConfig, options: OpenKeysOptions = {}): Promise<KeyRegistry> {
  const baseDir = options.baseDir ?? process.cwd();
  const pepper = readPepper(cfg, baseDir);
  return createKeyRegistry({
    store: options.store?.store ?? createSqliteKeyStore(sqliteKeysPath(cfg, baseDir)),
    ...(options.store?.maxStaleMs !== undefined ? { maxStaleMs: options.store.maxStaleMs } : {}),
    pepper,
    pollIntervalMs: cfg.poll_interval,
    lastUsedFlushMs: cfg.last_used_flush,
    cacheSize: cfg.cache_size,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
}
