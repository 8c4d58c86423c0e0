import type { RequestCtx } from '../core/index.js';
import { fixed2 } from './log-format.js';

/**
 * The `Server-Timing` header value: `gateway;dur=X.XX, upstream;dur=Y.YY`, so a user sees the gateway's own cost
 * from curl. gateway = total so far − upstream. Without an upstream time (an error before any attempt) only the
 * gateway entry is given. `nowMs` is on the same clock as `ctx.startMs`.
 */
export function serverTiming(ctx: RequestCtx, nowMs: number): string {
  const total = Math.max(0, nowMs - ctx.startMs);
  const upstream = ctx.upstreamMs;
  if (upstream === null) return `gateway;dur=${fixed2(total)}`;
  const up = Math.min(Math.max(0, upstream), total);
  return `gateway;dur=${fixed2(total - up)}, upstream;dur=${fixed2(up)}`;
}
