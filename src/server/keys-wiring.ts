import { AuthConfigError, openKeyRegistry, type KeyRegistry } from '../auth/index.js';
import type { Config } from '../config/index.js';
import type { Clock } from '../core/index.js';
import type { Logger } from './logger.js';

/** The key registry of the `keys` section, opened once per process (it outlives config reloads), or null when off. */
export async function openKeys(cfg: Config, options: { clock: Clock; logger: Logger; baseDir: string }): Promise<KeyRegistry | null> {
  if (cfg.keys === false) return null;
  try {
    return await openKeyRegistry(cfg.keys, {
      baseDir: options.baseDir,
      clock: options.clock,
      onError: (err) => options.logger.error({ event: 'keys_store_error', err: String(err) }, 'API key store read or write failed; retried at the next interval'),
    });
  } catch (err) {
    if (err instanceof AuthConfigError) throw new Error(`keys.${err.path.join('.')}: ${err.message}`);
    throw err;
  }
}
