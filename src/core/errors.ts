/**
 * The one error type of the gateway. Every failure a client can see is a GatewayError with a code from this
 * closed table; the table is the only place a code is mapped to an HTTP status and an OpenAI error `type`.
 * The OpenAI SDKs pick their exception class from the status, so the status is the contract.
 */
export const ERROR_TABLE = {
  invalid_request: { status: 400, type: 'invalid_request_error' },
  unauthorized: { status: 401, type: 'authentication_error' },
  forbidden: { status: 403, type: 'permission_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  /** The request (headers or body) did not arrive within `server.timeouts.body`. */
  request_timeout: { status: 408, type: 'invalid_request_error' },
  payload_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  rate_limited: { status: 429, type: 'rate_limit_error' },
  quota_exceeded: { status: 429, type: 'insufficient_quota' },
  internal: { status: 500, type: 'server_error' },
  upstream_error: { status: 502, type: 'server_error' },
  no_healthy_backend: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  /** Shared limit state (Redis) unreachable under `state.on_unreachable: refuse`. */
  state_unavailable: { status: 503, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'server_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/**
 * OpenAI's SDKs retry every 408, 409, 429 and 5xx (twice by default) unless this header says `false`; the Node and
 * the Python SDK read it before the status. A failure that would recur on any attempt (the request itself caused it)
 * sends it, so a client is not made to wait, and charged, for the same failure three times.
 */
export const SHOULD_RETRY_HEADER = 'x-should-retry';

export interface GatewayErrorOptions {
  /** The request field at fault, as OpenAI reports it in `param`. */
  param?: string | null;
  /** Overrides the wire `code` (defaults to the table code); e.g. `rate_limit_exceeded`, `model_not_found`. */
  wireCode?: string | null;
  /** Overrides the status for errors relayed from a backend (their status is kept). */
  status?: number;
  /** Overrides the OpenAI error `type` for errors relayed from a backend. */
  type?: string;
  /** Extra response headers (e.g. Retry-After, WWW-Authenticate). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly wireCode: string | null;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    const entry = ERROR_TABLE[code];
    this.code = code;
    this.status = options.status ?? entry.status;
    this.type = options.type ?? entry.type;
    this.param = options.param ?? null;
    this.wireCode = options.wireCode === undefined ? code : options.wireCode;
    this.headers = options.headers;
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}

/** The OpenAI error envelope body for an error. Unknown errors never leak their message or stack. */
export function errorEnvelope(err: unknown): { status: number; body: string; headers: Record<string, string> | undefined } {
  const ge = isGatewayError(err) ? err : new GatewayError('internal', 'The gateway hit an internal error.');
  const body = JSON.stringify({
    error: { message: ge.message, type: ge.type, param: ge.param, code: ge.wireCode },
  });
  return { status: ge.status, body, headers: ge.headers };
}
