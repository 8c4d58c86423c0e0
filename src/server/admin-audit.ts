import type { MiddlewareHandler } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { acceptRequestId, type Clock, type Principal } from '../core/index.js';
import { auditOutcome, type UsageWriter } from '../usage/index.js';

/** The caller an admin route authenticated, by request, for its audit entry (refused tokens leave none). */
const callers = new WeakMap<Request, Principal>();

export function noteAdminCaller(req: Request, principal: Principal): void {
  callers.set(req, principal);
}

/** Query parameters that carry credentials when a client puts them in the URL: kept out of the audit table. */
const SECRET_NAMES = 'access_token|token|api_key|apikey|key|secret|password|authorization|id_token|refresh_token';
const SECRET_IN_QUERY = new RegExp(`[?&](${SECRET_NAMES})=`, 'i');
const SECRET_PARAMS = new RegExp(`^(${SECRET_NAMES})$`, 'i');

/** The query as recorded when it names a credential: that value becomes `redacted`, the rest stays as sent. */
function auditedQuery(search: URLSearchParams): string {
  for (const name of new Set(search.keys())) if (SECRET_PARAMS.test(name)) search.set(name, 'redacted');
  const q = search.toString();
  return q.length > 0 ? `?${q}` : '';
}

/**
 * Every `/admin/*` and `/console/api/*` call gets a row in the usage log's audit table (usage_audit), answered or
 * refused (401, 403, 400 …): time, request id, subject, team, key id, method, path and query, status, outcome.
 * `refusedOnly` (for `/metrics`, which a scraper calls every few seconds): refused calls only. The row is handed to the
 * usage writer, which writes it with its next batch, off the request. Without a usage log there is nowhere to write.
 */
export function auditAdminCalls(deps: { clock: Clock; usage: UsageWriter | null }, refusedOnly = false): MiddlewareHandler {
  return async (c, next) => {
    const timeMs = deps.clock.wallMs();
    await next();
    if (!deps.usage) return;
    const res = c.res;
    if (res === RESPONSE_ALREADY_SENT) return;
    if (refusedOnly && res.status < 400) return;
    // The id the response carries (set here when no one has yet, so the row and the response agree).
    let requestId = res.headers.get('x-request-id');
    if (!requestId) {
      requestId = acceptRequestId(c.req.header('x-request-id'));
      res.headers.set('x-request-id', requestId);
    }
    const who = callers.get(c.req.raw);
    const url = new URL(c.req.url);
    try {
      deps.usage.audit({
        timeMs,
        requestId,
        subject: who?.subject ?? null,
        team: who?.team ?? null,
        keyId: who?.keyId ?? null,
        method: c.req.method,
        path: `${url.pathname}${SECRET_IN_QUERY.test(url.search) ? auditedQuery(url.searchParams) : url.search}`,
        status: res.status,
        outcome: auditOutcome(res.status),
      });
    } catch {
      // The usage log is closing (drain): the call was answered; its row has nowhere to go.
    }
  };
}
