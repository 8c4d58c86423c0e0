import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import { GatewayError, parseDuration, type Clock } from '../core/index.js';
import type { Limiter } from '../limits/index.js';
import { EXPORT_FORMATS, exportUsage, parseGroupBy, PERCENTILE_RELATIVE_ERROR, toCsv, type ExportFormat, type UsageWriter } from '../usage/index.js';

type Ctx = Context<{ Bindings: HttpBindings }>;

/** The latest time a JavaScript Date can hold (ECMA-262 §21.4.1.1): anything past it cannot be a report's bound. */
const MAX_TIME_MS = 8.64e15;

/**
 * `from` / `to` as epoch ms, an ISO 8601 time, or a duration back from now (`24h`). Digits alone are always epoch ms,
 * whatever their length: Date.parse would read a short run of digits as a year (`0` as 2000), not as 1970.
 */
function parseTime(value: string | undefined, fallback: number, now: number, param: string): number {
  if (value === undefined || value === '') return fallback;
  const invalid = () => new GatewayError('invalid_request', `Invalid ${param} "${value.slice(0, 40)}": use an ISO 8601 time, epoch milliseconds or a duration such as 24h.`, { param });
  let t: number;
  if (/^\d+$/.test(value)) t = Number(value);
  else {
    const back = parseDuration(value);
    t = Number.isFinite(back) ? now - back : Date.parse(value);
  }
  if (!(t >= 0 && t <= MAX_TIME_MS)) throw invalid();
  return t;
}

function usageOn(usage: UsageWriter | null): UsageWriter {
  if (!usage) throw new GatewayError('not_found', 'The usage log is off (usage: false); configure usage.sqlite to record usage.', { wireCode: 'usage_log_disabled' });
  return usage;
}

/** `from` (default 24 hours back) and `to` (default now) of an admin query. */
function range(c: Ctx, clock: Clock): { fromMs: number; toMs: number } {
  const now = clock.wallMs();
  const fromMs = parseTime(c.req.query('from'), now - 24 * 3_600_000, now, 'from');
  const toMs = parseTime(c.req.query('to'), now + 1, now, 'to');
  // An inverted range is a caller's mistake (swapped bounds), not an empty report.
  if (fromMs > toMs) {
    throw new GatewayError('invalid_request', `from (${new Date(fromMs).toISOString()}) is after to (${new Date(toMs).toISOString()}).`, { param: 'from' });
  }
  return { fromMs, toMs };
}

/**
 * `GET /admin/usage?from&to&group_by=subject,team,key,model,backend,day&subject=&key=`: totals from the rollups as
 * JSON, or CSV for `Accept: text/csv`. Percentiles are DDSketch estimates within `percentiles.relative_error`.
 */
export function adminUsage(c: Ctx, usage: UsageWriter | null, clock: Clock): Response {
  const log = usageOn(usage);
  const groupBy = parseGroupBy(c.req.query('group_by'));
  const report = log.query({ ...range(c, clock), groupBy, subject: c.req.query('subject') || undefined, key: c.req.query('key') || undefined });
  if ((c.req.header('accept') ?? '').includes('text/csv')) {
    return c.body(toCsv(report.rows, groupBy), 200, { 'content-type': 'text/csv; charset=utf-8' });
  }
  return c.json({
    object: 'usage.report',
    from: new Date(report.fromMs).toISOString(),
    to: new Date(report.toMs).toISOString(),
    group_by: groupBy,
    percentiles: { method: 'ddsketch', relative_error: PERCENTILE_RELATIVE_ERROR },
    data: report.rows,
  });
}

/**
 * `GET /admin/usage/export?from&to&format=csv|jsonl`: the raw rows, streamed as they are read (export.ts), so a
 * month of rows never sits in memory. A client that goes away stops the read.
 */
export function adminUsageExport(c: Ctx, usage: UsageWriter | null, clock: Clock): Response {
  const log = usageOn(usage);
  const format = (c.req.query('format') ?? 'jsonl') as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) throw new GatewayError('invalid_request', `Unknown format "${format.slice(0, 20)}"; use csv or jsonl.`, { param: 'format' });
  log.flush(); // the caller's own requests are in the export
  const chunks = exportUsage(log.path, { ...range(c, clock), format });
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    // One chunk per pull: the response's backpressure paces the read.
    pull(controller) {
      const next = chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    cancel() {
      chunks.return();
    },
  });
  const type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson';
  return c.body(body, 200, { 'content-type': type, 'content-disposition': `attachment; filename="usage.${format}"` });
}

/**
 * `GET /admin/audit?from&to&limit=&order=`: every `/admin/*` call, answered or refused, oldest first (`order=desc`:
 * newest first); `has_more` says the range holds more than `limit`.
 */
export function adminAudit(c: Ctx, usage: UsageWriter | null, clock: Clock): Response {
  const log = usageOn(usage);
  const limitText = c.req.query('limit') ?? '1000';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new GatewayError('invalid_request', 'limit must be an integer from 1 to 100000.', { param: 'limit' });
  const order = c.req.query('order') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw new GatewayError('invalid_request', 'order must be asc (oldest first) or desc (newest first).', { param: 'order' });
  const { fromMs, toMs } = range(c, clock);
  // One row past the page tells whether the range holds more.
  const data = log.queryAudit({ fromMs, toMs, limit: limit + 1, newestFirst: order === 'desc' });
  const hasMore = data.length > limit;
  if (hasMore) data.length = limit;
  return c.json({ object: 'audit.log', from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), order, has_more: hasMore, data });
}

/** `GET /admin/limits?subject=…&team=…&key=…`: the live buckets and quotas (`key`: an API key's public id). */
export function adminLimits(c: Ctx, limiter: Limiter | null): Response {
  if (!limiter) return c.json({ object: 'limits.snapshot', limits: [], quotas: [], note: 'no limits or quotas are configured' });
  const subject = c.req.query('subject');
  const team = c.req.query('team');
  const key = c.req.query('key');
  if (subject === undefined && team === undefined && key === undefined) {
    // Everything live, paged: `?limit=` (1 to 1000, default 100) and `?offset=`.
    const limit = pageParam(c.req.query('limit'), 100, 1, 1000, 'limit');
    const offset = pageParam(c.req.query('offset'), 0, 0, Number.MAX_SAFE_INTEGER, 'offset');
    const snap = limiter.snapshot({ limit, offset });
    const { page, ...rest } = snap;
    return c.json({
      object: 'limits.snapshot',
      ...rest,
      ...(page ? { offset: page.offset, limit: page.limit, total_buckets: page.totalBuckets, total_quotas: page.totalQuotas, has_more: page.hasMore } : {}),
    });
  }
  return c.json({ object: 'limits.snapshot', ...limiter.snapshot({ subject, team, key }) });
}

function pageParam(text: string | undefined, fallback: number, min: number, max: number, param: string): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new GatewayError('invalid_request', `${param} must be an integer from ${min} to ${max}.`, { param });
  return n;
}
