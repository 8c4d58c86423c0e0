import type { Server, ServerResponse } from 'node:http';
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

/** After in-flight requests finish, how long connections still open may take to see their `Connection: close`. */
const DRAIN_GRACE_MS = 1000;

/** For how many 20 ms pauses nothing may be in flight before connections without a request are taken to be idle. */
const DRAIN_QUIET_PAUSES = 3;

/** For how many 20 ms pauses requests cut at the deadline may take to write their last bytes and end. */
const CUT_PAUSES = 25;

const openConnections = (server: Server) => new Promise<number>((resolve) => server.getConnections((_err, n) => resolve(n ?? 0)));

export interface DrainDeps {
  server: Server;
  clock: Clock;
  inflight: { readonly count: number };
  /** Ends every request still in flight as the gateway's own failure (the pipeline's shutdown); returns how many. */
  cut: () => number;
}

/**
 * Lets the requests in flight finish until `drainMs` from now, then ends those still running as the gateway's own
 * failure (a stream's final error event, a 503 not yet answered; logged and charged so, not as client aborts) and
 * closes every connection. The listener must already be closed.
 */
export async function drainRequests(deps: DrainDeps, drainMs: number): Promise<void> {
  const { server, clock, inflight } = deps;
  const deadline = clock.now() + drainMs;
  const pause = () => new Promise((r) => setTimeout(r, 20));
  // Nothing in flight is not yet quiet: a client may have sent its next request on a kept connection just before
  // the drain began, and the gateway reads it only on a later turn. Closing that "idle" connection would reset a
  // request the client already sent, so the count must stay at zero for a while of turns that read sockets.
  // Counted in pauses, not read off the clock, so an injected clock that stands still cannot hold a drain open.
  for (let quiet = 0; quiet < DRAIN_QUIET_PAUSES && clock.now() < deadline; ) {
    await pause();
    quiet = inflight.count > 0 ? 0 : quiet + 1;
  }
  // Past the deadline: what still runs is cut by the gateway, and given a few turns to say so (a final error event,
  // a 503) before its connection closes: a reset would read as a network failure, and the log would blame the client.
  if (inflight.count > 0 && deps.cut() > 0) {
    for (let i = 0; i < CUT_PAUSES && inflight.count > 0; i++) await pause();
  }
  // Busy connections have closed after their last answer; idle ones go now, the rest after a short grace.
  server.closeIdleConnections();
  const grace = Math.min(deadline, clock.now() + DRAIN_GRACE_MS);
  while ((await openConnections(server)) > 0 && clock.now() < grace) await pause();
  server.closeAllConnections();
}
