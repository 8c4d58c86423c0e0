import { compileAuthConfig, createAuthenticator, type Authenticator, type KeyRegistry } from '../auth/index.js';
import type { Config } from '../config/index.js';
import type { Clock } from '../core/index.js';
import { compileLimitRules, createLeasedLimiter, createLimiter, createMemoryLimitStore, createMemoryQuotaStore, createSqliteQuotaStore, type Limiter, type LimitStore, type QuotaStore } from '../limits/index.js';
import type { LeaseClient } from '../state/index.js';
import type { Logger } from './logger.js';
import { openConfiguredFile } from './open-file.js';

/** The governance half of a config snapshot: swapped together with the routing half on reload. */
export interface Governance {
  readonly authenticator: Authenticator | null;
  readonly limiter: Limiter | null;
}

/**
 * Stores that outlive config reloads: rate-limit buckets (a reload must not hand every tenant a fresh minute) and
 * quota counters (persisted beside the usage log when there is one).
 */
export class GovernanceStores {
  readonly limits: LimitStore = createMemoryLimitStore();
  /** Shared limit state (leases from the supervisor or Redis): limits then hold across processes and replicas. */
  readonly leases: LeaseClient | null;

  constructor(leases: LeaseClient | null = null) {
    this.leases = leases;
  }
  #quota: QuotaStore | null = null;
  #quotaPath: string | null = null;

  quotaStore(cfg: Config, logger: Logger): QuotaStore {
    const path = cfg.usage === false ? null : cfg.usage.sqlite;
    if (this.#quota && this.#quotaPath === path) return this.#quota;
    this.#quota?.close();
    this.#quotaPath = path;
    if (path === null) {
      if (cfg.quotas.length > 0) logger.warn({ event: 'quotas_in_memory' }, 'quotas are configured without usage.sqlite: they are kept in memory and reset on restart');
      this.#quota = createMemoryQuotaStore();
    } else {
      // The quota counters live in the usage log's file.
      this.#quota = openConfiguredFile('usage.sqlite', path, () =>
        createSqliteQuotaStore({ path, onError: (err) => logger.error({ event: 'quota_store_error', err: String(err) }, 'quota write-back failed') }),
      );
    }
    return this.#quota;
  }

  close(): void {
    this.#quota?.close();
    this.#quota = null;
  }
}

export interface GovernanceOptions {
  clock: Clock;
  logger: Logger;
  baseDir: string;
  /** Gateway-managed API keys (outlive reloads like the stores): accepted beside JWTs, their limits added as rules. */
  keys?: KeyRegistry | null;
}

/** Builds the authenticator and limiter for a validated config. Throws on key material that cannot be loaded. */
export function buildGovernance(cfg: Config, stores: GovernanceStores, options: GovernanceOptions): Governance {
  const compiledAuth = compileAuthConfig(cfg.auth, { baseDir: options.baseDir });
  const apiKeys = options.keys ?? undefined;
  const authenticator = compiledAuth ? createAuthenticator(compiledAuth, { clock: options.clock, ...(apiKeys ? { apiKeys } : {}) }) : null;
  return { authenticator, limiter: buildLimiter(cfg, stores, options) };
}

/**
 * The config's rules plus one rule per key with limits (`match: {key: <id>}`), so per-key limits are decided in the
 * same all-or-nothing reservation as the others. Rebuilt when keys change; buckets and quota counters live in the
 * stores and survive, as they do a config reload.
 */
export function buildLimiter(cfg: Config, stores: GovernanceStores, options: GovernanceOptions): Limiter | null {
  const keyRules = options.keys?.rules();
  const limits = keyRules && keyRules.limits.length > 0 ? [...cfg.limits, ...keyRules.limits] : cfg.limits;
  const quotas = keyRules && keyRules.quotas.length > 0 ? [...cfg.quotas, ...keyRules.quotas] : cfg.quotas;
  if (limits.length === 0 && quotas.length === 0) return null;
  const rules = compileLimitRules(limits, quotas);
  if (stores.leases) return createLeasedLimiter(rules, { leases: stores.leases, clock: options.clock });
  return createLimiter(rules, { clock: options.clock, store: stores.limits, quotaStore: stores.quotaStore(cfg, options.logger) });
}
