import type { ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { MiddlewareHandler } from 'hono';
import { writeError } from '../api/index.js';
import { acceptRequestId, GatewayError, type Clock, type Endpoint, type RequestCtx } from '../core/index.js';
import { rowFromCtx, type UsageWriter } from '../usage/index.js';

const SHUTTING_DOWN = 'The gateway is shutting down; retry on another instance.';

/**
 * A request that arrives while draining: 503 with `Connection: close`, and its usage row (every outcome is
 * logged, refusals included).
 */
export function refuseWhileDraining(deps: { clock: Clock; usage: UsageWriter | null }, endpoint: Endpoint, ctx: RequestCtx, out: ServerResponse): void {
  const err = new GatewayError('shutting_down', SHUTTING_DOWN);
  ctx.endpoint = endpoint;
  ctx.status = writeError(out, err, { connection: 'close', 'x-request-id': ctx.id });
  ctx.errorCode = err.wireCode;
  ctx.outcome = 'upstream_error';
  ctx.endMs = deps.clock.now();
  try {
    deps.usage?.record(rowFromCtx(ctx, ctx.endMs));
  } catch {
    // The usage log closes at the very end of the drain; a row refused then has nowhere to go.
  }
}

/**
 * `x-request-id` on every response of the Hono routes (models, admin, metrics, health, 404s), errors included: the
 * caller's own when it sent a safe one, else a new one. The OpenAI endpoints set theirs in the pipeline.
 */
export const requestIdMiddleware: MiddlewareHandler = async (c, next) => {
  const id = acceptRequestId(c.req.header('x-request-id'));
  await next();
  // A response the pipeline wrote itself is a shared marker object: never touch it.
  if (c.res !== RESPONSE_ALREADY_SENT && !c.res.headers.has('x-request-id')) c.res.headers.set('x-request-id', id);
};
