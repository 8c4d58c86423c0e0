import { formatResetDuration, type Clock } from '../core/index.js';
import type { LeaseClient } from '../state/index.js';
import { WINDOW_MS } from './bucket.js';
import { quotaWindow } from './quota-windows.js';
import { parseStateKey, type CompiledLimits } from './rules.js';
import { DEFAULT_PAGE, type BucketSnapshot, type Level, type LimitSnapshot, type QuotaSnapshot, type SnapshotFilter } from './snapshot.js';

const level = (cap: number, remaining: number): Level => {
  const ms = ((cap - Math.min(cap, remaining)) * WINDOW_MS) / cap;
  return { limit: cap, remaining: Math.max(0, Math.floor(remaining)), resetMs: Math.ceil(ms), reset: formatResetDuration(ms) };
};

/**
 * `GET /admin/limits` when limits are shared: what this process knows, i.e. the authority's free capacity at its
 * last exchange plus its own unused lease (counters this process has not used lately are not listed).
 */
export function leasedSnapshot(leases: LeaseClient, rules: CompiledLimits, filter: SnapshotFilter, clock: Clock): LimitSnapshot {
  const buckets = new Map<string, BucketSnapshot>();
  const quotas: QuotaSnapshot[] = [];
  const known = new Set([...rules.limits, ...rules.quotas].map((r) => r.id));
  // Without subject, team or key: every counter this process knows, paged as the single-process listing is.
  const all = filter.subject === undefined && filter.team === undefined && filter.key === undefined;
  for (const c of leases.counters()) {
    const quota = c.spec.quota;
    const k = parseStateKey(quota ? quota.key : c.spec.key.slice(0, -2));
    if (!k || !known.has(k.rule)) continue;
    if (
      !all &&
      ((k.subject !== null && k.subject !== filter.subject) || (k.team !== null && k.team !== filter.team) || (k.key !== null && k.key !== filter.key))
    )
      continue;
    const who = { subject: k.subject, team: k.team, model: k.model, key: k.key };
    if (quota) {
      const remaining = Math.max(0, Math.floor(c.remaining()));
      const period = quota.window.startsWith('d:') ? 'day' : 'month';
      quotas.push({
        rule: k.rule,
        ...who,
        period,
        limit: c.spec.cap,
        used: c.spec.cap - remaining,
        reserved: 0,
        remaining,
        resetsAt: new Date(quotaWindow(period, clock.wallMs()).resetsAtMs).toISOString(),
      });
      continue;
    }
    const id = c.spec.key.slice(0, -2);
    let b = buckets.get(id);
    if (!b) buckets.set(id, (b = { rule: k.rule, ...who, requests: null, tokens: null, concurrency: null }));
    const dim = c.spec.key.slice(-1);
    if (dim === 'r') b.requests = level(c.spec.cap, c.remaining());
    else if (dim === 't') b.tokens = level(c.spec.cap, c.remaining());
    else b.concurrency = { limit: c.spec.cap, inFlight: Math.max(0, c.spec.cap - Math.floor(c.remaining())) };
  }
  const at = new Date(clock.wallMs()).toISOString();
  if (!all) return { at, buckets: [...buckets.values()], quotas };
  const offset = Math.max(0, filter.offset ?? 0);
  const limit = Math.max(1, filter.limit ?? DEFAULT_PAGE);
  const list = [...buckets.values()];
  return {
    at,
    buckets: list.slice(offset, offset + limit),
    quotas: quotas.slice(offset, offset + limit),
    page: { offset, limit, totalBuckets: list.length, totalQuotas: quotas.length, hasMore: offset + limit < Math.max(list.length, quotas.length) },
  };
}
