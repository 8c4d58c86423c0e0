import { errorEnvelope, GatewayError, isGatewayError } from '../core/index.js';
import { anthropicErrorBody } from './anthropic/errors.js';

/**
 * Which envelope an error takes is decided by the route the client called, wherever the error is raised: the Messages
 * routes answer in Anthropic's shape (its SDK parses no other) also when the router (405, 404), the framing (413 before
 * `100 Continue`) or a protocol refusal answers instead of the pipeline.
 */
export function isAnthropicRoute(path: string): boolean {
  if (!path.startsWith('/v1/messages')) return false;
  const next = path.charCodeAt(12);
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */;
}

export interface ErrorAnswer {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string>;
}

/**
 * An error as the route's clients expect it, with the request id where the SDK looks for it (Anthropic's reads
 * `request-id` and the body's `request_id`; OpenAI's `x-request-id`, which every answer carries anyway).
 */
export function errorAnswerFor(path: string, err: unknown, requestId: string | null): ErrorAnswer {
  const ge = isGatewayError(err) ? err : new GatewayError('internal', 'The gateway hit an internal error.');
  if (isAnthropicRoute(path)) {
    return { status: ge.status, body: anthropicErrorBody(ge, requestId), headers: { ...ge.headers, ...(requestId ? { 'request-id': requestId } : {}) } };
  }
  const { status, body, headers } = errorEnvelope(ge);
  return { status, body, headers: { ...headers } };
}
