import type { LimitRuleConfig, QuotaRuleConfig } from '../../config/index.js';
import type { KeyRecord } from './record.js';

/** Per-key limits in the config's rule shape, for the limits module to compile beside the config's own rules. */
export interface KeyRuleSet {
  readonly limits: readonly LimitRuleConfig[];
  readonly quotas: readonly QuotaRuleConfig[];
}

/**
 * One `match: {key: <id>}` rule per active key with limits, one quota rule per active key with a token quota. Revoked
 * and expired keys have none (their requests never reach the limiter), so their buckets can go idle and be dropped.
 */
export function keyRules(records: Iterable<KeyRecord>, nowMs: number): KeyRuleSet {
  const limits: LimitRuleConfig[] = [];
  const quotas: QuotaRuleConfig[] = [];
  for (const rec of records) {
    const r = rec.row;
    if (r.revokedMs !== null || (r.expiresMs !== null && r.expiresMs <= nowMs)) continue;
    const l = r.limits;
    if (l.rpm !== undefined || l.tpm !== undefined || l.concurrency !== undefined) {
      limits.push({ match: { key: r.id }, rpm: l.rpm, tpm: l.tpm, concurrency: l.concurrency });
    }
    if (l.tokens_per_day !== undefined || l.tokens_per_month !== undefined) {
      quotas.push({ match: { key: r.id }, tokens_per_day: l.tokens_per_day, tokens_per_month: l.tokens_per_month });
    }
  }
  return Object.freeze({ limits: Object.freeze(limits), quotas: Object.freeze(quotas) });
}
