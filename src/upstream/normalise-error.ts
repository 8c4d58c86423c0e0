import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../core/index.js';

/**
 * Backend error bodies come in many shapes (vLLM nested with an integer code, SGLang and older vLLM flat, TGI
 * `{"error": "...", "error_type": ...}`, FastAPI `{"detail": ...}`, plain text or HTML). They are normalised to
 * OpenAI's envelope with the backend's message and status kept, so an SDK user sees the real reason.
 */
const MAX_MESSAGE = 2000;

/** The `type` values OpenAI's API and SDKs know; an engine's own class names (vLLM's `BadRequestError`) never leak. */
const OPENAI_TYPES = new Set(['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'rate_limit_error', 'insufficient_quota', 'server_error', 'api_error']);

export function typeForStatus(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

const TGI_TYPES: Record<string, string> = {
  validation: 'invalid_request_error',
  generation: 'server_error',
  overloaded: 'server_error',
  incomplete_generation: 'server_error',
};

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function clip(s: string): string {
  const t = s.trim();
  return t.length > MAX_MESSAGE ? `${t.slice(0, MAX_MESSAGE)}…` : t;
}

function detailMessage(detail: unknown): string | null {
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    const parts = detail.map((d) => {
      if (d && typeof d === 'object') {
        const loc = Array.isArray((d as { loc?: unknown }).loc) ? ((d as { loc: unknown[] }).loc.join('.') + ': ') : '';
        return loc + (str((d as { msg?: unknown }).msg) ?? JSON.stringify(d));
      }
      return String(d);
    });
    return parts.join('; ') || null;
  }
  return null;
}

interface Parsed {
  message: string | null;
  type: string | null;
  param: string | null;
  code: string | null;
}

function parseBody(body: unknown): Parsed {
  const none: Parsed = { message: null, type: null, param: null, code: null };
  if (!body || typeof body !== 'object' || Array.isArray(body)) return none;
  const o = body as Record<string, unknown>;
  const err = o.error;
  if (err && typeof err === 'object' && !Array.isArray(err)) {
    const e = err as Record<string, unknown>;
    return { message: str(e.message), type: str(e.type), param: str(e.param), code: str(e.code) };
  }
  if (typeof err === 'string') {
    const t = str(o.error_type);
    return { message: err, type: t && Object.hasOwn(TGI_TYPES, t) ? TGI_TYPES[t]! : null, param: null, code: t };
  }
  if (str(o.message)) return { message: str(o.message), type: str(o.type), param: str(o.param), code: str(o.code) };
  const d = detailMessage(o.detail);
  if (d) return { ...none, message: d };
  return none;
}

function parseText(contentType: string | undefined, text: string): Parsed {
  const parsed: Parsed = { message: null, type: null, param: null, code: null };
  if (text.length === 0) return parsed;
  if ((contentType !== undefined && /json/i.test(contentType)) || text.trimStart().startsWith('{')) {
    try {
      return parseBody(JSON.parse(text));
    } catch {
      parsed.message = clip(text);
    }
  } else if (contentType === undefined || !/html/i.test(contentType)) {
    parsed.message = clip(text);
  }
  return parsed;
}

/**
 * How engines word a prompt plus `max_tokens` over the model's context: vLLM and SGLang ("maximum context length"),
 * llama.cpp ("exceeds the available context size", type `exceed_context_size_error`), TGI ("`inputs` tokens +
 * `max_new_tokens` must be <= N"). None sets a code OpenAI's clients know; OpenAI's own is `context_length_exceeded`,
 * which clients match on to trim a conversation and try again.
 */
const CONTEXT_LENGTH = /maximum context length|available context size|`inputs` tokens \+ `max_new_tokens` must be/i;

/** OpenAI's wire code for an engine's client error: `context_length_exceeded` where the engine means it, else its own. */
function wireCodeOf(parsed: Parsed, status: number, message: string): string | null {
  const engineCode = parsed.code === 'validation' ? null : parsed.code; // TGI's error_type, a class rather than a code
  if (engineCode === null && status >= 400 && status < 500 && (parsed.type === 'exceed_context_size_error' || CONTEXT_LENGTH.test(message))) {
    return 'context_length_exceeded';
  }
  return parsed.code;
}

/** The OpenAI types a status may carry: an engine's type that contradicts its status (a 429 `server_error`) is not kept. */
function typeFits(type: string, status: number): boolean {
  if (status === 429) return type === 'rate_limit_error' || type === 'insufficient_quota';
  if (status === 401) return type === 'authentication_error';
  if (status === 403) return type === 'permission_error';
  // OpenAI itself answers an unknown model with 404 and `invalid_request_error`.
  if (status === 404) return type === 'not_found_error' || type === 'invalid_request_error';
  if (status >= 500) return type === 'server_error' || type === 'api_error';
  return type === 'invalid_request_error';
}

/** OpenAI's type for an engine's: kept when it is one of OpenAI's and fits the status, else derived from the status. */
function openaiType(engineType: string | null, status: number): string {
  return engineType !== null && OPENAI_TYPES.has(engineType) && typeFits(engineType, status) ? engineType : typeForStatus(status);
}

/**
 * The status a client sees for a backend's: OpenAI's API answers a malformed request with 400, where TGI and FastAPI
 * servers say 422, and a failure while generating is a server error, where TGI says 424 (Failed Dependency). Every
 * other status is kept. The attempt judges failover and health on this status too.
 */
export function clientStatusFor(status: number): number {
  if (status === 422) return 400;
  if (status === 424) return 500;
  return status;
}

const RETRY_HEADERS = ['retry-after', 'retry-after-ms'] as const;

/** The backend's back-off hints, kept for the client: SDKs wait on them before retrying a 429 or 503. */
function retryHeaders(headers: IncomingHttpHeaders | undefined): Record<string, string> | undefined {
  if (!headers) return undefined;
  let out: Record<string, string> | undefined;
  for (const name of RETRY_HEADERS) {
    const v = headers[name];
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined && /^[\w .:,+-]{1,64}$/.test(value)) (out ??= {})[name] = value;
  }
  return out;
}

/** The client-facing error for a backend's HTTP error response. */
export function normaliseBackendError(backendStatus: number, contentType: string | undefined, body: Buffer, backendLabel: string, headers?: IncomingHttpHeaders): GatewayError {
  // A backend refusing the gateway's own credentials is the gateway's misconfiguration, not the caller's: a 401
  // passed through would make an SDK user believe their own key is wrong.
  // The backend's own words stay out of it: they are about the gateway's secret (key prefixes, organisations), which
  // the caller has no business reading.
  if (backendStatus === 401 || backendStatus === 403) {
    return new GatewayError('upstream_error', `Backend ${backendLabel} rejected the gateway's credentials (HTTP ${backendStatus}); the gateway's operator must check the backend's api_key.`, {
      wireCode: 'upstream_auth_failed',
    });
  }
  const parsed = parseText(contentType, body.toString('utf8'));
  const message = parsed.message ? clip(parsed.message) : `Backend ${backendLabel} returned HTTP ${backendStatus} with no error message.`;
  const status = clientStatusFor(backendStatus);
  const code = status === 429 ? 'rate_limited' : status >= 500 ? 'upstream_error' : 'invalid_request';
  const extra = retryHeaders(headers);
  return new GatewayError(code, message, {
    status,
    type: openaiType(parsed.type, status),
    param: parsed.param,
    wireCode: wireCodeOf(parsed, status, message),
    ...(extra ? { headers: extra } : {}),
  });
}

/** The HTTP status an in-stream error most likely stands for: an integer `code` (vLLM, SGLang) or its type. */
function statusOfEvent(body: unknown, parsed: Parsed): number {
  const err = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  const code = err && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'number' && code >= 400 && code < 600) return code;
  switch (parsed.type) {
    case 'invalid_request_error':
      return 400;
    case 'rate_limit_error':
      return 429;
    default:
      return 500;
  }
}

/**
 * An error event in the middle of a backend's stream (vLLM's integer `code`, a missing `param`, TGI's plain string),
 * as the same envelope an HTTP error gets.
 */
export function normaliseErrorEvent(data: string, backendLabel: string): GatewayError {
  let body: unknown = null;
  let parsed: Parsed = { message: null, type: null, param: null, code: null };
  try {
    body = JSON.parse(data);
    parsed = parseBody(body);
  } catch {
    parsed.message = clip(data);
  }
  const status = statusOfEvent(body, parsed);
  const message = parsed.message ? clip(parsed.message) : `Backend ${backendLabel} reported an error in the stream.`;
  return new GatewayError(status >= 500 ? 'upstream_error' : status === 429 ? 'rate_limited' : 'invalid_request', message, {
    type: openaiType(parsed.type, status),
    param: parsed.param,
    wireCode: wireCodeOf(parsed, status, message) ?? (status >= 500 ? 'upstream_error' : null),
  });
}

/** An engine's error event in a chat stream: vLLM, llama.cpp and TGI nest it under `error`, SGLang's is flat. */
const ENGINE_ERROR = /^\s*\{\s*(?:"error"\s*:|"object"\s*:\s*"error")/;

/**
 * The engine error an SSE event's data carries, normalised, or null for any other event. For streams of another
 * protocol (Responses, Messages) whose engine fails the way its chat stream does: the event must not reach a client
 * that parses typed events only.
 */
export function engineErrorEvent(data: string, backendLabel: string): GatewayError | null {
  return ENGINE_ERROR.test(data) ? normaliseErrorEvent(data, backendLabel) : null;
}
