import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import { GatewayError, parseDuration, type Clock } from '../core/index.js';
import type { Limiter } from '../limits/index.js';
import { parseGroupBy, toCsv, type UsageWriter } from '../usage/index.js';

type Ctx = Context<{ Bindings: HttpBindings }>;

/** `from` / `to` as epoch ms, an ISO 8601 time, or a duration back from now (`24h`). */
function parseTime(value: string | undefined, fallback: number, now: number, param: string): number {
  if (value === undefined || value === '') return fallback;
  if (/^\d{10,}$/.test(value)) return Number(value);
  const back = parseDuration(value);
  if (Number.isFinite(back) && !/^\d+$/.test(value)) return now - back;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new GatewayError('invalid_request', `Invalid ${param} "${value.slice(0, 40)}": use an ISO 8601 time, epoch milliseconds or a duration such as 24h.`, { param });
  return t;
}

/** `GET /admin/usage?from&to&group_by=subject,team,model,backend,day`: totals as JSON, or CSV for `Accept: text/csv`. */
export function adminUsage(c: Ctx, usage: UsageWriter | null, clock: Clock): Response {
  if (!usage) throw new GatewayError('not_found', 'The usage log is off (usage: false); configure usage.sqlite to record usage.', { wireCode: 'usage_log_disabled' });
  const now = clock.wallMs();
  const fromMs = parseTime(c.req.query('from'), now - 24 * 3_600_000, now, 'from');
  const toMs = parseTime(c.req.query('to'), now + 1, now, 'to');
  const groupBy = parseGroupBy(c.req.query('group_by'));
  const rows = usage.query({ fromMs, toMs, groupBy });
  if ((c.req.header('accept') ?? '').includes('text/csv')) {
    return c.body(toCsv(rows, groupBy), 200, { 'content-type': 'text/csv; charset=utf-8' });
  }
  return c.json({ object: 'usage.report', from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), group_by: groupBy, data: rows });
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
