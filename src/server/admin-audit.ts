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
const SECRET_PARAMS = new RegExp(`^(${SECRET_NAMES})$`, 'i');
/** A gateway key anywhere in the URL (`/admin/keys/sk-ig-…`, `?subject=sk-ig-…`): its public id is kept, its secret is not. */
const GATEWAY_KEY = /sk-ig-([a-km-np-z2-9]{10})-[A-Za-z0-9_-]+/g;
/** `?key=` on /admin/usage and /admin/limits names a key by its public id, which is no secret. */
const PUBLIC_KEY_ID = /^[a-km-np-z2-9]{10}$/;

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The query as recorded: a credential's value becomes `redacted`, the rest stays as sent. Names and values are read
 * decoded (as URLSearchParams reads them), so `access%5Ftoken=` or a percent-encoded key is redacted too.
 */
function auditedQuery(search: string): string {
  if (search.length <= 1) return search;
  const params = new URLSearchParams(search);
  let changed = false;
  for (const [name, value] of [...params.entries()]) {
    GATEWAY_KEY.lastIndex = 0;
    if (SECRET_PARAMS.test(name) ? !(name.toLowerCase() === 'key' && PUBLIC_KEY_ID.test(value)) : GATEWAY_KEY.test(value)) {
      changed = true;
      break;
    }
  }
  if (!changed) return search;
  const out = new URLSearchParams();
  for (const [name, value] of params) {
    if (SECRET_PARAMS.test(name) && !(name.toLowerCase() === 'key' && PUBLIC_KEY_ID.test(value))) out.append(name, 'redacted');
    else out.append(name, value.replace(GATEWAY_KEY, 'sk-ig-$1-redacted'));
  }
  return `?${out.toString()}`;
}

/** The path as recorded: a segment holding a gateway key (an admin who pasted the whole key as its id) loses the secret. */
function auditedPath(pathname: string): string {
  GATEWAY_KEY.lastIndex = 0;
  if (!GATEWAY_KEY.test(safeDecode(pathname))) return pathname;
  return pathname
    .split('/')
    .map((seg) => {
      const decoded = safeDecode(seg);
      const redacted = decoded.replace(GATEWAY_KEY, 'sk-ig-$1-redacted');
      return redacted === decoded ? seg : encodeURIComponent(redacted);
    })
    .join('/');
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
        path: `${auditedPath(url.pathname)}${auditedQuery(url.search)}`,
        status: res.status,
        outcome: auditOutcome(res.status),
      });
    } catch {
      // The usage log is closing (drain): the call was answered; its row has nowhere to go.
    }
  };
}
