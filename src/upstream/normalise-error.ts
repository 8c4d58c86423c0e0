import { GatewayError } from '../core/index.js';

/**
 * Backend error bodies come in many shapes (vLLM nested with an integer code, SGLang and older vLLM flat, TGI
 * `{"error": "...", "error_type": ...}`, FastAPI `{"detail": ...}`, plain text or HTML). They are normalised to
 * OpenAI's envelope with the backend's message and status kept, so an SDK user sees the real reason.
 */
const MAX_MESSAGE = 2000;

function typeForStatus(status: number): string {
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
    return { message: err, type: t ? (TGI_TYPES[t] ?? null) : null, param: null, code: t };
  }
  if (str(o.message)) return { message: str(o.message), type: str(o.type), param: str(o.param), code: str(o.code) };
  const d = detailMessage(o.detail);
  if (d) return { ...none, message: d };
  return none;
}

/** The client-facing error for a backend's HTTP error response. */
export function normaliseBackendError(status: number, contentType: string | undefined, body: Buffer, backendId: string): GatewayError {
  let parsed: Parsed = { message: null, type: null, param: null, code: null };
  const text = body.toString('utf8');
  if (text.length > 0) {
    if (contentType?.includes('json') || text.trimStart().startsWith('{')) {
      try {
        parsed = parseBody(JSON.parse(text));
      } catch {
        parsed.message = clip(text);
      }
    } else if (!contentType?.includes('html')) {
      parsed.message = clip(text);
    }
  }
  // A backend refusing the gateway's own credentials is the gateway's misconfiguration, not the caller's: a 401
  // passed through would make an SDK user believe their own key is wrong.
  if (status === 401 || status === 403) {
    return new GatewayError('upstream_error', `Backend ${backendId} rejected the gateway's credentials (HTTP ${status}): ${parsed.message ?? 'no reason given'}`, {
      wireCode: 'upstream_auth_failed',
    });
  }
  const message = parsed.message ? clip(parsed.message) : `Backend ${backendId} returned HTTP ${status} with no error message.`;
  const code = status === 429 ? 'rate_limited' : status >= 500 ? 'upstream_error' : 'invalid_request';
  return new GatewayError(code, message, {
    status,
    type: parsed.type ?? typeForStatus(status),
    param: parsed.param,
    wireCode: parsed.code,
  });
}
