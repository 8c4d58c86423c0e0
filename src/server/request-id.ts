import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { MiddlewareHandler } from 'hono';
import { isAnthropicRoute } from '../api/index.js';
import { acceptRequestId } from '../core/index.js';

/**
 * `x-request-id` on every response of the Hono routes (models, admin, metrics, health, 404s), errors included: the
 * caller's own when it sent a safe one, else a new one. The OpenAI endpoints set theirs in the pipeline.
 */
export const requestIdMiddleware: MiddlewareHandler = async (c, next) => {
  const id = acceptRequestId(c.req.header('x-request-id'));
  await next();
  // A response the pipeline wrote itself is a shared marker object: never touch it.
  if (c.res === RESPONSE_ALREADY_SENT || c.res.headers.has('x-request-id')) return;
  c.res.headers.set('x-request-id', id);
  // Anthropic's SDK reads the id from `request-id` (the router's 404 and 405 on the Messages routes, its model list).
  if (isAnthropicRoute(c.req.path) || (c.req.path.startsWith('/v1/models') && c.req.header('anthropic-version') !== undefined)) c.res.headers.set('request-id', id);
};
