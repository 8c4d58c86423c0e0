import type { ServerResponse } from 'node:http';
import { writeError } from '../api/index.js';
import { GatewayError, type Clock, type Endpoint, type RequestCtx } from '../core/index.js';
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
