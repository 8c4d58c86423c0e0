import { formatResetDuration, type Clock } from '../core/index.js';
import { advance, freshBucket, msUntil, type BucketState } from './bucket.js';
import type { LimitStore } from './memory-store.js';
import type { QuotaStore } from './quota-store.js';
import { quotaWindow } from './quota-windows.js';
import { parseStateKey, stateKey, type CompiledLimits, type CompiledQuotaRule, type CompiledLimitRule } from './rules.js';

/** Who to show: a subject, a team, or both (then team-wide buckets of the subject's team are shown too). */
export interface SnapshotFilter {
  subject?: string;
  team?: string;
  /** A gateway-managed API key's public id: rules naming `key` are shown only for it. */
  key?: string;
  /** Paging of the listing without subject, team or key: entries skipped, and at most this many returned. */
  offset?: number;
  limit?: number;
}

export interface Level {
  limit: number;
  remaining: number;
  resetMs: number;
  reset: string;
}

export interface BucketSnapshot {
  rule: string;
  subject: string | null;
  team: string | null;
  model: string | null;
  /** The gateway-managed API key (public id) a rule matching `key` counts for, else null. */
  key: string | null;
  requests: Level | null;
  tokens: Level | null;
  concurrency: { limit: number; inFlight: number } | null;
}

export interface QuotaSnapshot {
  rule: string;
  subject: string | null;
  team: string | null;
  model: string | null;
  /** The gateway-managed API key (public id) a quota matching `key` counts for, else null. */
  key: string | null;
  period: 'day' | 'month';
  limit: number;
  used: number;
  /** Reserved by requests still in flight. */
  reserved: number;
  remaining: number;
  resetsAt: string;
}

export interface LimitSnapshot {
  at: string;
  buckets: BucketSnapshot[];
  quotas: QuotaSnapshot[];
  /** The listing without a filter is paged: buckets and quotas are each windowed by offset and limit. */
  page?: { offset: number; limit: number; totalBuckets: number; totalQuotas: number; hasMore: boolean };
}

interface SnapshotInput {
  rules: CompiledLimits;
  store: LimitStore;
  quotaStore: QuotaStore;
  reserved: (key: string, window: string) => number;
  clock: Clock;
  filter: SnapshotFilter;
}

/** Whether a rule can apply to the filtered principal: each subject/team it names must be given and match. */
function relevant(rule: CompiledLimitRule | CompiledQuotaRule, f: SnapshotFilter): boolean {
  for (const d of ['subject', 'team', 'key'] as const) {
    const want = rule.match[d];
    if (want === undefined) continue;
    const have = f[d];
    if (have === undefined || (want !== '*' && want !== have)) return false;
  }
  return true;
}

function level(value: number, cap: number | null): Level | null {
  if (cap === null) return null;
  const ms = msUntil(value, cap, cap);
  return { limit: cap, remaining: Math.max(0, Math.floor(value)), resetMs: Math.ceil(ms), reset: formatResetDuration(ms) };
}

function bucketView(rule: CompiledLimitRule, s: BucketState, who: { subject: string | null; team: string | null; model: string | null; key: string | null }): BucketSnapshot {
  return {
    rule: rule.id,
    ...who,
    requests: level(s.requests, rule.rpm),
    tokens: level(s.tokens, rule.tpm),
    concurrency: rule.concurrency === null ? null : { limit: rule.concurrency, inFlight: s.inFlight },
  };
}

/** Live state for `GET /admin/limits`. Reads only: nothing is advanced or charged. */
export function buildSnapshot(input: SnapshotInput): LimitSnapshot {
  const { rules, store, quotaStore, reserved, clock, filter } = input;
  if (filter.subject === undefined && filter.team === undefined && filter.key === undefined) return listAll(input);
  const now = clock.now();
  const byId = new Map(rules.limits.filter((r) => relevant(r, filter)).map((r) => [r.id, r]));
  const buckets: BucketSnapshot[] = [];
  const seen = new Set<string>();
  for (const [key, state] of store.entries()) {
    const k = parseStateKey(key);
    const rule = k ? byId.get(k.rule) : undefined;
    if (!k || !rule) continue;
    if ((k.subject !== null && k.subject !== filter.subject) || (k.team !== null && k.team !== filter.team) || (k.key !== null && k.key !== filter.key)) continue;
    const copy = { ...state };
    advance(copy, rule.rpm, rule.tpm, now);
    buckets.push(bucketView(rule, copy, { subject: k.subject, team: k.team, model: k.model, key: k.key }));
    seen.add(rule.id);
  }
  // Rules not keyed by model have exactly one bucket for this principal; show it full when never touched.
  for (const rule of byId.values()) {
    if (seen.has(rule.id) || rule.match.model === '*') continue;
    buckets.push(
      bucketView(rule, freshBucket(rule.rpm, rule.tpm, now), {
        subject: rule.match.subject === undefined ? null : (filter.subject ?? null),
        team: rule.match.team === undefined ? null : (filter.team ?? null),
        model: rule.match.model ?? null,
        key: rule.match.key === undefined ? null : (filter.key ?? null),
      }),
    );
  }

  const wallMs = clock.wallMs();
  const quotas: QuotaSnapshot[] = [];
  for (const rule of rules.quotas) {
    // A `model: "*"` quota has one counter per model; without a model to ask for it is left out.
    if (!relevant(rule, filter) || rule.match.model === '*') continue;
    const key = stateKey(rule, { subject: filter.subject ?? '', team: filter.team ?? null, model: rule.match.model ?? '', key: filter.key ?? null });
    for (const period of ['day', 'month'] as const) {
      const limit = period === 'day' ? rule.perDay : rule.perMonth;
      if (limit === null) continue;
      const w = quotaWindow(period, wallMs);
      const used = quotaStore.used(key, w.id);
      const held = reserved(key, w.id);
      quotas.push({
        rule: rule.id,
        subject: rule.match.subject === undefined ? null : (filter.subject ?? null),
        team: rule.match.team === undefined ? null : (filter.team ?? null),
        model: rule.match.model ?? null,
        key: rule.match.key === undefined ? null : (filter.key ?? null),
        period,
        limit,
        used,
        reserved: held,
        remaining: Math.max(0, limit - used - held),
        resetsAt: new Date(w.resetsAtMs).toISOString(),
      });
    }
  }
  return { at: new Date(wallMs).toISOString(), buckets, quotas };
}

export const DEFAULT_PAGE = 100;

/** Every quota counter of a rule for one principal, current windows. */
function quotaCounters(
  rule: CompiledQuotaRule,
  who: { subject: string | null; team: string | null },
  { quotaStore, reserved }: Pick<SnapshotInput, 'quotaStore' | 'reserved'>,
  wallMs: number,
): QuotaSnapshot[] {
  const key = stateKey(rule, { subject: who.subject ?? '', team: who.team, model: rule.match.model ?? '', key: null });
  const out: QuotaSnapshot[] = [];
  for (const period of ['day', 'month'] as const) {
    const limit = period === 'day' ? rule.perDay : rule.perMonth;
    if (limit === null) continue;
    const w = quotaWindow(period, wallMs);
    const used = quotaStore.used(key, w.id);
    const held = reserved(key, w.id);
    const remaining = Math.max(0, limit - used - held);
    out.push({ rule: rule.id, ...who, model: rule.match.model ?? null, key: null, period, limit, used, reserved: held, remaining, resetsAt: new Date(w.resetsAtMs).toISOString() });
  }
  return out;
}

/**
 * `GET /admin/limits` without a filter: every live bucket (each key the limit store holds, least recently used
 * first) and the quotas of the rules. A quota rule naming `"*"` has one counter per subject or team; the quota store
 * is not enumerable, so those are listed for the subjects and teams that hold a live bucket, as well as the values a
 * rule names itself. Paged: each list is cut to `offset`, `limit`.
 */
function listAll({ rules, store, quotaStore, reserved, clock, filter }: SnapshotInput): LimitSnapshot {
  const now = clock.now();
  const offset = Math.max(0, filter.offset ?? 0);
  const limit = Math.max(1, filter.limit ?? DEFAULT_PAGE);
  const byId = new Map(rules.limits.map((r) => [r.id, r]));
  const subjects = new Set<string>();
  const teams = new Set<string>();
  const buckets: BucketSnapshot[] = [];
  let totalBuckets = 0;
  for (const [key, state] of store.entries()) {
    const k = parseStateKey(key);
    const rule = k ? byId.get(k.rule) : undefined;
    if (!k || !rule) continue;
    if (k.subject !== null) subjects.add(k.subject);
    if (k.team !== null) teams.add(k.team);
    if (totalBuckets++ < offset || buckets.length >= limit) continue;
    const copy = { ...state };
    advance(copy, rule.rpm, rule.tpm, now);
    buckets.push(bucketView(rule, copy, { subject: k.subject, team: k.team, model: k.model, key: k.key }));
  }
  const valuesOf = (want: string | undefined, seen: Set<string>): Array<string | null> =>
    want === undefined ? [null] : want === '*' ? [...seen] : [want];
  const wallMs = clock.wallMs();
  const quotas: QuotaSnapshot[] = [];
  let totalQuotas = 0;
  for (const rule of rules.quotas) {
    // Per-model and per-key counters need a model or a key to ask for (`?subject=&team=&key=`).
    if (rule.match.model === '*' || rule.match.key !== undefined) continue;
    for (const subject of valuesOf(rule.match.subject, subjects)) {
      for (const team of valuesOf(rule.match.team, teams)) {
        for (const q of quotaCounters(rule, { subject, team }, { quotaStore, reserved }, wallMs)) {
          if (totalQuotas++ >= offset && quotas.length < limit) quotas.push(q);
        }
      }
    }
  }
  const hasMore = offset + limit < Math.max(totalBuckets, totalQuotas);
  return { at: new Date(wallMs).toISOString(), buckets, quotas, page: { offset, limit, totalBuckets, totalQuotas, hasMore } };
}
