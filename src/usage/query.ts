import { GatewayError } from '../core/index.js';
import type { UsageDb } from './db.js';
import { buildReport, type ReportDim, type ReportGroup } from './report.js';
import { QuantileSketch, SKETCH_RELATIVE_ACCURACY } from './sketch.js';

/** Dimensions `group_by` accepts, each a rollup dimension (rollup-shape.ts DIM_COLUMNS index) or the UTC day. */
const GROUP_DIMS = {
  subject: 0,
  team: 1,
  key: 2,
  model: 3,
  upstream_model: 4,
  backend: 5,
  endpoint: 6,
  status_class: 7,
  day: 'day',
} as const satisfies Record<string, ReportDim>;

export type GroupKey = keyof typeof GROUP_DIMS;
export const GROUP_KEYS = Object.keys(GROUP_DIMS) as GroupKey[];

export interface UsageQuery {
  /** Epoch ms, inclusive. */
  fromMs: number;
  /** Epoch ms, exclusive. */
  toMs: number;
  groupBy: readonly GroupKey[];
  /** Only this subject's (or key's) requests: a window served from the rollups' per-subject and per-key indexes. */
  subject?: string | undefined;
  key?: string | undefined;
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
  p90_latency_ms: number | null;
  p95_latency_ms: number | null;
  p90_ttft_ms: number | null;
  p99_ttft_ms: number | null;
};

export interface UsageReport {
  /** The range covered: as asked, widened to the bucket that still has data where retention pruned finer rows. */
  fromMs: number;
  toMs: number;
  rows: UsageTotals[];
}

/** Percentiles are DDSketch estimates: within this relative error of the exact value at the same rank. */
export const PERCENTILE_RELATIVE_ERROR = SKETCH_RELATIVE_ACCURACY;

/** `subject,team,day` → keys; unknown or repeated names are a 400 naming `group_by`. */
export function parseGroupBy(value: string | null | undefined): GroupKey[] {
  if (!value) return [];
  const keys: GroupKey[] = [];
  for (const raw of value.split(',')) {
    const k = raw.trim();
    if (k === '') continue;
    if (!Object.hasOwn(GROUP_DIMS, k)) throw new GatewayError('invalid_request', `Unknown group_by "${k.slice(0, 40)}"; use ${GROUP_KEYS.join(', ')}.`, { param: 'group_by' });
    if (!keys.includes(k as GroupKey)) keys.push(k as GroupKey);
  }
  return keys;
}

const round3 = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);

/** Totals per group over [from, to), from the rollups (report.ts), named and ordered by the group columns. */
export function queryUsage(db: UsageDb, q: UsageQuery): UsageReport {
  const report = buildReport(db, { fromMs: q.fromMs, toMs: q.toMs, dims: q.groupBy.map((k) => GROUP_DIMS[k]), subject: q.subject, key: q.key });
  const nameOf = db.prepare<[number], string>('SELECT name FROM usage_names WHERE id = ?').pluck();
  const names = new Map<number, string | null>([[0, null]]);
  const label = (k: GroupKey, v: number): string | null => {
    if (k === 'day') return new Date(v * 86_400_000).toISOString().slice(0, 10);
    if (k === 'status_class') return v === 0 ? null : `${v}xx`;
    if (!names.has(v)) names.set(v, nameOf.get(v) ?? null);
    return names.get(v)!;
  };
  const totals = (g: ReportGroup): UsageTotals => {
    const row: UsageTotals = {
      requests: g.requests,
      errors: g.errors,
      prompt_tokens: g.prompt,
      completion_tokens: g.completion,
      cached_tokens: g.cached,
      total_tokens: g.prompt + g.completion,
      p50_latency_ms: round3(g.latency.quantile(0.5)),
      p99_latency_ms: round3(g.latency.quantile(0.99)),
      p50_ttft_ms: round3(g.ttft.quantile(0.5)),
      p90_latency_ms: round3(g.latency.quantile(0.9)),
      p95_latency_ms: round3(g.latency.quantile(0.95)),
      p90_ttft_ms: round3(g.ttft.quantile(0.9)),
      p99_ttft_ms: round3(g.ttft.quantile(0.99)),
    };
    q.groupBy.forEach((k, i) => (row[k] = label(k, g.values[i]!)));
    return row;
  };
  const rows = report.groups.filter((g) => g.requests > 0).map(totals);
  // As SQL's ORDER BY would: by each group column in turn, nulls first.
  rows.sort((a, b) => {
    for (const k of q.groupBy) {
      const x = a[k] ?? null;
      const y = b[k] ?? null;
      if (x === y) continue;
      if (x === null) return -1;
      if (y === null) return 1;
      return x < y ? -1 : 1;
    }
    return 0;
  });
  // Without grouping an empty range is still one all-zero row, as before.
  if (q.groupBy.length === 0 && rows.length === 0) {
    rows.push(totals({ values: [], requests: 0, errors: 0, prompt: 0, completion: 0, cached: 0, latency: new QuantileSketch(), ttft: new QuantileSketch() }));
  }
  return { fromMs: report.fromMs, toMs: report.toMs, rows };
}

const COLUMNS_AFTER_GROUPS = [
  'requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'total_tokens', 'p50_latency_ms', 'p99_latency_ms', 'p50_ttft_ms',
  'p90_latency_ms', 'p95_latency_ms', 'p90_ttft_ms', 'p99_ttft_ms',
] as const;

export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  // Subjects and team names come from tokens: a leading = + - @ would run as a formula in a spreadsheet.
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  // U+2028/U+2029 are line ends to some readers: quoted, a field holding one stays one field.
  return /[",\r\n\u2028\u2029]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV with a header row: the group columns in `groupBy` order, then the totals. */
export function toCsv(rows: readonly UsageTotals[], groupBy: readonly GroupKey[]): string {
  const columns: string[] = [...groupBy, ...COLUMNS_AFTER_GROUPS];
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell((r as Record<string, unknown>)[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
