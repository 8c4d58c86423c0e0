import type { LimitRuleConfig, MatchConfig, QuotaRuleConfig } from '../config/governance-schema.js';

export const DIMENSIONS = ['subject', 'team', 'model', 'key'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** What a rule is matched against. `team` is null for principals without one; such requests skip team rules. */
export interface LimitSubject {
  readonly subject: string;
  readonly team: string | null;
  readonly model: string;
  /** Public id of the gateway-managed API key used; absent or null for other credentials (they skip key rules). */
  readonly key?: string | null;
}

interface CompiledMatch {
  /** Stable identity of the rule: its match, so state survives a reload that only changes the numbers. */
  readonly id: string;
  readonly match: Readonly<MatchConfig>;
  /** Which dimensions the rule names; rules naming the same dimensions compete, the most specific wins. */
  readonly shape: string;
  /** Number of exact (non-`*`) values. */
  readonly specificity: number;
}

export interface CompiledLimitRule extends CompiledMatch {
  readonly rpm: number | null;
  readonly tpm: number | null;
  readonly concurrency: number | null;
}

export interface CompiledQuotaRule extends CompiledMatch {
  readonly perDay: number | null;
  readonly perMonth: number | null;
}

export interface CompiledLimits {
  readonly limits: readonly CompiledLimitRule[];
  readonly quotas: readonly CompiledQuotaRule[];
}

function compileMatch(kind: string, match: MatchConfig): CompiledMatch {
  const dims = DIMENSIONS.filter((d) => match[d] !== undefined);
  return {
    id: `${kind}:${dims.map((d) => `${d}=${match[d]}`).join(',') || 'all'}`,
    match: Object.freeze({ ...match }),
    shape: dims.join(','),
    specificity: dims.filter((d) => match[d] !== '*').length,
  };
}

/** Validated `limits` and `quotas` sections → frozen rules. Runs at config compile, never per request. */
export function compileLimitRules(limits: readonly LimitRuleConfig[], quotas: readonly QuotaRuleConfig[]): CompiledLimits {
  return Object.freeze({
    limits: Object.freeze(
      limits.map((r) =>
        Object.freeze({ ...compileMatch('limit', r.match), rpm: r.rpm ?? null, tpm: r.tpm ?? null, concurrency: r.concurrency ?? null }),
      ),
    ),
    quotas: Object.freeze(
      quotas.map((r) =>
        Object.freeze({ ...compileMatch('quota', r.match), perDay: r.tokens_per_day ?? null, perMonth: r.tokens_per_month ?? null }),
      ),
    ),
  });
}

function valueOf(who: LimitSubject, d: Dimension): string | null {
  return d === 'team' ? who.team : d === 'key' ? (who.key ?? null) : who[d];
}

export function matches(rule: CompiledMatch, who: LimitSubject): boolean {
  for (const d of DIMENSIONS) {
    const want = rule.match[d];
    if (want === undefined) continue;
    const have = valueOf(who, d);
    if (have === null || (want !== '*' && want !== have)) return false;
  }
  return true;
}

/**
 * The rules that apply to a request. Rules naming different dimensions all apply (a team budget and a per-subject
 * budget both hold); among rules naming the same dimensions only the most specific applies, so
 * `{subject: alice}` overrides the default `{subject: "*"}` instead of stacking with it. Ties: first in the file.
 */
export function selectRules<R extends CompiledMatch>(rules: readonly R[], who: LimitSubject): R[] {
  const best = new Map<string, R>();
  for (const r of rules) {
    if (!matches(r, who)) continue;
    const current = best.get(r.shape);
    if (!current || r.specificity > current.specificity) best.set(r.shape, r);
  }
  return [...best.values()];
}

/**
 * A rule's state key: the rule plus the request's values of the dimensions it names (each `*` value its own bucket).
 * The key id is appended only by rules naming it, so keys of older rules (persisted quota counters) stay the same.
 */
export function stateKey(rule: CompiledMatch, who: LimitSubject): string {
  const parts = [
    rule.id,
    rule.match.subject === undefined ? null : who.subject,
    rule.match.team === undefined ? null : who.team,
    rule.match.model === undefined ? null : who.model,
  ];
  if (rule.match.key !== undefined) parts.push(who.key ?? null);
  return JSON.stringify(parts);
}

export function parseStateKey(key: string): { rule: string; subject: string | null; team: string | null; model: string | null; key: string | null } | null {
  try {
    const v: unknown = JSON.parse(key);
    if (!Array.isArray(v) || (v.length !== 4 && v.length !== 5) || typeof v[0] !== 'string') return null;
    const s = (x: unknown) => (typeof x === 'string' ? x : null);
    return { rule: v[0], subject: s(v[1]), team: s(v[2]), model: s(v[3]), key: s(v[4]) };
  } catch {
    return null;
  }
}

/** Human label for messages: `team "research"`, `subject "alice" on model "m"`, or `all requests`. */
export function describeRule(rule: CompiledMatch, who: LimitSubject): string {
  const parts = DIMENSIONS.filter((d) => rule.match[d] !== undefined).map((d) => `${d} ${JSON.stringify(valueOf(who, d))}`);
  return parts.length ? parts.join(' on ') : 'all requests';
}

/** The smallest tpm cap and quota among the rules that apply; Infinity when none bounds tokens. */
export function tokenCeilingOf(limits: readonly CompiledLimitRule[], quotas: readonly CompiledQuotaRule[]): number {
  let ceiling = Number.POSITIVE_INFINITY;
  for (const r of limits) if (r.tpm !== null) ceiling = Math.min(ceiling, r.tpm);
  for (const q of quotas) {
    if (q.perDay !== null) ceiling = Math.min(ceiling, q.perDay);
    if (q.perMonth !== null) ceiling = Math.min(ceiling, q.perMonth);
  }
  return ceiling;
}
