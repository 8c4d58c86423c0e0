import { GatewayError } from '../core/index.js';

/** Why an attempt failed before any byte reached the client; drives retry and passive health. */
export type FailureKind = 'connect' | 'timeout' | 'reset' | 'status_5xx' | 'status_429' | 'aborted' | 'shutdown' | 'bad_response';

/** An attempt failure with the error the client sees if no other attempt succeeds. */
export class UpstreamFailure extends Error {
  readonly kind: FailureKind;
  readonly clientError: GatewayError;
  /**
   * False when the failure was the client's doing: a deadline hit while a slow reader kept the backend paused, or an
   * answer the request made too large to relay.
   */
  readonly backendAtFault: boolean;
  /** Whether another backend may be tried: not when the client left, nor when any backend would fail it the same way. */
  readonly retryable: boolean;
  constructor(kind: FailureKind, clientError: GatewayError, backendAtFault = kind !== 'aborted', retryable = kind !== 'aborted') {
    super(clientError.message);
    this.name = 'UpstreamFailure';
    this.kind = kind;
    this.clientError = clientError;
    this.backendAtFault = backendAtFault;
    this.retryable = retryable;
  }
}

const DEADLINE_TEXT = {
  first_byte: (b: string, ms: string) => `The backend ${b} sent no response within the first-byte deadline (server.timeouts.first_byte, ${ms}).`,
  idle: (b: string, ms: string) => `The backend ${b} stopped sending tokens for the idle deadline (server.timeouts.idle, ${ms}); the response is incomplete.`,
  request: (b: string, ms: string) => `The backend ${b} did not finish the request within server.timeouts.request (${ms}).`,
  total: (b: string, ms: string) => `The request exceeded the gateway's total deadline (server.timeouts.total, ${ms}) on backend ${b}.`,
} as const;

/** A timeout that names the deadline that ended it (each phase has its own config key and message). */
export function deadlineFailure(
  phase: keyof typeof DEADLINE_TEXT,
  backendLabel: string,
  limits: { firstByteMs: number; idleMs: number; endLimitMs?: number },
  backendAtFault: boolean,
): UpstreamFailure {
  const ms = phase === 'first_byte' ? limits.firstByteMs : phase === 'idle' ? limits.idleMs : (limits.endLimitMs ?? Number.NaN);
  const text = Number.isFinite(ms) ? (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`) : 'reached';
  return new UpstreamFailure(
    'timeout',
    new GatewayError('upstream_timeout', DEADLINE_TEXT[phase](backendLabel, text)),
    backendAtFault,
  );
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

/**
 * An attempt the gateway cut because its drain deadline passed: the gateway's doing, not the backend's (its health is
 * untouched) nor the client's (never a 499), and no other backend of this process may take it over.
 */
export function shutdownFailure(): UpstreamFailure {
  return new UpstreamFailure('shutdown', new GatewayError('shutting_down', 'The gateway is shutting down; the response is incomplete. Retry on another instance.'), false, false);
}

/** Maps an undici/network error to a failure kind by `err.code`, never by message text. */
export function classifyNetworkError(err: unknown, backendLabel: string, aborted: { client: boolean; timeout: boolean; shutdown?: boolean }): UpstreamFailure {
  if (aborted.shutdown) return shutdownFailure();
  if (aborted.timeout) {
    return new UpstreamFailure('timeout', new GatewayError('upstream_timeout', `The backend ${backendLabel} did not answer in time.`));
  }
  if (aborted.client) {
    return new UpstreamFailure('aborted', new GatewayError('internal', 'The client closed the request.'));
  }
  const code = codeOf(err);
  if (CONNECT_CODES.has(code)) {
    return new UpstreamFailure('connect', new GatewayError('upstream_error', `Could not connect to backend ${backendLabel} (${code}).`, { wireCode: 'upstream_unreachable' }));
  }
  if (RESET_CODES.has(code)) {
    return new UpstreamFailure('reset', new GatewayError('upstream_error', `The connection to backend ${backendLabel} was reset (${code}).`));
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new UpstreamFailure('timeout', new GatewayError('upstream_timeout', `The backend ${backendLabel} did not answer in time.`));
  }
  return new UpstreamFailure('reset', new GatewayError('upstream_error', `The request to backend ${backendLabel} failed${code ? ` (${code})` : ''}.`));
}
