import { ERROR_TABLE } from '../core/index.js';
import type { Endpoint, RequestCtx } from '../core/index.js';

/** Label values used when the real value is missing or would grow the series count. */
export const LABEL_NONE = '_none';
export const LABEL_OTHER = '_other';
export const LABEL_UNKNOWN = '_unknown';

/**
 * GenAI `gen_ai.operation.name` for each endpoint: the semantic conventions' well-known names where one fits (the
 * Responses and Messages APIs are chat), the endpoint's own name otherwise (the conventions allow custom values).
 */
const OPERATION: Record<Endpoint, string> = {
  chat: 'chat',
  completions: 'text_completion',
  embeddings: 'embeddings',
  responses: 'chat',
  messages: 'chat',
  rerank: 'rerank',
  score: 'score',
  tokenize: 'tokenize',
  audio: 'audio',
};
export function operationName(endpoint: Endpoint): string {
  return OPERATION[endpoint];
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100) - 1] ?? LABEL_OTHER;
}

/**
 * `error.type` for a finished request, or '' on success. Only codes from the closed GatewayError table are used
 * verbatim; anything else (an error relayed from a backend) becomes its status code, which is also bounded.
 */
export function errorType(ctx: RequestCtx): string {
  if (ctx.outcome === 'client_abort') return 'client_abort';
  if (ctx.status < 400 && ctx.outcome === 'success') return '';
  const code = ctx.errorCode;
  if (code !== null && Object.hasOwn(ERROR_TABLE, code)) return code;
  return ctx.status >= 400 ? String(ctx.status) : '_OTHER';
}

/**
 * Keeps a label's distinct values bounded. With a known set (the configured models) only those values pass;
 * without one, the first `max` distinct values pass. Everything else maps to `_other`.
 */
export interface BoundedLabel {
  (value: string | null): string;
  setKnown(values: Iterable<string>): void;
}

/** Longer values are never kept in cap mode: a label value is not a place for a client to store kilobytes. */
const MAX_VALUE_LENGTH = 128;

export function createBoundedLabel(max: number): BoundedLabel {
  let known: Set<string> | null = null;
  const seen = new Set<string>();
  const label = (value: string | null): string => {
    if (value === null || value === '') return LABEL_NONE;
    if (known !== null) return known.has(value) ? value : LABEL_OTHER;
    if (seen.has(value)) return value;
    if (seen.size >= max || value.length > MAX_VALUE_LENGTH) return LABEL_OTHER;
    seen.add(value);
    return value;
  };
  return Object.assign(label, {
    setKnown(values: Iterable<string>): void {
      known = new Set(values);
    },
  });
}
