import { GatewayError } from '../core/index.js';

/** Why an attempt failed before any byte reached the client; drives retry and passive health. */
export type FailureKind = 'connect' | 'timeout' | 'reset' | 'status_5xx' | 'status_429' | 'aborted';

/** An attempt failure with the error the client sees if no other attempt succeeds. */
export class UpstreamFailure extends Error {
  readonly kind: FailureKind;
  readonly clientError: GatewayError;
  constructor(kind: FailureKind, clientError: GatewayError) {
    super(clientError.message);
    this.name = 'UpstreamFailure';
    this.kind = kind;
    this.clientError = clientError;
  }
  get retryable(): boolean {
    return this.kind !== 'aborted';
  }
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'HPE_INVALID_CONSTANT', 'UND_ERR_INFO']);

function codeOf(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 3 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return '';
}

/** Maps an undici/network error to a failure kind by `err.code`, never by message text. */
export function classifyNetworkError(err: unknown, backendId: string, aborted: { client: boolean; timeout: boolean }): UpstreamFailure {
  if (aborted.timeout) {
    return new UpstreamFailure('timeout', new GatewayError('upstream_timeout', `The backend ${backendId} did not answer in time.`));
  }
  if (aborted.client) {
    return new UpstreamFailure('aborted', new GatewayError('internal', 'The client closed the request.'));
  }
  const code = codeOf(err);
  if (CONNECT_CODES.has(code)) {
    return new UpstreamFailure('connect', new GatewayError('upstream_error', `Could not connect to backend ${backendId} (${code}).`, { wireCode: 'upstream_unreachable' }));
  }
  if (RESET_CODES.has(code)) {
    return new UpstreamFailure('reset', new GatewayError('upstream_error', `The connection to backend ${backendId} was reset (${code}).`));
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new UpstreamFailure('timeout', new GatewayError('upstream_timeout', `The backend ${backendId} did not answer in time.`));
  }
  return new UpstreamFailure('reset', new GatewayError('upstream_error', `The request to backend ${backendId} failed${code ? ` (${code})` : ''}.`));
}
