import { GatewayError } from '../core/index.js';
import type { UsageDb } from './db.js';

/**
 * Dimensions `group_by` accepts, each mapped once to a fixed SQL expression over usage_rows (nothing from the request
 * reaches SQL). Names are grouped by their usage_names id and turned back into names only for the result rows.
 */
const GROUP_SQL = {
  subject: 'subject_id',
  team: 'team_id',
  model: 'requested_model_id',
  upstream_model: 'upstream_model_id',
  backend: 'backend_id',
  endpoint: 'endpoint_id',
  day: "strftime('%Y-%m-%d', time_ms / 1000, 'unixepoch')",
} as const;

export type GroupKey = keyof typeof GROUP_SQL;
export const GROUP_KEYS = Object.keys(GROUP_SQL) as GroupKey[];

export interface UsageQuery {
  /** Epoch ms, inclusive. */
  fromMs: number;
  /** Epoch ms, exclusive. */
  toMs: number;
  groupBy: readonly GroupKey[];
}

/** One row of totals; snake_case because it is the wire shape of the admin API and the CSV header. */
export type UsageTotals = Partial<Record<GroupKey, string | null>> & {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  total_tokens: number;
  p50_latency_ms: number | null;
  p99_latency_ms: number | null;
  p50_ttft_ms: number | null;
};

/** `subject,team,day` → keys; unknown or repeated names are a 400 naming `group_by`. */
export function parseGroupBy(value: string | null | undefined): GroupKey[] {
  if (!value) return [];
  const keys: GroupKey[] = [];
  for (const raw of value.split(',')) {
    const k = raw.trim();
    if (k === '') continue;
    if (!(k in GROUP_SQL)) throw new GatewayError('invalid_request', `Unknown group_by "${k.slice(0, 40)}"; use ${GROUP_KEYS.join(', ')}.`, { param: 'group_by' });
    if (!keys.includes(k as GroupKey)) keys.push(k as GroupKey);
  }
  return keys;
}

function buildSql(groupBy: readonly GroupKey[]): string {
  // Inside the query the groups are g_<key> (ids, or the day); the result names them <key> (names, or the day).
  const cols = groupBy.map((k) => `g_${k}`);
  const select = groupBy.map((k) => `${GROUP_SQL[k]} AS g_${k}`);
  const named = groupBy.map((k) => (k === 'day' ? `g_${k} AS "${k}"` : `(SELECT name FROM usage_names WHERE id = g_${k}) AS "${k}"`));
  const partition = cols.length ? `PARTITION BY ${cols.join(', ')}` : '';
  const nth = (p: number, col: string, rn: string, n: string) => `MAX(CASE WHEN ${rn} = (${p} * ${n} + 99) / 100 THEN ${col} END)`;
  // Percentiles by nearest rank, in SQL with window functions: one pass, no rows pulled into JS.
  return `
    WITH base AS (
      SELECT ${[...select, 'status', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'latency_ms', 'ttft_ms'].join(', ')}
      FROM usage_rows WHERE time_ms >= @from AND time_ms < @to
    ), ranked AS (
      SELECT *,
        ROW_NUMBER() OVER (${partition} ORDER BY latency_ms) AS rn,
        COUNT(*) OVER (${partition}) AS n,
        ROW_NUMBER() OVER (${partition} ORDER BY ttft_ms IS NULL, ttft_ms) AS trn,
        COUNT(ttft_ms) OVER (${partition}) AS tn
      FROM base
    )
    SELECT ${[...named,
      'COUNT(*) AS requests',
      'COALESCE(SUM(status >= 400), 0) AS errors',
      'COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens',
      'COALESCE(SUM(completion_tokens), 0) AS completion_tokens',
      'COALESCE(SUM(cached_tokens), 0) AS cached_tokens',
      'COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS total_tokens',
      `${nth(50, 'latency_ms', 'rn', 'n')} AS p50_latency_ms`,
      `${nth(99, 'latency_ms', 'rn', 'n')} AS p99_latency_ms`,
      `${nth(50, 'ttft_ms', 'trn', 'tn')} AS p50_ttft_ms`,
    ].join(',\n      ')}
    FROM ranked
    ${cols.length ? `GROUP BY ${cols.join(', ')} ORDER BY ${groupBy.map((k) => `"${k}"`).join(', ')}` : ''}`;
}

const statements = new WeakMap<UsageDb, Map<string, ReturnType<UsageDb['prepare']>>>();

/** Totals per group over [from, to). Statements are prepared once per grouping and database. */
export function queryUsage(db: UsageDb, q: UsageQuery): UsageTotals[] {
  let perDb = statements.get(db);
  if (!perDb) {
    perDb = new Map();
    statements.set(db, perDb);
  }
  const id = q.groupBy.join(',');
  let stmt = perDb.get(id);
  if (!stmt) {
    stmt = db.prepare(buildSql(q.groupBy));
    perDb.set(id, stmt);
  }
  const rows = stmt.all({ from: Math.floor(q.fromMs), to: Math.ceil(q.toMs) }) as UsageTotals[];
  // Without GROUP BY an empty range still yields one all-zero row; with it, an empty range yields none.
  return q.groupBy.length === 0 ? rows : rows.filter((r) => r.requests > 0);
}

const COLUMNS_AFTER_GROUPS = ['requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'total_tokens', 'p50_latency_ms', 'p99_latency_ms', 'p50_ttft_ms'] as const;

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  // Subjects and team names come from tokens: a leading = + - @ would run as a formula in a spreadsheet.
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV with a header row: the group columns in `groupBy` order, then the totals. */
export function toCsv(rows: readonly UsageTotals[], groupBy: readonly GroupKey[]): string {
  const columns: string[] = [...groupBy, ...COLUMNS_AFTER_GROUPS];
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell((r as Record<string, unknown>)[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
