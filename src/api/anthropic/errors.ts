import type { ServerResponse } from 'node:http';
import { GatewayError, isGatewayError } from '../../core/index.js';

/**
 * Anthropic's error shape for the Messages routes: `{"type":"error","error":{"type","message"}}`, with the type
 * Anthropic uses for each status (its API reference and its SDK's ErrorType), so code that reads `error.type`, as
 * well as the SDK's classes, tells the cases apart. The status stays the gateway's (or the backend's, relayed).
 */
function typeFor(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 409:
      return 'conflict_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    // 529 is Anthropic's own overloaded status; the gateway says 503 when no backend can take the request.
    case 503:
    case 529:
      return 'overloaded_error';
    case 504:
      return 'timeout_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** Anthropic's SDKs send `x-api-key`; the gateway's own wording asks for an Authorization header. */
const MISSING_CREDENTIAL = 'Missing credentials: send the API key or token in the "x-api-key" header (or as "Authorization: Bearer <token>").';

/** The error body; Anthropic's carries the request id too (`request_id`), when known. */
export function anthropicErrorBody(err: Pick<GatewayError, 'status' | 'message'> & { wireCode?: string | null }, requestId: string | null = null): string {
  const error = { type: typeFor(err.status), message: err.wireCode === 'missing_token' ? MISSING_CREDENTIAL : err.message };
  return JSON.stringify(requestId === null ? { type: 'error', error } : { type: 'error', error, request_id: requestId });
}

/** The SSE error event of a Messages stream that failed after it started. */
export function anthropicErrorEvent(err: GatewayError): string {
  return `event: error\ndata: ${anthropicErrorBody(err)}\n\n`;
}

export function writeAnthropicError(out: ServerResponse, err: unknown, extraHeaders?: Record<string, string>): number {
  const ge = isGatewayError(err) ? err : new GatewayError('internal', 'The gateway hit an internal error.');
  if (out.destroyed || out.writableEnded) return ge.status;
  // Anthropic's SDK reads the request id from `request-id` (error.requestID): the same id as `x-request-id`.
  const id = extraHeaders?.['x-request-id'];
  const body = anthropicErrorBody(ge, id ?? null);
  if (out.headersSent) {
    out.end(`event: error\ndata: ${body}\n\n`);
    return ge.status;
  }
  out.writeHead(ge.status, { ...extraHeaders, ...(id ? { 'request-id': id } : {}), ...ge.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  out.end(body);
  return ge.status;
}
