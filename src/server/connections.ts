import { readFileSync } from 'node:fs';
import { ServerResponse, type IncomingMessage } from 'node:http';

/** Descriptors kept free beyond the upstream pools: the usage log, quota store, JWKS fetches, logs, health probes. */
const RESERVED_DESCRIPTORS = 256;
/** Where the soft descriptor limit cannot be read (not Linux). */
const FALLBACK_CAP = 10_000;
const MIN_CAP = 64;

let softLimit: number | null | undefined;

/** The process's soft limit on open files, read once (at start, so the synchronous read is off the request path). */
export function openFileLimit(): number | null {
  if (softLimit !== undefined) return softLimit;
  softLimit = null;
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft && /^\d+$/.test(soft)) softLimit = Number(soft);
  } catch {
    // Not Linux: no limit known.
  }
  return softLimit;
}

/**
 * Client connections the server accepts at once (`server.max_connections`). `auto` leaves room under the descriptor
 * limit for every upstream pool at full size plus a reserve, so a flood of idle clients can never take the
 * descriptors the gateway needs to reach its own backends.
 */
export function connectionCap(setting: number | 'auto', upstreamConnections: number): number {
  if (setting !== 'auto') return setting;
  const limit = openFileLimit();
  if (limit === null) return FALLBACK_CAP;
  return Math.max(MIN_CAP, limit - upstreamConnections - RESERVED_DESCRIPTORS);
}

/**
 * Responses that say `Connection: close` once the gateway is draining, including those of requests already in
 * flight whose headers are not written yet, so that every keep-alive client learns to stop sending on the
 * connection before it is closed (a request sent on a connection as it closes is reset without an answer).
 * Every response's headers pass through writeHead (Node calls it for implicit headers too).
 */
export function drainAwareResponse(isDraining: () => boolean): typeof ServerResponse {
  const writeHead = ServerResponse.prototype.writeHead;
  class DrainAwareResponse extends ServerResponse<IncomingMessage> {}
  // Patched on the subclass's prototype (its overloads cannot be restated in a class body); Node's own stays as is.
  DrainAwareResponse.prototype.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (isDraining()) this.shouldKeepAlive = false;
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
  return DrainAwareResponse as typeof ServerResponse;
}
