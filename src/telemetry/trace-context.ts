import type { HrTime, SpanContext, TextMapGetter } from '@opentelemetry/api';
import type { RequestCtx } from '../core/index.js';

/**
 * Epoch milliseconds (fractional) to OTel's [seconds, nanoseconds]. Span times are passed as HrTime, never as a
 * plain number: the SDK reads a number below `performance.timeOrigin` as a monotonic reading, which a manual
 * clock's wall time can be.
 */
export function toHrTime(epochMs: number): HrTime {
  const s = Math.floor(epochMs / 1000);
  const ns = Math.round((epochMs - s * 1000) * 1e6);
  return ns >= 1e9 ? [s + 1, ns - 1e9] : [s, ns];
}

/** A monotonic reading of the request's clock as wall time, anchored on the request's own start. */
export function wallMsOf(ctx: RequestCtx, monotonicMs: number): number {
  return ctx.startWallMs + (monotonicMs - ctx.startMs);
}

/** W3C `traceparent` (version 00) for a span context. */
export function formatTraceparent(sc: SpanContext): string {
  const flags = sc.traceFlags & 0xff;
  return `00-${sc.traceId}-${sc.spanId}-${flags < 16 ? '0' : ''}${flags.toString(16)}`;
}

/** Reads the client's trace headers straight from RequestCtx, so extraction builds no carrier object. */
export const requestCtxGetter: TextMapGetter<RequestCtx> = {
  keys: () => ['traceparent', 'tracestate'],
  get(ctx, key) {
    if (key === 'traceparent') return ctx.traceparent ?? undefined;
    if (key === 'tracestate') return ctx.tracestate ?? undefined;
    return undefined;
  },
};

export interface ServerAddress {
  readonly address: string;
  readonly port: number;
}

/** Backends are few and fixed per config, so their parsed addresses are cached; the cap only bounds a caller bug. */
const MAX_CACHED_ADDRESSES = 1024;

export function createAddressCache(): (url: string) => ServerAddress | null {
  const cache = new Map<string, ServerAddress | null>();
  return (url) => {
    let hit = cache.get(url);
    if (hit !== undefined) return hit;
    hit = parseAddress(url);
    if (cache.size >= MAX_CACHED_ADDRESSES) cache.clear();
    cache.set(url, hit);
    return hit;
  };
}

function parseAddress(url: string): ServerAddress | null {
  try {
    const u = new URL(url);
    const port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    // IPv6 hosts come bracketed from URL; the convention wants the bare address.
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    return { address: host, port };
  } catch {
    return null;
  }
}
